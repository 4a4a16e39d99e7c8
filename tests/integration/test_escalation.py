"""The escalation paths tried end to end in the sandbox, which enforces IAM as AWS does.

From a tagger's position: tags alone must not reach another team's ECS service, its roles or its
images, nor another pipeline's artifacts. From a stack updater's position: a template handed to a
`pipewarden-*` stack runs as the CloudFormation execution role, which must refuse to widen anything.
(A build's position is tried in test_blueprint_roles.py.)
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from pipewarden import blueprint
from pipewarden.naming import artifact_prefix, pipeline_name, stack_name
from sandbox import fleet
from sandbox import template as cfn_template
from sandbox.executions import Outcome
from sandbox.runtime import ACCOUNT
from tests.conftest import World

pytestmark = pytest.mark.integration


def rejection(world: World, repo: str) -> dict[str, Any]:
    found = world.events_for(repo, "Repository Enrollment Rejected")
    assert found, f"{repo} was not rejected"
    return found[-1]["detail"]  # type: ignore[no-any-return]


# -- a tagger ------------------------------------------------------------------------------------------


def test_tagging_for_another_teams_service_is_refused_naming_its_owner(world: World) -> None:
    # Given a service that takes the images of another repository
    world.service(service="checkout", owner="payments-team-repo")
    repo, arn = world.repository()
    # When a developer tags their repository for it
    world.tag(arn, world.enroll_tags(service="checkout"))
    # Then nothing is created, and the rejection names the service's tag and the one it would need
    assert world.stack(repo) is None and world.pipeline(repo) is None
    detail = rejection(world, repo)
    assert detail["key"] == "pipewarden:ecs-service"
    assert "belongs to repository 'payments-team-repo'" in detail["reason"]
    assert f"pipewarden:repository={repo}" in detail["reason"]


def test_a_service_that_never_opted_in_is_refused_naming_the_missing_tag(world: World) -> None:
    world.service(service="legacy", owner=None)
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags(service="legacy"))
    assert world.stack(repo) is None
    reason = rejection(world, repo)["reason"]
    assert f"ECS service {world.name('legacy')} in cluster apps-prod does not name this repository" in reason
    assert f"it needs the tag pipewarden:repository={repo}" in reason


def test_a_task_role_outside_the_repositorys_path_is_never_passed(world: World) -> None:
    # Given a service that opted in, whose task definition uses another repository's task role
    repo, arn = world.repository()
    foreign = fleet.ensure_role(world.sandbox, world.name("admin-task"), "someone-else")
    ecs = world.sandbox.client("ecs")
    ecs.create_cluster(clusterName="apps-prod")
    family = world.name("api")
    ecs.register_task_definition(
        family=family,
        taskRoleArn=foreign,
        containerDefinitions=[{"name": repo, "image": "nginx", "memory": 128}],
    )
    ecs.create_service(
        cluster="apps-prod",
        serviceName=family,
        taskDefinition=family,
        desiredCount=1,
        tags=[{"key": "pipewarden:repository", "value": repo}],
    )
    # When the repository is tagged for it, then nothing is created and the rejection names the path
    world.tag(arn, world.enroll_tags(service="api"))
    assert world.stack(repo) is None
    reason = rejection(world, repo)["reason"]
    assert f"task role {world.name('admin-task')} (path /pipewarden-tasks/someone-else/)" in reason
    assert f"under the path /pipewarden-tasks/{repo}/" in reason


def test_a_shared_task_role_may_be_passed_by_any_pipeline(world: World) -> None:
    world.service(service="shared-roles", owner="@shared")
    repo, arn = world.repository()
    # the service itself still names the one repository whose images it takes
    world.sandbox.client("ecs").tag_resource(
        resourceArn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/apps-prod/{world.name('shared-roles')}",
        tags=[{"key": "pipewarden:repository", "value": repo}],
    )
    world.tag(arn, world.enroll_tags(service="shared-roles"))
    stack = world.stack(repo)
    assert stack is not None and stack["StackStatus"] == "CREATE_COMPLETE"
    passed = next(p["ParameterValue"] for p in stack["Parameters"] if p["ParameterKey"] == "PassRoleArns")
    assert ":role/pipewarden-tasks/@shared/" in passed


@pytest.mark.parametrize("blueprint", ["ecs-rolling", "build-only"])
def test_another_teams_ecr_repository_cannot_be_named(world: World, blueprint: str) -> None:
    world.service()
    world.sandbox.client("ecr").create_repository(
        repositoryName=world.name("payments-images"),
        tags=[{"Key": "pipewarden:repository", "Value": "payments"}],
    )
    repo, arn = world.repository()
    # Whatever the blueprint: one that pushes an image pushes only to a repository that names it
    world.tag(arn, world.enroll_tags(ecr_repository=world.name("payments-images"), blueprint=blueprint))
    assert world.stack(repo) is None
    detail = rejection(world, repo)
    assert detail["key"] == "pipewarden:ecr-repository"
    assert "belongs to repository 'payments'" in detail["reason"]


def test_an_ecr_repository_that_names_the_repository_is_used_and_one_that_is_missing_is_created(
    world: World,
) -> None:
    ecr = world.sandbox.client("ecr")
    world.service()
    repo, arn = world.repository()
    ecr.create_repository(
        repositoryName=world.name("own-images"), tags=[{"Key": "pipewarden:repository", "Value": repo}]
    )
    world.tag(arn, world.enroll_tags(ecr_repository=world.name("own-images")))
    stack = world.stack(repo)
    assert stack is not None and stack["StackStatus"] == "CREATE_COMPLETE"
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["CreateEcrRepository"] == "false"  # the team's own, never the stack's
    # Without the tag, the stack creates an ECR repository of its own, immutable and scanned
    world.tag(arn, {"pipewarden:ecr-repository": world.name("new-images")})
    created = ecr.describe_repositories(repositoryNames=[world.name("new-images")])["repositories"][0]
    assert created["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert created["imageScanningConfiguration"] == {"scanOnPush": True}
    tags = ecr.list_tags_for_resource(resourceArn=created["repositoryArn"])["tags"]
    assert {"Key": "pipewarden:repository", "Value": repo} in tags


def test_a_pipeline_whose_artifact_prefix_is_taken_is_refused(world: World) -> None:
    # Given a pipeline (made by hand) whose name starts with the 20 characters the new one needs
    world.service()
    repo, arn = world.repository("artifact-collision")
    prefix = artifact_prefix(pipeline_name(repo))
    squatter = f"{prefix}squatter"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "codepipeline.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = world.sandbox.client("iam").create_role(
        RoleName=world.name("squatter"), AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    world.sandbox.client("codepipeline").create_pipeline(
        pipeline={
            "name": squatter,
            "roleArn": role,
            "artifactStore": {"type": "S3", "location": world.sandbox.outputs["ArtifactBucketName"]},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": {
                                "category": "Source",
                                "owner": "AWS",
                                "provider": "S3",
                                "version": "1",
                            },
                            "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"},
                            "outputArtifacts": [{"name": "out"}],
                        }
                    ],
                },
                {
                    "name": "Deploy",
                    "actions": [
                        {
                            "name": "Deploy",
                            "actionTypeId": {
                                "category": "Deploy",
                                "owner": "AWS",
                                "provider": "S3",
                                "version": "1",
                            },
                            "configuration": {"BucketName": "b", "Extract": "true"},
                            "inputArtifacts": [{"name": "out"}],
                        }
                    ],
                },
            ],
        }
    )
    world.service(owner=repo)
    try:
        # When the repository is enrolled
        world.tag(arn, world.enroll_tags())
        # Then it is refused: the two would read and write each other's artifacts
        assert world.stack(repo) is None
        reason = rejection(world, repo)["reason"]
        assert f"pipeline {squatter} already keeps its artifacts under {prefix}/" in reason
    finally:
        world.sandbox.client("codepipeline").delete_pipeline(name=squatter)


def test_each_pipeline_has_an_artifact_prefix_of_its_own(world: World) -> None:
    # Repository names that share their first characters, as services of one team do
    names = [world.repository(base)[0] for base in ("orders-service-api", "orders-service-worker")]
    prefixes = {artifact_prefix(pipeline_name(n)) for n in names}
    assert len(prefixes) == 2
    assert all(not p.startswith(stack_name(names[0])[:20]) for p in prefixes)


# -- a stack updater -----------------------------------------------------------------------------------


def enrolled_stack(world: World) -> tuple[str, str]:
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags())
    stack = world.stack(repo)
    assert stack is not None and stack["StackStatus"] == "CREATE_COMPLETE"
    return repo, stack_name(repo)


def update_with(world: World, stack: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Update the stack with the blueprint plus `extra` resources, as anyone allowed UpdateStack could.

    No RoleARN is given: CloudFormation uses the stack's own, the controller's execution role.
    """
    template = cfn_template.loads(blueprint.get("ecs-rolling").template_body())
    template["Resources"].update(extra)
    cfn = world.sandbox.client("cloudformation")
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    cfn.update_stack(
        StackName=stack,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True} for p in described["Parameters"]
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    world.sandbox.wait_idle(30)
    return cfn.describe_stacks(StackName=stack)["Stacks"][0]  # type: ignore[no-any-return]


def failure(world: World, stack: str) -> str:
    events = world.sandbox.client("cloudformation").describe_stack_events(StackName=stack)["StackEvents"]
    return next(str(e["ResourceStatusReason"]) for e in events if e["ResourceStatus"] == "UPDATE_FAILED")


def test_a_stack_update_cannot_create_a_role_without_the_boundary(world: World) -> None:
    _, stack = enrolled_stack(world)
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Path": "/pipewarden/",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "all",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                    },
                }
            ],
        },
    }
    after = update_with(world, stack, {"Backdoor": role})
    assert after["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    reason = failure(world, stack)
    assert "is not authorized to perform: iam:CreateRole" in reason
    assert "HandlerErrorCode: AccessDenied" in reason


def test_a_stack_update_cannot_write_a_policy_onto_the_cloudformation_role(world: World) -> None:
    _, stack = enrolled_stack(world)
    own = world.sandbox.outputs["CloudFormationExecutionRoleArn"].rsplit("/", 1)[-1]
    policy = {
        "Type": "AWS::IAM::RolePolicy",
        "Properties": {
            "RoleName": own,
            "PolicyName": "escalate",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            },
        },
    }
    after = update_with(world, stack, {"Escalate": policy})
    assert after["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    reason = failure(world, stack)
    assert "iam:PutRolePolicy" in reason and "with an explicit deny in an identity-based policy" in reason
    names = world.sandbox.client("iam").list_role_policies(RoleName=own)["PolicyNames"]
    assert "escalate" not in names


@pytest.mark.parametrize(
    ("resource", "action"),
    [
        (
            {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Role": f"arn:aws:iam::{ACCOUNT}:role/pipewarden/anything",
                    "Runtime": "python3.13",
                    "Handler": "x.handler",
                    "Code": {"ZipFile": "def handler(e, c): pass"},
                },
            },
            "lambda:CreateFunction",
        ),
        (
            {
                "Type": "AWS::ECR::Repository",
                "Properties": {
                    "RepositoryName": "exposed-images",
                    "RepositoryPolicyText": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*"}],
                    },
                    "Tags": [{"Key": "pipewarden:managed-by", "Value": "pipewarden"}],
                },
            },
            "ecr:SetRepositoryPolicy",
        ),
    ],
    ids=["a-function", "an-open-ecr-repository"],
)
def test_a_stack_update_cannot_add_what_the_blueprint_never_has(
    world: World, resource: dict[str, Any], action: str
) -> None:
    _, stack = enrolled_stack(world)
    after = update_with(world, stack, {"Extra": resource})
    assert after["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert f"is not authorized to perform: {action}" in failure(world, stack)


def test_no_principal_but_the_pipelines_roles_reads_or_writes_artifacts(world: World) -> None:
    # Given a developer whose own policy allows all of S3
    iam, sts = world.sandbox.client("iam"), world.sandbox.client("sts")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName=world.name("developer"), AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="s3", PolicyDocument=json.dumps(everything))
    issued = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="dev")["Credentials"]
    s3 = boto3.client(
        "s3",
        endpoint_url=world.sandbox.url,
        region_name="us-east-1",
        aws_access_key_id=issued["AccessKeyId"],
        aws_secret_access_key=issued["SecretAccessKey"],
        aws_session_token=issued["SessionToken"],
    )
    bucket = world.sandbox.outputs["ArtifactBucketName"]
    # When they try to swap a pipeline's image definitions in, or read a source zip
    for attempt in (
        lambda: s3.put_object(Bucket=bucket, Key="pipewarden-shop/BuildOutpu/x", Body=b"[]"),
        lambda: s3.get_object(Bucket=bucket, Key="pipewarden-shop/SourceOutp/x"),
    ):
        # Then the bucket policy refuses it
        with pytest.raises(s3.exceptions.ClientError, match="explicit deny in a resource-based policy"):
            attempt()


def test_a_build_role_given_everything_by_a_stack_update_is_still_held_by_the_boundary(world: World) -> None:
    # Given a stack updater who gives the build role every permission (CloudFormation may: the role
    # carries the boundary), and another team's service and artifacts
    repo, stack = enrolled_stack(world)
    world.service(service="victim", owner="victim-repository")
    template = cfn_template.loads(blueprint.get("ecs-rolling").template_body())
    template["Resources"]["BuildRole"]["Properties"]["Policies"] = [
        {
            "PolicyName": "everything",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            },
        }
    ]
    cfn = world.sandbox.client("cloudformation")
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    cfn.update_stack(
        StackName=stack,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True} for p in described["Parameters"]
        ],
    )
    world.sandbox.wait_idle(30)
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    # When a hostile buildspec updates the other team's service with it
    pipeline = pipeline_name(repo)
    victim = {"cluster": "apps-prod", "service": world.name("victim"), "desiredCount": 0}
    world.sandbox.simulator.scripts.add(
        pipeline,
        "Build",
        [Outcome(fail=False, aws=[{"service": "ecs", "operation": "UpdateService", "params": victim}])],
    )
    world.push(repo, "hostile buildspec")
    execution = world.sandbox.wait_for_execution(pipeline)
    # Then the permissions boundary refuses it, and the build fails with IAM's message in its log
    assert execution["status"] == "Failed"
    builds = world.action_runs(pipeline, execution["pipelineExecutionId"], "Build")
    build_id = builds[-1]["output"]["executionResult"]["externalExecutionId"]
    build = world.sandbox.client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    log = world.sandbox.client("logs").get_log_events(
        logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"]
    )["events"]
    messages = [e["message"] for e in log]
    assert any(
        "because no permissions boundary allows the ecs:UpdateService action" in m for m in messages
    ), "\n".join(messages)
