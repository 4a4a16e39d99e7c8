"""The controller's health as its stack shows it: alarms in ALARM, events waiting in its queues, the last
resync. Read-only; `pipewarden doctor` judges each part, `pipewarden status` shows them first.

The stack's outputs name its queues and its enroll function. A stack that cannot be described (not
found, or the caller may not) still has the names CloudFormation and the template gave: queues
`<stack>-<logical id>-<suffix>` and alarms `<stack>-<what>` (template.yaml), found by those prefixes.
"""

from __future__ import annotations

import datetime
import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipewarden.alarms import WATCHES

Clients = Callable[[str], Any]
ACCESS_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError")
# The controller's dead-letter queues (logical ids; the stack outputs each as <logical id>Url), with
# the alarm that watches each (pipewarden.alarms.WATCHES).
QUEUES = {
    "RuleDeadLetterQueue": "rule-dead-letters",
    "FunctionFailureQueue": "function-failures",
    "RetryDeadLetterQueue": "retry-dead-letters",
}
# Those `pipewarden replay-dlq` hands back to their functions; the retry queue's dead letters go back
# with SQS's own redrive (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html).
REPLAYED = ("FunctionFailureQueue", "RuleDeadLetterQueue")
DEFAULT_RESYNC_RATE = "rate(1 hour)"  # the template's ResyncRate default
_RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float:
    """Seconds between runs of `rate(N unit)`; ValueError for anything else (a cron expression)."""
    inner = expression.strip().removeprefix("rate(").removesuffix(")").split()
    if len(inner) != 2 or not inner[0].isdigit() or inner[1] not in _RATE_UNITS:
        raise ValueError(f"unsupported schedule expression {expression!r}")
    return int(inner[0]) * _RATE_UNITS[inner[1]]


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def unreadable(error: ClientError | BotoCoreError) -> str:
    """Why a read failed, in a few words: `the caller may not DescribeAlarms (AccessDenied)`."""
    if isinstance(error, ClientError):
        operation = getattr(error, "operation_name", "") or "a call"
        code = error_code(error)
        return f"the caller {'may not' if code in ACCESS_DENIED else 'could not'} {operation} ({code})"
    return str(error)


# -- the stack ------------------------------------------------------------------------------------


def describe_stack(clients: Clients, stack: str) -> dict[str, Any] | None:
    """The controller stack as DescribeStacks gives it; None if it does not exist."""
    cloudformation = clients("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=stack).get("Stacks", [])
    except ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in str(error):
            return None
        raise
    return stacks[0] if stacks else None


def outputs_of(stack: Mapping[str, Any] | None) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])}


def parameters_of(stack: Mapping[str, Any] | None) -> dict[str, str]:
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in (stack or {}).get("Parameters", [])}


# -- queues ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueDepth:
    """How many messages wait in one of the controller's dead-letter queues."""

    queue: str  # logical id, a key of QUEUES
    url: str
    waiting: int
    arn: str

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    def send_back(self, stack: str, region: str) -> str:
        """The command that hands what waits back to pipewarden, once the cause is fixed."""
        if self.queue in REPLAYED:
            return f"pipewarden replay-dlq --stack-name {stack} --region {region}"
        return f"aws sqs start-message-move-task --source-arn {self.arn or self.name}"


def queue_urls(
    sqs: Any, stack_name: str, stack: Mapping[str, Any] | None = None, queues: tuple[str, ...] = tuple(QUEUES)
) -> dict[str, str]:
    """Logical id -> URL of each queue found: the stack's `<logical id>Url` output when it has one, else
    the first queue named `<stack>-<logical id>` (how CloudFormation names it)."""
    outputs = outputs_of(stack)
    urls: dict[str, str] = {}
    for logical in queues:
        url = outputs.get(f"{logical}Url")
        if not url:
            found = sqs.list_queues(QueueNamePrefix=f"{stack_name}-{logical}").get("QueueUrls", [])
            url = found[0] if found else None
        if url:
            urls[logical] = str(url)
    return urls


def waiting_in(sqs: Any, url: str) -> tuple[int, str]:
    """(ApproximateNumberOfMessages, ARN) of a queue: what its alarm's metric counts."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "QueueArn"]
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", "0")), str(attributes.get("QueueArn", ""))


def queue_depths(sqs: Any, urls: Mapping[str, str]) -> list[QueueDepth]:
    """How many messages wait in each queue."""
    return [QueueDepth(logical, url, *waiting_in(sqs, url)) for logical, url in urls.items()]


# -- alarms ---------------------------------------------------------------------------------------


def controller_alarms(cloudwatch: Any, stack: str) -> list[Mapping[str, Any]]:
    """Every metric and composite alarm named `<stack>-*` (the template names its alarms so)."""
    alarms: list[Mapping[str, Any]] = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=f"{stack}-", AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    ):
        alarms += page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
    return alarms


def alarm_fix(name: str, stack: str, queue_arn: str = "<queue ARN>") -> str:
    """What to do about one of the stack's alarms: its watch's fix (pipewarden.alarms), else read it."""
    watch = WATCHES.get(name.removeprefix(f"{stack}-"))
    if watch is None:
        return f"aws cloudwatch describe-alarms --alarm-names {shlex.quote(name)} (StateReason says why)"
    return watch.fix.format(stack=stack, queue_arn=queue_arn)


# -- the last resync ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resync:
    """The enroll function's newest `resync done` log line within three resync periods."""

    rate: str  # the stack's ResyncRate
    period: float  # seconds
    group: str | None  # the enroll function's log group; None: the stack names no enroll function
    logged: bool = True  # the log group exists
    at: datetime.datetime | None = None  # None: no such line within three periods
    counts: dict[str, int] = field(default_factory=dict)  # repositories, stacks, errors, rejected

    def age(self, now: datetime.datetime) -> float | None:
        return None if self.at is None else (now - self.at).total_seconds()

    def late(self, now: datetime.datetime) -> bool:
        """No resync within two periods: what the stack's resync-stalled alarm goes off for."""
        age = self.age(now)
        return age is None or age > 2 * self.period

    def summary(self) -> str:
        """`3 repositories, 2 stacks, 0 errors` (and how many were rejected, if any)."""
        parts = [f"{self.counts[k]} {k}" for k in ("repositories", "stacks", "errors") if k in self.counts]
        if self.counts.get("rejected"):
            parts.append(f"{self.counts['rejected']} rejected")
        return ", ".join(parts)


def resync_counts(message: str) -> dict[str, int]:
    """The counts of a `resync done` line (Powertools JSON; errors and rejected are lists there)."""
    try:
        record = json.loads(message[message.find("{") :])
    except ValueError:
        return {}
    if not isinstance(record, dict):
        return {}
    counts = {}
    for key in ("repositories", "stacks", "errors", "rejected"):
        value = record.get(key)
        if isinstance(value, list):
            counts[key] = len(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            counts[key] = value
    return counts


def last_resync(clients: Clients, stack: Mapping[str, Any] | None, now: datetime.datetime) -> Resync:
    """The newest `resync done` line of the enroll function the stack names (FilterLogEvents over the
    last three resync periods)."""
    rate = parameters_of(stack).get("ResyncRate") or DEFAULT_RESYNC_RATE
    try:
        period = rate_seconds(rate)
    except ValueError:
        period = 3600.0
    function = outputs_of(stack).get("EnrollFunctionName")
    if not function:
        return Resync(rate, period, None, logged=False)
    group = f"/aws/lambda/{function}"
    since = now - datetime.timedelta(seconds=3 * period)
    newest: dict[str, Any] | None = None
    try:
        pages = (
            clients("logs")
            .get_paginator("filter_log_events")
            .paginate(
                logGroupName=group, startTime=int(since.timestamp() * 1000), filterPattern='"resync done"'
            )
        )
        for page in pages:
            for event in page.get("events", []):
                if newest is None or event["timestamp"] >= newest["timestamp"]:
                    newest = event
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        return Resync(rate, period, group, logged=False)
    if newest is None:
        return Resync(rate, period, group)
    at = datetime.datetime.fromtimestamp(newest["timestamp"] / 1000, datetime.UTC)
    return Resync(rate, period, group, at=at, counts=resync_counts(str(newest.get("message", ""))))


# -- all of it ------------------------------------------------------------------------------------


@dataclass
class Health:
    """What could be read of the controller's health; `unknown` says what could not, and why."""

    stack: str
    region: str
    stack_status: str | None = None  # None: no such stack, or not readable
    alarms: list[Mapping[str, Any]] | None = None  # every alarm named <stack>-*; None: not read
    queues: list[QueueDepth] | None = None  # None: not read
    resync: Resync | None = None  # None: not read (or no stack to name the enroll function)
    unknown: list[str] = field(default_factory=list)

    def found(self) -> bool:
        """Whether anything of the controller was found: its stack, a queue or an alarm."""
        return self.stack_status is not None or bool(self.alarms) or bool(self.queues)

    def firing(self) -> list[Mapping[str, Any]]:
        return sorted((a for a in self.alarms or [] if a.get("StateValue") == "ALARM"), key=_alarm_name)

    def queue_arn(self, logical: str) -> str:
        return next((q.arn for q in self.queues or [] if q.queue == logical and q.arn), "<queue ARN>")


def _alarm_name(alarm: Mapping[str, Any]) -> str:
    return str(alarm.get("AlarmName", ""))


def read_health(clients: Clients, stack_name: str, region: str, now: datetime.datetime) -> Health:
    """Each part read on its own: one the caller may not read (or that fails) is named in `unknown`,
    and the others are still read."""
    health = Health(stack_name, region)
    stack: dict[str, Any] | None = None
    try:
        stack = describe_stack(clients, stack_name)
        health.stack_status = None if stack is None else str(stack["StackStatus"])
    except (ClientError, BotoCoreError) as error:
        health.unknown.append(f"stack: {unreadable(error)}")
    try:
        sqs = clients("sqs")
        health.queues = queue_depths(sqs, queue_urls(sqs, stack_name, stack))
    except (ClientError, BotoCoreError) as error:
        health.unknown.append(f"queues: {unreadable(error)}")
    try:
        health.alarms = controller_alarms(clients("cloudwatch"), stack_name)
    except (ClientError, BotoCoreError) as error:
        health.unknown.append(f"alarms: {unreadable(error)}")
    if stack is None:
        health.unknown.append("last resync: no stack to name the enroll function (EnrollFunctionName output)")
        return health
    try:
        health.resync = last_resync(clients, stack, now)
    except (ClientError, BotoCoreError) as error:
        health.unknown.append(f"last resync: {unreadable(error)}")
    return health
