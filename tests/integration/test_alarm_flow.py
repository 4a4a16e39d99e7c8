"""pipewarden watches itself: a dead letter raises its queue's alarm, the notify function tells it
(what is wrong, how many wait, the command), and once `pipewarden replay-dlq` empties the queue the
alarm's return to OK is told as resolved. The sandbox evaluates the queue-depth alarms where
CloudWatch's periods would end (sandbox/alarms.py) and sends their state changes in AWS's shape
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cli.main import main as cli_main
from sandbox.faults import Rule
from sandbox.runtime import ACCOUNT, REGION, Sandbox
from tests.conftest import World, sample_event

pytestmark = pytest.mark.integration

FAILURES = "pipewarden-function-failures"
RETRY_DLQ = "pipewarden-retry-dead-letters"


def alarm_messages(sandbox: Sandbox, alarm: str, since: int = 0) -> list[dict[str, Any]]:
    """SNS messages about one alarm (Slack is checked to carry the same)."""
    told = [json.loads(m["Message"]) for m in sandbox.sns_messages()[since:]]
    return [m for m in told if (m.get("detail") or {}).get("alarm") == alarm]


def settled(sandbox: Sandbox) -> None:
    """Every queue-depth alarm evaluated on what the queues hold now, and told."""
    sandbox.evaluate_alarms()
    assert sandbox.wait_idle(30)


def test_a_new_alarms_first_evaluation_is_not_told(sandbox: Sandbox) -> None:
    # Given alarms that start INSUFFICIENT_DATA (or were evaluated by an earlier test)
    before = len(sandbox.sns_messages())
    # When they are evaluated on empty queues
    settled(sandbox)
    # Then no message says "resolved" for a problem nobody was told of
    told = [json.loads(m["Message"]) for m in sandbox.sns_messages()[before:]]
    assert not [m for m in told if m.get("event") == "CloudWatch Alarm State Change"]
    assert {sandbox.alarms.state(name) for name in sandbox.alarms.alarms} == {"OK"}


def test_dead_lettered_invocations_are_told_once_then_resolved_after_replay(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = world.sandbox
    settled(sandbox)
    repo, arn = world.repository("alarm")
    # Given the enroll function's invocations for a tag change fail three times (CodeCommit answers 503)
    sandbox.faults.configure([Rule(1.0, ("error503",), service="codecommit")], seed=1)
    try:
        world.tag(arn, tags := world.enroll_tags(cluster="payments-prod"))
        assert sandbox.wait_idle(30)
    finally:
        sandbox.faults.configure([], 0)
    letters = [d for d in sandbox.bus.dead_letters if repo in json.dumps(d.event)]
    assert letters and {d.rule.split("-")[0] for d in letters} == {"EnrollFunction"}
    slack_before, sns_before = len(sandbox.slack_messages()), len(sandbox.sns_messages())

    # When CloudWatch's next period ends
    raised = sandbox.evaluate_alarms()
    assert sandbox.wait_idle(30)

    # Then the alarm changed state in AWS's shape, and moto shows the state too
    assert [e["detail"]["alarmName"] for e in raised] == [FAILURES]
    event = raised[0]
    assert (event["source"], event["detail-type"]) == ("aws.cloudwatch", "CloudWatch Alarm State Change")
    assert event["resources"] == [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{FAILURES}"]
    sample = sample_event("cloudwatch-alarm-dead-letters.json")
    assert set(event) == set(sample) and set(event["detail"]) == set(sample["detail"])
    assert set(event["detail"]["state"]) == set(sample["detail"]["state"])
    assert json.loads(event["detail"]["state"]["reasonData"])["recentDatapoints"] == [float(len(letters))]
    described = sandbox.client("cloudwatch").describe_alarms(AlarmNames=[FAILURES])["MetricAlarms"]
    assert described[0]["StateValue"] == "ALARM"
    # ... and it was told once, on SNS (severity=error) and Slack: what, how many, the command
    told = alarm_messages(sandbox, FAILURES, sns_before)
    assert len(told) == 1
    assert told[0]["severity"] == "error"
    assert told[0]["detail"]["waiting"] == len(letters)
    assert told[0]["decision"].endswith("pipewarden replay-dlq --stack-name pipewarden")
    slack = [p for p in sandbox.slack_messages()[slack_before:] if FAILURES in p["text"]]
    assert [p["blocks"][0]["text"]["text"] for p in slack] == [told[0]["title"]]

    # When CloudWatch delivers the same change again, or evaluates again with nothing changed
    sandbox.bus.put({**event, "id": "a-second-delivery"})
    assert sandbox.evaluate_alarms() == []
    assert sandbox.wait_idle(30)
    # Then nothing more is told
    assert len(alarm_messages(sandbox, FAILURES, sns_before)) == 1

    # When the operator replays the dead letters and the next period ends
    assert cli_main(["replay-dlq", "--endpoint-url", sandbox.url, "--region", REGION]) == 0
    assert f"replayed {len(letters)}, failed 0" in capsys.readouterr().out
    assert sandbox.wait_idle(30)
    resolved = sandbox.evaluate_alarms()
    assert sandbox.wait_idle(30)
    # Then the replayed events did their job and the alarm's return to OK is told as resolved
    assert world.events_for(repo, "Repository Enrollment Rejected")
    assert [(e["detail"]["alarmName"], e["detail"]["state"]["value"]) for e in resolved] == [(FAILURES, "OK")]
    told = alarm_messages(sandbox, FAILURES, sns_before)
    assert [(m["state"], m["title"], m["severity"]) for m in told] == [
        ("ALARM", told[0]["title"], "error"),
        ("OK", f"Resolved: {FAILURES}", "info"),
    ]
    for letter in letters:
        sandbox.bus.dead_letters.remove(letter)  # handled: later tests check nothing else was dead-lettered
    world.untag(arn, list(tags))  # a rejected repository would be met again by later tests' resyncs
    assert sandbox.wait_idle(30)


def test_a_dead_lettered_retry_decision_names_the_move_back_command(sandbox: Sandbox) -> None:
    settled(sandbox)
    sns_before = len(sandbox.sns_messages())
    queue = sandbox.outputs["RetryDeadLetterQueueUrl"]
    sqs = sandbox.client("sqs")
    # Given two retry decisions SQS moved to the retry dead-letter queue
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"pipeline": "pipewarden-x"}))
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"pipeline": "pipewarden-y"}))
    settled(sandbox)
    (told,) = alarm_messages(sandbox, RETRY_DLQ, sns_before)
    assert told["title"] == f"Alarm {RETRY_DLQ}: 2 queued retries dead-lettered in the retry queue"
    assert told["decision"].endswith(
        f"aws sqs start-message-move-task --source-arn arn:aws:sqs:{REGION}:{ACCOUNT}:pipewarden-RetryDeadLetterQueue"
    )
    # When the queue is emptied (the decisions moved back, or judged stale and deleted)
    sqs.purge_queue(QueueUrl=queue)
    settled(sandbox)
    # Then it is resolved
    assert [m["state"] for m in alarm_messages(sandbox, RETRY_DLQ, sns_before)] == ["ALARM", "OK"]


def test_a_message_hidden_for_a_moment_keeps_its_alarm_raised_until_it_is_deleted(sandbox: Sandbox) -> None:
    # CloudWatch alarms on the Maximum of ApproximateNumberOfMessagesVisible over the period: a message
    # received and hidden for its visibility timeout (a replay that could not send it on) was visible
    # within the period, so no "resolved" is told while it is still in the queue.
    settled(sandbox)
    sns_before = len(sandbox.sns_messages())
    queue = sandbox.outputs["RetryDeadLetterQueueUrl"]
    sqs = sandbox.client("sqs")
    sqs.send_message(QueueUrl=queue, MessageBody="not json")
    settled(sandbox)
    [received] = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=60)["Messages"]
    settled(sandbox)
    assert [m["state"] for m in alarm_messages(sandbox, RETRY_DLQ, sns_before)] == ["ALARM"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=received["ReceiptHandle"])
    settled(sandbox)
    assert [m["state"] for m in alarm_messages(sandbox, RETRY_DLQ, sns_before)] == ["ALARM", "OK"]


def test_a_new_alarm_starts_insufficient_data_as_on_aws(sandbox: Sandbox) -> None:
    # "INSUFFICIENT_DATA ... is the initial state of a new alarm" (CloudWatch): one nothing evaluates
    # does not read as healthy
    cloudwatch = sandbox.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="sandbox-new-alarm",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    try:
        [alarm] = cloudwatch.describe_alarms(AlarmNames=["sandbox-new-alarm"])["MetricAlarms"]
        assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    finally:
        cloudwatch.delete_alarms(AlarmNames=["sandbox-new-alarm"])


def test_a_completed_resync_beats_the_heartbeat_the_resync_alarm_counts(sandbox: Sandbox) -> None:
    before_events, sns_before = len(sandbox.events), len(sandbox.sns_messages())
    sandbox.run_schedules("EnrollFunction")
    assert sandbox.wait_idle(60)
    beats = [e for e in sandbox.events[before_events:] if e["detail-type"] == "Resync Completed"]
    assert len(beats) == 1 and {"repositories", "stacks"} <= set(beats[0]["detail"])
    # Its rule (the one whose AWS/Events Invocations the resync alarm counts) targets the notify
    # function, and no other rule of the controller hears it; the notify function tells nobody.
    heard = [r.name for r in sandbox.bus.rules if r.destination and r.matches(beats[0])]
    assert heard == ["NotifyFunction-ResyncCompleted"]
    result = sandbox.functions["NotifyFunction"].invoke(beats[0])
    assert result["status"] == "ignored" and "heartbeat" in result["reason"]
    assert not [m for m in sandbox.sns_messages()[sns_before:] if "Resync" in m["Message"]]
