"""Benchmarks of pruning, in the sandbox.

1. 10,000 and 100,000 stale objects across 20 pipelines: list and DeleteObjects calls (floor: one of
   each per 1,000 objects), wall time, and the pruning process's peak memory.
2. Side by side on the same objects in the same sandbox: `aws s3 rm --recursive` over the prunable
   prefixes versus pipewarden's prune: time ratio and requests served.

Run: make bench   (or .venv/bin/python bench/prune.py [--sizes 10000,100000] [--side-by-side 10000])
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pipewarden.naming import pipeline_name
from sandbox.figures import figure
from sandbox.fleet import PARAMETERS, deploy_target, enroll_tags
from sandbox.runtime import ACCOUNT, Sandbox

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = 20
WORKER = """
import datetime, json, os, time
from pipewarden.aws import Clients
from pipewarden.config import PruneConfig
from pipewarden.prune import Pruner
started = time.perf_counter()
report = Pruner(PruneConfig(os.environ["BUCKET"], grace=datetime.timedelta(0)), Clients()).run()
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "deleted": report.total().objects_deleted,
    "list_calls": report.list_calls,
    "delete_calls": report.delete_calls,
    # VmHWM: this process's own peak (ru_maxrss would include the forking parent's, kept across exec)
    "peak_mib": int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024,
    "errors": report.errors[:3],
}))
"""


def fleet(sandbox: Sandbox) -> list[str]:
    """20 enrolled pipelines (their stacks really created), whose prefixes the stale objects sit under."""
    codecommit = sandbox.client("codecommit")
    names = []
    for i in range(PIPELINES):
        repo = f"service-{i:02d}"
        cluster, service = deploy_target(sandbox, repo, service=repo, roles=False)
        codecommit.create_repository(repositoryName=repo, tags=enroll_tags(cluster, service))
        names.append(pipeline_name(repo))
    sandbox.wait_idle(120)
    return names


def stale_objects(bucket: str, pipelines: list[str], count: int) -> None:
    """Artifacts no execution references, written straight into the sandbox's S3 (fast setup)."""
    from moto.s3.models import s3_backends

    s3 = s3_backends[ACCOUNT]["aws"]
    for i in range(count):
        name = pipelines[i % len(pipelines)]
        s3.put_object(bucket, f"{name[:20]}/BuildOutpu/{i:08d}", b"x" * 512)


def run_pruner(sandbox: Sandbox, bucket: str) -> dict[str, Any]:
    env = dict(os.environ, BUCKET=bucket, PYTHONPATH=f"{ROOT / 'layers/pipewarden'}:{ROOT}")
    out = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def prune_figures(sizes: list[int]) -> None:
    print(f"Pruning N stale objects across {PIPELINES} pipelines (versioned artifact bucket, grace 0)")
    columns = f"{'objects':>8} {'deleted':>8} {'list calls':>10} {'DeleteObjects':>13} {'wall time':>9}"
    print(f"  {columns} {'peak memory':>11}")
    for size in sizes:
        with Sandbox(parameters=PARAMETERS) as sandbox:
            pipelines = fleet(sandbox)
            bucket = sandbox.outputs["ArtifactBucketName"]
            stale_objects(bucket, pipelines, size)
            result = run_pruner(sandbox, bucket)
            print(
                f"  {size:>8} {result['deleted']:>8} {result['list_calls']:>10} {result['delete_calls']:>13} "
                f"{result['seconds']:>8.1f}s {result['peak_mib']:>8.1f} MiB"
            )
            figure(
                f"prune {size:,} stale objects",
                f"{result['list_calls']} list + {result['delete_calls']} DeleteObjects calls, "
                f"{result['seconds']:.1f} s, {result['peak_mib']:.1f} MiB peak",
                f"{size / max(result['list_calls'] + result['delete_calls'], 1):.0f} objects per call",
            )


def s3_requests(sandbox: Sandbox, bucket: str) -> Counter[str]:
    """Requests the sandbox served for the bucket, by kind (path-style S3: /bucket/...)."""
    counted: Counter[str] = Counter()
    for kind, count in sandbox._server.requests.items():
        method, segment, query = kind.split(" ", 2)
        if segment == bucket:
            counted[f"{method} {query}"] += count
    return counted


def side_by_side(size: int) -> None:
    aws = shutil.which("aws")
    print(
        f"\nSide by side on the same {size} objects: `aws s3 rm --recursive` per prefix vs pipewarden prune"
    )
    if aws is None:
        print("  skipped: no `aws` CLI on PATH")
        return
    with Sandbox(parameters=PARAMETERS) as sandbox:
        pipelines = fleet(sandbox)
        bucket = "pipewarden-bench-side-by-side"
        sandbox.client("s3").create_bucket(Bucket=bucket)
        env = dict(os.environ, **sandbox.client_environment())
        stale_objects(bucket, pipelines, size)
        before = s3_requests(sandbox, bucket)
        started = time.perf_counter()
        for prefix in sorted({p[:20] for p in pipelines}):
            subprocess.run(
                [
                    aws,
                    "s3",
                    "rm",
                    f"s3://{bucket}/{prefix}/",
                    "--recursive",
                    "--quiet",
                    "--endpoint-url",
                    sandbox.url,
                ],
                check=True,
                env=env,
            )
        rm_seconds = time.perf_counter() - started
        rm_requests = s3_requests(sandbox, bucket) - before
        left = sandbox.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount", 0)
        stale_objects(bucket, pipelines, size)  # the same objects again
        before = s3_requests(sandbox, bucket)
        result = run_pruner(sandbox, bucket)
        ours = s3_requests(sandbox, bucket) - before
        rm_total = sum(rm_requests.values())
        print(f"  aws s3 rm --recursive: {rm_seconds:7.1f} s, {rm_total} requests {dict(rm_requests)}")
        print(f"  objects left after aws s3 rm: {left}")
        print(
            f"  pipewarden prune:      {result['seconds']:7.1f} s, {sum(ours.values())} requests {dict(ours)}"
        )
        print(f"  pipewarden is {rm_seconds / result['seconds']:.1f}x faster (goal: >= 10x)")
        figure(
            f"prune vs aws s3 rm --recursive, {size:,} objects",
            f"{result['seconds']:.1f} s, {sum(ours.values())} requests",
            f"{rm_seconds / result['seconds']:.1f}x faster than {rm_seconds:.1f} s / {rm_total} requests",
            ">= 10x",
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--side-by-side", type=int, default=10000)
    args = parser.parse_args()
    prune_figures([int(s) for s in args.sizes.split(",")])
    side_by_side(args.side_by_side)
    return 0


if __name__ == "__main__":
    sys.exit(main())
