"""CloudWatch alarms in the sandbox: moto stores them and never evaluates them, so the queue-depth ones
are evaluated here, and each state change goes on the bus as CloudWatch sends it to EventBridge.

An alarm on AWS/SQS ApproximateNumberOfMessagesVisible reads the queue's ApproximateNumberOfMessages
(the same count: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html)
when `evaluate()` is called: the demo and tests call it where CloudWatch's next period would end;
`pipewarden local` every few seconds. The event's shape is the documented single-metric alarm's
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html):
`state` and `previousState` with `reason`, `reasonData` (JSON in a string), `timestamp` and `value`,
and the alarm's `configuration`. Other alarms (metric math, AWS/Lambda, AWS/Events) are created in
moto and stay INSUFFICIENT_DATA (as every new alarm starts: sandbox/moto_ext/cloudwatch.py).
"""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.moto_ext import publish

QUEUE_DEPTH = ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
_COMPARE: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}


def _stamp(now: datetime.datetime) -> str:
    """CloudWatch's state timestamps: 2019-10-02T17:04:40.989+0000."""
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


@dataclass
class QueueAlarm:
    """A queue-depth alarm as the template declares it, and its state."""

    name: str
    description: str
    queue: str
    threshold: float
    operator: str
    period: int
    statistic: str
    state: dict[str, Any] = field(default_factory=dict)

    def configuration(self) -> dict[str, Any]:
        metric = {
            "dimensions": {"QueueName": self.queue},
            "name": QUEUE_DEPTH[1],
            "namespace": QUEUE_DEPTH[0],
        }
        return {
            "description": self.description,
            "metrics": [
                {
                    "id": str(uuid.uuid4()),
                    "metricStat": {"metric": metric, "period": self.period, "stat": self.statistic},
                    "returnData": True,
                }
            ],
        }

    def judge(self, value: float, now: datetime.datetime) -> dict[str, Any]:
        """The state one datapoint puts the alarm in, with CloudWatch's reason and reasonData."""
        compare, words = _COMPARE[self.operator]
        breaching = compare(value, self.threshold)
        new = "ALARM" if breaching else "OK"
        start = now.replace(second=0, microsecond=0)
        transition = f"{self.state['value']} -> {new}" if self.state["value"] != new else f"-> {new}"
        reason = (
            f"Threshold Crossed: 1 out of the last 1 datapoints [{value!r} ({start:%d/%m/%y %H:%M:%S})] was "
            f"{'' if breaching else 'not '}{words} the threshold ({self.threshold!r}) "
            f"(minimum 1 datapoint for {transition} transition)."
        )
        data = {
            "version": "1.0",
            "queryDate": _stamp(now),
            "startDate": _stamp(start),
            "statistic": self.statistic,
            "period": self.period,
            "recentDatapoints": [value],
            "threshold": self.threshold,
        }
        return {"reason": reason, "reasonData": json.dumps(data), "timestamp": _stamp(now), "value": new}


class AlarmEvaluator:
    """Creates the template's alarms in moto and evaluates its queue-depth ones on demand."""

    def __init__(
        self, client: Callable[[str], Any], put: Callable[[dict[str, Any]], None], account: str, region: str
    ):
        self._client = client
        self._put = put
        self.account = account
        self.region = region
        self.alarms: dict[str, QueueAlarm] = {}
        self.changes: list[dict[str, Any]] = []  # every state change event sent, in order
        self._lock = threading.Lock()

    def create(self, props: Mapping[str, Any]) -> None:
        """PutMetricAlarm with the resource's properties; remember it if it watches a queue's depth."""
        keys = (
            "AlarmName",
            "AlarmDescription",
            "Namespace",
            "MetricName",
            "Statistic",
            "Period",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
            "Metrics",
        )
        request = {k: props[k] for k in keys if k in props}
        if "Dimensions" in props:
            request["Dimensions"] = [
                {"Name": d["Name"], "Value": str(d["Value"])} for d in props["Dimensions"]
            ]
        for number in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if number in request:
                request[number] = int(request[number])
        if "Threshold" in request:
            request["Threshold"] = float(request["Threshold"])
        for metric in request.get("Metrics", []):
            if "MetricStat" in metric:
                metric["MetricStat"]["Period"] = int(metric["MetricStat"]["Period"])
        self._client("cloudwatch").put_metric_alarm(**request)
        if (props.get("Namespace"), props.get("MetricName")) != QUEUE_DEPTH:
            return
        queue = next(str(d["Value"]) for d in props["Dimensions"] if d["Name"] == "QueueName")
        created = datetime.datetime.now(datetime.UTC)
        self.alarms[str(props["AlarmName"])] = QueueAlarm(
            name=str(props["AlarmName"]),
            description=str(props.get("AlarmDescription", "")),
            queue=queue,
            threshold=float(props["Threshold"]),
            operator=str(props["ComparisonOperator"]),
            period=int(props["Period"]),
            statistic=str(props["Statistic"]),
            state={
                "reason": "Unchecked: Initial alarm creation",
                "timestamp": _stamp(created),
                "value": "INSUFFICIENT_DATA",
            },
        )

    def evaluate(self) -> list[dict[str, Any]]:
        """One evaluation of every queue-depth alarm: the state change events it sent (on the bus)."""
        sent = []
        with self._lock:  # one evaluation at a time: a change is sent once
            sqs, cloudwatch = self._client("sqs"), self._client("cloudwatch")
            for alarm in self.alarms.values():
                url = sqs.get_queue_url(QueueName=alarm.queue)["QueueUrl"]
                attributes = sqs.get_queue_attributes(
                    QueueUrl=url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
                # The alarm's statistic is the Maximum over its period: a message hidden a moment (a
                # replay that could not send it on, for its visibility timeout) was visible within the
                # period, so it still counts until it is deleted.
                value = float(attributes["ApproximateNumberOfMessages"]) + float(
                    attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
                )
                now = datetime.datetime.now(datetime.UTC)
                state = alarm.judge(value, now)
                if state["value"] == alarm.state["value"]:
                    continue
                cloudwatch.set_alarm_state(
                    AlarmName=alarm.name,
                    StateValue=state["value"],
                    StateReason=state["reason"],
                    StateReasonData=state["reasonData"],
                )
                detail = {
                    "alarmName": alarm.name,
                    "configuration": alarm.configuration(),
                    "previousState": alarm.state,
                    "state": state,
                }
                alarm.state = state
                arn = f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:{alarm.name}"
                event = publish.envelope(
                    "aws.cloudwatch",
                    "CloudWatch Alarm State Change",
                    detail,
                    self.account,
                    self.region,
                    [arn],
                )
                sent.append(event)
        for event in sent:
            self.changes.append(event)
            self._put(event)
        return sent

    def state(self, name: str) -> str:
        return str(self.alarms[name].state["value"])
