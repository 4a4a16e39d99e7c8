"""The sandbox runs each function as Lambda does: its own interpreter and environment, a real deadline,
metrics flushed at the end of each invocation.

Sources: the execution environment and its lifecycle (init, then invocations, reused while warm)
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html; the variables Lambda
sets (`AWS_LAMBDA_FUNCTION_NAME`, `_HANDLER`, `LAMBDA_TASK_ROOT`, the role's session credentials)
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime;
the context's `get_remaining_time_in_millis` https://docs.aws.amazon.com/lambda/latest/dg/python-context.html;
the timeout error "Task timed out after N seconds" https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html;
Powertools flushes metrics as EMF at the end of each invocation (`log_metrics`)
https://docs.powertools.aws.dev/lambda/python/latest/core/metrics/.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from pipewarden.naming import pipeline_name
from sandbox.faults import Rule
from sandbox.lambdas import Function, FunctionError
from sandbox.runtime import Sandbox
from tests.conftest import World

pytestmark = pytest.mark.integration

SERVICES = {
    "EnrollFunction": "enroll",
    "RetryFunction": "retry",
    "PruneFunction": "prune",
    "NotifyFunction": "notify",
}
NOT_AN_EVENT = {"id": "not-an-event", "source": "someone", "detail-type": "Nothing", "detail": {}}


def scheduled(event_id: str) -> dict[str, Any]:
    """EventBridge's scheduled event, as a function's schedule sends it."""
    return {
        "id": event_id,
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "detail": {},
        "resources": [],
        "account": "123456789012",
        "region": "us-east-1",
        "time": "2026-12-03T00:00:00Z",
    }


def records(function: Function, since: int = 0) -> list[dict[str, Any]]:
    out = []
    for line in function.logs[since:]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def invoke_raw(function: Function, event: dict[str, Any]) -> Any:
    """The function's answer, or the error it raised."""
    try:
        return function.invoke(event)
    except Exception as error:
        return error


def test_each_function_runs_in_its_own_process_with_its_own_environment(sandbox: Sandbox) -> None:
    pids = {}
    for name, service in SERVICES.items():
        function = sandbox.functions[name]
        since = len(function.logs)
        invoke_raw(function, NOT_AN_EVENT if name != "RetryFunction" else {"Records": "?"})
        pids[name] = function.process_ids()
        logged = [r for r in records(function, since) if r.get("level") in ("ERROR", "WARNING")]
        assert logged, f"{name} logged nothing for an invalid event"
        # Powertools names the service from the function's own POWERTOOLS_SERVICE_NAME.
        assert {r["service"] for r in logged} == {service}
    assert len({pid for ids in pids.values() for pid in ids}) == sum(len(ids) for ids in pids.values())
    assert os.getpid() not in {pid for ids in pids.values() for pid in ids}
    # The sandbox's own process does not carry any one function's service name.
    assert "POWERTOOLS_SERVICE_NAME" not in os.environ
    env = sandbox.functions["PruneFunction"].environment()
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "pipewarden-PruneFunction"
    assert env["AWS_ACCESS_KEY_ID"] != os.environ.get("AWS_ACCESS_KEY_ID")  # its role's session, not ours


def test_an_environment_is_reused_while_warm_and_replaced_after_a_timeout(sandbox: Sandbox) -> None:
    function = sandbox.functions["EnrollFunction"]
    function.invoke(NOT_AN_EVENT)
    cold = function.cold_starts
    function.invoke(NOT_AN_EVENT)
    assert function.cold_starts == cold  # warm: the same process answered

    # Every call the function makes answers slowly: the invocation outlives a 1 s timeout.
    warm = set(function.process_ids())
    before, function.timeout_seconds = function.timeout_seconds, 1.0
    sandbox.faults.configure([Rule(1.0, ("slow",))], 1)
    slow, sandbox.faults.slow_seconds = sandbox.faults.slow_seconds, 2.0
    try:
        with pytest.raises(FunctionError, match=r"Task timed out after 1.00 seconds"):
            function.invoke(scheduled("t"))
    finally:
        sandbox.faults.configure([], 1)
        sandbox.faults.slow_seconds = slow
        function.timeout_seconds = before
    left = set(function.process_ids())
    assert left < warm and len(left) == len(warm) - 1  # the timed-out environment was discarded
    assert function.invoke(NOT_AN_EVENT)["status"] == "invalid"  # and the function still answers


@pytest.fixture
def prune_timeout(sandbox: Sandbox) -> Iterator[Function]:
    function = sandbox.functions["PruneFunction"]
    before = function.timeout_seconds
    yield function
    function.timeout_seconds = before


def test_prune_stops_before_its_deadline_when_the_function_timeout_is_near(
    world: World, prune_timeout: Function
) -> None:
    """The deadline is real: with 60 s left (prune stops 60 s before its timeout), prune stops early."""
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags(keep_executions="1"))
    pipeline = pipeline_name(repo)
    for n in range(3):
        world.push(repo, f"change {n}")
        world.sandbox.wait_for_execution(pipeline)
    scoped = scheduled("prune-now")
    prune_timeout.timeout_seconds = 60.0
    assert prune_timeout.invoke(scoped)["status"] == "partial"
    prune_timeout.timeout_seconds = 900.0
    assert prune_timeout.invoke(scoped)["status"] == "pruned"


def test_metrics_are_flushed_at_the_end_of_each_invocation(sandbox: Sandbox) -> None:
    function = sandbox.functions["PruneFunction"]
    since = len(function.logs)
    event = scheduled("metrics")
    function.invoke(event)
    function.invoke(event)
    emf = [r for r in records(function, since) if "_aws" in r]
    assert len(emf) == 2  # one metrics record per invocation, none carried over
    for record in emf:
        (directive,) = record["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "pipewarden"
        assert {m["Name"] for m in directive["Metrics"]} >= {"ObjectsPruned", "BytesPruned"}
