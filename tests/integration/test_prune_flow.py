"""Pruning over HTTP against the sandbox, as the acceptance describes it: 15 executions, keep 5."""

from __future__ import annotations

from typing import Any

import pytest

from cli.main import main
from pipewarden.naming import pipeline_name
from sandbox.executions import Outcome
from tests.conftest import World

pytestmark = pytest.mark.integration

TEST_FAILURE = Outcome(log=["FAIL src/cart.test.js", "Tests: 1 failed, 41 passed, 42 total"])
DEPLOY_REFUSED = Outcome(code="ConfigurationError", message="The service web is not ACTIVE")


def objects(world: World) -> set[str]:
    s3 = world.sandbox.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=world.sandbox.outputs["ArtifactBucketName"])
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def prune(world: World, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(
        ["prune", "--endpoint-url", world.sandbox.url, "--region", "us-east-1", "--grace-hours", "0", *extra]
    )
    return code, capsys.readouterr().out


def retry_and_wait(world: World, pipeline: str, execution_id: str, stage: str) -> dict[str, Any]:
    world.sandbox.client("codepipeline").retry_stage_execution(
        pipelineName=pipeline, stageName=stage, pipelineExecutionId=execution_id, retryMode="FAILED_ACTIONS"
    )
    return world.sandbox.wait_for_execution(pipeline, execution_id)


def test_after_15_executions_prune_keeps_the_last_5_and_retries_still_find_their_artifacts(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 15 executions with keep-executions=5: the 10th fails to deploy, the last five fail a test
    world.service()
    repo, arn = world.repository()
    # (kept whole until they have run: the prune function prunes when each ends)
    world.tag(arn, world.enroll_tags(keep_executions="15"))
    pipeline = pipeline_name(repo)
    scripts = world.sandbox.simulator.scripts
    for n in range(1, 16):
        if n == 10:
            scripts.add(pipeline, "Deploy", [DEPLOY_REFUSED])
        if n > 10:
            scripts.add(pipeline, "Build", [TEST_FAILURE])
        world.push(repo, f"change {n}")
        world.sandbox.wait_for_execution(pipeline)
    world.eventually(lambda: len(world.pipeline_events(pipeline, "Failure Not Retried")) == 6)
    runs = world.executions(pipeline)  # newest first
    assert len(runs) == 15
    last_five = [r["pipelineExecutionId"] for r in runs[:5]]
    tenth = runs[5]["pipelineExecutionId"]
    needed = set().union(*(world.sandbox.execution_keys(pipeline, e) for e in [*last_five, tenth]))
    world.tag(arn, {"pipewarden:keep-executions": "5"})
    before = objects(world)

    # When the plan is printed with the default grace period, nothing this young is touched
    assert main(["prune", "--dry-run", "--endpoint-url", world.sandbox.url, "--region", "us-east-1"]) == 0
    assert "younger than 24 h" in capsys.readouterr().out
    # When the plan is printed, then carried out
    code, plan = prune(world, capsys, "--dry-run")
    assert code == 0
    listed = {line.split("would delete: ", 1)[1] for line in plan.splitlines() if "would delete: " in line}
    assert listed and objects(world) == before
    code, _ = prune(world, capsys)
    assert code == 0

    # Then exactly the listed objects are gone, and everything the last 5 and the retryable 10th need remains
    after = objects(world)
    assert before - after == listed
    assert needed <= after
    assert world.sandbox.pipewarden_events("Artifacts Pruned")
    # and retrying the failed deploy of the 10th execution, and the last execution's build, still works
    assert retry_and_wait(world, pipeline, tenth, "Deploy")["status"] == "Succeeded"
    assert retry_and_wait(world, pipeline, last_five[0], "Build")["status"] == "Succeeded"


def test_the_prune_function_prunes_a_pipeline_when_its_execution_ends(world: World) -> None:
    # Given a pipeline that keeps one execution's artifacts (and no grace period, as in this sandbox)
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags(keep_executions="1"))
    pipeline = pipeline_name(repo)
    # When three executions run, each ending with the prune function's pass over the pipeline
    runs = []
    for n in range(3):
        world.push(repo, f"change {n}")
        runs.append(world.sandbox.wait_for_execution(pipeline)["pipelineExecutionId"])
    world.sandbox.wait_idle(30)
    # Then only the last execution's artifacts remain under its prefix
    mine = {key for key in objects(world) if key.startswith(f"{pipeline[:20]}/")}
    assert mine == world.sandbox.execution_keys(pipeline, runs[-1])
    pruned = world.sandbox.pipewarden_events("Artifacts Pruned")
    assert sum(e["detail"]["objects-deleted"] for e in pruned if pipeline in e["detail"]["pipelines"]) >= 4


def test_pruning_one_pipeline_leaves_other_prefixes_alone(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    first, first_arn = world.repository("alpha")
    second, second_arn = world.repository("beta")
    for repo, arn in ((first, first_arn), (second, second_arn)):
        world.service(service=f"web-{repo}", owner=repo)
        world.tag(arn, world.enroll_tags(service=f"web-{repo}"))
        for n in range(3):
            world.push(repo, f"{repo} {n}")
            world.sandbox.wait_for_execution(pipeline_name(repo))
        # Keeping fewer from now on: the prune function prunes when an execution ends, not on a tag change
        world.tag(arn, {"pipewarden:keep-executions": "1"})
    before = objects(world)
    code, _ = prune(world, capsys, "--pipeline", pipeline_name(first))
    assert code == 0
    gone = before - objects(world)
    assert gone and all(key.startswith(pipeline_name(first)[:20]) for key in gone)


# One sandbox per process (moto's state is global): the template's defaults run in a process of their own.
DEFAULTS_SCRIPT = """
import json
from sandbox import fleet
from sandbox.runtime import Sandbox

with Sandbox(parameters={**fleet.PARAMETERS, "PruneGraceHours": "0"}, stack_seconds=0.1) as sandbox:
    pipeline = fleet.enroll(sandbox, "quiet-prune", keep_executions="1")
    runs = []
    for n in range(3):
        sandbox.push("quiet-prune", f"change {n}")
        runs.append(sandbox.wait_for_execution(pipeline)["pipelineExecutionId"])
    sandbox.wait_idle(30)
    s3 = sandbox.client("s3")
    bucket = sandbox.outputs["ArtifactBucketName"]
    before = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    invoked = sandbox.functions["PruneFunction"].cold_starts
    events_before = len(sandbox.pipewarden_events("Artifacts Pruned"))
    sandbox.run_schedules("PruneFunction")
    sandbox.wait_idle(30)
    after = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    print(json.dumps({
        "invoked": invoked, "events_before": events_before, "before": before, "after": after,
        "all_runs": sorted(set().union(*(sandbox.execution_keys(pipeline, r) for r in runs))),
        "last_run": sorted(sandbox.execution_keys(pipeline, runs[-1])),
        "events": [e["detail"] for e in sandbox.pipewarden_events("Artifacts Pruned")],
        "emf": sum('"_aws"' in line for f in sandbox.functions.values() for line in f.logs),
        "invocations": sum(f.cold_starts for f in sandbox.functions.values()),
    }))
"""


def test_with_the_template_defaults_an_execution_end_prunes_nothing_and_no_metric_is_published() -> None:
    # Given the controller deployed with the template's defaults (PruneOnExecutionEnd=DISABLED: the
    # ExecutionEnded rule exists but is disabled), no grace period, a pipeline keeping one execution
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "layers/pipewarden"), str(root)]))
    # When three executions end, and then the schedule runs
    out = subprocess.run(  # noqa: S603 - this interpreter with the script above
        [sys.executable, "-c", DEFAULTS_SCRIPT],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    # Then no execution end invoked the prune function: every execution's artifacts were still there
    assert seen["invoked"] == 0 and seen["events_before"] == 0
    assert set(seen["before"]) >= set(seen["all_runs"])
    # And the scheduled run pruned all but the last execution's artifacts in one pass over the bucket
    assert seen["after"] == seen["last_run"]
    (event,) = seen["events"]
    assert event["scope"] == "all" and event["objects-deleted"] >= 4
    # And with DetailedMetrics=false (the default) no function published a metric (no EMF in any log)
    assert seen["invocations"] > 0 and seen["emf"] == 0
