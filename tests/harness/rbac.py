"""The controller's Kubernetes permissions, held and proven as its IAM policy is (harness.aws).

A host-process controller authenticates as cluster.CONTROLLER_USER, which `grant` binds to exactly
the rules the provider grants the in-cluster controller (`terraform-provider-karpenter
controller-rbac`, from contract/src/rbac.rs). The API server audits that user's requests
(cluster.AUDITED_USERS), so a test can see what was refused (403) and which granted
(group, resource, verb) some request of a scenario needed.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from urllib.parse import unquote

from . import cluster as cluster_mod
from . import paths

ROLE = "karpenter-rs-host-controller"


def provider_rules() -> dict[str, list[dict]]:
    out = subprocess.run([str(paths.cargo_binary("terraform-provider-karpenter")), "controller-rbac"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def grant(cluster: cluster_mod.Cluster, namespace: str) -> None:
    """Bind CONTROLLER_USER to the provider's ClusterRole rules and, in `namespace`, its Role's."""
    rules = provider_rules()
    subject = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": cluster_mod.CONTROLLER_USER}]
    rbac_api = "rbac.authorization.k8s.io/v1"
    objects = [
        {"apiVersion": rbac_api, "kind": "ClusterRole", "metadata": {"name": ROLE}, "rules": rules["clusterRules"]},
        {"apiVersion": rbac_api, "kind": "ClusterRoleBinding", "metadata": {"name": ROLE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
         "subjects": subject},
        {"apiVersion": rbac_api, "kind": "Role", "metadata": {"name": ROLE, "namespace": namespace},
         "rules": rules["namespaceRules"]},
        {"apiVersion": rbac_api, "kind": "RoleBinding", "metadata": {"name": ROLE, "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
         "subjects": subject},
    ]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))


def audit_offset(cluster: cluster_mod.Cluster) -> int:
    """Where the audit log ends now: read from here to see only what follows."""
    return cluster.audit_log.stat().st_size if cluster.audit_log.exists() else 0


def audit_events(cluster: cluster_mod.Cluster, since: int = 0,
                 user: str = cluster_mod.CONTROLLER_USER) -> list[dict]:
    if not cluster.audit_log.exists():
        return []
    with cluster.audit_log.open("rb") as log:
        log.seek(since)
        lines = log.read().decode(errors="replace").splitlines()
    out = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line the API server is still writing
        # A watch is audited when its response starts (and again when it ends).
        if event.get("user", {}).get("username") == user and event.get("stage") in ("ResponseStarted",
                                                                                    "ResponseComplete"):
            out.append(event)
    return out


def forbidden(events: list[dict]) -> list[str]:
    return [f"{e['verb']} {e['requestURI']}" for e in events if e.get("responseStatus", {}).get("code") == 403]


@dataclass(frozen=True)
class Grant:
    """One (API group, resource, verb) a rule grants, in a namespace (a Role's) or anywhere."""

    group: str
    resource: str
    verb: str
    names: tuple[str, ...]
    namespace: str | None

    def __str__(self) -> str:
        names = f" named {', '.join(self.names)}" if self.names else ""
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {self.resource}.{self.group or 'core'}{names}{where}"

    def needed_by(self, event: dict) -> bool:
        ref = event.get("objectRef", {})
        resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        if (event["verb"], ref.get("apiGroup", ""), resource) != (self.verb, self.group, self.resource):
            return False
        if self.namespace is not None and ref.get("namespace") != self.namespace:
            return False
        # A list or watch names its object only in a field selector.
        uri = unquote(event.get("requestURI", ""))
        return not self.names or ref.get("name") in self.names or any(
            f"metadata.name={n}" in uri for n in self.names)


def grants(rules: dict[str, list[dict]], namespace: str) -> list[Grant]:
    out = []
    for key, where in (("clusterRules", None), ("namespaceRules", namespace)):
        for rule in rules[key]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        out.append(Grant(group, resource, verb, tuple(rule.get("resourceNames", ())), where))
    return out
