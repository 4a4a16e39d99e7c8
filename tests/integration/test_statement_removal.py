"""Take one statement out of a function's policy, as a template.yaml without it would deploy, and what
the function does breaks, as it would on AWS (test_zz_iam_coverage.py shows it for every statement;
here it is shown for three, each end to end)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest

from pipewarden.naming import pipeline_name
from sandbox.executions import Outcome
from sandbox.runtime import Sandbox
from tests.conftest import World

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def without(sandbox: Sandbox, function: str, sid: str) -> Iterator[list[str]]:
    """The function's role without the statement `sid` (its policy as deployed otherwise), then restored.

    Yields a list that, when the block ends, holds the actions the role was refused meanwhile.
    """
    iam = sandbox.client("iam")
    role = sandbox.functions[function].role_arn.rsplit("/", 1)[-1]
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        original = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        document = json.loads(original) if isinstance(original, str) else original
        kept = [s for s in document["Statement"] if s.get("Sid") != sid]
        if len(kept) < len(document["Statement"]):
            iam.put_role_policy(
                RoleName=role, PolicyName=name, PolicyDocument=json.dumps({**document, "Statement": kept})
            )
            recorder = sandbox._server.iam.recorder
            arn = sandbox.functions[function].role_arn
            before = len(recorder.decisions(arn))
            refused: list[str] = []
            try:
                yield refused
            finally:
                sandbox.wait_idle(30)
                iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
                refused.extend(r.action for r in recorder.decisions(arn)[before:] if not r.allowed)
                # What the broken role was refused is this test's to check, not the whole run's
                # (test_zz_iam_coverage.py checks that pipewarden's roles were refused nothing).
                recorder.forget_after(arn, before)
            return
    raise AssertionError(f"{function} has no statement {sid}")


def test_without_its_ecr_statement_the_enroll_function_cannot_check_ownership(world: World) -> None:
    world.service()
    repo, arn = world.repository()
    with without(world.sandbox, "EnrollFunction", "CheckOwnershipOfEcrRepositories") as refused:
        world.tag(arn, world.enroll_tags())
    assert world.stack(repo) is None  # no pipeline
    assert "ecr:DescribeRepositories" in refused
    world.sandbox.bus.dead_letters.clear()  # expected here: later tests check that nothing else was


def test_without_its_queue_statement_the_retry_function_schedules_no_retry(world: World) -> None:
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags())
    pipeline = pipeline_name(repo)
    world.sandbox.simulator.scripts.add(pipeline, "Build", [Outcome(log=["toomanyrequests: rate limit"])])
    with without(world.sandbox, "RetryFunction", "QueueDecisions") as refused:
        world.push(repo, "hits a rate limit")
        execution = world.sandbox.wait_for_execution(pipeline)
    assert execution["status"] == "Failed"  # and stays failed: the retry was never queued
    assert not world.pipeline_events(pipeline, "Stage Retry Scheduled")
    assert "sqs:SendMessage" in refused
    world.sandbox.bus.dead_letters.clear()


def test_without_its_delete_statement_the_prune_function_deletes_nothing(world: World) -> None:
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags(keep_executions="1"))
    pipeline = pipeline_name(repo)
    with without(world.sandbox, "PruneFunction", "DeleteArtifacts") as refused:
        for n in range(3):
            world.push(repo, f"change {n}")
            world.sandbox.wait_for_execution(pipeline)
        world.sandbox.wait_idle(30)
    bucket = world.sandbox.outputs["ArtifactBucketName"]
    pages = (
        world.sandbox.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix=f"{pipeline[:20]}/")
    )
    assert (
        len([o for page in pages for o in page.get("Contents", [])]) >= 6
    )  # all three executions' artifacts
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion"} & set(refused)
    world.sandbox.bus.dead_letters.clear()
