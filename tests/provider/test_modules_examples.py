"""modules/ and examples/ through real terraform and tofu: every directory is `fmt`-clean and
validates; each module's README documents exactly its variables and outputs; and the examples (and
modules/karpenter with its defaults) apply against the real kube-apiserver and the extended moto,
create what they promise, and leave nothing behind on destroy. Every apply installs the controller
from the image built here, and apply returns once its pods run on the real node (harness.node);
the on-demand-fallback example is proven with that controller working: with every spot pool out of
capacity, its node is on-demand."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest
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
        (f"`{name}`", _cell(_unquote(a.get("description", '""'))), _cell(f"`{a.get('type', 'any')}`"),
         _cell(f"`{a['default']}`") if "default" in a else "required")
        for name, a in hcl_blocks(module / "variables.tf", "variable").items()
    ]


def outputs_table(module: Path) -> list[tuple[str, str]]:
    return [(f"`{name}`", _cell(_unquote(a.get("description", '""'))))
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
    for kind, file in [("variable", "variables.tf"), ("output", "outputs.tf")]:
        undescribed = [n for n, a in hcl_blocks(module / file, kind).items() if not _unquote(a.get("description", '""'))]
        assert undescribed == [], f"{module.name}/{file}: no description for {undescribed}"
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


def stage(tmp_path: Path, directory: Path) -> Path:
    """`directory` and the modules copied into tmp_path with their layout (examples refer to
    ../../modules), without anything a local run left behind; a directory already under tmp_path
    stays where it is."""
    ignore = shutil.ignore_patterns(".terraform", "terraform.tfstate*", ".terraform.lock.hcl")
    shutil.copytree(paths.REPO / "modules", tmp_path / "modules", ignore=ignore, dirs_exist_ok=True)
    if directory.is_relative_to(tmp_path):
        return directory
    target = tmp_path / directory.relative_to(paths.REPO)
    shutil.copytree(directory, target, ignore=ignore, dirs_exist_ok=True)
    return target


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
    assert validated.returncode == 0, f"{tf.name} validate:\n{validated.stdout}{validated.stderr}"
    report = json.loads(validated.stdout)
    # The CLI's own note that dev_overrides are in effect is how these tests reach the provider.
    findings = [d for d in report["diagnostics"] if d["summary"] != "Provider development overrides are in effect"]
    assert report["valid"] and findings == [], validated.stdout


# --- apply and destroy on the local environment ------------------------------------------------


@pytest.fixture
def local_aws(aws_emulator, monkeypatch):
    """The extended moto, reset, with the standard SDK variables exported: the examples take AWS
    from the environment as they would on a workstation, and so does the controller."""
    aws_emulator.reset()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in aws_emulator.env().items():
        monkeypatch.setenv(name, value)
    return aws_emulator


def client(service: str):
    return boto3.client(service, region_name=REGION)


@pytest.fixture
def controller_vars(controller_image, real_node, aws_emulator) -> dict:
    """What every root here gets as terraform.tfvars.json: the controller image and, for its pods,
    the emulator's endpoint and the emulator's test keys (these roots set up no IRSA token; static
    keys are the documented fallback)."""
    return {"controller_image": controller_image,
            "controller_env": {"AWS_ENDPOINT_URL": aws_emulator.endpoint,
                               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}}


@pytest.fixture
def applied(local_aws, cluster):
    """Where each test applied; whatever a failing test left is destroyed, so that the next test
    finds the shared cluster clean. Set up after local_aws, so torn down while its variables hold."""
    runs: list[tuple[terraform.Runner, Path]] = []
    yield runs
    for tf, workdir in runs:
        if tf.run(workdir, "state", "list", check=False).stdout.split():
            tf.run(workdir, "destroy", "-auto-approve", "-no-color", "-var", f"cluster_endpoint={cluster.server}",
                   check=False)


# Warnings every apply here gets: the dev_overrides note, and node access falling back to aws-auth
# because the emulator has no EKS cluster. Any other (the seed's advice on spot pools or burstable
# families, an attribute set that does not apply) is a flaw of the module or example.
EXPECTED_WARNINGS = {"Provider development overrides are in effect", "EKS cluster not found; using aws-auth"}


def apply(cli, provider_dir, tmp_path, cluster, applied, directory: Path, tfvars: dict) -> tuple[terraform.Runner, Path]:
    tf = runner(cli, provider_dir, tmp_path, {"KUBECONFIG": str(cluster.kubeconfig)})
    workdir = stage(tmp_path, directory)
    (workdir / "terraform.tfvars.json").write_text(json.dumps(tfvars))
    applied.append((tf, workdir))
    tf.run(workdir, "get", "-no-color")
    done = tf.apply(workdir, "-var", f"cluster_endpoint={cluster.server}")
    warnings = set(re.findall(r"^[\s│╷]*Warning: (.+?)\s*$", done.stdout + done.stderr, re.M))
    assert warnings - EXPECTED_WARNINGS == set(), done.stdout + done.stderr
    return tf, workdir


def converged(tf: terraform.Runner, workdir: Path, cluster, *args: str) -> None:
    """A second plan changes nothing: no attribute of a module or example drifts by itself."""
    plan = tf.run(workdir, "plan", "-detailed-exitcode", "-no-color", "-var", f"cluster_endpoint={cluster.server}",
                  *args, check=False)
    assert plan.returncode == 0, plan.stdout + plan.stderr


def outputs(tf: terraform.Runner, workdir: Path) -> dict:
    return {k: v["value"] for k, v in json.loads(tf.run(workdir, "output", "-json").stdout).items()}


def provisioner_spec(cluster, name: str) -> dict:
    return cluster.get_json("provisioner", name)["spec"]


def requirements(spec: dict) -> dict[str, list[str]]:
    assert all(r["operator"] == "In" for r in spec["requirements"]), spec["requirements"]
    return {r["key"]: r["values"] for r in spec["requirements"]}


def settings(cluster) -> dict[str, str]:
    return cluster.get_json("configmap", "karpenter-settings", "-n", "karpenter")["data"]


def mapped_roles(cluster) -> list[str]:
    got = cluster.kubectl("get", "configmap", "aws-auth", "-n", "kube-system", "-o", "json", check=False)
    if got.returncode != 0:
        return []
    data = json.loads(got.stdout).get("data") or {}
    return [e["rolearn"] for e in yaml.safe_load(data.get("mapRoles") or "[]") or []]


def is_burstable(shape: dict) -> bool:
    return bool(shape.get("BurstablePerformanceSupported")) or re.match(r"t\d", shape["InstanceType"]) is not None


def catalog() -> tuple[dict[str, dict], dict[str, set[str]]]:
    """Every type EC2 describes, and the zones of the region offering each, read through boto3."""
    ec2 = client("ec2")
    shapes = {}
    for page in ec2.get_paginator("describe_instance_types").paginate():
        shapes.update({t["InstanceType"]: t for t in page["InstanceTypes"]})
    zones: dict[str, set[str]] = {}
    for page in ec2.get_paginator("describe_instance_type_offerings").paginate(LocationType="availability-zone"):
        for o in page["InstanceTypeOfferings"]:
            zones.setdefault(o["InstanceType"], set()).add(o["Location"])
    return shapes, zones


def cheapest_spot(names: list[str]) -> dict[str, float]:
    """Cheapest current spot price of each type over the region's zones, from the price history."""
    ec2, best = client("ec2"), {}
    for i in range(0, len(names), 100):
        for page in ec2.get_paginator("describe_spot_price_history").paginate(
                InstanceTypes=names[i:i + 100], ProductDescriptions=["Linux/UNIX"]):
            for h in page["SpotPriceHistory"]:
                price = float(h["SpotPrice"])
                best[h["InstanceType"]] = min(price, best.get(h["InstanceType"], price))
    return best


def expected_spot_types(min_vcpus: int, max_vcpus: int, count: int) -> list[str]:
    """What modules/spot-provisioner should allow with these bounds, worked out from EC2 alone:
    the `count` cheapest fixed-performance x86_64 types sold as spot in the region, by name."""
    shapes, zones = catalog()
    candidates = [
        name for name, s in shapes.items()
        if min_vcpus <= s["VCpuInfo"]["DefaultVCpus"] <= max_vcpus
        and "x86_64" in s["ProcessorInfo"]["SupportedArchitectures"]
        and "spot" in s.get("SupportedUsageClasses", [])
        and not is_burstable(s) and zones.get(name)
    ]
    prices = cheapest_spot(candidates)
    # The data source's order: cheapest first, then by name.
    ranked = sorted((n for n in candidates if n in prices), key=lambda n: (prices[n], n))
    assert len(ranked) > count, f"the emulator's catalog should have more than {count} such types"
    return sorted(ranked[:count])


def leftovers(cluster) -> list[str]:
    """Everything an apply of a module or example creates that destroy must remove."""
    ec2, iam = client("ec2"), client("iam")
    tagged = [{"Name": "tag:karpenter.sh/cluster", "Values": [CLUSTER]}]
    left = [f"instance {i['InstanceId']}" for r in ec2.describe_instances(Filters=tagged)["Reservations"]
            for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    left += [f"launch template {t['LaunchTemplateName']}"
             for t in ec2.describe_launch_templates(Filters=tagged)["LaunchTemplates"]]
    left += [f"queue {u}" for u in client("sqs").list_queues().get("QueueUrls", [])]
    left += [f"rule {r['Name']}" for r in client("events").list_rules()["Rules"]]
    left += [f"role {r['RoleName']}" for r in iam.list_roles()["Roles"] if CLUSTER in r["RoleName"]]
    left += [f"policy {p['PolicyName']}" for p in iam.list_policies(Scope="Local")["Policies"]]
    left += [f"instance profile {p['InstanceProfileName']}" for p in iam.list_instance_profiles()["InstanceProfiles"]]
    left += [f"stack {s['StackName']} ({s['StackStatus']})" for s in client("cloudformation").list_stacks()["StackSummaries"]
             if s["StackStatus"] != "DELETE_COMPLETE"]
    for kind, name in [("crd", "provisioners.karpenter.sh"), ("clusterrole", "karpenter"), ("namespace", "karpenter")]:
        if cluster.kubectl("get", kind, name, check=False).returncode == 0:
            left.append(f"{kind} {name}")
    left += [f"node {n['metadata']['name']}" for n in cluster.instance_nodes()
             if "karpenter.sh/provisioner-name" in n["metadata"].get("labels", {})]
    left += [f"aws-auth entry {arn}" for arn in mapped_roles(cluster) if CLUSTER in arn]
    # The emulated cluster had no aws-auth before the module created it, so none is left after.
    if cluster.kubectl("get", "configmap", "aws-auth", "-n", "kube-system", check=False).returncode == 0:
        left.append("configmap kube-system/aws-auth")
    return left


def destroyed(tf: terraform.Runner, workdir: Path, cluster) -> None:
    tf.destroy(workdir, "-var", f"cluster_endpoint={cluster.server}")
    assert tf.run(workdir, "state", "list").stdout.split() == []
    assert leftovers(cluster) == []


MODULE_ROOT = """
terraform {
  required_providers {
    karpenter = { source = "karpenter-rs/karpenter" }
  }
}

provider "karpenter" {
  region       = "%(region)s"
  cluster_name = "%(cluster)s"
}

variable "cluster_endpoint" {
  type = string
}

variable "oidc_provider_arn" {
  type    = string
  default = null
}

variable "controller_image" {
  type = string
}

variable "controller_env" {
  type = map(string)
}

module "karpenter" {
  source = "../modules/karpenter"

  cluster_name         = "%(cluster)s"
  cluster_endpoint     = var.cluster_endpoint
  controller_image     = var.controller_image
  controller_env       = var.controller_env
  oidc_provider_arn    = var.oidc_provider_arn
  controller_replicas  = 3
  controller_log_level = "debug"
  interruption_actions = { rebalance_recommendation = "cordon" }
  ice_cache_ttl        = "1m"
  tags                 = { team = "platform" }
}

output "karpenter" {
  value = module.karpenter
}
"""


def test_the_karpenter_module_with_its_defaults_creates_the_whole_stack_and_destroy_removes_it(
        cli, provider_dir, tmp_path, cluster, applied, controller_vars):
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text(MODULE_ROOT % {"region": REGION, "cluster": CLUSTER})
    tf, workdir = apply(cli, provider_dir, tmp_path, cluster, applied, root, controller_vars)
    out = outputs(tf, workdir)["karpenter"]
    iam, sqs, events = client("iam"), client("sqs"), client("events")

    node_role = iam.get_role(RoleName="KarpenterNodeRole-demo")["Role"]
    assert out["node_role_arn"] == node_role["Arn"] and out["node_role_name"] == "KarpenterNodeRole-demo"
    assert {"Key": "team", "Value": "platform"} in iam.list_role_tags(RoleName="KarpenterNodeRole-demo")["Tags"]
    profile = iam.get_instance_profile(InstanceProfileName=out["instance_profile_name"])["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["KarpenterNodeRole-demo"]
    attrs = sqs.get_queue_attributes(QueueUrl=out["interruption_queue_url"], AttributeNames=["All"])["Attributes"]
    assert attrs["QueueArn"] == out["interruption_queue_arn"] and attrs["MessageRetentionPeriod"] == "300"
    # One rule per kind by default, each feeding the queue.
    assert sorted(out["interruption_rule_names"]) == ALL_KINDS
    for name in out["interruption_rule_names"].values():
        assert [t["Arn"] for t in events.list_targets_by_rule(Rule=name)["Targets"]] == [out["interruption_queue_arn"]]
    role = iam.get_role(RoleName=out["controller_role_name"])["Role"]
    assert role["Arn"] == out["controller_role_arn"]
    attached = iam.list_attached_role_policies(RoleName=out["controller_role_name"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [out["controller_policy_arn"]]
    assert out["node_access_mode"] == "aws_auth"  # the emulator has no EKS cluster named demo
    assert node_role["Arn"] in mapped_roles(cluster)

    # The controller's settings as the module was given them.
    data = settings(cluster)
    assert data["clusterName"] == CLUSTER and data["interruptionQueue"] == out["interruption_queue_name"]
    assert data["clusterEndpoint"] == cluster.server
    assert data["rebalanceRecommendationAction"] == "cordon" and data["iceCacheTTL"] == "1m"
    deployment = cluster.get_json("deployment", "karpenter", "-n", out["controller_namespace"])
    assert deployment["spec"]["replicas"] == 3
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["RUST_LOG"] == "debug"
    # Pod Identity by default: no IRSA annotation on the service account.
    sa = cluster.get_json("serviceaccount", "karpenter", "-n", "karpenter")
    assert "eks.amazonaws.com/role-arn" not in (sa["metadata"].get("annotations") or {})

    # The default provisioner: spot first with on-demand fallback, over many fixed-performance
    # types and every zone.
    assert out["provisioner_name"] == "default"
    spec = provisioner_spec(cluster, "default")
    req = requirements(spec)
    assert req["karpenter.sh/capacity-type"] == ["spot", "on-demand"]
    assert req["node.kubernetes.io/instance-type"] == out["provisioner_instance_types"] == expected_spot_types(2, 16, 30)
    assert req["topology.kubernetes.io/zone"] == out["provisioner_zones"] == list(ZONES)
    assert req["kubernetes.io/arch"] == ["amd64"]
    assert spec["provider"]["instanceProfile"] == out["instance_profile_name"]
    assert spec["provider"]["subnetSelector"] == {"karpenter.sh/discovery": CLUSTER}
    assert spec["provider"]["tags"] == {"team": "platform"}
    assert spec["ttlSecondsAfterEmpty"] == 30 and spec["ttlSecondsUntilExpired"] == 2592000

    converged(tf, workdir, cluster)

    # With the cluster's OIDC provider, the controller role trusts the service account (IRSA) and
    # the service account names the role.
    oidc = iam.create_open_id_connect_provider(
        Url="https://oidc.eks.ap-southeast-1.amazonaws.com/id/DEMO", ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"])["OpenIDConnectProviderArn"]
    irsa = ("-var", f"oidc_provider_arn={oidc}")
    tf.apply(workdir, "-var", f"cluster_endpoint={cluster.server}", *irsa)
    out = outputs(tf, workdir)["karpenter"]
    trust = json.dumps(iam.get_role(RoleName=out["controller_role_name"])["Role"]["AssumeRolePolicyDocument"])
    assert oidc in trust and "system:serviceaccount:karpenter:karpenter" in trust, trust
    sa = cluster.get_json("serviceaccount", "karpenter", "-n", "karpenter")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == out["controller_role_arn"]
    converged(tf, workdir, cluster, *irsa)
    destroyed(tf, workdir, cluster)


# --- the examples --------------------------------------------------------------------------------

EXAMPLE = paths.REPO / "examples"
# The seed's ec2-instance-selector answer for --memory 4 --vcpus 2 --cpu-architecture x86_64.
SEED_SELECTION = ["c5.large", "c5a.large", "c5ad.large", "c5d.large", "c6i.large", "t2.medium", "t3.medium", "t3a.medium"]
WORKLOAD = "fallback-workload"


def workload() -> list[dict]:
    labels = {"app": "inflate"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": WORKLOAD}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "inflate", "namespace": WORKLOAD},
         "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels},
             "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                 "name": "inflate", "image": "registry.k8s.io/pause:3.10",
                 "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}}},
    ]


def running_pods(cluster) -> list[dict]:
    return [p for p in cluster.get_json("pods", "-n", WORKLOAD)["items"] if p["status"].get("phase") == "Running"]


def namespace_gone(cluster, name: str) -> bool:
    return cluster.kubectl("get", "namespace", name, check=False).returncode != 0


def test_on_demand_fallback_launches_on_demand_when_no_spot_pool_has_capacity(
        cli, provider_dir, tmp_path, cluster, local_aws, applied, controller_vars):
    aws_harness.make_network(CLUSTER, ZONES, REGION)
    aws_harness.register_eks_cluster(CLUSTER, cluster, REGION)
    tf, workdir = apply(cli, provider_dir, tmp_path, cluster, applied, EXAMPLE / "on-demand-fallback", controller_vars)
    out = outputs(tf, workdir)

    spec = provisioner_spec(cluster, "spot-with-fallback")
    req = requirements(spec)
    assert req["karpenter.sh/capacity-type"] == out["capacity_types"] == ["spot", "on-demand"]
    assert req["node.kubernetes.io/instance-type"] == out["instance_types"] == expected_spot_types(2, 8, 30)
    assert req["topology.kubernetes.io/zone"] == list(ZONES)
    assert out["spot_pools"] >= 30 * 2, "30 types, nearly all in every zone"
    assert spec["limits"]["resources"] == {"cpu": "200", "memory": "800Gi"}
    assert spec["provider"]["instanceProfile"] == "KarpenterNodeInstanceProfile-demo"
    assert settings(cluster)["spotQuotaFallback"] == "true"
    assert out["interruption_queue_url"].endswith("/Karpenter-demo")
    converged(tf, workdir, cluster)

    # No spot capacity anywhere: the in-cluster controller must launch on-demand for pods that did
    # not ask.
    local_aws.add_fault("InsufficientInstanceCapacity", capacity_type="spot")
    try:
        for obj in workload():
            cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))
        running = procs.wait_for("2 pods Running", lambda: len(running_pods(cluster)) == 2 and running_pods(cluster),
                                 240, interval=1)
        nodes = {n["metadata"]["name"]: n for n in cluster.instance_nodes()}
        instances = {i["InstanceId"]: i for r in client("ec2").describe_instances()["Reservations"] for i in r["Instances"]}
        for pod in running:
            node = nodes[pod["spec"]["nodeName"]]
            labels = node["metadata"]["labels"]
            assert labels["karpenter.sh/provisioner-name"] == "spot-with-fallback"
            assert labels["karpenter.sh/capacity-type"] == "on-demand"
            assert labels["node.kubernetes.io/instance-type"] in out["instance_types"]
            instance = instances[node["spec"]["providerID"].rsplit("/", 1)[1]]
            assert instance.get("InstanceLifecycle") != "spot"
            assert instance["IamInstanceProfile"]["Arn"].endswith("/KarpenterNodeInstanceProfile-demo")

        # Destroy with the controller running, as a cluster would: it drains and terminates the node.
        cluster.kubectl("delete", "namespace", WORKLOAD, "--wait=false")
        procs.wait_for(f"namespace {WORKLOAD} gone", lambda: namespace_gone(cluster, WORKLOAD), 120, interval=0.5)
        destroyed(tf, workdir, cluster)
    finally:
        cluster.kubectl("delete", "namespace", WORKLOAD, "--ignore-not-found", "--wait=false")


def test_cloudformation_bootstrap_puts_the_aws_side_in_one_stack_that_the_cluster_side_reads(
        cli, provider_dir, tmp_path, cluster, applied, controller_vars):
    tf, workdir = apply(cli, provider_dir, tmp_path, cluster, applied, EXAMPLE / "cloudformation-bootstrap", controller_vars)
    out = outputs(tf, workdir)
    cfn, iam = client("cloudformation"), client("iam")

    stack = cfn.describe_stacks(StackName="Karpenter-demo")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert out["stack_id"] == stack["StackId"] and out["stack_name"] == "Karpenter-demo"
    made = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    # The AWS side is the stack's alone: no individually created role, policy, queue or rule.
    assert sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if CLUSTER in r["RoleName"]) == [
        "KarpenterControllerRole-demo", "KarpenterNodeRole-demo"]
    assert iam.list_policies(Scope="Local")["Policies"] == []
    # Queue URLs name the endpoint that was asked (the emulator's, or the regional one in the
    # stack's output); account and name must agree.
    queues = [urlparse(u).path for u in client("sqs").list_queues()["QueueUrls"]]
    assert queues == [urlparse(made["InterruptionQueueUrl"]).path] == [urlparse(out["interruption_queue_url"]).path]
    assert queues == ["/123456789012/Karpenter-demo"]
    assert sorted(r["Name"] for r in client("events").list_rules()["Rules"]) == [
        "Karpenter-demo-instance-state-change", "Karpenter-demo-rebalance-recommendation",
        "Karpenter-demo-scheduled-change", "Karpenter-demo-spot-interruption"]
    assert out["controller_role_arn"] == made["ControllerRoleArn"]

    # The cluster side reads the stack: queue, node role and instance profile.
    assert settings(cluster)["interruptionQueue"] == made["InterruptionQueueName"]
    assert made["NodeRoleArn"] in mapped_roles(cluster)
    spec = provisioner_spec(cluster, "default")
    assert spec["provider"]["instanceProfile"] == made["InstanceProfileName"] == out["instance_profile"]
    req = requirements(spec)
    assert req["karpenter.sh/capacity-type"] == ["spot", "on-demand"]
    assert req["node.kubernetes.io/instance-type"] == expected_spot_types(2, 16, 30)

    converged(tf, workdir, cluster)
    destroyed(tf, workdir, cluster)


def test_instance_selector_turns_the_seeds_query_into_a_fixed_and_a_burstable_provisioner(
        cli, provider_dir, tmp_path, cluster, applied, controller_vars):
    tf, workdir = apply(cli, provider_dir, tmp_path, cluster, applied, EXAMPLE / "instance-selector", controller_vars)
    out = outputs(tf, workdir)

    # The query's answer, worked out from EC2 directly.
    shapes, zones = catalog()
    answer = [
        n for n, s in shapes.items()
        if s["VCpuInfo"]["DefaultVCpus"] == 2 and s["MemoryInfo"]["SizeInMiB"] == 4096
        and "x86_64" in s["ProcessorInfo"]["SupportedArchitectures"]
        and "spot" in s.get("SupportedUsageClasses", []) and zones.get(n)
    ]
    assert sorted(out["selected"]) == sorted(answer)
    assert set(SEED_SELECTION) <= set(answer), "the seed's list is part of the answer"
    prices = cheapest_spot(out["selected"])
    assert [prices[n] for n in out["selected"]] == sorted(prices[n] for n in out["selected"])

    fixed = sorted(n for n in answer if not is_burstable(shapes[n]))
    burstable = sorted(n for n in answer if is_burstable(shapes[n]))
    assert fixed and burstable and {"t2.medium", "t3.medium", "t3a.medium"} <= set(burstable)
    for name, types, weight in [("instance-selector", fixed, 10), ("instance-selector-burstable", burstable, 1)]:
        spec = provisioner_spec(cluster, name)
        req = requirements(spec)
        offered = sorted(set().union(*(zones[t] for t in types)))
        assert req["node.kubernetes.io/instance-type"] == types, name
        assert req["topology.kubernetes.io/zone"] == offered == list(ZONES), name
        assert req["karpenter.sh/capacity-type"] == ["spot"], name
        assert spec["weight"] == weight, name
        assert spec["provider"]["instanceProfile"] == "KarpenterNodeInstanceProfile-demo"
        assert out["provisioners"][name] == {"instance_types": types, "zones": offered}
    assert sorted(out["provisioners"]) == ["instance-selector", "instance-selector-burstable"]

    converged(tf, workdir, cluster)
    destroyed(tf, workdir, cluster)
