"""S3: ListObjectVersions pages by key order, as S3 does, without copying the whole bucket per page;
bucket policies decided by the sandbox's IAM (with conditions), not by moto's partial check.

moto 5.2.5 deep-copies every version of the bucket on each call and resumes a page only at the exact
marker entry, so a page after deleted markers comes back empty. S3 resumes lexicographically after
KeyMarker (and VersionIdMarker), whatever was deleted since, which deleting while listing relies on.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from moto.s3 import models as s3_models

_original = s3_models.S3Backend.list_object_versions


@dataclass(frozen=True)
class Listed:
    """What the ListObjectVersions response reads of a version or delete marker (copying a FakeKey
    would read its whole body)."""

    name: str
    version_id: str
    is_latest: bool
    last_modified_ISO8601: str
    etag: str = ""
    size: int = 0
    storage_class: str = "STANDARD"

    @classmethod
    def of(cls, entry: Any, latest: bool) -> Listed:
        if isinstance(entry, s3_models.FakeKey):
            return cls(
                entry.name,
                entry.version_id,
                latest,
                entry.last_modified_ISO8601,
                entry.etag,
                entry.size,
                entry.storage_class,
            )
        return cls(entry.name, entry.version_id, latest, entry.last_modified_ISO8601)


def list_object_versions(
    self: Any,
    bucket_name: str,
    delimiter: str | None = None,
    key_marker: str | None = None,
    max_keys: int | None = 1000,
    prefix: str = "",
    version_id_marker: str | None = None,
) -> tuple[list[Any], list[str], list[Any], str | None, str | None]:
    if delimiter:
        return _original(self, bucket_name, delimiter, key_marker, max_keys, prefix, version_id_marker)
    bucket = self.get_bucket(bucket_name)
    names = sorted(k for k in bucket.keys if k.startswith(prefix or ""))
    start = bisect.bisect_left(names, key_marker) if key_marker else 0
    limit = 1000 if max_keys is None else max_keys
    versions: list[Any] = []
    markers: list[Any] = []
    last: Any = None
    for name in names[start:]:
        entries = sorted(bucket.keys.getlist(name) or [], key=lambda v: v.last_modified, reverse=True)
        for index, entry in enumerate(entries):
            if name == key_marker:
                # Resume after the marker version; with no (or a vanished) version marker, after the key.
                ids = [str(e.version_id) for e in entries]
                if not version_id_marker or str(version_id_marker) not in ids:
                    break
                if index <= ids.index(str(version_id_marker)):
                    continue
            if len(versions) + len(markers) >= limit:
                if last is None:
                    return versions, [], markers, name, None
                return versions, [], markers, last.name, str(last.version_id)
            last = Listed.of(entry, latest=index == 0)
            (versions if isinstance(entry, s3_models.FakeKey) else markers).append(last)
    return versions, [], markers, None, None


def _bucket_policy_left_to_iam(self: Any, action: str, resource: str) -> Any:
    """moto checks a bucket policy by itself, without the request's condition keys, and so denies
    what a condition would allow (every PutObject, under a Deny with ArnNotLike aws:PrincipalArn).
    The sandbox's IAM enforcement evaluates bucket policies with the full context instead
    (sandbox/iam/enforce.py), for the calls it decides."""
    from moto.iam.access_control import PermissionResult

    return PermissionResult.NEUTRAL


def install() -> None:
    s3_models.S3Backend.list_object_versions = list_object_versions
    s3_models.FakeBucket.get_permission = _bucket_policy_left_to_iam
