"""The ecs-blue-green blueprint end to end in the sandbox: enrolled, deployed, updated, failed and rolled back, torn down.

A service behind an Application Load Balancer, deployed by CodeDeploy (deployment controller
CODE_DEPLOY): the pipeline's CodeDeployToECS action registers the build's taskdef.json with the new
image and CodeDeploy shifts the production listener to the other target group
(https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-ECSbluegreen.html).
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from cli.main import main as cli_main
from pipewarden.naming import pipeline_name
from sandbox import fleet
from sandbox.executions import Outcome
from tests.conftest import World

pytestmark = pytest.mark.integration


def _target(world: World, repo: str, **options: Any) -> dict[str, str]:
    """The team's service `web-<suffix>` behind a load balancer, as ecs-blue-green needs it."""
    return fleet.blue_green_target(world.sandbox, repo, "apps-prod", world.name("web"), **options)


def _tags(world: World, target: dict[str, str], **extra: str) -> dict[str, str]:
    return world.enroll_tags(blueprint="ecs-blue-green", test_target_group=target["green"], **extra)


def _service(world: World, target: dict[str, str]) -> dict[str, Any]:
    ecs = world.sandbox.client("ecs")
    return ecs.describe_services(cluster=target["cluster"], services=[target["service"]])["services"][0]  # type: ignore[no-any-return]


def _forwarded_to(world: World, target: dict[str, str]) -> str:
    elbv2 = world.sandbox.client("elbv2")
    listener = elbv2.describe_listeners(ListenerArns=[target["listener_arn"]])["Listeners"][0]
    return str(listener["DefaultActions"][0]["TargetGroupArn"])


def _forget(world: World, repo: str) -> None:
    """Delete a rejected repository: the shared sandbox's later resyncs would reject it again."""
    world.sandbox.client("codecommit").delete_repository(repositoryName=repo)
    assert world.sandbox.wait_idle(30)


def _finished(world: World, name: str) -> list[dict[str, Any]]:
    return world.eventually(  # type: ignore[no-any-return]
        lambda: [e for e in world.executions(name) if e["status"] in ("Succeeded", "Failed")]
    )


def _build_files(world: World, name: str, execution_id: str) -> tuple[dict[str, Any], str, str]:
    """taskdef.json, appspec.yaml and imageDetail.json's image of the build's output artifact."""
    build = world.action_runs(name, execution_id, "Build")[0]
    location = build["output"]["outputArtifacts"][0]["s3location"]
    body = (
        world.sandbox.client("s3").get_object(Bucket=location["bucket"], Key=location["key"])["Body"].read()
    )
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return (
            json.loads(archive.read("taskdef.json")),
            archive.read("appspec.yaml").decode(),
            json.loads(archive.read("imageDetail.json"))["ImageURI"],
        )


def test_a_blue_green_repository_is_enrolled_and_a_push_shifts_the_service_to_the_new_image(
    world: World,
) -> None:
    # Given a team's service deployed by CodeDeploy behind a load balancer, and its repository tagged
    repo, arn = world.repository()
    target = _target(world, repo)
    before = _service(world, target)["taskDefinition"]
    world.tag(arn, _tags(world, target))

    # Then the pipeline deploys through CodeDeploy, and the deployment group is blue/green on that
    # service's two target groups and production listener, rolled back on failure or alarm
    pipeline = world.pipeline(repo)
    assert pipeline is not None, json.dumps([e["detail"] for e in world.events_for(repo)])[:2000]
    assert [s["name"] for s in pipeline["stages"]] == ["Source", "Build", "Deploy"]
    deploy = pipeline["stages"][2]["actions"][0]
    assert deploy["actionTypeId"]["provider"] == "CodeDeployToECS"
    assert deploy["configuration"]["Image1ContainerName"] == "IMAGE1_NAME"
    codedeploy = world.sandbox.client("codedeploy")
    stack_name = f"pipewarden-{repo}"
    assert codedeploy.get_application(applicationName=stack_name)["application"]["computePlatform"] == "ECS"
    group = codedeploy.get_deployment_group(applicationName=stack_name, deploymentGroupName=stack_name)[
        "deploymentGroupInfo"
    ]
    assert group["deploymentStyle"]["deploymentType"] == "BLUE_GREEN"
    assert group["ecsServices"] == [{"serviceName": target["service"], "clusterName": "apps-prod"}]
    pair = group["loadBalancerInfo"]["targetGroupPairInfoList"][0]
    assert [t["name"] for t in pair["targetGroups"]] == [target["blue"], target["green"]]
    assert pair["prodTrafficRoute"]["listenerArns"] == [target["listener_arn"]]
    assert group["autoRollbackConfiguration"] == {
        "enabled": True,
        "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    iam = world.sandbox.client("iam")
    roles = [
        r
        for page in iam.get_paginator("list_roles").paginate(PathPrefix="/pipewarden/")
        for r in page["Roles"]
        if r["RoleName"].startswith(f"pipewarden-{repo}")
    ]
    assert len(roles) == 4  # build, pipeline, change detection, CodeDeploy's
    boundary = world.sandbox.outputs["PermissionsBoundaryArn"]
    for role in roles:
        got = iam.get_role(RoleName=role["RoleName"])["Role"]
        assert got["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    deploy_role = next(r for r in roles if r["Arn"] == group["serviceRoleArn"])
    assert "codedeploy.amazonaws.com" in json.dumps(deploy_role["AssumeRolePolicyDocument"])

    # When a developer pushes
    world.push(repo)
    name = pipeline_name(repo)
    runs = _finished(world, name)
    assert runs[0]["status"] == "Succeeded", [
        (a["actionName"], a["output"].get("executionResult", {}).get("externalExecutionSummary"))
        for a in world.sandbox.client("codepipeline").list_action_executions(pipelineName=name)[
            "actionExecutionDetails"
        ]
    ]

    # Then the build wrote the three files CodeDeployToECS reads, and CodeDeploy shifted the
    # production listener to the other target group and the service to a new task definition
    taskdef, appspec, image = _build_files(world, name, runs[0]["pipelineExecutionId"])
    assert taskdef["containerDefinitions"][0]["image"] == "<IMAGE1_NAME>"
    assert 'TaskDefinition: "<TASK_DEFINITION>"' in appspec and f'ContainerName: "{repo}"' in appspec
    assert "ContainerPort: 8080" in appspec
    after = _service(world, target)["taskDefinition"]
    assert after != before
    ecs = world.sandbox.client("ecs")
    definition = ecs.describe_task_definition(taskDefinition=after)["taskDefinition"]
    assert definition["containerDefinitions"][0]["image"] == image
    assert definition["taskRoleArn"].endswith(f"/{world.name('web')}-task")
    assert _forwarded_to(world, target) == target["green_arn"]
    deployed = world.action_runs(name, runs[0]["pipelineExecutionId"], "Deploy")[0]
    deployment_id = deployed["output"]["executionResult"]["externalExecutionId"]
    assert codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"] == "Succeeded"


def test_changing_a_blue_green_pipelines_tags_updates_it_and_removing_them_tears_it_down(
    world: World,
) -> None:
    # Given a repository enrolled with the command line's flags for the blueprint
    repo, arn = world.repository()
    target = _target(world, repo)
    command = ["enroll", repo, "--blueprint", "ecs-blue-green", "--cluster", "apps-prod"]
    command += ["--service", target["service"], "--test-target-group", target["green"]]
    assert cli_main([*command, "--endpoint-url", world.sandbox.url]) == 0
    assert world.sandbox.wait_idle(30)
    assert world.pipeline(repo) is not None
    # When the team names a rollback alarm
    world.tag(arn, {"pipewarden:rollback-alarms": "web-5xx"})
    started = world.events_for(repo, "Repository Enrollment Started")
    assert [e["detail"]["action"] for e in started] == ["create", "update"]
    assert started[-1]["detail"]["changed"] == ["RollbackAlarms"]
    stack = world.stack(repo)
    assert stack is not None and stack["StackStatus"] == "UPDATE_COMPLETE"
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack["Parameters"]}
    assert parameters["RollbackAlarms"] == "web-5xx"
    # When it unenrolls, the pipeline, its deployment group and application go; the service stays
    world.untag(arn, ["pipewarden:enabled"])
    left = world.stack(repo)
    assert world.pipeline(repo) is None and left is None, (left or {}).get("StackStatusReason")
    codedeploy = world.sandbox.client("codedeploy")
    with pytest.raises(codedeploy.exceptions.ClientError):
        codedeploy.get_application(applicationName=f"pipewarden-{repo}")
    assert _service(world, target)["status"] == "ACTIVE"
    kinds = [e["detail-type"] for e in world.events_for(repo)]
    assert kinds[-2:] == ["Repository Unenrollment Started", "Repository Unenrolled"]


@pytest.mark.parametrize(
    ("code", "extra", "said"),
    [
        ("HEALTH_CONSTRAINTS", {}, "too few healthy instances"),
        ("ALARM_ACTIVE", {"rollback_alarms": "web-5xx"}, "Activated alarms: web-5xx"),
    ],
)
def test_a_failed_blue_green_deployment_is_rolled_back_not_retried_and_told_why(
    world: World, code: str, extra: dict[str, str], said: str
) -> None:
    # Given an enrolled blue/green pipeline that tells every outcome
    repo, arn = world.repository()
    target = _target(world, repo)
    before = _service(world, target)["taskDefinition"]
    world.tag(arn, _tags(world, target, notify="all", **extra))
    name = pipeline_name(repo)
    # When the new tasks fail their health checks, or a rollback alarm goes off, in the deployment
    world.sandbox.simulator.scripts.add(name, "Deploy", [Outcome(code=code)])
    world.push(repo)
    runs = _finished(world, name)
    assert runs[0]["status"] == "Failed"
    # Then CodeDeploy rolled it back: the service keeps its task definition, the listener its target group
    assert _service(world, target)["taskDefinition"] == before
    assert _forwarded_to(world, target) == target["blue_arn"]
    deployed = world.action_runs(name, runs[0]["pipelineExecutionId"], "Deploy")[0]
    deployment_id = deployed["output"]["executionResult"]["externalExecutionId"]
    info = world.sandbox.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info["status"] == "Failed"
    assert info["errorInformation"]["code"] == code
    assert info["rollbackInfo"]["rollbackDeploymentId"]
    # And it is not retried (the same tasks would fail again), with the evidence, and told in Slack
    event = world.eventually(lambda: world.pipeline_events(name, "Failure Not Retried"))[0]
    assert event["detail"]["classification"] == "deterministic"
    assert event["detail"]["evidence"]["code"] == code
    assert (
        event["detail"]["evidence"]["rollback-deployment-id"] == info["rollbackInfo"]["rollbackDeploymentId"]
    )
    assert world.pipeline_events(name, "Stage Retry Scheduled") == []
    told = world.eventually(
        lambda: [m for m in world.sandbox.slack_messages() if repo in json.dumps(m) and code in json.dumps(m)]
    )
    assert said in json.dumps(told)


def test_a_throttled_blue_green_deployment_is_retried_and_then_deploys(world: World) -> None:
    repo, arn = world.repository()
    target = _target(world, repo)
    world.tag(arn, _tags(world, target))
    name = pipeline_name(repo)
    world.sandbox.simulator.scripts.add(name, "Deploy", [Outcome(code="THROTTLED")])
    world.push(repo)
    world.eventually(lambda: world.pipeline_events(name, "Stage Retry Scheduled"))
    runs = world.eventually(lambda: [e for e in world.executions(name) if e["status"] == "Succeeded"], 60)
    assert runs and _forwarded_to(world, target) == target["green_arn"]


@pytest.mark.parametrize(
    ("owned", "key", "said"),
    [
        (("blue", "green"), "pipewarden:ecs-service", "the production listener"),
        (("blue", "listener"), "pipewarden:test-target-group", "does not name this repository"),
    ],
)
def test_a_load_balancer_the_repository_does_not_own_is_rejected(
    world: World, owned: tuple[str, ...], key: str, said: str
) -> None:
    # Given a listener or target group that does not carry the repository's tag
    repo, arn = world.repository()
    target = _target(world, repo, owned=owned)
    world.tag(arn, _tags(world, target))
    # Then no pipeline is made, and the rejection says which resource lacks which tag
    assert world.stack(repo) is None
    rejected = world.events_for(repo, "Repository Enrollment Rejected")[-1]["detail"]
    assert rejected["key"] == key
    assert said in json.dumps(rejected) and f"pipewarden:repository={repo}" in json.dumps(rejected)
    _forget(world, repo)


def test_a_service_ecs_deploys_itself_is_rejected_for_blue_green_and_a_codedeploy_one_for_rolling(
    world: World,
) -> None:
    repo, arn = world.repository()
    target = _target(world, repo, controller="ECS")
    world.tag(arn, _tags(world, target))
    assert world.stack(repo) is None
    rejected = json.dumps(world.events_for(repo, "Repository Enrollment Rejected")[-1]["detail"])
    assert "CODE_DEPLOY" in rejected and "ecs-rolling" in rejected

    other, other_arn = world.repository("api")
    fleet.blue_green_target(world.sandbox, other, "apps-prod", world.name("api"))
    world.tag(other_arn, world.enroll_tags(service="api", container=other))
    assert world.stack(other) is None
    rejected = json.dumps(world.events_for(other, "Repository Enrollment Rejected")[-1]["detail"])
    assert "CODE_DEPLOY" in rejected and "ecs-blue-green" in rejected
    _forget(world, repo)
    _forget(world, other)


def test_pruning_keeps_the_build_output_a_failed_blue_green_deploy_needs_to_be_retried(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two executions, keep-executions=1, and the newest failed its deployment (retries off)
    repo, arn = world.repository()
    target = _target(world, repo)
    world.tag(arn, _tags(world, target, keep_executions="1", retry="off"))
    name = pipeline_name(repo)
    world.push(repo, "first")
    world.sandbox.wait_for_execution(name)
    world.sandbox.simulator.scripts.add(name, "Deploy", [Outcome(code="HEALTH_CONSTRAINTS")])
    world.push(repo, "second")
    world.sandbox.wait_for_execution(name)
    newest, oldest = (r["pipelineExecutionId"] for r in world.executions(name)[:2])
    needed = world.sandbox.execution_keys(name, newest)
    # When pruning runs
    assert (
        cli_main(["prune", "--endpoint-url", world.sandbox.url, "--grace-hours", "0", "--pipeline", name])
        == 0
    )
    capsys.readouterr()
    # Then the oldest execution's artifacts are gone and the newest's (its build output with
    # taskdef.json, appspec.yaml and imageDetail.json) remain, so retrying its deploy deploys
    s3 = world.sandbox.client("s3")
    bucket = world.sandbox.outputs["ArtifactBucketName"]
    left = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=name[:20]).get("Contents", [])}
    assert needed <= left and not world.sandbox.execution_keys(name, oldest) <= left
    world.sandbox.client("codepipeline").retry_stage_execution(
        pipelineName=name, stageName="Deploy", pipelineExecutionId=newest, retryMode="FAILED_ACTIONS"
    )
    assert world.sandbox.wait_for_execution(name, newest)["status"] == "Succeeded"
    # (the first deployment shifted production to green; this one shifts it back to blue)
    assert _forwarded_to(world, target) == target["blue_arn"]
