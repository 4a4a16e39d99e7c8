"""The enroll handler driven by the sample events in events/, duplicated, reordered and malformed."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from sandbox.moto_ext import publish
from tests.conftest import World, sample_event

pytestmark = pytest.mark.integration


def invoke(world: World, event: Any) -> Any:
    result = world.sandbox.functions["EnrollFunction"].invoke(event)
    assert world.sandbox.wait_idle(30)
    return result


def retarget(event: dict[str, Any], repository: str, arn: str) -> dict[str, Any]:
    """A sample event rewritten to point at this test's repository."""
    out = copy.deepcopy(event)
    out["resources"] = [arn if r.endswith(":storefront") else r for r in out.get("resources", [])]
    params = out.get("detail", {}).get("requestParameters", {})
    if "resourceArn" in params:
        params["resourceArn"] = arn
    if "repositoryName" in params:
        params["repositoryName"] = repository
    if "resourceARNList" in params:
        params["resourceARNList"] = [
            arn if a.endswith(":storefront") else a for a in params["resourceARNList"]
        ]
    return out


@pytest.mark.parametrize(
    "sample",
    [
        "tag-change-enroll.json",
        "cloudtrail-tag-resource.json",
        "cloudtrail-create-repository.json",
        "cloudtrail-tag-editor-tag-resources.json",
    ],
)
def test_each_enrolling_sample_event_converges_the_repository(world: World, sample: str) -> None:
    # Given a tagged repository whose own events were lost
    world.service()
    publish.unsubscribe(world.sandbox.bus.put)
    try:
        repo, arn = world.repository(tags=world.enroll_tags())
    finally:
        publish.subscribe(world.sandbox.bus.put)
    assert world.pipeline(repo) is None
    # When the sample event, pointed at it, reaches the handler
    result = invoke(world, retarget(sample_event(sample), repo, arn))
    # Then the repository is enrolled
    assert result["status"] == "reconciled"
    assert world.pipeline(repo) is not None


@pytest.mark.parametrize(
    "sample",
    ["tag-change-unenroll.json", "cloudtrail-untag-resource.json", "cloudtrail-delete-repository.json"],
)
def test_each_unenrolling_sample_event_tears_down_when_tags_say_so(world: World, sample: str) -> None:
    world.service()
    repo, arn = world.repository(tags=world.enroll_tags())
    assert world.sandbox.wait_idle(30)
    publish.unsubscribe(world.sandbox.bus.put)
    try:
        if "delete" in sample:
            world.sandbox.client("codecommit").delete_repository(repositoryName=repo)
        else:
            world.sandbox.client("codecommit").untag_resource(resourceArn=arn, tagKeys=["pipewarden:enabled"])
    finally:
        publish.subscribe(world.sandbox.bus.put)
    assert world.pipeline(repo) is not None
    invoke(world, retarget(sample_event(sample), repo, arn))
    assert world.pipeline(repo) is None


def test_scheduled_event_runs_a_resync(world: World) -> None:
    result = invoke(world, sample_event("scheduled-resync.json"))
    assert result["status"] == "resynced"
    assert not result["errors"]


def test_stack_status_sample_for_an_unknown_stack_is_ignored(world: World) -> None:
    result = invoke(world, sample_event("stack-status-create-complete.json"))
    assert result == {"status": "ignored"}


@pytest.mark.parametrize(
    "event",
    [
        None,
        "not an event",
        {},
        {"detail-type": "Tag Change on Resource", "detail": {}, "resources": ["arn:aws:s3:::bucket"]},
        {"detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": "TagResource"}},
        {
            "detail-type": "AWS API Call via CloudTrail",
            "detail": {"eventName": "PutFile", "requestParameters": {}},
        },
        {"detail-type": "CloudFormation Stack Status Change", "detail": {"stack-id": 7}},
        {"detail-type": "Something Else", "detail": {}},
        {
            "detail-type": "Tag Change on Resource",
            "detail": {},
            "resources": ["arn:aws:codecommit:us-east-1:1:bad name!"],
        },
    ],
)
def test_malformed_event_is_reported_not_retried(world: World, event: Any) -> None:
    before = len(world.sandbox.pipewarden_events("Invalid Event Received"))
    result = invoke(world, event)  # returns instead of raising: no retry of a poison event
    assert result["status"] == "invalid"
    reported = world.sandbox.pipewarden_events("Invalid Event Received")
    assert len(reported) == before + 1
    assert reported[-1]["detail"]["reason"] == result["reason"]


def capture(world: World, change: Any) -> list[dict[str, Any]]:
    """Make a change with the bus disconnected; return the events AWS emitted for it."""
    captured: list[dict[str, Any]] = []
    publish.unsubscribe(world.sandbox.bus.put)
    publish.subscribe(captured.append)
    try:
        change()
    finally:
        publish.unsubscribe(captured.append)
        publish.subscribe(world.sandbox.bus.put)
    return [e for e in captured if e["source"] in ("aws.tag", "aws.codecommit")]


ORDERS = list(itertools.permutations(range(3)))


@pytest.mark.parametrize("order", ORDERS, ids=["".join(map(str, o)) for o in ORDERS])
@pytest.mark.parametrize("doubled", [False, True], ids=["once", "twice"])
@pytest.mark.parametrize("final", ["tagged", "untagged"])
def test_duplicate_late_and_reordered_events_converge_on_the_final_tags(
    world: World, order: tuple[int, ...], doubled: bool, final: str
) -> None:
    # Given tag, untag and retag happened (or tag, retag, untag), with their events held back
    world.service()
    repo, arn = world.repository()
    codecommit = world.sandbox.client("codecommit")
    tag = lambda: codecommit.tag_resource(resourceArn=arn, tags=world.enroll_tags())  # noqa: E731
    untag = lambda: codecommit.untag_resource(resourceArn=arn, tagKeys=["pipewarden:enabled"])  # noqa: E731
    steps = [tag, untag, tag] if final == "tagged" else [tag, tag, untag]
    groups = [capture(world, step) for step in steps]
    # When they are delivered in any order, each possibly twice
    for index in order:
        for event in groups[index] * (2 if doubled else 1):
            invoke(world, event)
    # Then the pipeline matches the final tags
    assert (world.pipeline(repo) is not None) == (final == "tagged")
    stacks = world.sandbox.client("cloudformation").describe_stacks()["Stacks"]
    assert len([s for s in stacks if s["StackName"] == f"pipewarden-{repo}"]) == (
        1 if final == "tagged" else 0
    )
    assert not world.sandbox.bus.dead_letters
