"""An invocation that keeps failing lands in the on-failure queue as Lambda records it; replay-dlq
hands it back to its function, which then does its job."""

from __future__ import annotations

import json

import pytest

from cli.main import main as cli_main
from cli.replay import replay, target
from pipewarden.naming import pipeline_name
from sandbox.faults import Rule
from sandbox.runtime import REGION, Sandbox
from tests.conftest import World, sample_event

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


@pytest.mark.parametrize(
    ("function", "event"),
    [
        ("EnrollFunction", "scheduled-resync.json"),
        ("PruneFunction", "scheduled-resync.json"),
        ("RetryFunction", "codepipeline-stage-failed.json"),
        ("NotifyFunction", "codepipeline-execution-succeeded.json"),
    ],
)
def test_every_function_hands_what_it_could_not_do_to_the_on_failure_queue(
    world: World, function: str, event: str
) -> None:
    # Given every AWS call of the controller failing while one asynchronous invocation runs
    sandbox: Sandbox = world.sandbox
    target_arn = sandbox.functions[function].arn
    sandbox.faults.configure([Rule(1.0, ("error503",))], seed=1)
    try:
        sandbox.bus.send(
            dict(sample_event(event), id=f"dlq-{function}-{world.suffix}"),
            sandbox.functions[function].invoke,
            f"{function}-invoke",
            destination=target_arn,
        )
        sandbox.wait_idle(30)
    finally:
        sandbox.faults.configure([], 0)
    # Then, after Lambda's two retries, its on-failure destination gets the record, sent with the
    # function's own role (the permission SAM grants each function on the queue)
    queue = sandbox.outputs["FunctionFailureQueueUrl"]
    sqs = sandbox.client("sqs")
    waiting = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
        "Messages", []
    )
    mine = [
        m
        for m in waiting
        if json.loads(m["Body"])["requestContext"]["functionArn"] == f"{target_arn}:$LATEST"
    ]
    assert mine and json.loads(mine[0]["Body"])["requestPayload"]["id"] == f"dlq-{function}-{world.suffix}"
    for message in waiting:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    sandbox.bus.dead_letters.clear()  # handled: later tests check that nothing else was dead-lettered


def test_a_dead_letter_naming_a_function_of_another_stack_is_not_replayed(sandbox: Sandbox) -> None:
    # Anyone who may send to the queue could name any function: replay invokes only the controller's
    sqs = sandbox.client("sqs")
    queue = sandbox.outputs["FunctionFailureQueueUrl"]
    forged = {
        "requestContext": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:payroll:$LATEST"},
        "requestPayload": {"source": "aws.codepipeline"},
    }
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(forged))
    report = replay(sqs, sandbox.client("lambda"), [queue], stack="pipewarden")
    assert report.replayed == 0 and report.unreadable == 1
    assert "is not a function of stack pipewarden" in report.errors[0]
    sqs.purge_queue(QueueUrl=queue)  # the forged message is left invisible by the replay's receive


@pytest.mark.parametrize("terminal", [False, True])
def test_replay_shows_progress_as_plain_lines_or_on_a_terminal_as_a_bar(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], terminal: bool
) -> None:
    # Given a queue of three messages replay cannot read (they stay in the queue, reported)
    sqs = sandbox.client("sqs")
    url = sqs.create_queue(QueueName=f"progress-{'tty' if terminal else 'plain'}")["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    monkeypatch.setattr("cli.progress.EVERY", 0.0)
    for name in ("TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        if terminal:
            monkeypatch.setenv(name, "1")
        else:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    try:
        # When replay-dlq runs on it
        code = cli_main(["replay-dlq", "--endpoint-url", sandbox.url, "--region", REGION, "--queue-url", url])
    finally:
        sqs.delete_queue(QueueUrl=url)
    out, err = capsys.readouterr()
    # Then stdout holds the report only, and stderr the progress: a bar on a terminal, lines elsewhere
    assert code == 1 and "replayed 0, failed 0 (left in the queue), unreadable 3" in out
    assert "replay-dlq" not in out
    if terminal:
        assert "\x1b[" in err and "replay-dlq: events" in err
    else:
        assert "\x1b" not in err
        assert [line for line in err.splitlines() if line.startswith("replay-dlq: ")] == [
            f"replay-dlq: events: {n} of 3" for n in range(4)
        ]
