"""The notify flow against the sandbox: one message per thing that happened, on Slack and on SNS."""

from __future__ import annotations

import datetime
import json
from collections import Counter
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters import base as parameters_base

from pipewarden.aws import Clients
from pipewarden.deliver import Deliverer
from pipewarden.messages import Notice
from pipewarden.naming import pipeline_name
from pipewarden.slack import SlackPoster
from pipewarden.webhooks import WebhookSecrets
from sandbox.calls import CallCounter
from sandbox.executions import Outcome
from sandbox.slack_sink import SlackSink
from tests.conftest import World
from tests.unit.test_messages import validate

pytestmark = pytest.mark.integration

RATE_LIMIT = Outcome(
    log=["ERROR: 429 Too Many Requests - toomanyrequests: You have reached your pull rate limit."]
)
TEST_FAILURE = Outcome(log=["FAIL src/cart.test.js", "Tests: 1 failed, 41 passed, 42 total"])


def enrolled(world: World, base: str = "shop", **tags: str) -> tuple[str, str]:
    world.service(service=f"web-{base}", owner=world.name(base))
    repo, arn = world.repository(base)
    world.tag(arn, world.enroll_tags(service=f"web-{base}", **tags))
    return repo, pipeline_name(repo)


def slack_for(world: World, name: str, sink: SlackSink | None = None) -> list[dict[str, Any]]:
    """Slack payloads about one pipeline or repository (the sandbox is shared by tests)."""
    received = (sink or world.sandbox.slack).received
    return [p for p in received if f"({name})" in p["text"]]


def sns_for(world: World, name: str) -> list[dict[str, Any]]:
    found = []
    for envelope in world.sandbox.sns_messages():
        body = json.loads(envelope["Message"])
        if name in (body.get("pipeline"), body.get("repository")):
            found.append(
                {"subject": envelope["Subject"], "attributes": envelope["MessageAttributes"], **body}
            )
    return found


def titles(payloads: list[dict[str, Any]]) -> Counter[str]:
    return Counter(p["blocks"][0]["text"]["text"] for p in payloads)


def test_a_retried_then_recovered_execution_is_told_once_on_slack_and_on_sns(world: World) -> None:
    repo, pipeline = enrolled(world, notify="all")
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RATE_LIMIT])
    commit = world.push(repo, "add checkout page")
    world.eventually(lambda: titles(slack_for(world, pipeline))["Pipeline recovered after 1 retry"])
    world.sandbox.wait_idle(30)
    expected = Counter(
        {
            "Repository enrolled": 1,
            "Pipeline failed, retrying": 1,
            "Retry started": 1,
            "Pipeline recovered after 1 retry": 1,
        }
    )
    slack = slack_for(world, pipeline)
    assert titles(slack) == expected
    for payload in slack:
        validate(payload)
    retrying = next(p for p in slack if p["blocks"][0]["text"]["text"] == "Pipeline failed, retrying")
    text = json.dumps(retrying)
    for part in (
        repo,
        "main",
        commit[:12],
        "add checkout page",
        "toomanyrequests",
        "attempt 1 of 2",
        "Build logs",
    ):
        assert part in text, part
    sns = sns_for(world, pipeline)
    assert Counter(m["title"] for m in sns) == expected
    recovered = next(m for m in sns if m["title"].startswith("Pipeline recovered"))
    assert recovered["subject"] == "[pipewarden] Pipeline recovered after 1 retry"
    assert recovered["attributes"]["severity"]["Value"] == "info"
    assert recovered["attributes"]["pipeline"]["Value"] == pipeline
    assert (
        recovered["commit_id"] == commit
        and recovered["event"] == "CodePipeline Pipeline Execution State Change"
    )


def idempotency_records(world: World) -> int:
    dynamodb = world.sandbox.client("dynamodb")
    table = next(t for t in dynamodb.list_tables()["TableNames"] if "NotifyIdempotencyTable" in t)
    return sum(
        "#standing#" not in item["id"]["S"] for item in dynamodb.scan(TableName=table).get("Items", [])
    )


def test_an_event_nobody_hears_writes_no_idempotency_record_and_a_recovery_does(world: World) -> None:
    # Given a pipeline at the default notify level (failures), everything before it told
    repo, pipeline = enrolled(world, "quiet")
    world.sandbox.wait_idle(30)
    records = idempotency_records(world)
    # When a green execution ends
    world.push(repo, "green")
    world.sandbox.wait_for_execution(pipeline)
    world.sandbox.wait_idle(30)
    # Then nothing is told and no record is written (the screen read that it was not retried)
    assert idempotency_records(world) == records
    assert not slack_for(world, pipeline)
    # When an execution recovers after a retry
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RATE_LIMIT])
    world.push(repo, "flaky")
    world.eventually(lambda: titles(slack_for(world, pipeline))["Pipeline recovered after 1 retry"])
    world.sandbox.wait_idle(30)
    # Then the recovery (and the retry's story) went through the idempotency records
    assert idempotency_records(world) > records
    assert titles(slack_for(world, pipeline))["Pipeline recovered after 1 retry"] == 1


def test_at_the_default_level_a_test_failure_is_one_message_with_its_log_lines(world: World) -> None:
    repo, pipeline = enrolled(world)
    world.sandbox.simulator.scripts.add(pipeline, "Build", [TEST_FAILURE])
    world.push(repo, "<!channel> refactor *cart* totals")
    world.eventually(lambda: slack_for(world, pipeline))
    world.sandbox.wait_idle(30)
    slack = slack_for(world, pipeline)
    assert titles(slack) == Counter({"Pipeline failed, not retried": 1})  # not CodePipeline's FAILED as well
    validate(slack[0])
    text = json.dumps(slack[0])
    assert "FAIL src/cart.test.js" in text and "not retried" in text
    assert "<!channel>" not in text and "&lt;!channel&gt; refactor *cart* totals" in text


def test_a_pipeline_without_retries_reports_codepipelines_failure_itself(world: World) -> None:
    repo, pipeline = enrolled(world, retry="off")
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RATE_LIMIT])
    world.push(repo, "no retries here")
    world.eventually(lambda: slack_for(world, pipeline))
    world.sandbox.wait_idle(30)
    assert titles(slack_for(world, pipeline)) == Counter({"Pipeline failed": 1})


def test_a_pipeline_opted_in_with_notify_alone_is_not_retried_and_its_failure_is_told(world: World) -> None:
    """A pipeline a team tagged itself with `pipewarden:notify` only: retry and notify read the same
    PipelineSettings, so the retry function leaves it alone and CodePipeline's FAILED is told."""
    repo, pipeline = enrolled(world)
    world.eventually(lambda: world.pipeline(repo))
    world.sandbox.wait_idle(30)
    codepipeline = world.sandbox.client("codepipeline")
    arn = codepipeline.get_pipeline(name=pipeline)["metadata"]["pipelineArn"]
    # The pipeline keeps pipewarden:notify=failures and loses every other pipewarden tag.
    keys = [t["key"] for t in codepipeline.list_tags_for_resource(resourceArn=arn)["tags"]]
    codepipeline.untag_resource(resourceArn=arn, tagKeys=[k for k in keys if k != "pipewarden:notify"])
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RATE_LIMIT])
    world.push(repo, "a team's own pipeline")
    world.eventually(lambda: [m for m in sns_for(world, pipeline) if m["title"] == "Pipeline failed"])
    world.sandbox.wait_idle(30)
    assert titles(slack_for(world, pipeline)) == Counter({"Pipeline failed": 1})
    assert not world.pipeline_events(pipeline, "Stage Retry Scheduled")


def expire_reported_events(world: World) -> None:
    """A day passes for notify's idempotency records: DynamoDB's TTL removes them (the sandbox's does not)."""
    dynamodb = world.sandbox.client("dynamodb")
    table = next(t for t in dynamodb.list_tables()["TableNames"] if "NotifyIdempotencyTable" in t)
    for item in dynamodb.scan(TableName=table)["Items"]:
        if "#standing#" not in item["id"]["S"]:
            dynamodb.delete_item(TableName=table, Key={"id": item["id"]})


def test_a_standing_rejection_is_told_once_until_the_repository_changes(world: World) -> None:
    world.service(service="web-stand", owner=world.name("stand"))
    repo, arn = world.repository("stand")
    rejected = Counter({"Enrollment tags rejected": 1})
    # Given a repository whose tags are rejected, told once
    world.tag(arn, world.enroll_tags(service="web-stand", max_retries="9"))
    world.eventually(lambda: titles(slack_for(world, repo)) == rejected)
    # When the daily resync meets the same rejection on later days
    for _ in range(2):
        expire_reported_events(world)
        world.sandbox.run_schedules("EnrollFunction")
        assert world.sandbox.wait_idle(30)
    # Then it was reported to the bus each time, and told nobody again
    assert len(world.events_for(repo, "Repository Enrollment Rejected")) >= 3
    assert titles(slack_for(world, repo)) == rejected
    assert Counter(m["title"] for m in sns_for(world, repo)) == rejected
    # And once the repository is enrolled, the same bad tag coming back is news again
    world.untag(arn, ["pipewarden:max-retries"])
    world.eventually(lambda: world.events_for(repo, "Repository Enrolled"))
    world.tag(arn, {"pipewarden:max-retries": "9"})
    world.eventually(lambda: titles(slack_for(world, repo))["Enrollment tags rejected"] == 2)


def test_a_rejection_shown_again_by_a_tag_change_is_news_even_without_an_enrollment_between(
    world: World,
) -> None:
    """Fixed by unenrolling (no event), then the same bad tag again a day later: a tag change shows it."""
    repo, arn = world.repository("again")
    bad = world.enroll_tags(service="web-again", compute="huge")
    world.tag(arn, bad)
    world.eventually(lambda: titles(slack_for(world, repo))["Enrollment tags rejected"] == 1)
    world.untag(arn, ["pipewarden:enabled"])  # nothing to enroll, nothing emitted
    expire_reported_events(world)
    world.sandbox.run_schedules("EnrollFunction")
    assert world.sandbox.wait_idle(30)
    world.tag(arn, bad)
    world.eventually(lambda: titles(slack_for(world, repo))["Enrollment tags rejected"] == 2)
    world.sandbox.run_schedules("EnrollFunction")  # and the resync that meets it again is quiet
    assert world.sandbox.wait_idle(30)
    assert titles(slack_for(world, repo))["Enrollment tags rejected"] == 2


def test_notify_off_sends_nothing(world: World) -> None:
    repo, pipeline = enrolled(world, notify="off")
    world.sandbox.simulator.scripts.add(pipeline, "Build", [TEST_FAILURE])
    world.push(repo, "quiet")
    world.eventually(lambda: world.pipeline_events(pipeline, "Failure Not Retried"))
    world.sandbox.wait_idle(30)
    assert not slack_for(world, pipeline) and not sns_for(world, pipeline)


def test_the_same_event_three_times_posts_once(world: World) -> None:
    repo, pipeline = enrolled(world)
    world.sandbox.simulator.scripts.add(pipeline, "Build", [TEST_FAILURE])
    world.push(repo, "break it")
    original = world.eventually(lambda: world.pipeline_events(pipeline, "Failure Not Retried"))[0]
    ended = world.eventually(
        lambda: [
            e
            for e in world.sandbox.pipeline_events
            if e["detail"]["pipeline"] == pipeline
            and e["detail-type"].endswith("Pipeline Execution State Change")
            and e["detail"]["state"] == "FAILED"
        ]
    )[0]
    world.eventually(lambda: slack_for(world, pipeline))
    notify = world.sandbox.functions["NotifyFunction"]
    assert notify.invoke(original)["status"] == "duplicate"  # the bus delivered it already
    # The retry function deciding again (on a duplicated FAILED event) is the same decision.
    assert notify.invoke(dict(original, id="decided-again"))["status"] == "duplicate"
    # CodePipeline's FAILED of a pipeline without retries is told by itself: three deliveries, once.
    world.sandbox.client("codepipeline").tag_resource(
        resourceArn=f"arn:aws:codepipeline:us-east-1:123456789012:{pipeline}",
        tags=[{"key": "pipewarden:retry", "value": "off"}],
    )
    again = dict(ended, id="delivered-thrice")
    results = [notify.invoke(again)["status"] for _ in range(3)]
    world.sandbox.wait_idle(30)
    assert results == ["sent", "duplicate", "duplicate"]
    assert titles(slack_for(world, pipeline)) == Counter(
        {"Pipeline failed, not retried": 1, "Pipeline failed": 1}
    )


def test_slack_429s_are_waited_out_and_a_refusal_never_keeps_sns_from_its_copy(world: World) -> None:
    _, pipeline = enrolled(world, notify="all")
    sink, notify = world.sandbox.slack, world.sandbox.functions["NotifyFunction"]
    since = len(notify.logs)  # what the function logs from here (its own process's log stream)
    enrolled_event = world.pipeline_events(pipeline, "Repository Enrolled")[0]
    sink.fail(429, times=2, retry_after="0")
    result = notify.invoke(dict(enrolled_event, id="slow-slack"))
    assert result["slack"] == "posted" and result["sns"].startswith("published")
    sink.fail(400)
    result = notify.invoke(dict(enrolled_event, id="slack-refuses"))
    assert result["slack"] == "failed: Slack refused the message: HTTP 400"
    assert result["sns"].startswith("published")
    lines = "\n".join(notify.logs[since:])
    assert "Slack did not take the message" in lines and "HTTP 400" in lines
    assert sink.url not in lines and "/services/" not in lines  # the webhook URL is a secret
    assert titles(slack_for(world, pipeline))["Repository enrolled"] == 2  # the tagging's, the slow one's
    assert Counter(m["title"] for m in sns_for(world, pipeline))["Repository enrolled"] == 3


def test_a_slack_outage_gives_up_after_its_bound_and_sns_still_gets_the_message(world: World) -> None:
    sandbox = world.sandbox
    waited: list[float] = []
    deliverer = Deliverer(
        Clients(sandbox.client),
        sandbox.outputs["NotificationTopicArn"],
        "pipewarden/slack/default",
        WebhookSecrets(sandbox.client("secretsmanager")),
        poster=lambda: SlackPoster(sleep=waited.append),
    )
    sandbox.slack.fail(500, times=4)
    notice = Notice(title="Pipeline failed", severity="error", summary="x", pipeline=world.name("outage"))
    delivery = deliverer.send(notice)
    assert delivery.slack == "failed: Slack kept answering HTTP 500 after 4 attempts"
    assert delivery.slack_attempts == 4 and waited == [2.0, 4.0, 8.0]
    assert [m["title"] for m in sns_for(world, world.name("outage"))] == ["Pipeline failed"]


def test_a_slack_channel_tag_posts_to_its_own_webhook(world: World) -> None:
    channel = f"team-{world.suffix}"
    own = SlackSink().start()
    try:
        world.sandbox.client("secretsmanager").create_secret(
            Name=f"pipewarden/slack/{channel}", SecretString=own.url
        )
        _, pipeline = enrolled(world, notify="all", slack_channel=channel)
        world.eventually(lambda: slack_for(world, pipeline, own))
        assert titles(slack_for(world, pipeline, own)) == Counter({"Repository enrolled": 1})
        assert not slack_for(world, pipeline)  # not in the default channel
        assert [m["title"] for m in sns_for(world, pipeline)] == ["Repository enrolled"]
    finally:
        own.stop()


def test_webhook_urls_are_cached_across_invocations(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given Powertools' clock under the test's control, and a client that counts its calls
    now = [datetime.datetime(2026, 1, 1, 12, 0, 0)]

    class Clock(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> Clock:
            return cls.fromtimestamp(now[0].timestamp(), tz)

    monkeypatch.setattr(parameters_base, "datetime", Clock)
    counter = CallCounter(world.sandbox)
    secrets = WebhookSecrets(counter("secretsmanager"))
    none = f"pipewarden/slack/none-{world.suffix}"
    # When a secret and a missing secret are each asked for twice
    assert secrets.webhook_url("pipewarden/slack/default") == world.sandbox.slack.url
    assert secrets.webhook_url("pipewarden/slack/default") == world.sandbox.slack.url
    assert secrets.webhook_url(none) is None
    assert secrets.webhook_url(none) is None
    # Then each was read once; after 5 minutes, read again
    assert counter.calls == {"secretsmanager:GetSecretValue": 2}
    now[0] += datetime.timedelta(seconds=299)
    secrets.webhook_url("pipewarden/slack/default")
    assert counter.calls == {"secretsmanager:GetSecretValue": 2}
    now[0] += datetime.timedelta(seconds=2)
    secrets.webhook_url("pipewarden/slack/default")
    assert counter.calls == {"secretsmanager:GetSecretValue": 3}
    world.sandbox.client("secretsmanager").create_secret(
        Name=f"pipewarden/slack/bad-{world.suffix}", SecretString='{"url": 1}'
    )
    with pytest.raises(ValueError, match="holds no webhook URL") as refused:
        secrets.webhook_url(f"pipewarden/slack/bad-{world.suffix}")
    assert '{"url": 1}' not in str(refused.value)


def test_a_warm_notify_function_reads_its_webhook_secret_once_for_many_messages(world: World) -> None:
    """N messages within 5 minutes cost one GetSecretValue per warm environment (what the bill counts)."""
    _, pipeline = enrolled(world, notify="all")
    notify, sandbox = world.sandbox.functions["NotifyFunction"], world.sandbox
    enrolled_event = world.pipeline_events(pipeline, "Repository Enrolled")[0]
    sandbox.wait_idle()
    notify.stop()  # the next invocation starts a fresh environment, its cache cold

    def reads() -> int:
        decisions = sandbox._server.iam.recorder.decisions()
        return sum(1 for d in decisions if d.action == "secretsmanager:GetSecretValue")

    before, cold = reads(), notify.cold_starts
    results = [notify.invoke(dict(enrolled_event, id=f"warm-{world.suffix}-{n}")) for n in range(10)]
    assert [r["slack"] for r in results] == ["posted"] * 10
    assert notify.cold_starts == cold + 1
    assert reads() - before == 1


def test_an_unreadable_event_is_refused_once_and_reported(world: World) -> None:
    notify = world.sandbox.functions["NotifyFunction"]
    result = notify.invoke(
        {"id": "x", "source": "pipewarden", "detail-type": "Retries Exhausted", "detail": "?"}
    )
    assert result == {"status": "invalid", "reason": "event has no detail object"}
    world.sandbox.wait_idle(30)
    rejected = [
        e
        for e in world.sandbox.pipewarden_events("Invalid Event Received")
        if e["detail"]["function"] == "notify"
    ]
    assert rejected and rejected[-1]["detail"]["event-id"] == "x"
