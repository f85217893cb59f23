"""Module import cycles inside a Rust crate: pairs of modules (at the same depth, neither inside
the other) where each names the other in a `crate::`, `super::` or `self::` path outside comments
and test modules. Run: python3 tests/tools/module_cycles.py <crate dir>..."""

import os
import re
import sys


def modules(crate: str) -> dict[str, str]:
    src = os.path.join(crate, "src")
    out = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            parts = os.path.relpath(path, src)[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            text = open(path).read()
            text = re.sub(r"#\[cfg\(test\)\][\s\S]*", "", text)
            text = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
            out["::".join(parts)] = text
    return out


def resolve(mods: dict[str, str], current: str, path: str) -> str | None:
    parts = path.split("::")
    base = current.split("::") if current else []
    if parts[0] == "crate":
        base, parts = [], parts[1:]
    elif parts[0] == "self":
        parts = parts[1:]
    elif parts[0] == "super":
        while parts and parts[0] == "super":
            base, parts = base[:-1], parts[1:]
    elif "::".join(base + parts[:1]) not in mods:
        return None
    full = base + parts
    for i in range(len(full), 0, -1):
        if "::".join(full[:i]) in mods:
            return "::".join(full[:i])
    return None


def cycles(crate: str) -> list[tuple[str, str]]:
    mods = modules(crate)
    edges = {m: set() for m in mods}
    for m, text in mods.items():
        paths = re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", text)
        paths += re.findall(r"^use (\w+)::", text, re.M)
        for p in paths:
            t = resolve(mods, m, p)
            if t and t != m and not t.startswith(m + "::") and not m.startswith(t + "::"):
                edges[m].add(t)
    found = set()
    for depth in (1, 2, 3):
        top = lambda m: "::".join(m.split("::")[:depth])
        graph: dict[str, set[str]] = {}
        for a, targets in edges.items():
            for b in targets:
                ta, tb = top(a), top(b)
                if ta != tb and not ta.startswith(tb + "::") and not tb.startswith(ta + "::"):
                    graph.setdefault(ta, set()).add(tb)
        for a, targets in graph.items():
            for b in targets:
                if a in graph.get(b, ()):
                    found.add(tuple(sorted((a, b))))
    return sorted(found)


if __name__ == "__main__":
    total = 0
    for crate in sys.argv[1:]:
        found = cycles(crate)
        total += len(found)
        print(f"{crate}: {len(found)} " + " ".join(f"{a}<->{b}" for a, b in found))
    sys.exit(1 if total else 0)
