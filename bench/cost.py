"""What pipewarden itself costs a month for 100 repositories with 20 executions a day each, and at 1,000
and 10,000 repositories.

Measured in the sandbox with the template's defaults (DetailedMetrics=false, no X-Ray tracing,
PruneOnExecutionEnd=DISABLED, handlers logging at INFO): a fleet runs executions with a typical mix
(85% green, 10% a transient failure that a retry fixes, 5% a failing test), and every controller
invocation, AWS call and log byte is counted; the figures per execution are scaled to 100 x 20 x 30 =
60,000 executions a month, plus the hourly resync and the daily prune. Durations are the sandbox's
(moto answering over HTTP), which are, if anything, longer than AWS's. List prices of us-east-1
(re-check them); free tiers ignored.

Run: make bench   (or .venv/bin/python bench/cost.py)
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from pipewarden.naming import pipeline_name
from sandbox import fleet
from sandbox.executions import Outcome
from sandbox.figures import figure
from sandbox.lambdas import Function
from sandbox.runtime import Sandbox

REPOS, DAILY, DAYS = 100, 20, 30
SCALES = (100, 1_000, 10_000)
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
    "KMS request (secret decrypt)": 0.03 / 1e4,
    "Secrets Manager secret-month": 0.40,
    "Secrets Manager API call": 0.05 / 1e4,
    "CloudWatch Logs GB ingested": 0.50,
    "S3 LIST request": 0.005 / 1e3,
}
# What the defaults leave out, priced for whoever turns them on (README "What pipewarden costs").
CUSTOM_METRICS = 21  # DetailedMetrics=true: metric names x the `service` dimension the functions publish
METRIC_MONTH = 0.30
X_RAY_TRACE = 5.00 / 1e6  # Tracing: Active would record (about) one trace per invocation at this rate
# Lambda's SQS pollers long-poll whatever the load: "When traffic is low, Lambda scales back the
# processing to five concurrent batches, and can optimize to as few as 2 concurrent batches to reduce
# the SQS calls and corresponding costs. However, this optimization is not available when you enable
# the maximum concurrency setting" (which the template leaves unset: tests/unit/test_cost_levers.py).
# https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html. The bill counts five (it
# "can" go to two: the best case is printed beside it); a long poll of 20 s is assumed (not published).
SQS_POLLERS, SQS_POLLERS_LOW = 5, 2
SQS_POLLING = SQS_POLLERS * 3 * 60 * 24 * DAYS
# Lambda's own lines per invocation (START, END, REPORT), which the sandbox does not print in full.
PLATFORM_LOG_BYTES = 330
# Parameters' cache keeps a webhook URL for 5 minutes in a warm container (deliver.py): at most this
# many reads a month per container that sends messages.
SECRET_READS_PER_CONTAINER = DAYS * 24 * 3600 / 300
KEPT_EXECUTIONS = 3  # the blueprint's default keep-executions tag
# pipewarden's own alarms and dashboard (template.yaml, README "Operating pipewarden"): a fixed price,
# whatever the load. https://aws.amazon.com/cloudwatch/pricing/ (us-east-1): $0.10 a month per
# standard-resolution alarm metric, a metric math alarm billed for each metric it reads (so one math
# alarm over eight metrics costs what eight alarms do); $3.00 a month per dashboard; Logs Insights
# $0.005 per GB scanned. The account's free tier (10 alarm metrics, 3 dashboards) is ignored, like
# every free tier here: other alarms of the account may have used it.
ALARM_METRIC_MONTH = 0.10
ALARM_METRICS = {"essential": 4, "all": 12}  # OperatorAlarms: 3 queue depths + the resync; + 8 Lambda
DASHBOARD_MONTH = 3.00
LOGS_INSIGHTS_GB = 0.005


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
        fleet.enroll(sandbox, f"cost-{n}")
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
        before = {n: len(d) for n, d in durations.items()}
        sandbox.run_schedules(name)
        sandbox.wait_idle(60)
        took[name] = sum(durations[name][before.get(name, 0) :])
        # The resync's heartbeat (Resync Completed) invokes the notify function once per resync,
        # whatever the fleet: measured on its own, not as the executions' notifications.
        heartbeat = [n for n in durations if n != name and len(durations[n]) > before.get(n, 0)]
        for other in heartbeat:
            took[f"{other} heartbeat"] = sum(durations[other][before.get(other, 0) :])
            del durations[other][before.get(other, 0) :]
        del durations[name][before.get(name, 0) :]
        calls.update(sandbox.faults.seen)
    return took, calls


@dataclass
class Measured:
    """What the sandbox run measured, per execution and per scheduled run (on FLEET pipelines)."""

    invocations: dict[str, float]  # per execution
    seconds: dict[str, float]  # function seconds per execution
    calls: dict[str, float]  # AWS calls per execution
    log_bytes: float  # per invocation, the handlers' lines plus Lambda's own
    schedule_seconds: dict[str, float]  # one resync / one whole-bucket prune of FLEET pipelines
    schedule_calls: Counter[str]
    objects_per_execution: float


def measure() -> Measured:
    durations = timed_invocations()
    with Sandbox(parameters=FAST, log_level="INFO") as sandbox:
        for function in sandbox.functions.values():
            function.echo = False
        calls = story(sandbox, durations)
        logged = {name: sum(len(line) + 1 for line in f.logs) for name, f in sandbox.functions.items()}
        invoked = sum(len(v) for v in durations.values())
        bucket = sandbox.outputs["ArtifactBucketName"]
        versions = sandbox.client("s3").list_object_versions(Bucket=bucket).get("Versions", [])
        executions = FLEET + RUNS  # each enrollment's first execution, then the story's
        schedule_seconds, schedule_calls = fixed(sandbox, durations)
    return Measured(
        invocations={name: len(v) / RUNS for name, v in durations.items()},
        seconds={name: sum(v) / RUNS for name, v in durations.items()},
        calls={k: v / RUNS for k, v in calls.items()},
        log_bytes=sum(logged.values()) / max(invoked, 1) + PLATFORM_LOG_BYTES,
        schedule_seconds=schedule_seconds,
        schedule_calls=schedule_calls,
        objects_per_execution=len(versions) / executions,
    )


def bill(m: Measured, repos: int) -> list[tuple[str, float]]:
    """Each priced item's monthly quantity for `repos` repositories at DAILY executions a day."""
    executions = repos * DAILY * DAYS
    scale = repos / FLEET  # the schedules' work grows with the number of pipelines

    def monthly(*operations: str) -> float:
        return sum(n for op, n in m.calls.items() if op.split(":", 1)[1] in operations) * executions

    heartbeats = 24 * DAYS if "NotifyFunction heartbeat" in m.schedule_seconds else 0
    invocations = sum(m.invocations.values()) * executions + 24 * DAYS + DAYS + heartbeats
    gb_seconds = sum(s * MEMORY_GB[n] for n, s in m.seconds.items()) * executions
    gb_seconds += 24 * DAYS * m.schedule_seconds["EnrollFunction"] * scale * MEMORY_GB["EnrollFunction"]
    gb_seconds += DAYS * m.schedule_seconds["PruneFunction"] * scale * MEMORY_GB["PruneFunction"]
    gb_seconds += (
        heartbeats * m.schedule_seconds.get("NotifyFunction heartbeat", 0.0) * MEMORY_GB["NotifyFunction"]
    )
    # The daily prune lists the bucket 1,000 versions a call: a day of executions past the grace
    # period plus the kept ones, per pipeline.
    stored = repos * (DAILY + KEPT_EXECUTIONS) * m.objects_per_execution
    s3_lists = monthly("GET") + DAYS * math.ceil(stored / 1000)
    publishes = monthly("Publish")
    containers = max(1.0, math.ceil(publishes / (DAYS * 24 * 3600)))  # messages rarely overlap
    secret_reads = min(publishes, containers * SECRET_READS_PER_CONTAINER)
    return [
        ("lambda request", invocations),
        ("lambda GB-second (arm64)", gb_seconds),
        ("EventBridge custom event", monthly("PutEvents") + heartbeats),
        ("SQS request", monthly("SendMessage", "DeleteMessage", "DeleteMessageBatch") + SQS_POLLING),
        ("DynamoDB write request unit", monthly("PutItem", "UpdateItem", "DeleteItem")),
        ("DynamoDB read request unit", monthly("GetItem", "Query")),
        ("SNS publish", publishes),
        ("KMS request (SNS encryption)", publishes),  # at most one per publish (SNS may reuse data keys)
        ("Secrets Manager secret-month", 1),
        ("Secrets Manager API call", secret_reads),
        # Secrets Manager decrypts the secret with its KMS key on each read (aws/secretsmanager or yours)
        ("KMS request (secret decrypt)", secret_reads),
        ("CloudWatch Logs GB ingested", invocations * m.log_bytes / 2**30),
        ("S3 LIST request", s3_lists),
    ]


def main() -> int:
    m = measure()
    print(f"Monthly cost of pipewarden itself: {REPOS} repositories x {DAILY} executions a day x {DAYS} days")
    print(f"  measured: {RUNS} executions on {FLEET} pipelines (85% green, 10% retried, 5% failing test)")
    for name in sorted(m.invocations):
        rate = m.invocations[name]
        average = m.seconds[name] / rate if rate else 0.0
        print(f"  {name:<16} {rate:5.2f} invocations per execution, {average * 1000:6.0f} ms average")
    print(
        "  AWS calls per execution: "
        + ", ".join(f"{op} {n:.2f}" for op, n in sorted(m.calls.items()) if n >= 0.05)
    )
    print(
        f"  logs: {m.log_bytes:,.0f} bytes per invocation (INFO, with Lambda's START/END/REPORT); "
        f"{m.objects_per_execution:.1f} artifact objects per execution"
    )
    lines = bill(m, REPOS)
    total = 0.0
    print(f"  {'item':<32} {'quantity a month':>18}   {'price':>12}   {'cost':>9}")
    for name, quantity in lines:
        cost = quantity * PRICE[name]
        total += cost
        print(f"  {name:<32} {quantity:>18,.1f} x {PRICE[name]:>12.8f} = ${cost:>8.2f}")
    print(f"  {'total':<32} {'':>18}   {'':>12}   ${total:>8.2f} a month")
    invocations, gb_seconds = lines[0][1], lines[1][1]
    publishes_per_month = dict(lines)["SNS publish"]
    print("  Left out by the defaults (what turning them on adds):")
    print(
        f"    DetailedMetrics=true: {CUSTOM_METRICS} custom metrics x ${METRIC_MONTH:.2f} = "
        f"${CUSTOM_METRICS * METRIC_MONTH:.2f} a month"
    )
    print(
        f"    Tracing: Active: {invocations:,.0f} traces x ${X_RAY_TRACE * 1e6:.2f}/M = "
        f"${invocations * X_RAY_TRACE:.2f} a month (and a Tracer doubles a cold start: bench/enroll.py)"
    )
    fewer = (SQS_POLLERS - SQS_POLLERS_LOW) * 3 * 60 * 24 * DAYS
    print(
        f"    (best case) the idle retry queue polled by {SQS_POLLERS_LOW} pollers, not {SQS_POLLERS}: "
        f"{fewer:,} fewer SQS requests, ${fewer * PRICE['SQS request']:.2f} less"
    )
    executions = REPOS * DAILY * DAYS
    print(
        f"    PruneOnExecutionEnd=ENABLED: {executions:,} more S3 LIST requests = "
        f"${executions * PRICE['S3 LIST request']:.2f} a month, plus an invocation and an event each"
    )
    print(
        "  Not in the bill: the topic's deliveries, which depend on its subscribers "
        f"({publishes_per_month:,.0f} messages: free to SQS and Lambda, $2.00 per 100,000 e-mails,"
        " $0.60 per million HTTPS posts)"
    )
    fixed_total = operations(m, lines)
    print("  How it grows (the same mix; the resync and the daily prune scale with the fleet):")
    print(
        f"  {'repositories':>12} {'executions a month':>20} {'cost a month':>13} {'per 1,000 executions':>21}"
    )
    for repos in SCALES:
        cost = sum(q * PRICE[name] for name, q in bill(m, repos))
        per = cost / (repos * DAILY * DAYS) * 1000
        dollars, per_thousand = f"${cost:,.2f}", f"${per:.4f}"
        print(f"  {repos:>12,} {repos * DAILY * DAYS:>20,} {dollars:>13} {per_thousand:>21}")
        if repos != REPOS:
            figure(
                f"monthly cost, {repos:,} repositories",
                f"${cost:,.2f}",
                f"{repos * DAILY * DAYS:,} executions",
            )
    figure(
        f"monthly cost, {REPOS} repositories x {DAILY} executions a day",
        f"${total:.2f}",
        f"{invocations:,.0f} invocations, {gb_seconds:,.0f} GB-s",
        "<= $1.00",
    )
    figure(
        "monthly cost with the default alarms (OperatorAlarms=essential)",
        f"${total + fixed_total:.2f}",
        f"${fixed_total:.2f} of alarms, fixed",
    )
    # The gate is the usage-driven bill at the baseline fleet; the alarms are a fixed price of their
    # own, printed above (README "What pipewarden costs").
    return 0 if total <= 1.00 else 1


def operations(m: Measured, lines: list[tuple[str, float]]) -> float:
    """Print the alarms' and the dashboard's lines (fixed prices); the defaults' part of them."""
    logs_gb = dict(lines)["CloudWatch Logs GB ingested"]
    essential = ALARM_METRICS["essential"] * ALARM_METRIC_MONTH
    extra = (ALARM_METRICS["all"] - ALARM_METRICS["essential"]) * ALARM_METRIC_MONTH
    print("  pipewarden's own alarms and dashboard (a fixed price, whatever the fleet):")
    name = "CloudWatch alarm metric"
    print(
        f"    {name:<30} {ALARM_METRICS['essential']:>18,.1f} x {ALARM_METRIC_MONTH:>12.8f}"
        f" = ${essential:>8.2f}"
        "   OperatorAlarms=essential (default): 3 dead-letter queues, the resync"
    )
    print(
        f"    OperatorAlarms=all: {ALARM_METRICS['all'] - ALARM_METRICS['essential']} more alarm metrics "
        f"(errors and throttles of 4 functions, one math alarm) = ${extra:.2f} a month more"
    )
    # Each Logs Insights widget reads one function's log group; notify's is read twice: a 24-hour view
    # scans at most two days' worth of all the functions' logs.
    scanned = 2 * logs_gb / DAYS
    print(
        f"    OperatorDashboard=true: ${DASHBOARD_MONTH:.2f} a month, plus at most {scanned * 1024:.1f} MB "
        f"of logs scanned per 24-hour view (${scanned * LOGS_INSIGHTS_GB:.5f})"
    )
    total = sum(q * PRICE[name] for name, q in lines)
    print(f"  total with the default alarms: ${total + essential:.2f} a month")
    return essential


if __name__ == "__main__":
    raise SystemExit(main())
