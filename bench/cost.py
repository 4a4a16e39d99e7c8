"""What pipewarden itself costs a month for 100 repositories with 20 executions a day each.

Measured in the sandbox: a fleet runs executions with a typical mix (85% green, 10% a transient
failure that a retry fixes, 5% a failing test), and every controller invocation and AWS call is
counted; the figures per execution are scaled to 100 x 20 x 30 = 60,000 executions a month, plus the
hourly resync and the daily prune. Durations are the sandbox's (moto answering over HTTP), which
are, if anything, longer than AWS's. List prices of us-east-1 (re-check them); free tiers ignored.

Run: make bench   (or .venv/bin/python bench/cost.py)
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from typing import Any

from pipewarden.naming import pipeline_name
from sandbox import fleet
from sandbox.executions import Outcome
from sandbox.figures import figure
from sandbox.lambdas import Function
from sandbox.runtime import Sandbox

REPOS, DAILY, DAYS = 100, 20, 30
MONTHLY = REPOS * DAILY * DAYS
FLEET, RUNS = 5, 40
FAST = {**fleet.PARAMETERS, "RetryBaseSeconds": "1", "RetryCapSeconds": "2", "RateLimitWaitSeconds": "2"}
MEMORY_GB = {"EnrollFunction": 0.25, "RetryFunction": 0.25, "PruneFunction": 0.5, "NotifyFunction": 0.25}
PRICE = {
    "lambda request": 0.20 / 1e6,
    "lambda GB-second (arm64)": 0.0000133334,
    "EventBridge custom event": 1.00 / 1e6,
    "SQS request": 0.40 / 1e6,
    "DynamoDB write request unit": 0.625 / 1e6,
    "DynamoDB read request unit": 0.125 / 1e6,
    "SNS publish": 0.50 / 1e6,
    "KMS request (SNS encryption)": 0.03 / 1e4,
    "Secrets Manager secret-month": 0.40,
    "Secrets Manager API call": 0.05 / 1e4,
    "X-Ray trace": 5.00 / 1e6,
    "CloudWatch Logs GB ingested": 0.50,
    "CloudWatch custom metric-month": 0.30,
    "S3 LIST request": 0.005 / 1e3,
}
LOG_KB_PER_INVOCATION = 1.5  # START/END/REPORT lines and the handler's one or two structured lines
CUSTOM_METRICS = 21  # metric names x the `service` dimension the four functions publish
SQS_POLLING = 5 * 3 * 60 * 24 * DAYS  # Lambda's SQS pollers: about 5 long polls of 20 s each, always


def timed_invocations() -> dict[str, list[float]]:
    """Time every invocation of the controller's functions (the sandbox binds `invoke` when it wires
    rules, so the class is patched before the sandbox starts)."""
    durations: dict[str, list[float]] = defaultdict(list)
    original = Function.invoke

    def timed(self: Function, event: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return original(self, event)
        finally:
            durations[self.name].append(time.perf_counter() - started)

    Function.invoke = timed  # type: ignore[method-assign]
    return durations


def story(sandbox: Sandbox, durations: dict[str, list[float]]) -> Counter[str]:
    """Run the fleet; the controller's calls (the durations land in `durations`)."""
    for n in range(FLEET):
        fleet.enroll(sandbox, f"cost-{n}", container="app")
    sandbox.wait_idle(60)
    durations.clear()
    sandbox.faults.seen.clear()
    sandbox.faults.counting = True
    rand = random.Random(11)
    for run in range(RUNS):
        repo = f"cost-{run % FLEET}"
        roll = rand.random()
        if roll < 0.05:
            sandbox.simulator.scripts.add(pipeline_name(repo), "Build", [Outcome(log=["FAIL src/a.test.js"])])
        elif roll < 0.15:
            sandbox.simulator.scripts.add(pipeline_name(repo), "Build", [Outcome(log=["toomanyrequests"])])
        sandbox.push(repo, f"change {run}")
        sandbox.wait_for_execution(pipeline_name(repo))
        time.sleep(0.1)
    time.sleep(4)  # the last retries come due
    sandbox.wait_idle(60)
    return Counter(sandbox.faults.seen)


def fixed(sandbox: Sandbox, durations: dict[str, list[float]]) -> tuple[dict[str, float], Counter[str]]:
    """One resync and one whole-bucket prune: their durations and calls (scaled by fleet size later)."""
    took: dict[str, float] = {}
    calls: Counter[str] = Counter()
    for name in ("EnrollFunction", "PruneFunction"):
        sandbox.faults.seen.clear()
        before = len(durations[name])
        sandbox.run_schedules(name)
        sandbox.wait_idle(60)
        took[name] = sum(durations[name][before:])
        del durations[name][before:]
        calls.update(sandbox.faults.seen)
    return took, calls


def main() -> int:
    durations = timed_invocations()
    with Sandbox(parameters=FAST) as sandbox:
        calls = story(sandbox, durations)
        schedule_durations, schedule_calls = fixed(sandbox, durations)
    per_run = {k: v / RUNS for k, v in calls.items()}
    invocations = {name: len(v) / RUNS * MONTHLY for name, v in durations.items()}
    invocations["EnrollFunction"] = invocations.get("EnrollFunction", 0) + 24 * DAYS
    invocations["PruneFunction"] = invocations.get("PruneFunction", 0) + DAYS
    gb_seconds = sum(sum(v) / RUNS * MONTHLY * MEMORY_GB[n] for n, v in durations.items())
    scale = REPOS / FLEET  # the schedules' work grows with the number of pipelines
    gb_seconds += 24 * DAYS * schedule_durations["EnrollFunction"] * scale * MEMORY_GB["EnrollFunction"]
    gb_seconds += DAYS * schedule_durations["PruneFunction"] * scale * MEMORY_GB["PruneFunction"]
    s3_lists = sum(n for op, n in per_run.items() if op.startswith("s3:GET")) * MONTHLY
    s3_lists += sum(n for op, n in schedule_calls.items() if op.startswith("s3:GET")) * DAYS * scale

    def monthly(*operations: str) -> float:
        return sum(n for op, n in per_run.items() if op.split(":", 1)[1] in operations) * MONTHLY

    total_invocations = sum(invocations.values())
    publishes = monthly("Publish")
    lines = [
        ("lambda request", total_invocations),
        ("lambda GB-second (arm64)", gb_seconds),
        ("EventBridge custom event", monthly("PutEvents")),
        ("SQS request", monthly("SendMessage", "DeleteMessage", "DeleteMessageBatch") + SQS_POLLING),
        ("DynamoDB write request unit", monthly("PutItem", "UpdateItem", "DeleteItem")),
        ("DynamoDB read request unit", monthly("GetItem", "Query")),
        ("SNS publish", publishes),
        ("KMS request (SNS encryption)", publishes),
        ("Secrets Manager secret-month", 1),
        # at most one read per message (a warm container reads it once per 5 minutes)
        ("Secrets Manager API call", publishes),
        ("X-Ray trace", total_invocations),
        ("CloudWatch Logs GB ingested", total_invocations * LOG_KB_PER_INVOCATION / 2**20),
        ("CloudWatch custom metric-month", CUSTOM_METRICS),
        ("S3 LIST request", s3_lists),
    ]
    print(f"Monthly cost of pipewarden itself: {REPOS} repositories x {DAILY} executions a day x {DAYS} days")
    print(f"  measured: {RUNS} executions on {FLEET} pipelines (85% green, 10% retried, 5% failing test)")
    for name, values in sorted((n, v) for n, v in durations.items() if v):
        average = sum(values) / len(values)
        rate = len(values) / RUNS
        print(f"  {name:<16} {rate:5.2f} invocations per execution, {average * 1000:6.0f} ms average")
    print(
        "  AWS calls per execution: "
        + ", ".join(f"{op} {n:.2f}" for op, n in sorted(per_run.items()) if n >= 0.05)
    )
    total = 0.0
    print(f"  {'item':<32} {'quantity a month':>18}   {'price':>12}   {'cost':>9}")
    for name, quantity in lines:
        cost = quantity * PRICE[name]
        total += cost
        print(f"  {name:<32} {quantity:>18,.1f} x {PRICE[name]:>12.8f} = ${cost:>8.2f}")
    print(f"  {'total':<32} {'':>18}   {'':>12}   ${total:>8.2f} a month")
    figure(
        f"monthly cost, {REPOS} repositories x {DAILY} executions a day",
        f"${total:.2f}",
        f"{total_invocations:,.0f} invocations, {gb_seconds:,.0f} GB-s",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
