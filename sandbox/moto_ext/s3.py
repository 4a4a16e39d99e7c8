"""S3: ListObjectVersions pages by key order and at most 1,000 entries, as S3 does, without copying
the whole bucket per page, and refuses version-id markers S3 would; bucket policies decided by the
sandbox's IAM (with conditions), not by moto's partial check.

moto 5.2.5 deep-copies every version of the bucket on each call and resumes a page only at the exact
marker entry, so a page after deleted markers comes back empty. S3 resumes lexicographically after
KeyMarker (and VersionIdMarker), whatever was deleted since, which deleting while listing relies on.
"""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass
from typing import Any

from moto.s3 import models as s3_models
from moto.s3.exceptions import InvalidArgumentError

from sandbox.moto_ext import paging

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


# "By default, the action returns up to 1,000 key names. The response might contain fewer keys but
# will never contain more." (botocore s3/2006-03-01 ListObjectVersionsRequest MaxKeys;
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html). A larger max-keys is
# not an error: the page is the smaller of the two (S3's internal maximum, as boto3's maintainers
# explain in https://github.com/boto/boto3/issues/1927).
MAX_KEYS = 1000


def _check_markers(key_marker: str | None, version_id_marker: str | None) -> None:
    """S3's markers are keys and version ids, not sealed tokens: any key is a valid key-marker (the
    listing resumes after it), but a version-id-marker needs a key-marker and must be a version id.
    S3 answers 400 InvalidArgument "A version-id marker cannot be specified without a key marker."
    and "Invalid version id specified" (observed responses quoted in
    https://github.com/versity/versitygw/issues/2174 and https://github.com/versity/versitygw/issues/1811).
    """
    if not version_id_marker:
        return
    if not key_marker:
        raise InvalidArgumentError(
            "A version-id marker cannot be specified without a key marker.",
            "version-id-marker",
            version_id_marker,
        )
    if version_id_marker != "null" and not _is_version_id(version_id_marker):
        raise InvalidArgumentError("Invalid version id specified", "version-id-marker", version_id_marker)


def _is_version_id(value: str) -> bool:
    """Whether the sandbox could have issued this version id (moto's are UUIDs; S3's are opaque)."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def list_object_versions(
    self: Any,
    bucket_name: str,
    delimiter: str | None = None,
    key_marker: str | None = None,
    max_keys: int | None = 1000,
    prefix: str = "",
    version_id_marker: str | None = None,
) -> tuple[list[Any], list[str], list[Any], str | None, str | None]:
    _check_markers(key_marker, version_id_marker)
    limit = paging.page_size("ListObjectVersions", min(MAX_KEYS, MAX_KEYS if max_keys is None else max_keys))
    if delimiter:
        return _original(self, bucket_name, delimiter, key_marker, limit, prefix, version_id_marker)
    bucket = self.get_bucket(bucket_name)
    names = sorted(k for k in bucket.keys if k.startswith(prefix or ""))
    start = bisect.bisect_left(names, key_marker) if key_marker else 0
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
