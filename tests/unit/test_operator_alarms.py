"""pipewarden's own alarms and dashboard as template.yaml declares them (README "Operating pipewarden").

Read as CloudFormation resolves them (sandbox/template.py), with the defaults and each OperatorAlarms
value. AWS::CloudWatch::Alarm properties:
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudwatch-alarm.html
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli.health import rate_seconds
from pipewarden import alarms
from sandbox import template as cfn_template

TEMPLATE = cfn_template.load(Path(__file__).resolve().parents[2] / "template.yaml")
STACK = "pipewarden"  # the sandbox resolver's AWS::StackName
QUEUES = ("RuleDeadLetterQueue", "FunctionFailureQueue", "RetryDeadLetterQueue")
FUNCTIONS = ("EnrollFunction", "RetryFunction", "PruneFunction", "NotifyFunction")


def resources() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for name in QUEUES:
        found[name] = {
            "Ref": f"https://sqs/{name}",
            "Arn": f"arn:aws:sqs:us-east-1:1:{name}",
            "QueueName": name,
        }
    for name in FUNCTIONS:
        found[name] = {"Ref": f"{STACK}-{name}-X"}
        for event in TEMPLATE["Resources"][name]["Properties"].get("Events", {}):
            found[f"{name}{event}"] = {"Ref": f"{STACK}-{name}{event}-X"}
    return found


def resolver(**parameters: str) -> cfn_template.Resolver:
    return cfn_template.Resolver(TEMPLATE, parameters, resources(), "123456789012", "us-east-1")


def alarms_declared(**parameters: str) -> dict[str, dict[str, Any]]:
    """The alarms CloudFormation would create with these parameters: logical id -> properties."""
    found = resolver(**parameters)
    return {
        name: found.resolve(spec["Properties"])
        for name, spec in TEMPLATE["Resources"].items()
        if spec["Type"] == "AWS::CloudWatch::Alarm" and found.conditions[spec["Condition"]]
    }


@pytest.mark.parametrize(
    ("choice", "watches", "billed"),
    [
        (None, {"rule-dead-letters", "function-failures", "retry-dead-letters", "resync-stalled"}, 4),
        ("essential", {"rule-dead-letters", "function-failures", "retry-dead-letters", "resync-stalled"}, 4),
        ("all", set(alarms.WATCHES), 12),
        ("off", set(), 0),
    ],
)
def test_operator_alarms_chooses_which_alarms_exist_and_what_they_cost(
    choice: str | None, watches: set[str], billed: int
) -> None:
    declared = alarms_declared(**({} if choice is None else {"OperatorAlarms": choice}))
    names = {props["AlarmName"] for props in declared.values()}
    assert names == {f"{STACK}-{watch}" for watch in watches}
    # CloudWatch bills a metric math alarm for each metric it reads (bench/cost.py ALARM_METRICS).
    metrics = sum(
        sum(1 for m in p["Metrics"] if "MetricStat" in m) if "Metrics" in p else 1 for p in declared.values()
    )
    assert metrics == billed
    from bench.cost import ALARM_METRICS

    assert ALARM_METRICS.get(choice or "essential", 0) == billed


def test_every_alarm_the_notifier_hears_is_one_it_can_word_and_only_those() -> None:
    pattern = resolver().resolve(
        TEMPLATE["Resources"]["NotifyFunction"]["Properties"]["Events"]["AlarmStateChange"]["Properties"][
            "Pattern"
        ]
    )
    assert pattern["source"] == ["aws.cloudwatch"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert sorted(pattern["detail"]["alarmName"]) == sorted(f"{STACK}-{watch}" for watch in alarms.WATCHES)
    assert {p["AlarmName"] for p in alarms_declared(OperatorAlarms="all").values()} == set(
        pattern["detail"]["alarmName"]
    )
    assert pattern["detail"]["state"] == {"value": ["ALARM", "OK"]}


def test_queue_alarms_keep_their_state_while_sqs_reports_nothing() -> None:
    # SQS stops reporting an idle queue's metrics; a dead-letter queue nobody reads is idle with its
    # messages in it: `ignore` keeps ALARM while they wait (and OK while it is empty).
    queue_alarms = [p for p in alarms_declared().values() if p.get("Namespace") == "AWS/SQS"]
    assert {p["Dimensions"][0]["Value"] for p in queue_alarms} == set(QUEUES)
    for props in queue_alarms:
        assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert props["TreatMissingData"] == "ignore"
        assert (props["ComparisonOperator"], props["Threshold"], props["Statistic"]) == (
            "GreaterThanOrEqualToThreshold",
            1,
            "Maximum",
        )
        assert not props.get("AlarmActions")  # told through EventBridge, not an action


def test_the_resync_alarm_counts_the_heartbeat_rule_over_two_resync_periods() -> None:
    resync = next(p for p in alarms_declared().values() if p["AlarmName"].endswith("-resync-stalled"))
    assert resync["Dimensions"] == [{"Name": "RuleName", "Value": f"{STACK}-NotifyFunctionResyncCompleted-X"}]
    assert (resync["Namespace"], resync["MetricName"]) == ("AWS/Events", "Invocations")
    assert (resync["EvaluationPeriods"], resync["DatapointsToAlarm"]) == (2, 2)
    assert resync["TreatMissingData"] == "breaching"  # no resync, no datapoint
    # The period's default is the ResyncRate default's, in seconds.
    parameters = TEMPLATE["Parameters"]
    assert int(parameters["ResyncAlarmPeriodSeconds"]["Default"]) == rate_seconds(
        parameters["ResyncRate"]["Default"]
    )
    heartbeat = TEMPLATE["Resources"]["NotifyFunction"]["Properties"]["Events"]["ResyncCompleted"][
        "Properties"
    ]
    assert heartbeat["Pattern"] == {"source": ["pipewarden"], "detail-type": [alarms.RESYNC_COMPLETED]}


def test_the_handler_errors_alarm_reads_errors_and_throttles_of_every_function() -> None:
    errors = next(
        p
        for p in alarms_declared(OperatorAlarms="all").values()
        if p["AlarmName"].endswith("-handler-errors")
    )
    read = {
        (m["MetricStat"]["Metric"]["MetricName"], m["MetricStat"]["Metric"]["Dimensions"][0]["Value"])
        for m in errors["Metrics"]
        if "MetricStat" in m
    }
    assert read == {(metric, f"{STACK}-{f}-X") for metric in ("Errors", "Throttles") for f in FUNCTIONS}
    assert [m["Id"] for m in errors["Metrics"] if m["ReturnData"]] == ["problems"]
    assert errors["TreatMissingData"] == "notBreaching"


def dashboard(**parameters: str) -> dict[str, Any] | None:
    found = resolver(**parameters)
    spec = TEMPLATE["Resources"]["Dashboard"]
    if not found.conditions[spec["Condition"]]:
        return None
    return json.loads(found.resolve(spec["Properties"])["DashboardBody"])  # type: ignore[no-any-return]


def test_the_dashboard_is_opt_in_and_shows_each_count_the_issue_asks_for() -> None:
    assert dashboard() is None  # $3.00 a month: three times pipewarden's own bill
    body = dashboard(OperatorDashboard="true")
    assert body is not None
    titles = [w["properties"].get("title", "") for w in body["widgets"]]
    for wanted in (
        "Enrollments and rejections",
        "Retries by decision and cause",
        "Recovered vs gave up",
        "Artifacts pruned",
        "Messages sent",
        "Dead-lettered events",
        "Handler errors and throttles",
        "Handler duration",
    ):
        assert any(title.startswith(wanted) for title in titles), wanted
    # With DetailedMetrics=false the counts are in log lines: every count widget reads them.
    queries = [w["properties"]["query"] for w in body["widgets"] if w["type"] == "log"]
    assert len(queries) == 5
    assert all(q.startswith(f"SOURCE '/aws/lambda/{STACK}-") for q in queries)
