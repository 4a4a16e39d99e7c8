"""The tag contract: a repository's tags <-> validated pipeline settings (or a precise rejection)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_ECR = re.compile(r"^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_BRANCH_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")
_BUILDSPEC = re.compile(r"^[A-Za-z0-9_./-]{1,255}\.ya?ml$")

COMPUTE_TYPES = {
    "small": "BUILD_GENERAL1_SMALL",
    "medium": "BUILD_GENERAL1_MEDIUM",
    "large": "BUILD_GENERAL1_LARGE",
}
RETRY_MODES = ("transient", "all", "off")
NOTIFY_MODES = ("all", "failures", "off")
MAX_RETRIES_RANGE = range(6)
# Names the secret pipewarden/slack/<channel>, so it may not leave that prefix.
SLACK_CHANNEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEEP_EXECUTIONS_RANGE = range(1, 1001)

# Keys that change the pipeline; every other key of the prefix is reported as unknown.
KNOWN_KEYS = (
    "enabled",
    "ecs-cluster",
    "ecs-service",
    "container",
    "ecr-repository",
    "branch",
    "buildspec",
    "compute",
    "retry",
    "max-retries",
    "notify",
    "keep-executions",
    "slack-channel",
)


class ContractViolation(ValueError):
    """A tag is missing or has a value the contract does not allow."""

    def __init__(self, key: str, value: str | None, reason: str) -> None:
        shown = "(missing)" if value is None else repr(value)
        super().__init__(f"{key}={shown}: {reason}")
        self.key = key
        self.value = value
        self.reason = reason


@dataclass(frozen=True)
class RepositorySettings:
    """Everything the blueprint needs to know about one enrolled repository."""

    repository: str
    ecs_cluster: str
    ecs_service: str
    container: str
    ecr_repository: str
    branch: str = "main"
    buildspec: str = ""
    compute: str = "small"
    retry: str = "transient"
    max_retries: int = 2
    notify: str = "failures"
    keep_executions: int = 10
    slack_channel: str = ""


def is_enabled(tags: Mapping[str, str], prefix: str) -> bool:
    """True when the repository asks to be enrolled (`<prefix>:enabled` is `true`)."""
    return tags.get(f"{prefix}:enabled", "").strip().lower() == "true"


def parse_settings(repository: str, tags: Mapping[str, str], prefix: str) -> RepositorySettings | None:
    """Validate an enrolled repository's tags.

    Returns None when the repository is not enrolled, the settings when every value is valid,
    and raises `ContractViolation` naming the first bad key (with the prefix) otherwise.
    """
    if not is_enabled(tags, prefix):
        return None

    def tag(key: str) -> str | None:
        value = tags.get(f"{prefix}:{key}")
        return None if value is None else value.strip()

    def bad(key: str, reason: str) -> ContractViolation:
        return ContractViolation(f"{prefix}:{key}", tags.get(f"{prefix}:{key}"), reason)

    def required_name(key: str) -> str:
        value = tag(key)
        if not value:
            raise bad(key, "is required")
        if not _NAME.match(value):
            raise bad(key, "must be 1-255 letters, digits, '-' or '_'")
        return value

    def choice(key: str, allowed: Sequence[str], default: str) -> str:
        value = tag(key)
        if value is None or value == "":
            return default
        if value.lower() not in allowed:
            raise bad(key, f"must be one of {', '.join(allowed)}")
        return value.lower()

    def number(key: str, allowed: range, default: int) -> int:
        value = tag(key)
        if value is None or value == "":
            return default
        if not value.isdigit() or int(value) not in allowed:
            raise bad(key, f"must be a whole number from {allowed.start} to {allowed.stop - 1}")
        return int(value)

    cluster = required_name("ecs-cluster")
    service = required_name("ecs-service")

    # Defaults come from the repository name, which may hold characters these names do not.
    container = tag("container") or re.sub(r"[^A-Za-z0-9_-]", "-", repository)[:255]
    if not _NAME.match(container):
        raise bad("container", "must be 1-255 letters, digits, '-' or '_'")

    ecr = tag("ecr-repository") or repository.lower()
    if not _ECR.match(ecr):
        hint = (
            ""
            if tag("ecr-repository")
            else f" (the default {ecr!r} comes from the repository name; set the tag)"
        )
        raise bad("ecr-repository", f"is not a valid ECR repository name (lower case, digits, . _ - /){hint}")

    branch = tag("branch") or "main"
    if (
        len(branch) > 255
        or _BRANCH_FORBIDDEN.search(branch)
        or branch.startswith(("/", "-", "."))
        or branch.endswith(("/", ".", ".lock"))
    ):
        raise bad("branch", "is not a valid git branch name")

    buildspec = tag("buildspec") or ""
    if buildspec and (not _BUILDSPEC.match(buildspec) or ".." in buildspec or buildspec.startswith("/")):
        raise bad("buildspec", "must be a relative path to a .yml or .yaml file inside the repository")

    slack_channel = tag("slack-channel") or ""
    if slack_channel and not SLACK_CHANNEL.match(slack_channel):
        raise bad("slack-channel", "must be 1-64 lower-case letters, digits, '-' or '_' (it names a secret)")

    return RepositorySettings(
        repository=repository,
        ecs_cluster=cluster,
        ecs_service=service,
        container=container,
        ecr_repository=ecr,
        branch=branch,
        buildspec=buildspec,
        compute=choice("compute", tuple(COMPUTE_TYPES), "small"),
        retry=choice("retry", RETRY_MODES, "transient"),
        max_retries=number("max-retries", MAX_RETRIES_RANGE, 2),
        notify=choice("notify", NOTIFY_MODES, "failures"),
        keep_executions=number("keep-executions", KEEP_EXECUTIONS_RANGE, 10),
        slack_channel=slack_channel,
    )


def check_allowed(settings: RepositorySettings, allowed_targets: Sequence[str], prefix: str) -> None:
    """Raise `ContractViolation` unless the cluster/service is on the controller's allow-list.

    An entry is a cluster pattern (`apps-*`) or a cluster/service pattern (`apps-*/web-*`), matched
    case-sensitively with the wildcards `*` and `?` (as the permissions boundary matches them); `*`
    allows every cluster of the account, and no entry allows nothing.
    """
    target = f"{settings.ecs_cluster}/{settings.ecs_service}"
    if not allowed_targets:
        raise ContractViolation(
            f"{prefix}:ecs-cluster",
            settings.ecs_cluster,
            f"deploying to {target} is not allowed: no ECS target is allowed yet (the platform team "
            "lists them in the controller's AllowedEcsTargets parameter)",
        )
    for entry in allowed_targets:
        pattern = entry if "/" in entry else f"{entry}/*"
        if _wildcard_match(pattern, target):
            return
    raise ContractViolation(
        f"{prefix}:ecs-cluster",
        settings.ecs_cluster,
        f"deploying to {target} is not allowed (allowed: {', '.join(allowed_targets)})",
    )


def _wildcard_match(pattern: str, value: str) -> bool:
    """IAM's wildcards: `*` any run of characters (`/` included), `?` one character, nothing else."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value) is not None


def unknown_keys(tags: Mapping[str, str], prefix: str) -> list[str]:
    """Keys under the prefix that the contract does not define (reported, never fatal)."""
    return sorted(k for k in tags if k.startswith(f"{prefix}:") and k[len(prefix) + 1 :] not in KNOWN_KEYS)
