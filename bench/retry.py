"""Benchmarks of the retry function, in the sandbox.

1. AWS calls per failed-stage event: from the event to the queued decision, and from due to retried.
2. The same scripted failures handled by pipewarden and by a pipeline using CodePipeline V2's native
   automatic retry (one retry, at once, whatever the cause): final outcome and pointless retries.
   Time is scaled: 1 s here stands for 1 minute in AWS (backoff, rate-limit wait and its duration).

Run: make bench   (or .venv/bin/python bench/retry.py)
"""

from __future__ import annotations

import copy
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from pipewarden.aws import Clients
from pipewarden.config import RetryConfig
from pipewarden.decisions import CLAIM
from pipewarden.emit import Emitter
from pipewarden.pipeline_events import StageFailure
from pipewarden.retry import DueRetry, Retrier
from sandbox import fleet
from sandbox.calls import CallCounter
from sandbox.executions import Outcome
from sandbox.figures import figure
from sandbox.runtime import Sandbox

SCALED = {**fleet.PARAMETERS, "RetryBaseSeconds": "1", "RetryCapSeconds": "5", "RateLimitWaitSeconds": "6"}
RESET = Outcome(phase="PRE_BUILD", log=["npm ERR! network read ECONNRESET"])
TEST_FAILURE = Outcome(log=["FAIL src/cart.test.js", "Tests: 1 failed, 41 passed, 42 total"])
RATE_LIMIT = Outcome(log=["429 Too Many Requests - toomanyrequests: You have reached your pull rate limit."])


def native_twin(sandbox: Sandbox, pipeline: str) -> str:
    """The same pipeline without pipewarden's tags, its Build stage on CodePipeline's native retry.

    Its name starts with the pipeline's 20 characters: it keeps its artifacts under the same prefix,
    the only one the pipeline's roles (which it shares) may use.
    """
    client = sandbox.client("codepipeline")
    declaration = copy.deepcopy(client.get_pipeline(name=pipeline)["pipeline"])
    assert len(pipeline) >= 20, "a name shorter than 20 characters is its own artifact prefix"
    declaration["name"] = f"{pipeline}-native"[:100]
    for stage in declaration["stages"]:
        if stage["name"] == "Build":
            stage["onFailure"] = {"result": "RETRY", "retryConfiguration": {"retryMode": "FAILED_ACTIONS"}}
    declaration.pop("version", None)
    client.create_pipeline(pipeline=declaration)
    return str(declaration["name"])


def settle(sandbox: Sandbox, pipeline: str, quiet_for: float = 8.0, timeout: float = 60.0) -> dict[str, Any]:
    """The latest execution once it has ended and nothing changed for a while (no retry pending)."""
    client = sandbox.client("codepipeline")
    deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        sandbox.wait_idle()
        runs = client.list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]
        state = (runs[0]["status"], runs[0]["lastUpdateTime"]) if runs else None
        if state != last:
            last, since = state, time.monotonic()
        elif state and state[0] != "InProgress" and time.monotonic() - since > quiet_for:
            return runs[0]  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise TimeoutError(pipeline)


@dataclass
class Result:
    outcome: str
    retries: int
    pointless: int

    def cell(self) -> str:
        return f"{self.outcome}, {self.retries} retries, {self.pointless} pointless"


def result(sandbox: Sandbox, pipeline: str, run: dict[str, Any]) -> Result:
    details = sandbox.client("codepipeline").list_action_executions(
        pipelineName=pipeline, filter={"pipelineExecutionId": run["pipelineExecutionId"]}
    )["actionExecutionDetails"]
    builds = sorted((d for d in details if d["actionName"] == "Build"), key=lambda d: d["startTime"])
    retries = builds[1:]
    return Result(run["status"], len(retries), sum(1 for b in retries if b["status"] == "Failed"))


def scenario(sandbox: Sandbox, name: str, script: Any) -> tuple[Result, Result]:
    repo = f"bench-retry-scenario-{name}"
    pipeline = fleet.enroll(sandbox, repo)
    twin = native_twin(sandbox, pipeline)
    script(pipeline)
    script(twin)
    sandbox.push(repo, name)  # starts the enrolled pipeline through its change-detection rule
    sandbox.client("codepipeline").start_pipeline_execution(name=twin)
    return result(sandbox, pipeline, settle(sandbox, pipeline)), result(sandbox, twin, settle(sandbox, twin))


def calls_per_event(sandbox: Sandbox) -> None:
    # A test failure in a pipeline with retry=all: the whole path, from event to retry, is taken.
    pipeline = fleet.enroll(sandbox, "bench-calls", retry="all", max_retries="0")
    sandbox.simulator.scripts.add(pipeline, "Build", [TEST_FAILURE])
    sandbox.push("bench-calls", "calls")
    run = settle(sandbox, pipeline, quiet_for=1)
    arn = f"arn:aws:codepipeline:us-east-1:123456789012:{pipeline}"
    sandbox.client("codepipeline").tag_resource(
        resourceArn=arn, tags=[{"key": "pipewarden:max-retries", "value": "1"}]
    )
    config = RetryConfig.from_env(os.environ)
    # The sandbox's retry function decided this failure already (max-retries 0) and claimed it: the
    # claim is taken back, so the decision is measured as a first delivery makes it.
    sandbox.client("dynamodb").delete_item(
        TableName=config.decisions_table,
        Key={"pipeline": {"S": pipeline}, "decided": {"S": f"{CLAIM}{run['pipelineExecutionId']}#Build#0"}},
    )
    counter = CallCounter(sandbox)
    clients = Clients(counter)
    retrier = Retrier(config, clients, Emitter(lambda: clients.events, config.event_bus), rand=lambda: 0.0)
    decided = retrier.on_failure(StageFailure(pipeline, run["pipelineExecutionId"], "Build"))
    queued = dict(counter.calls)
    counter.reset()
    retrier.on_due(DueRetry(pipeline, run["pipelineExecutionId"], "Build", 1, "transient"))
    due = dict(counter.calls)
    print("AWS calls per failed-stage event")
    event = f"{decided.event}: {decided.reason}" if decided else "-"
    print(f"  event -> queued decision ({event}): {sum(queued.values())} calls  {sorted(queued.items())}")
    print(f"  due -> retried: {sum(due.values())} calls  {sorted(due.items())}")
    figure("retry: failed-stage event -> queued decision", f"{sum(queued.values())} AWS calls")
    figure("retry: decision due -> stage retried", f"{sum(due.values())} AWS calls")


def main() -> int:
    with Sandbox(parameters=SCALED) as sandbox:
        calls_per_event(sandbox)
        scenarios = {
            "(a) transient, clears after two attempts": lambda p: sandbox.simulator.scripts.add(
                p, "Build", [RESET, RESET]
            ),
            "(b) deterministic test failure": lambda p: sandbox.simulator.scripts.add(
                p, "Build", [TEST_FAILURE] * 3
            ),
            "(c) rate limit lasting 4 min (4 s here)": lambda p: sandbox.simulator.scripts.add_window(
                p, "Build", RATE_LIMIT, 4
            ),
        }
        print(
            "\nSame scripted failures: pipewarden (transient, max-retries 2) vs CodePipeline's native retry"
        )
        print(f"  {'scenario':<44} {'pipewarden':<36} {'native one-shot retry'}")
        for index, (name, script) in enumerate(scenarios.items()):
            ours, native = scenario(sandbox, "abc"[index], script)
            print(f"  {name:<44} {ours.cell():<36} {native.cell()}")
            figure(f"retry {name}", ours.cell(), f"native one-shot retry: {native.cell()}")
        print("  (pointless: a retry that failed again; time scaled 1 s = 1 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
