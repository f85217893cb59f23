"""The Grafana dashboard and Prometheus alerts in monitoring/ against the controller they watch.

promtool checks and unit-tests the alert rules; every metric and label the dashboard and the rules
use must be one the controller registers (read from its source by controller_metrics.py) or one of
the few kube-state-metrics families, used only where a panel or rule says so. A renamed metric or
label in controller/src fails these tests.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import paths

from . import controller_metrics as cm

MONITORING = paths.REPO / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
ALERT_TESTS = MONITORING / "alerts.test.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
METRIC_DOCS = [paths.REPO / "docs" / "reference" / "metrics.md",
               paths.REPO / "docs" / "reference" / "interruption-handling.md"]


@pytest.fixture(scope="session")
def promtool() -> str:
    out = subprocess.run([str(paths.REPO / "tests" / "bin" / "promtool.sh")], check=True,
                         stdout=subprocess.PIPE, text=True, timeout=600).stdout
    return out.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def exported() -> cm.Exported:
    return cm.exported()


@pytest.fixture(scope="session")
def samples(exported: cm.Exported) -> dict[str, frozenset[str]]:
    """Every sample name the controller or (where allowed) kube-state-metrics exposes -> labels."""
    return {**exported.samples(), **cm.KUBE_STATE_METRICS}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(board: dict) -> list[dict]:
    out = []
    for p in board["panels"]:
        out.append(p)
        out += p.get("panels", [])
    return out


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of the dashboard, variables included."""
    board = dashboard()
    out = [(p["title"], t["expr"]) for p in panels(board) for t in p.get("targets", []) if t.get("expr")]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            inner = re.fullmatch(r"label_values\((.+),\s*\w+\)", var["definition"])
            assert inner, f"variable {var['name']}: expected label_values(<selector>, <label>), got {var['definition']}"
            out.append((f"variable {var['name']}", inner.group(1)))
    return out


def alert_rules() -> list[dict]:
    return [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]


def alert_exprs() -> list[tuple[str, str]]:
    return [(r.get("alert") or r.get("record"), r["expr"]) for r in alert_rules()]


def as_promql(expr: str) -> str:
    """A Grafana query as plain PromQL: range variables to durations, the others to `.*`."""
    expr = re.sub(r"\$(?:__rate_interval|__interval|\{__rate_interval\}|\{__interval\})", "5m", expr)
    expr = re.sub(r"\$(?:__range|\{__range\})", "1h", expr)
    return re.sub(r"\$\{\w+\}|\$\w+", ".*", expr)


# --- the controller side: the parser finds what the docs list ---------------------------------------


def test_the_source_parser_finds_every_metric_the_reference_docs_list(exported: cm.Exported):
    documented = set()
    for doc in METRIC_DOCS:
        for line in doc.read_text().splitlines():
            if line.startswith("|"):
                documented |= set(re.findall(r"`(karpenter_[a-z0-9_]+)`", line.split("|")[1]))
    assert len(documented) >= 15, f"the metric tables of the docs changed shape: {sorted(documented)}"
    # Histograms are documented by family name, counters by sample name (`..._total`).
    exposed = set(exported.samples()) | {f.name for f in exported.families.values() if f.kind == "histogram"}
    assert documented - exposed == set(), (
        f"documented but not registered in controller/src (or not found by tests/monitoring/controller_metrics.py): "
        f"{sorted(documented - exposed)}")


def test_the_documented_labels_are_the_registered_ones(exported: cm.Exported):
    doc = (paths.REPO / "docs" / "reference" / "metrics.md").read_text()
    samples = {**exported.samples(), **{f.name: f.labels for f in exported.families.values()}}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 5 or not cells[1].startswith("`karpenter_"):
            continue
        name = cells[1].strip("`")
        labels = frozenset(re.findall(r"`(\w+)`", cells[3]))
        assert samples[name] - {"le"} == labels, f"{name}: docs say {sorted(labels)}, source has {sorted(samples[name])}"


# --- alerts ---------------------------------------------------------------------------------------------


def test_the_alert_rules_pass_promtool_check_rules(promtool: str):
    run = subprocess.run([promtool, "check", "rules", str(ALERTS.relative_to(paths.REPO))], cwd=paths.REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_the_alert_rules_pass_their_promtool_unit_tests(promtool: str):
    run = subprocess.run([promtool, "test", "rules", str(ALERT_TESTS.relative_to(paths.REPO))], cwd=paths.REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_every_alert_has_a_unit_test_that_fires_and_one_that_does_not():
    cases: dict[str, set[bool]] = {}
    for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    for rule in alert_rules():
        assert cases.get(rule["alert"]) == {True, False}, (
            f"{rule['alert']}: needs a case that fires and one that does not in {ALERT_TESTS.name}")


def test_the_required_alerts_exist():
    names = {r["alert"] for r in alert_rules()}
    for required in ("KarpenterPodPendingTooLong", "KarpenterProvisioningFailures", "KarpenterSpotQuotaExceeded",
                     "KarpenterInterruptionQueueUnreachable"):
        assert required in names
    spot = next(r for r in alert_rules() if r["alert"] == "KarpenterSpotQuotaExceeded")
    assert 'reason="MaxSpotInstanceCountExceeded"' in spot["expr"]
    pending = next(r for r in alert_rules() if r["alert"] == "KarpenterPodPendingTooLong")
    assert pending["for"] == "3m"


def test_alerts_using_kube_state_metrics_say_so():
    for rule in alert_rules():
        if any(n.startswith("kube_") for n in cm.metric_names(rule["expr"])):
            assert rule.get("labels", {}).get("source") == "kube-state-metrics", rule["alert"]
            assert "kube-state-metrics" in rule["annotations"]["description"], rule["alert"]


def series_of_the_unit_tests() -> list[tuple[str, dict[str, str]]]:
    out = []
    for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]:
        for s in test["input_series"]:
            m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}", s["series"].strip(), re.S)
            assert m, s["series"]
            labels = dict(re.findall(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"', m.group(2)))
            out.append((m.group(1), labels))
    return out


def test_unit_test_input_series_are_named_and_labelled_as_the_controller_exports_them(samples):
    seen = set()
    for name, labels in series_of_the_unit_tests():
        assert name in samples, f"{name}: not exported by the controller (nor an allowed kube-state-metrics family)"
        own = frozenset(labels) - cm.TARGET_LABELS if name.startswith("karpenter_") else frozenset(labels) - {"job", "instance"}
        assert own == samples[name], f"{name}{{{labels}}}: the real series carries labels {sorted(samples[name])}"
        assert {"job", "instance"} <= set(labels), f"{name}: a scraped series has job and instance labels"
        seen.add(name)
    assert "karpenter_cloudprovider_instance_launch_failures_total" in seen
    assert "karpenter_interruption_receive_errors_total" in seen


def test_label_values_the_rules_and_tests_rely_on_are_ones_the_controller_writes():
    """A value matched exactly (reason="MaxSpotInstanceCountExceeded", message_type="spot_interruption")
    must appear as a string literal in the controller's source, so renaming it there fails here."""
    source = cm.controller_source_text()
    values = set()
    for _, expr in alert_exprs() + dashboard_exprs():
        for metric, label, op, value in cm.label_matchers(expr):
            if metric.startswith("karpenter_") and op in ("=", "!=") and value and label not in cm.TARGET_LABELS:
                values.add((metric, label, value))
    for name, labels in series_of_the_unit_tests():
        if name.startswith("karpenter_"):
            values |= {(name, k, v) for k, v in labels.items() if k not in cm.TARGET_LABELS}
    assert values, "no label values found: the matcher parser is broken"
    for metric, label, value in sorted(values):
        assert f'"{value}"' in source, f'{metric}{{{label}="{value}"}}: the controller never writes "{value}"'


def test_alert_expressions_use_only_exported_metrics_and_their_labels(samples):
    check_exprs(alert_exprs(), samples)


# --- dashboard ------------------------------------------------------------------------------------------


def check_exprs(exprs: list[tuple[str, str]], samples: dict[str, frozenset[str]]) -> None:
    problems = []
    for where, expr in exprs:
        names = cm.metric_names(expr)
        if not names:
            problems.append(f"{where}: no metric found in {expr!r}")
        unknown = names - set(samples)
        if unknown:
            problems.append(f"{where}: {sorted(unknown)} exported by neither the controller nor kube-state-metrics")
            continue
        for metric, label, _, _ in cm.label_matchers(expr):
            if metric in samples and label not in samples[metric] | cm.TARGET_LABELS:
                problems.append(f"{where}: {metric} has no label {label!r} (it has {sorted(samples[metric])})")
        known = set().union(*(samples[n] for n in names)) | cm.TARGET_LABELS
        for label in cm.grouping_labels(expr) - known:
            problems.append(f"{where}: groups by {label!r}, a label none of {sorted(names)} has")
    assert not problems, "\n".join(problems)


def test_every_dashboard_metric_and_label_is_exported_by_the_controller_or_kube_state_metrics(samples):
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    check_exprs(exprs, samples)


def test_the_dashboard_uses_every_family_the_controller_exports(exported: cm.Exported):
    used = set().union(*(cm.metric_names(e) for _, e in dashboard_exprs()))
    unused = [f.name for f in exported.families.values() if not set(f.samples()) & used]
    assert not unused, f"families with no panel: {unused}"


def test_panels_using_kube_state_metrics_say_so():
    for p in panels(dashboard()):
        names = set().union(set(), *(cm.metric_names(t["expr"]) for t in p.get("targets", []) if t.get("expr")))
        if any(n.startswith("kube_") for n in names):
            assert "kube-state-metrics" in p["title"] + p.get("description", ""), p["title"]


def test_every_dashboard_expression_is_valid_promql(promtool: str, tmp_path: Path):
    rules = [{"record": f"dashboard:expr_{i}", "expr": as_promql(expr)} for i, (_, expr) in enumerate(dashboard_exprs())]
    path = tmp_path / "dashboard-exprs.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_dashboard_is_importable_and_uses_the_prometheus_datasource_variable():
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
    assert board["uid"] and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for p in panels(board):
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, p["title"]
        assert p.get("description"), f"{p['title']}: every panel says what it shows"
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]


def test_the_dashboard_has_the_panels_the_runbook_needs():
    titles = [p["title"].lower() for p in panels(dashboard())]

    def has(*words: str) -> bool:
        return any(all(w in t for w in words) for t in titles)

    assert has("pods by phase")
    assert has("pending", "3 min")
    assert has("nodes by capacity type")
    assert has("cost per hour")
    assert has("provisioning failures by reason")
    assert has("interruption messages by kind")


def test_the_dashboard_panels_do_not_overlap():
    taken: set[tuple[int, int]] = set()
    for p in panels(dashboard()):
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, f"{p['title']} overlaps another panel"
        taken |= cells
