"""The four functions' settings, read once from their environment into frozen objects.

template.yaml sets the variables (their names are a deployment interface); each function reads only
the ones it needs. Every variable is read the same way: blanks around a value are ignored, a blank or
absent optional variable takes its default, and a value that does not fit raises `ConfigError` naming
the variable and the value, so a broken deployment fails on its first invocation and says why.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from pipewarden.contract import BLUEPRINTS, DEFAULT_ALLOWED_BLUEPRINTS

if TYPE_CHECKING:
    from pipewarden.retry_policy import Backoff

# Each value's whole text must match its pattern. Patterns are compiled on first use (re caches them):
# a function compiles only those of its own variables, after its cold start.
# A tag key is at most 128 characters and AWS reserves keys that begin with `aws:` in any case. A key is
# `<prefix>:<name>`, so only the prefix `aws` itself (any case) makes reserved keys; `awsteam:enabled` is
# an ordinary key. template.yaml's TagPrefix AllowedPattern says the same.
_TAG_PREFIX = r"(?![Aa][Ww][Ss]$)[A-Za-z0-9_.-]{1,64}"
# PutEvents' EventBusName: a bus name, or its ARN.
_EVENT_BUS = r"(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:\d{12}:event-bus/)?[.\-_A-Za-z0-9]{1,256}"
# An ECS target of the allow list: a cluster pattern, or cluster/service patterns (wildcards * and ?).
_ECS_TARGET = r"[A-Za-z0-9_*?-]+(/[A-Za-z0-9_*?-]+)?"
_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_TABLE = r"[A-Za-z0-9_.-]{3,255}"
_SECRETSMANAGER_NAME = r"[A-Za-z0-9/_+=.@-]{1,512}"
_QUEUE_URL = r"https?://[^\s/]+/\S+"


def _arn(service: str) -> str:
    return rf"arn:aws[a-z-]*:{service}:[a-z0-9-]*:\d{{12}}:\S+"


# CloudWatch Logs' retention periods (PutRetentionPolicy): the blueprint's LogRetentionDays allows these.
LOG_RETENTION_DAYS = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365),
    *(400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653),
)
SQS_MAX_DELAY_SECONDS = 900
SQS_MAX_RECEIVE_COUNT = 1000  # a redrive policy's maxReceiveCount is 1 to 1,000


class ConfigError(ValueError):
    """The function's environment is incomplete or malformed (a deployment error)."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(message)
        self.variable = variable

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str]]:
        return ConfigError, (self.variable, str(self))  # whole when handed across a process boundary


class _Environment:
    """Reads variables of one environment, each with the one rule for its kind of value."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _value(self, name: str) -> str:
        return self._env.get(name, "").strip()

    @staticmethod
    def _bad(name: str, value: str, what: str) -> ConfigError:
        shown = value if len(value) <= 120 else value[:119] + "…"
        return ConfigError(name, f"{name}={shown!r} is not {what}")

    def required(self, name: str, pattern: str, what: str) -> str:
        value = self._value(name)
        if not value:
            raise ConfigError(name, f"environment variable {name} is required ({what})")
        if not re.fullmatch(pattern, value):
            raise self._bad(name, value, what)
        return value

    def optional(self, name: str, default: str, pattern: str, what: str) -> str:
        value = self._value(name)
        if not value:
            return default
        if not re.fullmatch(pattern, value):
            raise self._bad(name, value, what)
        return value

    def whole_number(self, name: str, default: int, allowed: range | tuple[int, ...], what: str) -> int:
        value = self._value(name)
        if not value:
            return default
        # ASCII digits only (str.isdigit takes '²'), and few of them (int() refuses 4,300 or more).
        if not (value.isascii() and value.isdigit() and len(value) <= 9) or int(value) not in allowed:
            raise self._bad(name, value, what)
        return int(value)

    def hours(self, name: str, default: float) -> datetime.timedelta:
        value = self._value(name)
        if not value:
            return datetime.timedelta(hours=default)
        what = "a number of hours, 0 or more"
        try:
            hours = float(value)
            if not math.isfinite(hours) or hours < 0:
                raise ValueError(value)
            return datetime.timedelta(hours=hours)
        except (ValueError, OverflowError):
            raise self._bad(name, value, what) from None

    def tag_prefix(self) -> str:
        """TAG_PREFIX: the prefix of every tag key pipewarden reads (`<prefix>:enabled`, ...)."""
        what = "a tag key prefix (1 to 64 of A-Z a-z 0-9 _ . -, and not aws, whose keys AWS reserves)"
        return self.optional("TAG_PREFIX", "pipewarden", _TAG_PREFIX, what)

    def event_bus(self) -> str:
        """EVENT_BUS_NAME: where pipewarden's own events go."""
        return self.optional("EVENT_BUS_NAME", "default", _EVENT_BUS, "an EventBridge event bus name or ARN")

    def ecs_targets(self, name: str) -> tuple[str, ...]:
        """A comma-separated allow list; empty allows nothing."""
        value = self._value(name)
        targets = tuple(t.strip() for t in value.split(",") if t.strip())
        for target in targets:
            if not re.fullmatch(_ECS_TARGET, target):
                what = f"a list of ECS targets ({target[:60]!r} is no cluster or cluster/service pattern)"
                raise self._bad(name, value, what)
        return targets

    def blueprints(self, name: str) -> tuple[str, ...]:
        """A comma-separated list of blueprint names; unset is the default list, empty allows none."""
        if name not in self._env:
            return DEFAULT_ALLOWED_BLUEPRINTS
        value = self._value(name)
        names = tuple(b.strip() for b in value.split(",") if b.strip())
        for blueprint in names:
            if blueprint not in BLUEPRINTS:
                what = (
                    f"a list of blueprints, each one of {', '.join(BLUEPRINTS)} ({blueprint[:60]!r} is none)"
                )
                raise self._bad(name, value, what)
        return names

    def delay(self, name: str, default: int) -> int:
        """A number of seconds an SQS message may be delayed."""
        allowed = range(1, SQS_MAX_DELAY_SECONDS + 1)
        what = f"a whole number of seconds from 1 to {SQS_MAX_DELAY_SECONDS} (an SQS delay)"
        return self.whole_number(name, default, allowed, what)


class _Settings:
    """What the four functions' settings share: the tag prefix and event bus, read alike by each."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        """Read the environment; raise `ConfigError` naming the first missing or bad variable."""
        read = _Environment(env)
        build: Callable[..., Self] = cls  # a dataclass: its fields are the keywords
        return build(tag_prefix=read.tag_prefix(), event_bus=read.event_bus(), **cls._own(read))

    @classmethod
    def _own(cls, read: _Environment) -> dict[str, Any]:
        """The function's own variables, by field name."""
        raise NotImplementedError


@dataclass(frozen=True)
class ControllerConfig(_Settings):
    """The enroll function's settings: what every enroll decision needs from the deployment."""

    tag_prefix: str
    allowed_targets: tuple[str, ...]
    artifact_bucket: str
    permissions_boundary_arn: str
    cloudformation_role_arn: str
    event_bus: str = "default"
    log_retention_days: int = 30
    allowed_blueprints: tuple[str, ...] = DEFAULT_ALLOWED_BLUEPRINTS
    # The boundary every role an application stack of the lambda blueprint creates must carry.
    application_boundary_arn: str = ""
    # The boundary of the lambda blueprint's deploy roles (template.yaml ApplicationDeployBoundary).
    application_deploy_boundary_arn: str = ""

    @classmethod
    def _own(cls, read: _Environment) -> dict[str, Any]:
        return {
            # Empty (the template's default) is valid: nothing may be deployed until targets are listed.
            "allowed_targets": read.ecs_targets("ALLOWED_ECS_TARGETS"),
            "artifact_bucket": read.required("ARTIFACT_BUCKET", _BUCKET, "an S3 bucket name"),
            "permissions_boundary_arn": read.required(
                "PERMISSIONS_BOUNDARY_ARN", _arn("iam"), "an IAM managed policy ARN"
            ),
            "cloudformation_role_arn": read.required(
                "CLOUDFORMATION_ROLE_ARN", _arn("iam"), "an IAM role ARN"
            ),
            "log_retention_days": read.whole_number(
                "LOG_RETENTION_DAYS", 30, LOG_RETENTION_DAYS, "a retention period of CloudWatch Logs in days"
            ),
            "allowed_blueprints": read.blueprints("ALLOWED_BLUEPRINTS"),
            "application_boundary_arn": read.optional(
                "APPLICATION_BOUNDARY_ARN", "", _arn("iam"), "an IAM managed policy ARN"
            ),
            "application_deploy_boundary_arn": read.optional(
                "APPLICATION_DEPLOY_BOUNDARY_ARN", "", _arn("iam"), "an IAM managed policy ARN"
            ),
        }


@dataclass(frozen=True)
class RetryConfig(_Settings):
    """The retry function's settings: where decisions are queued and recorded, and how long they wait."""

    tag_prefix: str
    queue_url: str
    decisions_table: str  # '' keeps no record: every claim is granted
    backoff: Backoff
    event_bus: str = "default"
    # The retry queue's maxReceiveCount: a decision that fails on this receive goes to its dead-letter queue.
    queue_max_receives: int = 5

    @classmethod
    def _own(cls, read: _Environment) -> dict[str, Any]:
        # Imported here: the other functions' settings do not need the retry policy at cold start.
        from pipewarden.retry_policy import Backoff

        backoff = Backoff(
            base=read.delay("RETRY_BASE_SECONDS", 30),
            cap=read.delay("RETRY_CAP_SECONDS", 600),
            rate_limit=read.delay("RATE_LIMIT_WAIT_SECONDS", 900),
        )
        return {
            "queue_url": read.required("RETRY_QUEUE_URL", _QUEUE_URL, "an SQS queue URL"),
            "decisions_table": read.optional("DECISIONS_TABLE", "", _TABLE, "a DynamoDB table name"),
            "backoff": backoff,
            "queue_max_receives": read.whole_number(
                "RETRY_QUEUE_MAX_RECEIVES",
                5,
                range(1, SQS_MAX_RECEIVE_COUNT + 1),
                f"a whole number of receives from 1 to {SQS_MAX_RECEIVE_COUNT} (the queue's maxReceiveCount)",
            ),
        }


@dataclass(frozen=True)
class PruneConfig(_Settings):
    """The prune function's settings: the artifact bucket, and how young an artifact is always kept."""

    bucket: str
    tag_prefix: str = "pipewarden"
    grace: datetime.timedelta = datetime.timedelta(hours=24)
    event_bus: str = "default"

    @classmethod
    def _own(cls, read: _Environment) -> dict[str, Any]:
        return {
            "bucket": read.required("ARTIFACT_BUCKET", _BUCKET, "an S3 bucket name"),
            "grace": read.hours("PRUNE_GRACE_HOURS", 24),
        }


@dataclass(frozen=True)
class NotifyConfig(_Settings):
    """The notify function's settings: where messages go, and the table that tells each event once."""

    tag_prefix: str
    topic_arn: str  # '' publishes to no SNS topic
    idempotency_table: str
    slack_secret: str  # '' posts to no default Slack channel
    event_bus: str = "default"

    @classmethod
    def _own(cls, read: _Environment) -> dict[str, Any]:
        return {
            "topic_arn": read.optional("TOPIC_ARN", "", _arn("sns"), "an SNS topic ARN"),
            "idempotency_table": read.required("IDEMPOTENCY_TABLE", _TABLE, "a DynamoDB table name"),
            "slack_secret": read.optional(
                "SLACK_SECRET_NAME", "", _SECRETSMANAGER_NAME, "a Secrets Manager secret name"
            ),
        }
