"""`make chaos`: pipewarden under faults, duplicated and reordered events, at scale; then its invariants.

Repositories are enrolled (a few with bad tags), re-tagged and unenrolled; pipelines run with a mix of
transient and deterministic failures. Every event reaches its function at least once, a share twice,
in shuffled order, while a share of the controller's AWS calls fail as AWS's do (SDK backoff runs at
1/50 speed, like the sandbox's retry delays). Failed invocations are retried, then dead-lettered;
after the workload the incident ends, `pipewarden replay-dlq` hands the dead letters back, one resync
runs, and the invariants are checked and printed. Exit status 1 if any is violated.

Run: make chaos   (or .venv/bin/python -m sandbox.chaos --seed 7 [--repos 200 --executions 500])
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from sandbox import fleet, oracle
from sandbox.executions import Outcome
from sandbox.faults import Rule
from sandbox.runtime import ACCOUNT, REGION, Sandbox

PREFIX = "pipewarden"
RATE_LIMIT = Outcome(log=["429 Too Many Requests - toomanyrequests: You have reached your pull rate limit."])
RIVAL_SHARE = 0.1  # repositories whose stack a person updates by hand during the re-tagging
RESET = Outcome(phase="PRE_BUILD", log=["npm ERR! network read ECONNRESET"])
TEST_FAILURE = Outcome(log=["FAIL src/cart.test.js", "Tests: 1 failed, 41 passed, 42 total"])
JSON_MARK = "CHAOS-FIGURES "
FAST = {
    **fleet.PARAMETERS,
    "PruneOnExecutionEnd": "ENABLED",  # prunes race executions and retries: the harder case
    "RetryBaseSeconds": "1",
    "RetryCapSeconds": "2",
    "RateLimitWaitSeconds": "2",
    "PruneGraceHours": "0",
}


@dataclass
class Figures:
    seed: int
    repos: int
    executions: int = 0
    events: int = 0
    duplicated: int = 0
    calls: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    dead_lettered: int = 0
    replayed: int = 0
    alarms_raised: list[str] = field(default_factory=list)  # queue-depth alarms told ALARM after the incident
    alarms_resolved: list[str] = field(default_factory=list)  # ... and told resolved after the replay
    authorized: int = 0  # calls IAM decided for pipewarden's roles (functions, CloudFormation, pipelines)
    rival_updates: int = 0  # stacks a person updated by hand while the controller worked
    waited: Counter[str] = field(default_factory=Counter)  # reconciles that waited on a busy stack, by why
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    def print(self) -> None:
        print(f"chaos seed {self.seed}: {self.repos} repositories, {self.executions} pipeline executions")
        print(f"  events processed           {self.events} ({self.duplicated} delivered twice)")
        faults = ", ".join(f"{n} {k}" for k, n in sorted(self.faults.items()))
        share = sum(self.faults.values()) / max(self.calls, 1)
        print(
            f"  faults injected            {sum(self.faults.values())} of {self.calls} controller calls "
            f"({share:.0%}: {faults})"
        )
        print(f"  invocations retried        {self.retried}")
        print(f"  dead-lettered / replayed   {self.dead_lettered} / {self.replayed}")
        print(
            f"  alarms raised / resolved   {', '.join(self.alarms_raised) or 'none'} / "
            f"{', '.join(self.alarms_resolved) or 'none'}"
        )
        print(f"  calls authorized by IAM    {self.authorized} (every denial is a violation below)")
        print(
            f"  stacks waited on           {self.waited['in-progress']} in progress, "
            f"{self.waited['busy']} refused as busy ({self.rival_updates} updated by hand meanwhile)"
        )
        print(f"  invariant violations       {len(self.violations)}")
        for violation in self.violations[:30]:
            print(f"    - {violation}")
        print(f"  took {self.seconds:.0f} s")


@contextlib.contextmanager
def scaled_sdk_backoff(scale: float) -> Iterator[None]:
    """The SDK's retry waits at `scale` of their length (the sandbox compresses time, as for retries)."""
    from botocore.retries import standard

    original = standard.ExponentialBackoff.delay_amount

    def scaled(self: Any, context: Any) -> float:
        return float(original(self, context)) * scale

    standard.ExponentialBackoff.delay_amount = scaled  # type: ignore[method-assign]
    try:
        yield
    finally:
        standard.ExponentialBackoff.delay_amount = original  # type: ignore[method-assign]


def quiet(sandbox: Sandbox, seconds: float = 3.0, timeout: float = 1800.0) -> None:
    """Until nothing happened for `seconds`: every event handled and every retry delay passed."""
    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while time.monotonic() - since < seconds and time.monotonic() < deadline:
        sandbox.wait_idle(timeout)
        count = sandbox.bus.delivered + sandbox.bus.failed_attempts + len(sandbox.pipeline_events)
        if count != seen:
            seen, since = count, time.monotonic()
        time.sleep(0.25)


class Scenario:
    def __init__(self, sandbox: Sandbox, seed: int, repos: int, executions: int) -> None:
        self.sandbox = sandbox
        self.rand = random.Random(seed)
        self.names = [f"chaos-{n:03d}" for n in range(repos)]
        self.tags: dict[str, dict[str, str]] = {}
        # Each repository's earlier tag sets, each one the controller settled on (quiet() between).
        self.history: dict[str, list[dict[str, str]]] = {name: [] for name in self.names}
        self.executions = executions
        self.rival_updates = 0

    # -- the workload ----------------------------------------------------------------------------
    def setup(self) -> None:
        sb = self.sandbox
        for name in self.names:  # one service per repository: a service takes one repository's images
            fleet.deploy_target(sb, name, cluster="apps", service=name, container="app")
        for name in self.names:
            sb.client("codecommit").create_repository(repositoryName=name)

    def arn(self, name: str) -> str:
        return f"arn:aws:codecommit:{REGION}:{ACCOUNT}:{name}"

    def enroll(self) -> None:
        for name in self.names:
            tags = {
                f"{PREFIX}:enabled": "true",
                f"{PREFIX}:ecs-cluster": "apps",
                f"{PREFIX}:ecs-service": name,
                f"{PREFIX}:container": "app",
                f"{PREFIX}:retry": self.rand.choice(["transient"] * 6 + ["all", "off"]),
                f"{PREFIX}:max-retries": str(self.rand.choice([0, 1, 2, 2, 3])),
                f"{PREFIX}:notify": self.rand.choice(["failures", "failures", "all", "off"]),
                f"{PREFIX}:keep-executions": str(self.rand.randint(1, 4)),
            }
            if self.rand.random() < 0.05:
                tags[f"{PREFIX}:compute"] = "huge"  # rejected: nothing may be built for it
            self.tags[name] = tags
            self.sandbox.client("codecommit").tag_resource(resourceArn=self.arn(name), tags=tags)

    def retag(self) -> None:
        for name in self.names:
            self.history[name].append(dict(self.tags[name]))
            if self.rand.random() < RIVAL_SHARE:
                self.rival_update(name)
            roll = self.rand.random()
            if roll < 0.25:
                change = {f"{PREFIX}:compute": self.rand.choice(["small", "medium", "large"])}
                self.tags[name].update(change)
                self.sandbox.client("codecommit").tag_resource(resourceArn=self.arn(name), tags=change)
            elif roll < 0.40:
                del self.tags[name][f"{PREFIX}:enabled"]
                self.sandbox.client("codecommit").untag_resource(
                    resourceArn=self.arn(name), tagKeys=[f"{PREFIX}:enabled"]
                )

    def rival_update(self, name: str) -> None:
        """A person updates the pipeline's stack by hand (its log retention) while pipewarden works:
        the controller meets the stack busy (it waits) and later puts the tag-derived value back."""
        try:
            fleet.edit_stack_by_hand(self.sandbox, f"pipewarden-{name}")
            self.rival_updates += 1
        except ClientError:
            pass  # no such stack, or it is busy: the person tries another day

    def enrolled(self) -> list[str]:
        """The repositories the documents say have a pipeline now (the oracle, on what this
        workload set up: every service takes its repository's images, from roles under its path)."""

        def target(cluster: str, service: str) -> oracle.Target:
            paths = (f"/pipewarden-tasks/{service}/",) * 2
            return oracle.Target(
                exists=cluster == "apps" and service in self.tags, owner=service, role_paths=paths
            )

        allowed = oracle.allow_list(FAST["AllowedEcsTargets"])
        return [
            n
            for n in self.names
            if oracle.settled(
                [oracle.expect(n, tags, target, allowed) for tags in [*self.history[n], self.tags[n]]]
            ).verdict
            is oracle.Verdict.ENROLLED
        ]

    def run_pipelines(self) -> int:
        pipelines = self.enrolled()
        listed = {
            p["name"]
            for page in self.sandbox.client("codepipeline").get_paginator("list_pipelines").paginate()
            for p in page["pipelines"]
        }
        # Its pipeline as AWS lists it, found by the name the README gives it (no id to compute).
        named = {n: next(iter(oracle.pipeline_of(n, listed)), None) for n in pipelines}
        started = 0
        while started < self.executions and pipelines:
            for name in pipelines:
                if started >= self.executions:
                    break
                roll = self.rand.random()
                if roll < 0.15:
                    outcomes = [TEST_FAILURE]
                elif roll < 0.35:
                    outcomes = [self.rand.choice([RATE_LIMIT, RESET])]
                elif roll < 0.42:
                    outcomes = [RATE_LIMIT] * 4  # outlasts any cap
                else:
                    outcomes = []
                pipeline = named[name]
                if outcomes and pipeline is not None:
                    self.sandbox.simulator.scripts.add(pipeline, "Build", outcomes)
                self.sandbox.push(name, f"change {started}")
                started += 1
            quiet(self.sandbox)
            print(f"    {started} executions started", file=sys.stderr, flush=True)
        return started


def run(
    seed: int, repos: int, executions: int, fault_rate: float, duplicate: float, sdk_attempts: int = 3
) -> Figures:
    figures = Figures(seed, repos)
    started = time.monotonic()
    with (
        scaled_sdk_backoff(0.02),
        Sandbox(parameters=FAST, log_level="INFO") as sandbox,
    ):
        for function in sandbox.functions.values():
            function.echo = False  # failures are counted, not printed; the log lines are read below
        # The SDK's own retries, as deployed functions have them (the sandbox's default is none).
        import os

        os.environ["AWS_MAX_ATTEMPTS"] = str(sdk_attempts)
        os.environ["SANDBOX_SDK_BACKOFF_SCALE"] = "0.02"  # in the functions' processes too
        scenario = Scenario(sandbox, seed, repos, executions)
        scenario.setup()
        sandbox.bus.disorder(seed, duplicate)
        sandbox.faults.configure([Rule(fault_rate)], seed)
        sandbox.faults.slow_seconds = 0.05  # a slow answer, at the sandbox's compressed time
        progress(started, f"seed {seed}: enrolling {repos} repositories")
        scenario.enroll()
        quiet(sandbox)
        progress(started, "re-tagging and unenrolling")
        scenario.retag()
        quiet(sandbox)
        progress(started, f"running {executions} executions")
        figures.executions = scenario.run_pipelines()
        quiet(sandbox, seconds=6.0)
        progress(started, "the incident is over: replaying dead letters, one resync, checking")
        figures.calls, figures.faults = sandbox.faults.calls, Counter(sandbox.faults.injected)
        sandbox.faults.configure([], seed)  # the incident is over: recover
        figures.dead_lettered = len(sandbox.bus.dead_letters)
        # CloudWatch's next period: the dead letters raise their alarm, told like everything else.
        figures.alarms_raised = changed(sandbox, "ALARM")
        quiet(sandbox)
        figures.replayed = replay(sandbox)
        quiet(sandbox)
        sandbox.run_schedules("EnrollFunction")
        quiet(sandbox)
        figures.alarms_resolved = changed(sandbox, "OK")
        quiet(sandbox)
        figures.events = sandbox.bus.delivered
        figures.duplicated = sandbox.bus.duplicated
        figures.retried = sandbox.bus.failed_attempts
        from sandbox import invariants

        figures.violations = invariants.check(sandbox, scenario.tags, history=scenario.history)
        figures.violations += alarm_violations(sandbox, figures)
        figures.authorized = len(sandbox._server.iam.recorder.decisions())
        figures.rival_updates = scenario.rival_updates
        figures.waited = waits(sandbox.functions["EnrollFunction"].logs)
    figures.seconds = time.monotonic() - started
    return figures


def waits(lines: list[str]) -> Counter[str]:
    """The enroll function's `reconciled` log records that waited on a stack: in progress when read,
    or refused as busy when written (the reason's wording, README "The sandbox")."""
    counted: Counter[str] = Counter()
    for line in lines:
        if '"wait"' not in line:
            continue
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("message") == "reconciled" and record.get("action") == "wait":
                reason = str(record.get("reason", ""))
                counted["busy" if reason.startswith("the stack is busy") else "in-progress"] += 1
    return counted


def changed(sandbox: Sandbox, state: str) -> list[str]:
    """Evaluate the queue-depth alarms: the names of those that went to `state`."""
    return sorted(
        e["detail"]["alarmName"] for e in sandbox.evaluate_alarms() if e["detail"]["state"]["value"] == state
    )


def alarm_violations(sandbox: Sandbox, figures: Figures) -> list[str]:
    """Every alarm raised was told, and once replay-dlq emptied its queue, told resolved."""
    told = [json.loads(m["Message"]) for m in sandbox.sns_messages()]
    alarms = Counter(
        ((m.get("detail") or {}).get("alarm"), m.get("state"))
        for m in told
        if m.get("event") == "CloudWatch Alarm State Change"
    )
    found = [
        f"alarm {name} raised but never told" for name in figures.alarms_raised if not alarms[(name, "ALARM")]
    ]
    found += [
        f"alarm {name} still in ALARM after replay-dlq"
        for name in figures.alarms_raised
        if sandbox.alarms.state(name) != "OK"
    ]
    found += [
        f"alarm {name} resolved but not told" for name in figures.alarms_resolved if not alarms[(name, "OK")]
    ]
    found += [f"alarm {name}/{state} told {n} times" for (name, state), n in alarms.items() if n > 1]
    return found


def progress(started: float, what: str) -> None:
    print(f"  [{time.monotonic() - started:5.0f} s] {what}", file=sys.stderr, flush=True)


def replay(sandbox: Sandbox) -> int:
    from cli.main import main as cli_main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli_main(["replay-dlq", "--endpoint-url", sandbox.url, "--region", REGION])
    line = next((row for row in out.getvalue().splitlines() if row.startswith("replayed ")), "replayed 0")
    return int(line.split()[1].rstrip(","))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandbox.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, action="append", help="repeatable (default: 1, 2, 3)")
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--executions", type=int, default=500)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--duplicate", type=float, default=0.1)
    parser.add_argument(
        "--sdk-attempts",
        type=int,
        default=3,
        help="tries per AWS call in the functions (3, the SDK's standard mode; 1 sends more to the DLQ)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    violations = 0
    for seed in args.seed or [1, 2, 3]:
        figures = run(seed, args.repos, args.executions, args.fault_rate, args.duplicate, args.sdk_attempts)
        figures.print()
        if args.json:
            print(JSON_MARK + json.dumps({**vars(figures), "faults": dict(figures.faults)}, default=str))
        violations += len(figures.violations)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
