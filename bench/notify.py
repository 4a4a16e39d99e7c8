"""Benchmarks of the notify function, in the sandbox.

1. Messages per execution against the AWS events behind them, for three stories (a transient failure
   retried and recovered, a failing test, retries exhausted) at both notify levels.
2. AWS calls the notifier makes per message it sends (reads to enrich it, writes to deliver it).

Prints figures; asserts nothing about time. Run: make bench   (or .venv/bin/python bench/notify.py)
"""

from __future__ import annotations

import json
import time
from typing import Any

from sandbox import fleet
from sandbox.calls import CallCounter
from sandbox.executions import Outcome
from sandbox.figures import figure
from sandbox.runtime import Sandbox

FAST = {**fleet.PARAMETERS, "RetryBaseSeconds": "1", "RetryCapSeconds": "2", "RateLimitWaitSeconds": "2"}
RATE_LIMIT = Outcome(log=["429 Too Many Requests - toomanyrequests: You have reached your pull rate limit."])
TEST_FAILURE = Outcome(log=["FAIL src/cart.test.js", "Tests: 1 failed, 41 passed, 42 total"])
STORIES = {
    "retried, recovered": [RATE_LIMIT],
    "test failure": [TEST_FAILURE],
    "retries exhausted": [RATE_LIMIT, RATE_LIMIT, RATE_LIMIT],
}


def quiet(sandbox: Sandbox, seconds: float = 4.0) -> None:
    """Wait until no event arrived for a while: every retry decided, due and reported."""
    seen, since = -1, time.monotonic()
    while time.monotonic() - since < seconds:
        sandbox.wait_idle()
        count = len(sandbox.pipeline_events) + len(sandbox.events)
        if count != seen:
            seen, since = count, time.monotonic()
        time.sleep(0.2)


def messages_per_execution(sandbox: Sandbox) -> None:
    print("Messages per execution vs the AWS events behind it (Slack and SNS each get these messages)")
    print(f"  {'story':<20} {'notify':<9} {'CodePipeline':>12} {'pipewarden':>10} {'messages':>8}   titles")
    for level in ("failures", "all"):
        for n, (story, outcomes) in enumerate(STORIES.items()):
            repository = f"bench-{level}-{n}"
            pipeline = fleet.enroll(sandbox, repository, notify=level)
            sandbox.simulator.scripts.add(pipeline, "Build", list(outcomes))
            sandbox.push(repository, story)  # a long name's pipeline carries an id: not the repository's
            quiet(sandbox)
            run = sandbox.client("codepipeline").list_pipeline_executions(pipelineName=pipeline)
            execution = run["pipelineExecutionSummaries"][0]["pipelineExecutionId"]
            aws = [e for e in sandbox.pipeline_events if e["detail"].get("execution-id") == execution]
            ours = [e for e in sandbox.events if e["detail"].get("execution-id") == execution]
            told = [
                m
                for m in (json.loads(s["Message"]) for s in sandbox.sns_messages())
                if m.get("execution_id") == execution
            ]
            slack = [p for p in sandbox.slack_messages() if execution[:8] in json.dumps(p)]
            assert len(slack) == len(told), (story, level)
            names = "; ".join(m["title"] for m in told)
            print(f"  {story:<20} {level:<9} {len(aws):>12} {len(ours):>10} {len(told):>8}   {names}")
            figure(
                f"notify: {story}, notify={level}",
                f"{len(told)} message{'' if len(told) == 1 else 's'}",
                f"for {len(aws)} CodePipeline + {len(ours)} pipewarden events",
            )


def calls_per_message(sandbox: Sandbox) -> None:
    # Imported once the sandbox has set the functions' environment (their log level included).
    from pipewarden.aws import Clients
    from pipewarden.config import NotifyConfig
    from pipewarden.deliver import Deliverer
    from pipewarden.notify import Notifier
    from pipewarden.notify_rules import parse
    from pipewarden.webhooks import WebhookSecrets

    print("AWS calls per message (the notifier alone, counted at the client; a cold secret cache reads")
    print("  the webhook secret once, as here; warm invocations skip it; Slack is one HTTPS POST besides)")
    pipeline = fleet.enroll(sandbox, "bench-calls", notify="all")
    sandbox.simulator.scripts.add(pipeline, "Build", [RATE_LIMIT])
    sandbox.push("bench-calls", "calls")
    quiet(sandbox)
    samples: dict[str, dict[str, Any]] = {}
    for event in sandbox.events:
        if event["detail"].get("pipeline") == pipeline:
            samples.setdefault(event["detail-type"], event)
    for event in sandbox.pipeline_events:
        if event["detail"]["pipeline"] == pipeline and "Pipeline Execution" in event["detail-type"]:
            samples.setdefault(f"Execution {event['detail']['state']}", event)
    # The notifier keeps standing problems beside the idempotency records (an enrollment forgets one)
    tables = sandbox.client("dynamodb").list_tables()["TableNames"]
    table = next(t for t in tables if "NotifyIdempotencyTable" in t)
    config = NotifyConfig(
        "pipewarden", sandbox.outputs["NotificationTopicArn"], table, "pipewarden/slack/default"
    )
    counter = CallCounter(sandbox)
    for name in ("Repository Enrolled", "Stage Retry Scheduled", "Execution SUCCEEDED"):
        clients = Clients(counter)
        notifier = Notifier(
            config,
            clients,
            Deliverer(clients, config.topic_arn, config.slack_secret, WebhookSecrets(clients.secretsmanager)),
        )
        counter.reset()
        outcome = notifier.report(parse(dict(samples[name], id=f"bench-{name}")))
        ops = ", ".join(f"{op.split(':', 1)[1]} {n}" for op, n in sorted(counter.calls.items()))
        print(f"  {name:<24} {outcome.status:<5} {counter.reads:>2} reads {counter.writes:>2} writes  {ops}")
        figure(f"notify: AWS calls, message on {name}", f"{counter.reads} reads, {counter.writes} writes")


def main() -> None:
    with Sandbox(parameters=FAST) as sandbox:
        messages_per_execution(sandbox)
        calls_per_message(sandbox)


if __name__ == "__main__":
    main()
