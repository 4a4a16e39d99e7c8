"""Benchmarks of the enroll function: cold start, calls per reconcile, resync at 100 and 1,000 repositories.

Prints figures and ratios against baselines measured in the same run; asserts nothing about time.
Run: make bench   (or .venv/bin/python bench/enroll.py [--sizes 100,1000] [--repeat 7])
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sandbox import fleet
from sandbox.figures import figure

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers/pipewarden"

BOTO3 = "import boto3"
TIMER = "import time, sys\nt = time.perf_counter()\n{stmt}\nprint(time.perf_counter() - t)"


def import_seconds(stmt: str, path: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path), PYTHONDONTWRITEBYTECODE="")
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # a client needs a region (Lambda sets AWS_REGION)
    out = subprocess.run(  # a fresh interpreter each time: what a Lambda cold start pays
        [sys.executable, "-c", TIMER.format(stmt=stmt)], capture_output=True, text=True, check=True, env=env
    )
    return float(out.stdout.strip())


# The client each handler builds first on its main path: what its first invocation pays on top of imports.
FIRST_CLIENT = {"enroll": "codecommit", "notify": "codepipeline", "prune": "tagging", "retry": "codepipeline"}
FIRST_CALL = "import app\nfrom pipewarden.aws import Clients\nClients().{service}"
# Tracing: Active with Powertools' Tracer patching boto3, as the house style's decorator stack would.
TRACED = "import app\nfrom aws_lambda_powertools import Tracer\nTracer(service='x', patch_modules=['boto3'])"


def cold_start(repeat: int) -> None:
    print("Cold start: importing each handler module vs `import boto3`, fresh interpreter, median of", repeat)
    handlers = sorted((ROOT / "functions").glob("*/app.py"))
    baseline: list[float] = []
    timings: dict[str, dict[str, list[float]]] = {
        h.parent.name: {"import": [], "first client": [], "with Tracer": []} for h in handlers
    }
    import_seconds(BOTO3, [str(LAYER)])  # warm the file cache once for both sides
    for _ in range(repeat):
        baseline.append(import_seconds(BOTO3, [str(LAYER)]))
        for handler in handlers:
            name, path = handler.parent.name, [str(handler.parent), str(LAYER)]
            timings[name]["import"].append(import_seconds("import app", path))
            stmt = FIRST_CALL.format(service=FIRST_CLIENT[name])
            timings[name]["first client"].append(import_seconds(stmt, path))
            timings[name]["with Tracer"].append(import_seconds(TRACED, path))
    base = statistics.median(baseline)
    print(f"  {'import boto3':<22} {base * 1000:8.1f} ms   1.00x  (baseline)")
    for name, kinds in timings.items():
        median = statistics.median(kinds["import"])
        first = statistics.median(kinds["first client"])
        traced = statistics.median(kinds["with Tracer"])
        print(
            f"  {'functions/' + name:<22} {median * 1000:8.1f} ms   {median / base:4.2f}x  (goal <= 1.30x);"
            f" + first {FIRST_CLIENT[name]} client {first * 1000:6.1f} ms {first / base:4.2f}x;"
            f" with a Tracer {traced * 1000:6.1f} ms {traced / base:4.2f}x"
        )
        figure(
            f"cold start: import functions/{name}",
            f"{median * 1000:.1f} ms",
            f"{median / base:.2f}x import boto3 ({base * 1000:.1f} ms)",
            "<= 1.30x",
        )
        figure(
            f"cold start + first client: functions/{name}",
            f"{first * 1000:.1f} ms",
            f"{first / base:.2f}x import boto3 (the {FIRST_CLIENT[name]} client)",
        )
        figure(
            f"cold start with a Tracer: functions/{name}",
            f"{traced * 1000:.1f} ms",
            f"{traced / base:.2f}x import boto3 (why tracing is off)",
        )


def reconcile_calls() -> None:
    from pipewarden.aws import Clients
    from pipewarden.config import ControllerConfig
    from pipewarden.emit import Emitter
    from pipewarden.reconcile import Reconciler
    from sandbox.calls import CallCounter
    from sandbox.runtime import Sandbox

    with Sandbox(parameters=fleet.PARAMETERS) as sandbox:
        fleet.enroll(sandbox, "bench-one")
        sandbox.wait_idle(60)
        counter = CallCounter(sandbox)
        config = ControllerConfig.from_env(os.environ)
        clients = Clients(counter)
        decision = Reconciler(config, clients, Emitter(lambda: clients.events, "default")).reconcile(
            "bench-one"
        )
        print("\nOne repository's reconcile when nothing changed (goal: <= 3 calls, 0 writes)")
        print(
            f"  decision {decision.action.value}: {sum(counter.calls.values())} calls "
            f"({counter.reads} reads, {counter.writes} writes): {dict(sorted(counter.calls.items()))}"
        )
        figure(
            "reconcile, nothing changed",
            f"{sum(counter.calls.values())} calls, {counter.writes} writes",
            "",
            "<= 3 calls, 0 writes",
        )


def resync_at(sizes: list[int]) -> None:
    from pipewarden.aws import Clients
    from pipewarden.config import ControllerConfig
    from pipewarden.emit import Emitter
    from pipewarden.reconcile import Reconciler
    from pipewarden.resync import resync
    from sandbox.calls import CallCounter
    from sandbox.moto_ext import publish
    from sandbox.runtime import Sandbox

    print("\nResync with nothing changed (goal at 1,000 repositories: <= 30 read calls, 0 writes)")
    columns = ("repositories", "read calls", "writes", "wall time", "first pass (creates)")
    print("  " + " ".join(f"{c:>{w}}" for c, w in zip(columns, (12, 10, 6, 10, 21), strict=True)))
    for size in sizes:
        # Stacks finish within their calls here: the figure is the resync's calls, not CloudFormation's pace.
        with Sandbox(parameters=fleet.PARAMETERS, stack_seconds=0) as sandbox:
            codecommit = sandbox.client("codecommit")
            publish.unsubscribe(sandbox.bus.put)  # build the fleet without routing its events
            for i in range(size):
                cluster, service = fleet.deploy_target(
                    sandbox, f"bench-{i:04d}", service=f"bench-{i:04d}", roles=False
                )
                codecommit.create_repository(
                    repositoryName=f"bench-{i:04d}", tags=fleet.enroll_tags(cluster, service)
                )

            def reconciler(counter: CallCounter) -> Reconciler:
                clients = Clients(counter)
                config = ControllerConfig.from_env(os.environ)
                return Reconciler(config, clients, Emitter(lambda: clients.events, config.event_bus))

            started = time.perf_counter()
            first = resync(reconciler(CallCounter(sandbox)))
            assert sandbox.wait_idle(600)  # stacks take time: every create done before the second pass
            first_took = time.perf_counter() - started
            assert first.actions.get("create") == size, first.actions
            counter = CallCounter(sandbox)
            started = time.perf_counter()
            report = resync(reconciler(counter))
            took = time.perf_counter() - started
            assert report.actions == {"nothing": size}, report.actions
            print(
                f"  {size:>12} {counter.reads:>10} {counter.writes:>6} {took:>9.2f}s {first_took:>20.1f}s"
                f"   {dict(sorted(counter.calls.items()))}"
            )
            figure(
                f"resync, nothing changed, {size:,} repositories",
                f"{counter.reads} reads, {counter.writes} writes, {took:.2f} s",
                f"{counter.reads / size:.3f} reads per repository",
                "<= 30 reads, 0 writes" if size == 1000 else "",
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100,1000", help="fleet sizes for the resync figures")
    parser.add_argument("--repeat", type=int, default=7, help="cold-start samples per module")
    args = parser.parse_args()
    cold_start(args.repeat)
    reconcile_calls()
    resync_at([int(s) for s in args.sizes.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
