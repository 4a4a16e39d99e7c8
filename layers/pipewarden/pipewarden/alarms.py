"""pipewarden's own alarms: which one changed state, how many wait, and what an operator does. Pure.

CloudWatch sends `CloudWatch Alarm State Change` to EventBridge (source `aws.cloudwatch`) for every
transition; its detail carries `alarmName`, `state` and `previousState` (each `value`, `reason`,
`reasonData` - a JSON string with `recentDatapoints` - and `timestamp`) and the alarm's
`configuration.metrics` (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html).
The template names each alarm `<stack>-<watch>`; the notifier tells ALARM, and OK after ALARM
("resolved"), to the default channel. INSUFFICIENT_DATA is nobody's news: a new alarm starts there.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pipewarden.envelope import InvalidEvent, required, shown

SOURCE = "aws.cloudwatch"
STATE_CHANGE = "CloudWatch Alarm State Change"
# What the enroll function emits after a whole resync pass: the heartbeat ResyncAlarm counts.
RESYNC_COMPLETED = "Resync Completed"
STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
MAX_NAME = 255  # CloudWatch's limit on an alarm name
# The names a message puts into a command an operator runs: a CloudFormation stack name and an SQS
# queue name, by their services' own rules (CreateStack's StackName; CreateQueue's QueueName). Whoever
# may write an alarm writes its name and dimensions: nothing else reaches a command.
STACK_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")
QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}(\.fifo)?")


@dataclass(frozen=True)
class Watch:
    """What one of pipewarden's alarms watches, and what to tell when it goes off."""

    title: str  # {n}: how many wait (with the unit), when known
    wrong: str  # what is wrong, for the summary
    unit: str  # what waits in the queue ("" when the alarm does not watch a queue)
    fix: str  # {stack}, {queue_arn}: the command that fixes it once the cause is fixed
    resolved: str


REPLAY = "pipewarden replay-dlq --stack-name {stack}"
WATCHES: dict[str, Watch] = {
    "rule-dead-letters": Watch(
        "{n} dead-lettered by EventBridge",
        "EventBridge could not deliver {n} to pipewarden's functions: they wait in the rules' "
        "dead-letter queue {queue} (kept 14 days).",
        "event",
        "find the cause in the functions' logs, fix it, then run: " + REPLAY,
        "The rules' dead-letter queue is empty again.",
    ),
    "function-failures": Watch(
        "{n} failed after Lambda's retries",
        "{n} of pipewarden's functions failed three times: Lambda's records wait in the "
        "on-failure queue {queue} (kept 14 days).",
        "invocation",
        "read the error in each record (its responsePayload), fix the cause, then run: " + REPLAY,
        "The functions' on-failure queue is empty again.",
    ),
    "retry-dead-letters": Watch(
        "{n} dead-lettered in the retry queue",
        "{n} failed on each of the retry queue's receives: they wait in {queue} (kept 14 days).",
        "queued retry",
        "find the cause in the retry function's logs, fix it, then move them back to the retry queue: "
        "aws sqs start-message-move-task --source-arn {queue_arn}",
        "The retry dead-letter queue is empty again.",
    ),
    "handler-errors": Watch(
        "pipewarden's functions keep failing",
        "pipewarden's functions failed or were throttled in each of the last three 5-minute periods "
        "({n} in the last one).",
        "",
        "read their errors: aws logs tail /aws/lambda/<function> --since 1h --filter-pattern ERROR "
        "(the failed invocations land in the on-failure queue: replay them after the fix)",
        "pipewarden's functions run without errors or throttles again.",
    ),
    "resync-stalled": Watch(
        "no resync completed in two periods",
        "The enroll function's scheduled resync has not completed within two of its periods: it fails "
        "or does not run, so nothing repairs what a missed tag or stack event left behind.",
        "",
        "read the enroll function's logs (aws logs tail /aws/lambda/<enroll function> --since 3h) and "
        "check its Resync schedule is enabled",
        "A resync completed again.",
    ),
}


@dataclass(frozen=True)
class AlarmChange:
    """One state change of one of pipewarden's alarms, as read from its event."""

    alarm: str
    stack: str
    watch: str  # a key of WATCHES
    state: str
    previous: str
    changed_at: str  # state.timestamp: what makes a second delivery of the change the same change
    value: float | None  # the most recent datapoint the alarm evaluated, when it says
    queue: str  # the watched queue's name (its QueueName dimension), if any
    region: str = ""
    account: str = ""

    @property
    def waiting(self) -> int | None:
        """How many messages wait in the watched queue (None when unknown or not a queue)."""
        if self.value is None or not WATCHES[self.watch].unit:
            return None
        return max(0, math.ceil(self.value))

    def worth_telling(self) -> bool:
        """ALARM, and OK after ALARM ("resolved"); a new alarm's first OK is not news."""
        return self.state == "ALARM" or (self.state == "OK" and self.previous == "ALARM")

    def queue_arn(self) -> str:
        partition = "aws-cn" if self.region.startswith("cn-") else "aws"
        if self.region.startswith("us-gov-"):
            partition = "aws-us-gov"
        return f"arn:{partition}:sqs:{self.region}:{self.account}:{self.queue}"

    def console_url(self) -> str:
        return (
            f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#alarmsV2:alarm/{quote(self.alarm, safe='')}"
        )


def _state(detail: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    state = required(detail, key, Mapping)
    if state.get("value") not in STATES:
        raise InvalidEvent(f"alarm {key} {shown(state.get('value'))} is not one of {', '.join(STATES)}")
    return state  # type: ignore[no-any-return]


def _latest(state: Mapping[str, Any]) -> float | None:
    """The largest of the datapoints the evaluation saw (reasonData is JSON in a string)."""
    raw = state.get("reasonData")
    if not isinstance(raw, str):
        return None
    try:
        points = json.loads(raw).get("recentDatapoints")
    except (ValueError, AttributeError):
        return None
    numbers = (
        [p for p in points if isinstance(p, int | float) and math.isfinite(p)]
        if isinstance(points, list)
        else []
    )
    return float(max(numbers)) if numbers else None


def _queue(detail: Mapping[str, Any]) -> str:
    configuration = detail.get("configuration")
    metrics = configuration.get("metrics") if isinstance(configuration, Mapping) else None
    for metric in metrics if isinstance(metrics, list) else []:
        stat = metric.get("metricStat") if isinstance(metric, Mapping) else None
        inner = stat.get("metric") if isinstance(stat, Mapping) else None
        dimensions = inner.get("dimensions") if isinstance(inner, Mapping) else None
        name = dimensions.get("QueueName") if isinstance(dimensions, Mapping) else None
        if isinstance(name, str) and QUEUE_NAME.fullmatch(name):
            return name
    return ""


def read(detail: Mapping[str, Any], region: str = "", account: str = "") -> AlarmChange:
    """The change an alarm event tells; `InvalidEvent` unless it is about one of pipewarden's alarms."""
    alarm = required(detail, "alarmName", str)
    if not alarm or len(alarm) > MAX_NAME:
        raise InvalidEvent("alarm event has no alarmName")
    watch = next((w for w in WATCHES if alarm.endswith(f"-{w}") and len(alarm) > len(w) + 1), None)
    if watch is None or not STACK_NAME.fullmatch(alarm.removesuffix(f"-{watch}")):
        raise InvalidEvent(f"not one of pipewarden's alarms: {shown(alarm)}")
    state, previous = _state(detail, "state"), _state(detail, "previousState")
    changed_at = state.get("timestamp")
    return AlarmChange(
        alarm=alarm,
        stack=alarm.removesuffix(f"-{watch}"),
        watch=watch,
        state=str(state["value"]),
        previous=str(previous["value"]),
        changed_at=changed_at if isinstance(changed_at, str) else "",
        value=_latest(state),
        queue=_queue(detail),
        region=region,
        account=account,
    )


def _count(n: int | None, unit: str) -> str:
    if n is None:
        return f"{unit}s" if unit else "some"
    if unit.endswith("y"):
        return f"{n} {unit if n == 1 else unit[:-1] + 'ies'}"
    return f"{n} {unit if n == 1 else unit + 's'}"


def wording(change: AlarmChange) -> tuple[str, str, str]:
    """(title, summary, what to do) of a change worth telling."""
    watch = WATCHES[change.watch]
    if change.state != "ALARM":
        return f"Resolved: {change.alarm}", watch.resolved, ""
    if watch.unit:
        n = _count(change.waiting, watch.unit)
    else:
        n = "none" if change.value is None else f"{change.value:g}"
    values = {"n": n, "queue": change.queue or "the queue", "stack": change.stack}
    summary = watch.wrong.format(**values)
    fix = watch.fix.format(stack=change.stack, queue_arn=change.queue_arn())
    title = watch.title.format(**values)
    return f"Alarm {change.alarm}: {title}", summary[0].upper() + summary[1:], fix
