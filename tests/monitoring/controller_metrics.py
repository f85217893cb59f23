"""What the controller exports on /metrics, read from its Rust source, and the names PromQL uses.

The controller registers every family on one prometheus-client registry: the core families in
controller/src/metrics.rs (`register_described(&mut registry, "name", "help", m.field.clone())`)
and the others through `Metrics::register` (`metrics.register("name", "help", value.clone())`).
This module finds those calls, resolves the registered value's Rust type (`Family<Labels, Counter>`,
`Histogram`, `Gauge`, ...) and the fields of its `EncodeLabelSet` struct, and turns them into the
sample names and label names the text exposition carries: a counter `x` is exposed as `x_total`, a
histogram `x` as `x_bucket` (plus `le`), `x_sum` and `x_count`, a gauge as `x`.

Reading the source rather than a hand-kept list means a renamed metric or label breaks the
monitoring tests at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness import paths

SOURCE_DIRS = (paths.REPO / "controller" / "src", paths.REPO / "controller" / "core" / "src")

# Labels the Prometheus server adds to every scraped series (target labels). Which ones depend on
# the scrape configuration; these are the usual ones for a Kubernetes service discovery.
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "service", "endpoint", "container"})

# kube-state-metrics families the dashboard and alerts may use (their panels and rules say so).
# Labels as kube-state-metrics v2 exports them; kube_node_labels' label_* labels exist only for the
# node labels allowed by --metric-labels-allowlist.
KUBE_STATE_METRICS = {
    "kube_pod_status_phase": frozenset({"namespace", "pod", "uid", "phase"}),
    "kube_pod_created": frozenset({"namespace", "pod", "uid"}),
    "kube_node_labels": frozenset({"node", "label_karpenter_sh_capacity_type", "label_karpenter_sh_provisioner_name"}),
}


@dataclass(frozen=True)
class Family:
    name: str  # as registered, e.g. karpenter_nodes_created
    kind: str  # counter | gauge | histogram
    labels: frozenset[str]
    source: str  # file, relative to the repository

    def samples(self) -> dict[str, frozenset[str]]:
        """Exposed sample name -> its label names (without target labels)."""
        if self.kind == "counter":
            return {f"{self.name}_total": self.labels}
        if self.kind == "histogram":
            return {
                f"{self.name}_bucket": self.labels | {"le"},
                f"{self.name}_sum": self.labels,
                f"{self.name}_count": self.labels,
            }
        return {self.name: self.labels}


@dataclass
class Exported:
    families: dict[str, Family] = field(default_factory=dict)

    def samples(self) -> dict[str, frozenset[str]]:
        out: dict[str, frozenset[str]] = {}
        for family in self.families.values():
            out.update(family.samples())
        return out


def _strip_tests(text: str) -> str:
    """Source without its `#[cfg(test)]` module (test registrations are not exported)."""
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


def _sources() -> dict[Path, str]:
    files = {}
    for directory in SOURCE_DIRS:
        for path in sorted(directory.rglob("*.rs")):
            if path.name == "tests.rs" or "tests" in path.relative_to(directory).parts[:-1]:
                continue
            files[path] = _strip_tests(path.read_text())
    return files


_LABEL_STRUCT = re.compile(
    r"#\[derive\([^\]]*\bEncodeLabelSet\b[^\]]*\)\]\s*(?:pub(?:\([^)]*\))?\s+)?struct\s+(\w+)\s*\{([^}]*)\}", re.S)
_FIELD = re.compile(r"(?:pub(?:\([^)]*\))?\s+)?(\w+)\s*:\s*[^,]+,?")
_REGISTER = re.compile(
    r"(?:register_described\(\s*&mut\s+\w+\s*,|\.register\()\s*"
    r"\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"\s*,\s*\"(?:[^\"\\]|\\.)*\"\s*,\s*([\w.]+?)\.clone\(\)",
    re.S)


def _label_structs(files: dict[Path, str]) -> dict[Path, dict[str, frozenset[str]]]:
    out: dict[Path, dict[str, frozenset[str]]] = {}
    for path, text in files.items():
        for m in _LABEL_STRUCT.finditer(text):
            body = re.sub(r"//[^\n]*", "", m.group(2))
            if "#[prometheus" in body:
                raise ValueError(f"{path}: struct {m.group(1)} renames a label; teach controller_metrics.py the attribute")
            out.setdefault(path, {})[m.group(1)] = frozenset(f.group(1) for f in _FIELD.finditer(body))
    return out


def _value_type(text: str, ident: str) -> str | None:
    """The Rust type of `ident` (a struct field or a local) in one file."""
    let = re.search(rf"\blet\s+(?:mut\s+)?{ident}\s*(?::\s*([^=]+?))?\s*=\s*([\w:<>, ]+?)::(?:default|new)\(", text)
    if let:
        return (let.group(1) or let.group(2)).replace("::<", "<")
    fld = re.search(rf"^\s*(?:pub(?:\([^)]*\))?\s+)?{ident}\s*:\s*([A-Z][^\n]*?),\s*(?://[^\n]*)?$", text, re.M)
    return fld.group(1) if fld else None


def _kind(base: str) -> str:
    base = base.strip()
    if base in ("Counter",) or base.startswith("Counter<"):
        return "counter"
    if base in ("Histogram",):
        return "histogram"
    if base in ("Gauge", "FloatGauge") or base.startswith("Gauge<"):
        return "gauge"
    raise ValueError(f"metric type {base!r} unknown to controller_metrics.py")


def exported() -> Exported:
    files = _sources()
    structs = _label_structs(files)
    every_struct: dict[str, list[frozenset[str]]] = {}
    for per_file in structs.values():
        for name, labels in per_file.items():
            every_struct.setdefault(name, []).append(labels)
    out = Exported()
    for path, text in files.items():
        for m in _REGISTER.finditer(text):
            name, value = m.group(1), m.group(2).split(".")[-1]
            rust_type = _value_type(text, value)
            where = str(path.relative_to(paths.REPO))
            if rust_type is None:
                raise ValueError(f"{where}: cannot find the type of `{value}` registered as {name}")
            family = re.fullmatch(r"\s*Family\s*<\s*(\w+)\s*,\s*(.+)>\s*", rust_type)
            if family:
                struct, base = family.group(1), family.group(2)
                labels = structs.get(path, {}).get(struct)
                if labels is None:
                    candidates = every_struct.get(struct, [])
                    if len(set(candidates)) != 1:
                        raise ValueError(f"{where}: label struct {struct} of {name} not found (or ambiguous)")
                    labels = candidates[0]
            else:
                base, labels = rust_type, frozenset()
            if name in out.families:
                raise ValueError(f"{name} is registered twice ({out.families[name].source} and {where})")
            out.families[name] = Family(name, _kind(base), labels, where)
    return out


# --- PromQL -----------------------------------------------------------------------------------------

_KEYWORDS = frozenset({
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
    "group_right", "inf", "nan", "atan2",
})
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _without_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)


def _without_grafana_variables(expr: str) -> str:
    return re.sub(r"\$\{[^}]*\}|\$\w+", "5m", expr)


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (a small lexer, enough for our expressions:
    identifiers outside strings, label matchers, ranges and grouping clauses that are neither
    function calls, keywords nor numbers)."""
    text = _without_strings(_without_grafana_variables(expr))
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for m in _IDENT.finditer(text):
        word = m.group(0)
        before = text[m.start() - 1] if m.start() else " "
        if before.isdigit() or before == ".":
            continue  # a number's exponent or duration unit
        after = text[m.end():].lstrip()
        if after.startswith("(") or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"((?:[^\"\\]|\\.)*)\"")


def label_matchers(expr: str) -> list[tuple[str, str, str, str]]:
    """(metric, label, operator, value) for every matcher written directly on a metric name."""
    text = _without_grafana_variables(expr)
    out = []
    for sel in _SELECTOR.finditer(text):
        for m in _MATCHER.finditer(sel.group(2)):
            out.append((sel.group(1), m.group(1), m.group(2), m.group(3)))
    return out


def grouping_labels(expr: str) -> set[str]:
    """Label names used in by/without/on/ignoring/group_* clauses."""
    out = set()
    for m in _GROUPING.finditer(_without_strings(expr)):
        inner = m.group(0)[m.group(0).index("(") + 1:-1]
        out |= {w.strip() for w in inner.split(",") if w.strip()}
    return out


def controller_source_text() -> str:
    return "\n".join(_sources().values())
