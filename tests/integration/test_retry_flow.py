"""The retry flow over HTTP against the sandbox: failures classified, retried after backoff, capped."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, cast

import pytest

from pipewarden.aws import Clients, Throttled
from pipewarden.config import RetryConfig
from pipewarden.emit import Emitter
from pipewarden.naming import pipeline_name
from pipewarden.retry import DueRetry, Retrier
from sandbox.executions import Outcome
from sandbox.faults import Rule
from sandbox.runtime import sqs_record
from tests.conftest import World, sample_event

pytestmark = pytest.mark.integration

RATE_LIMIT = Outcome(
    log=[
        "ERROR: failed to solve: 429 Too Many Requests - toomanyrequests: You have reached your pull rate limit."
    ]
)
RESET = Outcome(phase="PRE_BUILD", log=["npm ERR! network read ECONNRESET"])
TEST_FAILURE = Outcome(log=["FAIL src/cart.test.js", "Tests: 1 failed, 41 passed, 42 total"])


def enrolled(world: World, base: str = "shop", **tags: str) -> tuple[str, str]:
    world.service(service=f"web-{base}", owner=world.name(base))
    repo, arn = world.repository(base)
    world.tag(arn, world.enroll_tags(service=f"web-{base}", **tags))
    return repo, pipeline_name(repo)


def latest(world: World, pipeline: str) -> dict[str, Any]:
    return world.executions(pipeline)[0]


def test_transient_build_failure_is_retried_after_backoff_and_succeeds(world: World) -> None:
    repo, pipeline = enrolled(world)
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RATE_LIMIT])
    world.push(repo, "add checkout")
    run = world.eventually(lambda: (r := latest(world, pipeline)) and r["status"] == "Succeeded" and r)
    builds = world.action_runs(pipeline, run["pipelineExecutionId"], "Build")
    assert [b["status"] for b in sorted(builds, key=lambda b: b["startTime"])] == ["Failed", "Succeeded"]
    scheduled = world.pipeline_events(pipeline, "Stage Retry Scheduled")
    assert len(scheduled) == 1
    detail = scheduled[0]["detail"]
    assert detail["classification"] == "transient"
    assert detail["evidence"]["pattern"] == "docker-hub-rate-limit"
    assert detail["attempt"] == 1 and detail["delay-seconds"] >= 1
    assert len(world.pipeline_events(pipeline, "Stage Retry Started")) == 1


def test_failing_test_is_not_retried_and_says_why(world: World) -> None:
    repo, pipeline = enrolled(world)
    world.sandbox.simulator.scripts.add(pipeline, "Build", [TEST_FAILURE])
    world.push(repo, "break the cart")
    event = world.eventually(lambda: world.pipeline_events(pipeline, "Failure Not Retried"))[0]
    assert event["detail"]["classification"] == "deterministic"
    assert event["detail"]["evidence"]["phase"] == "BUILD"
    assert event["detail"]["evidence"]["line"] == "Tests: 1 failed, 41 passed, 42 total"
    run = latest(world, pipeline)
    assert run["status"] == "Failed"
    assert len(world.action_runs(pipeline, run["pipelineExecutionId"], "Build")) == 1
    assert not world.pipeline_events(pipeline, "Stage Retry Scheduled")


def test_a_stage_that_keeps_failing_stops_at_the_cap(world: World) -> None:
    repo, pipeline = enrolled(world, max_retries="2")
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RESET] * 6)
    world.push(repo)
    exhausted = world.eventually(lambda: world.pipeline_events(pipeline, "Retries Exhausted"))[0]
    assert "gave up after 2 of 2 retries" in exhausted["detail"]["reason"]
    run = latest(world, pipeline)
    assert run["status"] == "Failed"
    assert len(world.action_runs(pipeline, run["pipelineExecutionId"], "Build")) == 3
    assert len(world.pipeline_events(pipeline, "Stage Retry Started")) == 2


def test_unknown_failure_is_retried_once_in_transient_mode(world: World) -> None:
    repo, pipeline = enrolled(world)
    unknown = Outcome(code="JobFailed", message="Deployment failed: tasks failed to start")
    world.sandbox.simulator.scripts.add(pipeline, "Deploy", [unknown, unknown])
    world.push(repo)
    world.eventually(lambda: world.pipeline_events(pipeline, "Failure Not Retried"))
    run = latest(world, pipeline)
    assert len(world.action_runs(pipeline, run["pipelineExecutionId"], "Deploy")) == 2
    assert [
        e["detail"]["classification"] for e in world.pipeline_events(pipeline, "Stage Retry Scheduled")
    ] == ["unknown"]


def deploy_fails(world: World, pipeline: str, *stopped_reasons: str) -> None:
    """The pipeline's next ECS deploy fails, leaving tasks stopped for these reasons."""
    failed = Outcome(
        code="JobFailed",
        message="Deployment failed: tasks failed to start",
        stopped_reasons=list(stopped_reasons),
    )
    world.sandbox.simulator.scripts.add(pipeline, "Deploy", [failed])


def test_an_ecs_deploy_whose_tasks_cannot_pull_their_image_is_not_retried(world: World) -> None:
    """The ECS deploy action's own error says little; the stopped tasks say why (DescribeTasks).
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html"""
    repo, pipeline = enrolled(world)
    deploy_fails(
        world,
        pipeline,
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:0123abcd: not found",
    )
    world.push(repo, "an image tag nobody pushed")
    event = world.eventually(lambda: world.pipeline_events(pipeline, "Failure Not Retried"))[0]
    detail = event["detail"]
    assert detail["classification"] == "deterministic" and detail["evidence"]["pattern"] == "not-found"
    assert detail["evidence"]["stopped-reasons"][0].startswith("CannotPullContainerError")
    assert not world.pipeline_events(pipeline, "Stage Retry Scheduled")


def test_the_tasks_of_a_pipeline_a_team_opted_in_are_never_read(world: World) -> None:
    """A tagger can opt any pipeline in to retries, and its ECS action may name any cluster: the retry
    function reads stopped tasks (and quotes them to people) only for pipelines pipewarden made."""
    repo, pipeline = enrolled(world)
    codepipeline = world.sandbox.client("codepipeline")
    world.eventually(lambda: world.pipeline(repo))
    arn = codepipeline.get_pipeline(name=pipeline)["metadata"]["pipelineArn"]
    codepipeline.untag_resource(resourceArn=arn, tagKeys=["pipewarden:managed-by"])  # retry tag kept
    deploy_fails(world, pipeline, "CannotPullContainerError: secret-looking task reason: not found")
    world.push(repo)
    scheduled = world.eventually(lambda: world.pipeline_events(pipeline, "Stage Retry Scheduled"))[0]
    assert scheduled["detail"]["classification"] == "unknown"
    assert "stopped-reasons" not in scheduled["detail"]["evidence"]


def test_an_ecs_deploy_whose_tasks_hit_a_rate_limit_is_retried_and_recovers(world: World) -> None:
    repo, pipeline = enrolled(world)
    deploy_fails(
        world,
        pipeline,
        "CannotPullContainerError: Error response from daemon: toomanyrequests: You have reached your "
        "pull rate limit. | CannotPullContainerError: toomanyrequests",
    )
    world.push(repo)
    run = world.eventually(lambda: (r := latest(world, pipeline)) and r["status"] == "Succeeded" and r)
    scheduled = world.pipeline_events(pipeline, "Stage Retry Scheduled")
    assert [e["detail"]["classification"] for e in scheduled] == ["transient"]
    assert len(world.action_runs(pipeline, run["pipelineExecutionId"], "Deploy")) == 2


def test_retry_mode_all_retries_a_test_failure_and_off_never_retries(world: World) -> None:
    repo, pipeline = enrolled(world, retry="all", max_retries="1")
    world.sandbox.simulator.scripts.add(pipeline, "Build", [TEST_FAILURE])
    world.push(repo)
    world.eventually(lambda: latest(world, pipeline)["status"] == "Succeeded")
    off_repo, off_pipeline = enrolled(world, "quiet", retry="off")
    world.sandbox.simulator.scripts.add(off_pipeline, "Build", [RESET])
    world.push(off_repo)
    skipped = world.eventually(lambda: world.pipeline_events(off_pipeline, "Stage Retry Skipped"))
    assert "retries are off" in skipped[0]["detail"]["reason"]


def stage_failed_event(pipeline: str, execution_id: str, stage: str = "Build") -> dict[str, Any]:
    event = sample_event("codepipeline-stage-failed.json")
    event["detail"].update({"pipeline": pipeline, "execution-id": execution_id, "stage": stage})
    return event


def test_the_same_failed_event_delivered_again_adds_no_retry(world: World) -> None:
    repo, pipeline = enrolled(world)
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RATE_LIMIT])
    world.push(repo)
    world.eventually(lambda: world.pipeline_events(pipeline, "Stage Retry Scheduled"))
    execution_id = latest(world, pipeline)["pipelineExecutionId"]
    # Given the FAILED event arrives twice more, before and after the retry ran
    retry = world.sandbox.functions["RetryFunction"]
    early = retry.invoke(stage_failed_event(pipeline, execution_id))
    world.eventually(lambda: latest(world, pipeline)["status"] == "Succeeded")
    late = retry.invoke(stage_failed_event(pipeline, execution_id))
    world.sandbox.wait_idle()
    # Then the first is a duplicate of the decision (or, if the retry ran already, stale) and the
    # second stale; neither is a decision people are told
    assert early["status"] in ("Duplicate", "Stage Retry Skipped")
    assert late["status"] == "Stage Retry Skipped" and "Succeeded" in late["reason"]
    assert all("attempt" not in e["detail"] for e in world.pipeline_events(pipeline, "Stage Retry Skipped"))
    # And the stage was retried exactly once
    assert len(world.action_runs(pipeline, execution_id, "Build")) == 2
    assert len(world.pipeline_events(pipeline, "Stage Retry Scheduled")) == 1
    assert len(world.pipeline_events(pipeline, "Stage Retry Started")) == 1


def test_a_failed_event_delivered_twice_at_once_is_decided_and_told_once(world: World) -> None:
    """Two deliveries of one FAILED event decide together: one claims the failure (a conditional
    write on execution, stage and retries so far), the other is a duplicate. Without the claim both
    queued attempt 1, and the second copy came due as "Retry not started" to people."""
    repo, pipeline = enrolled(world)
    codepipeline = world.sandbox.client("codepipeline")
    world.eventually(lambda: world.pipeline(repo))
    arn = codepipeline.get_pipeline(name=pipeline)["metadata"]["pipelineArn"]
    opt_in = {"pipewarden:retry": "transient", "pipewarden:managed-by": "pipewarden"}
    # Given the stage fails while the pipeline is not opted in to retries (so nothing decides yet)
    codepipeline.untag_resource(resourceArn=arn, tagKeys=list(opt_in))
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RESET])
    world.push(repo, "fails once")
    run = world.eventually(lambda: (r := latest(world, pipeline)) and r["status"] == "Failed" and r)
    execution_id = run["pipelineExecutionId"]
    world.sandbox.wait_idle()
    assert not world.pipeline_events(pipeline, "Stage Retry Scheduled")
    # When it opts in and the FAILED event is delivered twice at the same moment
    codepipeline.tag_resource(resourceArn=arn, tags=[{"key": k, "value": v} for k, v in opt_in.items()])
    retry = world.sandbox.functions["RetryFunction"]
    event = stage_failed_event(pipeline, execution_id)
    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(r["status"] for r in pool.map(retry.invoke, [event, dict(event)]))
    # Then one decided and the other was a duplicate
    assert statuses == ["Duplicate", "Stage Retry Scheduled"]
    world.eventually(lambda: latest(world, pipeline)["status"] == "Succeeded")
    world.sandbox.wait_idle()
    assert len(world.action_runs(pipeline, execution_id, "Build")) == 2
    assert len(world.pipeline_events(pipeline, "Stage Retry Scheduled")) == 1
    assert len(world.pipeline_events(pipeline, "Stage Retry Started")) == 1
    assert not world.pipeline_events(pipeline, "Stage Retry Skipped")
    told = [json.loads(m["Message"]) for m in world.sandbox.sns_messages()]
    assert not [m for m in told if m.get("pipeline") == pipeline and m["title"] == "Retry not started"]


def test_a_second_copy_of_a_due_retry_is_logged_not_told(world: World) -> None:
    """SQS delivers a queued decision at least once: a copy that comes after the retry ran finds the
    attempt made (checked before the stage's state, which the retry itself changed) and tells nobody.
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues-at-least-once-delivery.html"""
    repo, pipeline = enrolled(world)
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RESET])
    world.push(repo)
    run = world.eventually(lambda: (r := latest(world, pipeline)) and r["status"] == "Succeeded" and r)
    copy = DueRetry(pipeline, run["pipelineExecutionId"], "Build", 1, "transient")
    record = {"messageId": "copy-1", "body": json.dumps(asdict(copy))}
    assert world.sandbox.functions["RetryFunction"].invoke({"Records": [record]}) == {"batchItemFailures": []}
    world.sandbox.wait_idle(30)
    assert not world.pipeline_events(pipeline, "Stage Retry Skipped")
    told = [json.loads(m["Message"]) for m in world.sandbox.sns_messages()]
    assert not [m for m in told if m.get("pipeline") == pipeline and m["title"] == "Retry not started"]
    assert len(world.action_runs(pipeline, run["pipelineExecutionId"], "Build")) == 2


class _BusDown:
    def put_events(self, **_: Any) -> Any:
        raise Throttled("ThrottlingException", "Rate exceeded", "PutEvents")


def failed_once_without_retries(world: World) -> tuple[str, dict[str, Any]]:
    """A pipeline whose retry tag is removed (pipewarden leaves its failures alone) and whose Build
    failed once: the pipeline and the failed execution's summary."""
    repo, pipeline = enrolled(world)
    codepipeline = world.sandbox.client("codepipeline")
    world.eventually(lambda: world.pipeline(repo))
    arn = codepipeline.get_pipeline(name=pipeline)["metadata"]["pipelineArn"]
    codepipeline.untag_resource(resourceArn=arn, tagKeys=["pipewarden:retry", "pipewarden:managed-by"])
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RESET])
    world.push(repo, "fails once")
    run = world.eventually(lambda: (r := latest(world, pipeline)) and r["status"] == "Failed" and r)
    world.sandbox.wait_idle()
    return pipeline, run


def test_a_retry_started_whose_report_failed_is_never_told_as_not_started(world: World) -> None:
    """RetryStageExecution answered, then reporting it failed: the copy SQS delivers again must not
    say the retry was not started (the stage it finds InProgress is its own retry running)."""
    pipeline, run = failed_once_without_retries(world)
    config = RetryConfig.from_env(os.environ)
    clients = Clients(world.sandbox.client)
    due = DueRetry(pipeline, run["pipelineExecutionId"], "Build", 1, "transient")
    # The stage's rerun waits behind a held bus: AWS lists the retried action only once it starts
    gate = threading.Event()
    world.sandbox.bus.call_soon(lambda: gate.wait(30), "hold")
    try:
        with pytest.raises(Throttled):
            Retrier(config, clients, Emitter(cast(Any, _BusDown), config.event_bus)).on_due(due)
        again = Retrier(config, clients, Emitter(lambda: clients.events, config.event_bus)).on_due(due)
    finally:
        gate.set()
    assert again.event == "Duplicate"
    world.eventually(lambda: latest(world, pipeline)["status"] == "Succeeded")
    world.sandbox.wait_idle()
    assert not world.pipeline_events(pipeline, "Stage Retry Skipped")
    assert len(world.action_runs(pipeline, run["pipelineExecutionId"], "Build")) == 2


def test_a_queued_retry_failing_on_its_last_receive_is_told_and_dead_lettered(world: World) -> None:
    """An SQS event source has no on-failure destination (Lambda's destinations keep asynchronous
    invocations: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html):
    a decision that fails its queue's maxReceiveCount-th receive goes to the dead-letter queue, so
    the function tells it first. The record is the sandbox's event source record of a real receive
    (`attributes.ApproximateReceiveCount`, as in https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html),
    and the queue's redrive policy is the template's."""
    sandbox = world.sandbox
    sqs = sandbox.client("sqs")
    # Given the deployed retry queue hands a message to its dead-letter queue after 5 receives
    queue = sqs.get_queue_url(QueueName="pipewarden-RetryQueue")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 5
    assert redrive["deadLetterTargetArn"].endswith(":pipewarden-RetryDeadLetterQueue")
    # And a failed stage pipewarden did not retry by itself, whose retry is due
    pipeline, run = failed_once_without_retries(world)
    # A queue of the test's own with the same redrive policy (the deployed one's poller would take it)
    dead = sqs.create_queue(QueueName=world.name("due-dlq"))["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = sqs.create_queue(
        QueueName=world.name("due"),
        Attributes={"RedrivePolicy": json.dumps({**redrive, "deadLetterTargetArn": dead_arn})},
    )["QueueUrl"]
    source_arn = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    due = DueRetry(pipeline, run["pipelineExecutionId"], "Build", 1, "transient")
    sqs.send_message(QueueUrl=source, MessageBody=json.dumps(asdict(due)))
    retry = sandbox.functions["RetryFunction"]
    sandbox.faults.configure([Rule(1.0, ("throttle",), "codepipeline", "RetryStageExecution")], seed=1)
    try:
        for receive in range(1, 6):
            # When each receive's RetryStageExecution is throttled (beyond the SDK's own retries)
            (message,) = sqs.receive_message(QueueUrl=source, VisibilityTimeout=0, AttributeNames=["All"])[
                "Messages"
            ]
            record = sqs_record(message, source_arn)
            assert record["attributes"]["ApproximateReceiveCount"] == str(receive)
            result = retry.invoke({"Records": [record]})
            # Then every receive fails the message; only the last tells the retry was not started
            assert result == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
            sandbox.wait_idle()
            skipped = world.pipeline_events(pipeline, "Stage Retry Skipped")
            assert len(skipped) == (1 if receive == 5 else 0), receive
    finally:
        sandbox.faults.configure([], 0)
    detail = skipped[0]["detail"]
    assert detail["attempt"] == 1 and "ThrottlingException" in detail["reason"]
    assert detail["reason"].startswith("the retry could not be started (RetryStageExecution answered")
    # And the next receive finds it in the dead-letter queue, for a person to read, not retried
    assert not sqs.receive_message(QueueUrl=source, VisibilityTimeout=0).get("Messages")
    (kept,) = sqs.receive_message(QueueUrl=dead, VisibilityTimeout=0)["Messages"]
    assert json.loads(kept["Body"])["execution_id"] == run["pipelineExecutionId"]
    assert len(world.action_runs(pipeline, run["pipelineExecutionId"], "Build")) == 1


def test_a_retry_that_comes_due_after_a_newer_execution_is_skipped(world: World) -> None:
    repo, pipeline = enrolled(world)
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RATE_LIMIT])
    world.push(repo, "first")
    world.eventually(lambda: world.pipeline_events(pipeline, "Stage Retry Scheduled"))
    first = latest(world, pipeline)["pipelineExecutionId"]
    world.push(repo, "second")  # runs the Build stage again before the retry is due
    skipped = world.eventually(lambda: world.pipeline_events(pipeline, "Stage Retry Skipped"))
    assert "newer execution" in skipped[0]["detail"]["reason"]
    runs = {r["pipelineExecutionId"]: r["status"] for r in world.executions(pipeline)}
    assert runs[first] == "Failed"
    assert len(world.action_runs(pipeline, first, "Build")) == 1


def test_decisions_are_listed_for_people(world: World) -> None:
    from cli.main import main

    repo, pipeline = enrolled(world)
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RATE_LIMIT])
    world.push(repo)
    world.eventually(lambda: latest(world, pipeline)["status"] == "Succeeded")
    assert (
        main(["retries", pipeline, "--endpoint-url", world.sandbox.url, "--region", "us-east-1", "--json"])
        == 0
    )


def test_malformed_queued_decision_is_reported_and_dropped(world: World) -> None:
    retry = world.sandbox.functions["RetryFunction"]
    before = len(world.sandbox.pipewarden_events("Invalid Event Received"))
    result = retry.invoke({"Records": [{"messageId": "m1", "body": "{not json"}]})
    world.sandbox.wait_idle()
    assert result == {"batchItemFailures": []}
    assert len(world.sandbox.pipewarden_events("Invalid Event Received")) == before + 1


def test_failed_event_for_a_deleted_pipeline_is_skipped_with_the_reason(world: World) -> None:
    retry = world.sandbox.functions["RetryFunction"]
    result = retry.invoke(sample_event("codepipeline-stage-failed.json"))
    assert result == {"status": "Stage Retry Skipped", "reason": "the pipeline no longer exists"}


def test_failed_stage_of_a_pipeline_that_did_not_opt_in_is_left_alone(world: World) -> None:
    repo, pipeline = enrolled(world)
    arn = f"arn:aws:codepipeline:us-east-1:123456789012:{pipeline}"
    # Neither made by pipewarden (managed-by) nor tagged for retries by its team
    world.sandbox.client("codepipeline").untag_resource(
        resourceArn=arn, tagKeys=["pipewarden:retry", "pipewarden:managed-by"]
    )
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RESET])
    world.push(repo)
    world.eventually(lambda: latest(world, pipeline)["status"] == "Failed")
    retry_events = [
        e for e in world.pipeline_events(pipeline) if not e["detail-type"].startswith("Repository")
    ]
    assert retry_events == []
    assert len(world.action_runs(pipeline, latest(world, pipeline)["pipelineExecutionId"], "Build")) == 1
