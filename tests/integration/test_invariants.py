"""The chaos invariants catch what they promise to: a clean enrollment passes, each kind of damage is named."""

from __future__ import annotations

import json

import pytest

from pipewarden.naming import pipeline_name, stack_name
from sandbox import invariants
from sandbox.executions import Outcome
from sandbox.iam.enforce import Record, Recorder
from tests.conftest import World

pytestmark = pytest.mark.integration


def test_each_kind_of_damage_is_named(world: World) -> None:
    sandbox = world.sandbox
    world.service(owner=world.name("chaos-inv"))
    repo, arn = world.repository("chaos-inv")
    tags = world.enroll_tags(notify="all", max_retries="1", keep_executions="1")
    world.tag(arn, tags)
    pipeline = pipeline_name(repo)
    sandbox.simulator.scripts.add(pipeline, "Build", [Outcome(log=["FAIL a.test.js"])])
    world.push(repo, "breaks a test")
    world.eventually(lambda: world.pipeline_events(pipeline, "Failure Not Retried"))
    world.sandbox.wait_idle(30)
    mine = {repo: tags}
    assert invariants.check(sandbox, mine, iam=False) == []

    told = next(
        json.loads(m["Message"])
        for m in sandbox.sns_messages()
        if json.loads(m["Message"]).get("pipeline") == pipeline
    )
    sandbox.client("sns").publish(
        TopicArn=sandbox.outputs["NotificationTopicArn"], Message=json.dumps(told), Subject="again"
    )
    run = world.executions(pipeline)[0]["pipelineExecutionId"]
    kept = sorted(sandbox.execution_keys(pipeline, run))[0]
    bucket = sandbox.outputs["ArtifactBucketName"]
    marker = sandbox.client("s3").delete_object(Bucket=bucket, Key=kept)["VersionId"]
    found = invariants.check(sandbox, mine, iam=False)
    assert f"told 2 times: {told['key']}" in found
    assert f"{pipeline} {run[:8]}: kept artifact {kept} deleted" in found
    sandbox.client("s3").delete_object(Bucket=bucket, Key=kept, VersionId=marker)  # the object is back

    def publish(body: dict[str, object]) -> None:
        sandbox.client("sns").publish(
            TopicArn=sandbox.outputs["NotificationTopicArn"], Message=json.dumps(body), Subject="s"
        )

    # A retry announced that AWS's record shows neither made nor called off (a stale promise)
    where = {"execution-id": run, "stage": "Build"}
    publish(dict(told, key="k-scheduled", event="Stage Retry Scheduled", detail=dict(where, attempt=1)))
    # A rejection that stands, told again under other keys (a resync's repeats): once is news, once
    # more is allowed per enrollment of the repository in between (this one was enrolled once)
    standing = {"event": "Repository Enrollment Rejected", "repository": repo}
    for key in ("k-1", "k-2", "k-3"):
        publish(dict(standing, key=key, detail={"fingerprint": "0123456789abcdef"}))
    found = invariants.check(sandbox, mine, iam=False)
    assert f"announced retry 1 never made nor called off: {pipeline} {run[:8]}" in found
    assert f"told 3 times while it stood: {repo} 0123456789abcdef" in found
    # A retry told "not started" that AWS's record shows was made (a duplicate's message)
    codepipeline = sandbox.client("codepipeline")
    sandbox.simulator.scripts.add(pipeline, "Build", [])
    codepipeline.retry_stage_execution(
        pipelineName=pipeline, stageName="Build", pipelineExecutionId=run, retryMode="FAILED_ACTIONS"
    )
    world.eventually(lambda: len(world.action_runs(pipeline, run, "Build")) == 2)
    world.sandbox.wait_idle(30)
    publish(dict(told, key="k-skipped", event="Stage Retry Skipped", detail=dict(where, attempt=1)))
    found = invariants.check(sandbox, mine, iam=False)
    assert any(
        f.startswith(f"told retry 1 not started, yet it ran: {pipeline} {run[:8]} Build") for f in found
    )

    sandbox.client("codepipeline").delete_pipeline(name=pipeline)
    changed = dict(mine[repo], **{"pipewarden:compute": "large"})
    found = invariants.check(sandbox, {repo: changed}, iam=False)
    assert f"{stack_name(repo)}: stack without its pipeline or build project (half-built)" in found
    assert f"{repo}: stack's resources differ from the tags: compute" in found
    world.untag(arn, ["pipewarden:enabled"])  # leave nothing half-built for later tests

    orphan = f"pipewarden-chaos-orphan-{world.suffix}"
    codebuild = sandbox.client("codebuild")
    codebuild.create_project(
        name=orphan,
        source={"type": "S3", "location": "bucket/source.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "x", "computeType": "BUILD_GENERAL1_SMALL"},
        serviceRole="arn:aws:iam::123456789012:role/x",
    )
    assert f"orphaned build project {orphan}" in invariants.check(sandbox, {}, iam=False)
    codebuild.delete_project(name=orphan)


def test_a_call_iam_denied_is_named() -> None:
    recorder = Recorder()
    role = "arn:aws:iam::123456789012:role/pipewarden-PruneFunctionRole-1"
    recorder.record(role, Record("s3:DeleteObject", "arn:aws:s3:::b/k", True, ()))
    violations: list[str] = []
    invariants.never_denied(recorder, violations)
    assert violations == []
    recorder.record(role, Record("s3:DeleteObject", "arn:aws:s3:::b/k", False, ()))
    recorder.unmapped_request("s3 GET /b: no operation")
    invariants.never_denied(recorder, violations)
    assert violations == [
        "IAM denied 1 time(s): pipewarden-PruneFunctionRole-1: s3:DeleteObject",
        "IAM could not authorize: s3 GET /b: no operation",
    ]
