"""An invocation that keeps failing lands in the on-failure queue as Lambda records it; replay-dlq
hands it back to its function, which then does its job."""

from __future__ import annotations

import json

import pytest

from cli.main import main as cli_main
from cli.replay import target
from pipewarden.naming import pipeline_name
from sandbox.faults import Rule
from sandbox.runtime import REGION, Sandbox
from tests.conftest import World

pytestmark = pytest.mark.integration


def test_a_dead_lettered_notification_is_replayed_and_delivered(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox: Sandbox = world.sandbox
    world.service(owner=world.name("dlq"))
    repo, arn = world.repository("dlq")
    pipeline = pipeline_name(repo)
    sandbox.faults.configure([Rule(1.0, ("error503",), service="sns")], seed=1)
    try:
        world.tag(arn, world.enroll_tags(notify="all"))
        sandbox.wait_idle(30)
    finally:
        sandbox.faults.configure([], 0)
    letters = [d for d in sandbox.bus.dead_letters if d.event.get("detail", {}).get("pipeline") == pipeline]
    assert [d.rule for d in letters] == ["NotifyFunction-PipewardenOutcome"]
    assert letters[0].attempts == 3  # the invocation and Lambda's two retries
    queue = sandbox.outputs["FunctionFailureQueueUrl"]
    waiting = sandbox.client("sqs").receive_message(QueueUrl=queue, VisibilityTimeout=0)["Messages"]
    record = json.loads(waiting[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert target(waiting[0]) == (letters[0].destination, letters[0].event)
    assert not [p for p in sandbox.slack_messages() if f"({pipeline})" in p["text"]]

    assert cli_main(["replay-dlq", "--endpoint-url", sandbox.url, "--region", REGION]) == 0
    assert "replayed 1, failed 0" in capsys.readouterr().out
    sandbox.wait_idle(30)
    assert [
        p["blocks"][0]["text"]["text"] for p in sandbox.slack_messages() if f"({pipeline})" in p["text"]
    ] == ["Repository enrolled"]
    assert not sandbox.client("sqs").receive_message(QueueUrl=queue, VisibilityTimeout=0).get("Messages")
    sandbox.bus.dead_letters.clear()  # handled: later tests check that nothing else was dead-lettered


def test_a_message_without_a_function_and_event_is_left_and_reported() -> None:
    with pytest.raises(ValueError, match="no function ARN"):
        target({"Body": json.dumps({"detail": {}}), "MessageAttributes": {}})
    eventbridge = {
        "Body": json.dumps({"id": "1", "detail": {}}),
        "MessageAttributes": {"TARGET_ARN": {"StringValue": "arn:aws:lambda:us-east-1:1:function:f"}},
    }
    assert target(eventbridge) == ("arn:aws:lambda:us-east-1:1:function:f", {"id": "1", "detail": {}})
