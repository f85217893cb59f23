"""EKS access entries and a cluster's authentication mode, which moto (5.2) does not implement.

Why: karpenter_node_access lets nodes join a cluster that authenticates through the EKS API by
creating an access entry of type EC2_LINUX for the node role, and it picks that mode from
DescribeCluster's accessConfig.authenticationMode. moto's clusters have no accessConfig and it has
no access-entry operations (their URLs answer 404). This adds CreateAccessEntry, DescribeAccessEntry,
ListAccessEntries and DeleteAccessEntry with AWS's errors (ResourceNotFoundException for an unknown
cluster or entry, ResourceInUseException for a duplicate), and keeps CreateCluster's accessConfig
(AWS's default when it is omitted: CONFIG_MAP).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.eks import urls
from moto.eks.exceptions import ResourceInUseException, ResourceNotFoundException
from moto.eks.models import EKSBackend
from moto.eks.responses import EKSResponse

DEFAULT_ACCESS_CONFIG = {"authenticationMode": "CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True}


def _entries(backend: EKSBackend, cluster_name: str) -> dict[str, dict[str, Any]]:
    cluster = backend.describe_cluster(name=cluster_name)  # ResourceNotFoundException if absent
    if not hasattr(cluster, "access_entries"):
        cluster.access_entries = {}
    return cluster.access_entries


def _not_found(cluster_name: str, principal_arn: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        clusterName=cluster_name, nodegroupName=None, fargateProfileName=None, addonName=None,
        message=f"The specified access entry resource {principal_arn} could not be found.",
    )


def create_access_entry(self: EKSBackend, cluster_name: str, principal_arn: str, entry_type: str | None,
                        username: str | None, groups: list[str] | None, tags: dict[str, str] | None) -> dict:
    entries = _entries(self, cluster_name)
    if principal_arn in entries:
        raise ResourceInUseException(
            clusterName=cluster_name, nodegroupName=None, addonName=None,
            message="The specified access entry resource is already in use on this cluster.",
        )
    entry_type = entry_type or "STANDARD"
    default_user = "system:node:{{EC2PrivateDNSName}}" if entry_type.startswith("EC2") else principal_arn
    now = utcnow()
    entries[principal_arn] = {
        "clusterName": cluster_name,
        "principalArn": principal_arn,
        "kubernetesGroups": groups or [],
        "accessEntryArn": f"arn:aws:eks:{self.region_name}:{self.account_id}:access-entry/{cluster_name}/"
                          f"{principal_arn.rsplit('/', 1)[-1]}",
        "createdAt": now,
        "modifiedAt": now,
        "tags": tags or {},
        "username": username or default_user,
        "type": entry_type,
    }
    return entries[principal_arn]


def describe_access_entry(self: EKSBackend, cluster_name: str, principal_arn: str) -> dict:
    entry = _entries(self, cluster_name).get(principal_arn)
    if entry is None:
        raise _not_found(cluster_name, principal_arn)
    return entry


def delete_access_entry(self: EKSBackend, cluster_name: str, principal_arn: str) -> None:
    if _entries(self, cluster_name).pop(principal_arn, None) is None:
        raise _not_found(cluster_name, principal_arn)


def _principal(response: EKSResponse) -> str:
    # The ARN is one path segment, percent-encoded by the SDKs.
    return unquote(response.path.split("/access-entries/", 1)[1])


def _create(self: EKSResponse) -> ActionResult:
    entry = self.eks_backend.create_access_entry(
        self._get_param("name"), self._get_param("principalArn"), self._get_param("type"),
        self._get_param("username"), self._get_param("kubernetesGroups"), self._get_param("tags"),
    )
    return ActionResult({"accessEntry": entry})


def _describe(self: EKSResponse) -> ActionResult:
    return ActionResult({"accessEntry": self.eks_backend.describe_access_entry(self._get_param("name"), _principal(self))})


def _list(self: EKSResponse) -> ActionResult:
    return ActionResult({"accessEntries": sorted(_entries(self.eks_backend, self._get_param("name")))})


def _delete(self: EKSResponse) -> EmptyResult:
    self.eks_backend.delete_access_entry(self._get_param("name"), _principal(self))
    return EmptyResult()


def install() -> None:
    EKSBackend.create_access_entry = create_access_entry  # type: ignore[attr-defined]
    EKSBackend.describe_access_entry = describe_access_entry  # type: ignore[attr-defined]
    EKSBackend.delete_access_entry = delete_access_entry  # type: ignore[attr-defined]
    EKSResponse.create_access_entry = _create  # type: ignore[attr-defined]
    EKSResponse.describe_access_entry = _describe  # type: ignore[attr-defined]
    EKSResponse.list_access_entries = _list  # type: ignore[attr-defined]
    EKSResponse.delete_access_entry = _delete  # type: ignore[attr-defined]
    urls.url_paths["{0}/clusters/(?P<name>[^/]+)/access-entries$"] = urls.response.dispatch
    urls.url_paths["{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>.+)$"] = urls.response.dispatch

    original_create_cluster = EKSResponse.create_cluster

    def create_cluster(self: EKSResponse) -> Any:
        result = original_create_cluster(self)
        cluster = self.eks_backend.describe_cluster(name=self._get_param("name"))
        cluster.access_config = {**DEFAULT_ACCESS_CONFIG, **(self._get_param("accessConfig") or {})}
        return result

    EKSResponse.create_cluster = create_cluster  # type: ignore[method-assign]
