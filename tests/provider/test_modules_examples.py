"""modules/ and examples/ through real terraform and tofu: every directory is `fmt`-clean and
validates; each module's README documents exactly its variables and outputs; and the examples (and
modules/karpenter with its defaults) apply against the real kube-apiserver and the extended moto,
create what they promise, and leave nothing behind on destroy. The on-demand-fallback example is
proven with the controller running: with every spot pool out of capacity, its node is on-demand."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import boto3
import pytest
import requests
import yaml

from harness import aws as aws_harness
from harness import paths, procs, terraform

MODULES = sorted(p for p in (paths.REPO / "modules").iterdir() if p.is_dir())
EXAMPLES = sorted(p for p in (paths.REPO / "examples").iterdir() if p.is_dir())
CLUSTER = "demo"
REGION = aws_harness.REGION
ZONES = ("ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c")
ALL_KINDS = ["capacity_reservation_interruption", "instance_state_change", "rebalance_recommendation",
             "scheduled_change", "spot_interruption"]


# --- README tables against variables.tf / outputs.tf --------------------------------------------


def _block_end(text: str, start: int) -> int:
    """Index just past the `}` closing the `{` at `start`, skipping strings and comments."""
    depth, i, in_string = 0, start, False
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "#" or text.startswith("//", i):
            i = text.index("\n", i) - 1
        elif c in "{[(":
            depth += 1
        elif c in "}])":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced block at offset {start}")


def _attributes(body: str) -> dict[str, str]:
    """Top-level `name = expression` pairs of a block body (nested blocks skipped), expressions
    collapsed onto one line."""
    attrs: dict[str, str] = {}
    i = 0
    pattern = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_-]*)\s*(=|\{)")
    while True:
        m = pattern.match(body, i)
        if not m:
            if body[i:].strip():
                raise ValueError(f"cannot parse: {body[i:i + 60]!r}")
            return attrs
        if m[2] == "{":
            i = _block_end(body, m.end() - 1)
            continue
        j = m.end()
        # The expression runs to the end of the line, or of the bracket it opens.
        while body[j] in " \t":
            j += 1
        end = j
        depth, in_string = 0, False
        while end < len(body):
            c = body[end]
            if in_string:
                if c == "\\":
                    end += 1
                elif c == '"':
                    in_string = False
            elif c == '"':
                in_string = True
            elif c in "{[(":
                depth += 1
            elif c in "}])":
                depth -= 1
            elif c == "\n" and depth == 0:
                break
            end += 1
        attrs[m[1]] = re.sub(r"\s+", " ", body[j:end]).strip()
        i = end


def hcl_blocks(path: Path, kind: str) -> dict[str, dict[str, str]]:
    """`variable "x" { ... }` (or output) blocks of a file: name -> attributes."""
    text = path.read_text()
    found = {}
    for m in re.finditer(rf'^{kind}\s+"([^"]+)"\s*\{{', text, re.M):
        end = _block_end(text, m.end() - 1)
        found[m[1]] = _attributes(text[m.end():end - 1])
    return found


def _unquote(expr: str) -> str:
    return json.loads(expr) if expr.startswith('"') else expr


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def inputs_table(module: Path) -> list[tuple[str, str, str, str]]:
    return [
        (f"`{name}`", _cell(_unquote(a["description"])), _cell(f"`{a['type']}`"),
         _cell(f"`{a['default']}`") if "default" in a else "required")
        for name, a in hcl_blocks(module / "variables.tf", "variable").items()
    ]


def outputs_table(module: Path) -> list[tuple[str, str]]:
    return [(f"`{name}`", _cell(_unquote(a["description"])))
            for name, a in hcl_blocks(module / "outputs.tf", "output").items()]


def render(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def readme_table(readme: str, heading: str) -> list[tuple[str, ...]]:
    """Rows of the first table after `## <heading>`."""
    section = readme.split(f"\n## {heading}\n", 1)
    assert len(section) == 2, f"the README has no '## {heading}' section"
    rows = []
    for line in section[1].splitlines():
        if line.startswith("## "):
            break
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            rows.append(tuple(cells))
    return [r for r in rows[2:]]


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_a_module_readme_documents_exactly_its_variables_and_outputs(module):
    readme = (module / "README.md").read_text()
    for heading, header, expected in [
        ("Inputs", ("Name", "Description", "Type", "Default"), inputs_table(module)),
        ("Outputs", ("Name", "Description"), outputs_table(module)),
    ]:
        documented = readme_table(readme, heading)
        documented_names = {r[0] for r in documented}
        declared_names = {r[0] for r in expected}
        assert documented_names - declared_names == set(), f"{heading}: documented but not declared"
        assert declared_names - documented_names == set(), f"{heading}: declared but not documented"
        # Same rows in the same order as the .tf file; on failure, the table to paste.
        assert documented == expected, f"{module.name}/README.md {heading} should be:\n{render(header, expected)}"


def test_the_readme_parser_sees_every_block_and_nested_validation():
    module = paths.REPO / "modules" / "karpenter"
    variables = hcl_blocks(module / "variables.tf", "variable")
    assert len(variables) == (module / "variables.tf").read_text().count('\nvariable "') + 1
    kinds = variables["interruption_kinds"]
    assert kinds["type"] == "set(string)" and kinds["default"].startswith('["spot_interruption"')
    assert "validation" not in kinds and "condition" not in kinds
    assert "default" not in variables["cluster_name"]


# --- fmt and validate, with terraform and tofu -------------------------------------------------


def stage(tmp_path: Path, *directories: Path) -> Path:
    """The modules and the given directories copied with their layout (examples refer to
    ../../modules), without anything a local run left behind."""
    ignore = shutil.ignore_patterns(".terraform", "terraform.tfstate*", ".terraform.lock.hcl")
    shutil.copytree(paths.REPO / "modules", tmp_path / "modules", ignore=ignore)
    for d in directories:
        target = tmp_path / d.relative_to(paths.REPO)
        if not target.exists():
            shutil.copytree(d, target, ignore=ignore)
    return tmp_path / directories[0].relative_to(paths.REPO) if directories else tmp_path


def runner(cli: str, provider_dir: Path, tmp_path: Path, env: dict[str, str] | None = None) -> terraform.Runner:
    return terraform.Runner(Path(cli), terraform.cli_config(tmp_path / "cli", provider_dir), env or {})


@pytest.mark.parametrize("directory", [*MODULES, *EXAMPLES], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fmt_and_validate_are_clean(directory, cli, provider_dir, tmp_path):
    tf = runner(cli, provider_dir, tmp_path)
    fmt = tf.run(directory, "fmt", "-check", "-recursive", "-diff", "-no-color", check=False)
    assert fmt.returncode == 0, f"{tf.name} fmt would change:\n{fmt.stdout}{fmt.stderr}"

    workdir = stage(tmp_path, directory)
    tf.run(workdir, "get", "-no-color")
    validated = tf.run(workdir, "validate", "-json", "-no-color", check=False)
    report = json.loads(validated.stdout)
    assert report["valid"] and report["error_count"] == 0 and report["warning_count"] == 0, validated.stdout
