"""iam:ListInstanceProfileTags, which moto (5.2) does not implement.

Why: moto has TagInstanceProfile and UntagInstanceProfile and keeps the tags on the profile, but
has no ListInstanceProfileTags: the request falls through to an empty 200 body, which an SDK
reports as "error parsing XML: no root element". Tagged instance profiles (karpenter_instance_profile
reads its tags back to notice drift) need it. Same shape and paging as moto's ListRoleTags: tags
sorted by key, Marker = index of the next tag, NoSuchEntity for an unknown profile.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.iam.models import IAMBackend
from moto.iam.responses import IamResponse


def list_instance_profile_tags(
    self: IAMBackend, instance_profile_name: str, marker: str | None, max_items: int = 100
) -> tuple[list[dict[str, str]], str | None]:
    profile = self.get_instance_profile(profile_name=instance_profile_name)  # NoSuchEntity if absent
    tags = sorted(profile.tags, key=lambda t: t["Key"])
    start = int(marker) if marker else 0
    end = start + int(max_items)
    return tags[start:end], (str(end) if end < len(tags) else None)


def _respond(self: Any) -> ActionResult:
    tags, marker = self.backend.list_instance_profile_tags(
        self._get_param("InstanceProfileName"),
        self._get_param("Marker"),
        self._get_param("MaxItems", 100),
    )
    return ActionResult({"Tags": tags, "Marker": marker, "IsTruncated": bool(marker)})


def install() -> None:
    IAMBackend.list_instance_profile_tags = list_instance_profile_tags  # type: ignore[attr-defined]
    IamResponse.list_instance_profile_tags = _respond  # type: ignore[attr-defined]
