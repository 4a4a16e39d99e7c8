"""CloudFormation takes time in the sandbox, as in AWS: stacks are *_IN_PROGRESS between the call and the outcome.

Sources for what AWS does (also cited where the sandbox implements it, sandbox/moto_ext/cloudformation.py):
- stack status codes and their order:
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html#cfn-console-view-stack-data-resources-status-codes
- UpdateStack on a busy stack: ValidationError "Stack:<arn> is in UPDATE_IN_PROGRESS state and can not be
  updated." (reported verbatim: github.com/stratospheric-dev/stratospheric/issues/21)
- DeleteStack during an update: ValidationError "Stack [<arn>] cannot be deleted while in status
  UPDATE_IN_PROGRESS" (github.com/aws-solutions-library-samples/guidance-for-clickstream-analytics-on-aws/issues/573)
- stack status events on EventBridge, detail-type "CloudFormation Stack Status Change":
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/eventbridge-integration.html
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pipewarden.aws import Conflict, translate
from sandbox import fleet
from sandbox.moto_ext import cloudformation as cloudformation_ext
from sandbox.runtime import Sandbox
from tests.conftest import World

pytestmark = pytest.mark.integration

TEMPLATE = json.dumps(
    {
        "Parameters": {"Size": {"Type": "String", "Default": "1"}},
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "AWS::StackName"}}}
        },
        "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}},
    }
)


@pytest.fixture
def slow_stacks() -> Iterator[float]:
    """Stack operations that stay in progress long enough for a test to act in between."""
    before = cloudformation_ext.delay
    cloudformation_ext.delay = 2.0
    yield cloudformation_ext.delay
    cloudformation_ext.delay = before


def status_events(sandbox: Sandbox, stack_id: str) -> list[str]:
    return [
        e["detail"]["status-details"]["status"]
        for e in sandbox.stack_events
        if e["detail"]["stack-id"] == stack_id
    ]


def describe(sandbox: Sandbox, name: str) -> dict[str, Any]:
    return sandbox.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]  # type: ignore[no-any-return]


def test_a_stack_is_in_progress_when_create_answers_and_has_outputs_only_once_created(
    world: World, slow_stacks: float
) -> None:
    cfn, name = world.sandbox.client("cloudformation"), world.name("async-create")
    stack_id = cfn.create_stack(StackName=name, TemplateBody=TEMPLATE)["StackId"]
    during = describe(world.sandbox, name)
    assert during["StackStatus"] == "CREATE_IN_PROGRESS"
    assert "Outputs" not in during
    assert world.sandbox.wait_idle(30)
    after = describe(world.sandbox, name)
    assert after["StackStatus"] == "CREATE_COMPLETE"
    assert [o["OutputKey"] for o in after["Outputs"]] == ["TopicArn"]
    assert status_events(world.sandbox, stack_id) == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]


def test_a_busy_stack_refuses_an_update_and_a_delete_with_aws_errors(
    world: World, slow_stacks: float
) -> None:
    cfn, name = world.sandbox.client("cloudformation"), world.name("async-busy")
    stack_id = cfn.create_stack(StackName=name, TemplateBody=TEMPLATE)["StackId"]
    with pytest.raises(ClientError) as creating:
        cfn.update_stack(
            StackName=name,
            TemplateBody=TEMPLATE,
            Parameters=[{"ParameterKey": "Size", "ParameterValue": "2"}],
        )
    assert world.sandbox.wait_idle(30)
    cfn.update_stack(
        StackName=name, TemplateBody=TEMPLATE, Parameters=[{"ParameterKey": "Size", "ParameterValue": "2"}]
    )
    with pytest.raises(ClientError) as updating:
        cfn.update_stack(
            StackName=name,
            TemplateBody=TEMPLATE,
            Parameters=[{"ParameterKey": "Size", "ParameterValue": "3"}],
        )
    with pytest.raises(ClientError) as deleting:
        cfn.delete_stack(StackName=name)
    assert world.sandbox.wait_idle(30)

    assert creating.value.response["Error"]["Code"] == "ValidationError"
    assert creating.value.response["Error"]["Message"] == (
        f"Stack:{stack_id} is in CREATE_IN_PROGRESS state and can not be updated."
    )
    assert updating.value.response["Error"]["Message"] == (
        f"Stack:{stack_id} is in UPDATE_IN_PROGRESS state and can not be updated."
    )
    assert deleting.value.response["Error"]["Code"] == "ValidationError"
    assert deleting.value.response["Error"]["Message"] == (
        f"Stack [{stack_id}] cannot be deleted while in status UPDATE_IN_PROGRESS"
    )
    # What the controller makes of them: the stack is busy (wait for its event), not a failure to report.
    for refused in (creating.value, updating.value, deleting.value):
        assert isinstance(translate(refused), Conflict)
    assert describe(world.sandbox, name)["StackStatus"] == "UPDATE_COMPLETE"
    assert status_events(world.sandbox, stack_id)[-2:] == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]


def test_a_delete_during_a_create_is_carried_out_once_the_create_is_done(
    world: World, slow_stacks: float
) -> None:
    cfn, name = world.sandbox.client("cloudformation"), world.name("async-delete")
    stack_id = cfn.create_stack(StackName=name, TemplateBody=TEMPLATE)["StackId"]
    cfn.delete_stack(StackName=name)
    assert describe(world.sandbox, name)["StackStatus"] == "CREATE_IN_PROGRESS"
    assert world.sandbox.wait_idle(30)
    assert describe(world.sandbox, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert status_events(world.sandbox, stack_id) == [
        "CREATE_IN_PROGRESS",
        "CREATE_COMPLETE",
        "DELETE_IN_PROGRESS",
        "DELETE_COMPLETE",
    ]


def test_a_tag_change_while_the_pipeline_stack_is_created_waits_then_applies_without_a_resync(
    world: World, slow_stacks: float
) -> None:
    """The reconcile's in-progress path: the change meets CREATE_IN_PROGRESS, waits, and lands when
    the stack's CREATE_COMPLETE event converges the repository again (no resync runs here)."""
    world.service()
    repository, arn = world.repository()
    codecommit = world.sandbox.client("codecommit")
    codecommit.tag_resource(resourceArn=arn, tags=world.enroll_tags())
    deadline = time.monotonic() + 20
    while (stack := world.stack(repository)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack is not None and stack["StackStatus"] == "CREATE_IN_PROGRESS"
    codecommit.tag_resource(resourceArn=arn, tags={"pipewarden:max-retries": "1"})
    assert world.sandbox.wait_idle(60)

    settled = world.stack(repository)
    assert settled is not None and settled["StackStatus"] == "UPDATE_COMPLETE"
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in settled["Parameters"]}
    assert parameters["MaxRetries"] == "1"
    kinds = [e["detail-type"] for e in world.events_for(repository)]
    assert kinds.count("Repository Enrollment Started") == 2  # the create, then the waited-for change
    assert "Repository Enrollment Failed" not in kinds


def test_a_stack_a_person_updates_by_hand_is_waited_on_then_put_back_by_the_resync(
    world: World, slow_stacks: float
) -> None:
    """A person changes the pipeline stack's log retention; a tag change arrives while that update runs.
    The controller waits (the stack is busy). The person's update is not pipewarden's (its status
    events carry another ClientRequestToken): it is neither told nor corrected at once, so two writers
    never fight at CloudFormation's speed; the resync then applies the tag change and puts the
    tag-derived retention back. No failure is told."""
    world.service()
    repository, arn = world.repository()
    world.tag(arn, world.enroll_tags())
    stack = f"pipewarden-{repository}"
    before = fleet.edit_stack_by_hand(
        world.sandbox, stack, token="Console-UpdateStack-7f59c3cf-00d2-40c7-b2ff-e75db0987002"
    )
    world.sandbox.client("codecommit").tag_resource(resourceArn=arn, tags={"pipewarden:max-retries": "1"})
    assert world.sandbox.wait_idle(60)
    by_person = {p["ParameterKey"]: p["ParameterValue"] for p in describe(world.sandbox, stack)["Parameters"]}
    assert by_person["LogRetentionDays"] == "1" and by_person["MaxRetries"] == before["MaxRetries"]
    tokens = [
        e["detail"]["client-request-token"]
        for e in world.sandbox.stack_events
        if stack in e["detail"]["stack-id"]
    ]
    assert tokens[-1].startswith("Console-UpdateStack-") and tokens[0].startswith("pipewarden-")

    world.sandbox.run_schedules("EnrollFunction")
    assert world.sandbox.wait_idle(60)
    settled = describe(world.sandbox, stack)
    after = {p["ParameterKey"]: p["ParameterValue"] for p in settled["Parameters"]}
    assert settled["StackStatus"] == "UPDATE_COMPLETE"
    assert after["LogRetentionDays"] == before["LogRetentionDays"] != "1"
    assert after["MaxRetries"] == "1"
    told = [e["detail-type"] for e in world.events_for(repository)]
    assert "Repository Enrollment Failed" not in told
    # Enrolled ("matches the repository's tags") is told of the create and of the controller's own
    # update, never of the hand-made one, after which the stack matched nothing.
    assert told.count("Repository Enrolled") == 2
