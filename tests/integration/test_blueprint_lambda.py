"""The lambda blueprint end to end in the sandbox: enrolled, deployed through a CloudFormation change
set as its bounded deploy role, updated, told when a deploy rolls back, and torn down."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from cli.main import main as cli_main
from pipewarden.naming import application_name, pipeline_name
from sandbox import fleet
from sandbox.executions import Outcome
from tests.conftest import World

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def tear_down(world: World) -> Iterator[None]:
    """After each test, unenroll its repositories and delete their applications: the session's sandbox
    is shared, and other tests count its stacks (tests/sandbox/test_pagination.py) and resync it all
    (tests/integration/test_call_budget.py)."""
    yield
    codecommit = world.sandbox.client("codecommit")
    names = [r["repositoryName"] for r in codecommit.list_repositories()["repositories"]]
    ours = [n for n in names if n.endswith(world.suffix)]
    cfn = world.sandbox.client("cloudformation")
    for name in ours:
        arn = codecommit.get_repository(repositoryName=name)["repositoryMetadata"]["Arn"]
        world.untag(arn, ["pipewarden:enabled"])
        with contextlib.suppress(cfn.exceptions.ClientError):
            cfn.delete_stack(StackName=application_name(name))
    assert world.sandbox.wait_idle(30)


def lambda_tags(**extra: str) -> dict[str, str]:
    return {"pipewarden:enabled": "true", "pipewarden:blueprint": "lambda", **extra}


def push_app(world: World, repo: str, text: str = fleet.sam_application(memory=128)) -> str:
    return world.sandbox.push(repo, text, "main", path="template.yaml")


def finished(world: World, pipeline: str, count: int = 1) -> list[dict[str, Any]]:
    """The pipeline's executions, newest first, once `count` of them have ended."""

    def ended() -> list[dict[str, Any]] | None:
        runs = [e for e in world.executions(pipeline) if e["status"] in ("Succeeded", "Failed")]
        return runs if len(runs) >= count else None

    runs: list[dict[str, Any]] = world.eventually(ended)
    return runs


def test_a_lambda_repository_gets_a_pipeline_that_deploys_its_application_as_the_bounded_deploy_role(
    world: World,
) -> None:
    # Given a repository with a SAM template, tagged for the lambda blueprint (allowed in this sandbox)
    repo, arn = world.repository("api")
    world.tag(arn, lambda_tags())
    # Then its pipeline builds with sam and deploys with a change set, replaced then executed
    pipeline = world.pipeline(repo)
    assert pipeline is not None
    assert [s["name"] for s in pipeline["stages"]] == ["Source", "Build", "Deploy"]
    deploy = pipeline["stages"][2]["actions"]
    assert [a["configuration"]["ActionMode"] for a in deploy] == ["CHANGE_SET_REPLACE", "CHANGE_SET_EXECUTE"]
    app = application_name(repo)
    assert {a["configuration"]["StackName"] for a in deploy} == {app}
    # The deploy role lives under /pipewarden/app-deploy/<repository>/
    iam = world.sandbox.client("iam")
    role_arn = deploy[0]["configuration"]["RoleArn"]
    role = iam.get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"]
    assert role["Path"] == f"/pipewarden/app-deploy/{repo}/"
    # with a deploy boundary of its own: the only one that lets a role create functions and roles
    boundary = world.sandbox.outputs["ApplicationDeployBoundaryArn"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    assert {t["Key"]: t["Value"] for t in role["Tags"]}["pipewarden:repository"] == repo

    # When the team pushes its SAM template
    name = pipeline_name(repo)
    push_app(world, repo)
    runs = finished(world, name)
    assert runs[0]["status"] == "Succeeded"
    # Then the application stack exists, made as the deploy role, and its function with it: named under
    # the application, its role under /pipewarden-apps/<repository>/ with the application boundary
    cfn = world.sandbox.client("cloudformation")
    stack = cfn.describe_stacks(StackName=app)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["RoleARN"] == role_arn
    function = world.sandbox.client("lambda").get_function(FunctionName=f"{app}-hello")["Configuration"]
    function_role = iam.get_role(RoleName=function["Role"].rsplit("/", 1)[1])["Role"]
    assert function_role["Path"] == f"/pipewarden-apps/{repo}/"
    assert (
        function_role["PermissionsBoundary"]["PermissionsBoundaryArn"]
        == world.sandbox.outputs["ApplicationBoundaryArn"]
    )
    # And the code sam package uploaded is under the pipeline's own prefix, under an execution's id
    template = cfn.get_template(StackName=app)["TemplateBody"]
    code = template["Resources"]["Hello"]["Properties"]["Code"]
    execution_id, _ = code["S3Key"].removeprefix(f"{name[:20]}/sam/").split("/")
    assert code["S3Key"].startswith(f"{name[:20]}/sam/")
    assert execution_id in {e["pipelineExecutionId"] for e in world.executions(name)}


def test_a_tag_change_updates_the_pipeline_and_a_push_updates_the_application(world: World) -> None:
    # Given a deployed application
    repo, arn = world.repository("api")
    world.tag(arn, lambda_tags())
    name, app = pipeline_name(repo), application_name(repo)
    push_app(world, repo)
    assert finished(world, name)[0]["status"] == "Succeeded"
    # When the team changes a tag, the pipeline's stack is updated (the build's compute)
    world.tag(arn, {"pipewarden:compute": "medium"})
    started = world.events_for(repo, "Repository Enrollment Started")
    assert [e["detail"]["action"] for e in started] == ["create", "update"]
    assert started[-1]["detail"]["changed"] == ["ComputeType"]
    # And a push of a changed template updates the application stack, as the same deploy role
    push_app(world, repo, fleet.sam_application(memory=256))
    assert [r["status"] for r in finished(world, name, 2)] == ["Succeeded", "Succeeded"]
    stack = world.sandbox.client("cloudformation").describe_stacks(StackName=app)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    function = world.sandbox.client("lambda").get_function(FunctionName=f"{app}-hello")["Configuration"]
    assert function["MemorySize"] == 256


def test_a_failed_deploy_rolls_the_application_back_and_is_told_with_the_stack_and_its_reason(
    world: World,
) -> None:
    # Given a lambda pipeline whose deploy's stack update fails on a resource
    repo, arn = world.repository("api")
    world.tag(arn, lambda_tags(**{"pipewarden:notify": "all"}))
    name, app = pipeline_name(repo), application_name(repo)
    push_app(world, repo)
    assert finished(world, name)[0]["status"] == "Succeeded"
    reason = "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes."
    world.sandbox.simulator.scripts.add(name, "ExecuteChangeSet", [Outcome(message=reason)])
    push_app(world, repo, fleet.sam_application(memory=512))
    runs = finished(world, name, 2)
    # Then the application stack rolled back to what ran before, and the action says so in AWS's words
    assert runs[0]["status"] == "Failed"
    stack = world.sandbox.client("cloudformation").describe_stacks(StackName=app)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    function = world.sandbox.client("lambda").get_function(FunctionName=f"{app}-hello")["Configuration"]
    assert function["MemorySize"] == 128
    run = world.action_runs(name, runs[0]["pipelineExecutionId"], "ExecuteChangeSet")[0]
    summary = run["output"]["executionResult"]["externalExecutionSummary"]
    assert summary.startswith("Failed to execute change set. Current stack status: UPDATE_ROLLBACK_COMPLETE.")
    assert reason in summary
    # And it is not retried (a rolled-back stack fails the same way again), and people are told which
    # stack failed and why
    event = world.eventually(lambda: world.pipeline_events(name, "Failure Not Retried"))[0]
    assert event["detail"]["classification"] == "deterministic"
    assert event["detail"]["evidence"]["stack-status"] == "UPDATE_ROLLBACK_COMPLETE"
    told = world.eventually(
        lambda: [m for m in world.sandbox.slack_messages() if reason[:40] in str(m) and app in str(m)]
    )
    assert told


def test_switching_away_from_lambda_is_refused_while_the_application_stack_exists(world: World) -> None:
    repo, arn = world.repository("api")
    world.tag(arn, lambda_tags())
    name, app = pipeline_name(repo), application_name(repo)
    push_app(world, repo)
    assert finished(world, name)[0]["status"] == "Succeeded"
    # When the team asks for build-only while its application still runs
    world.tag(arn, {"pipewarden:blueprint": "build-only"})
    # Then the pipeline is left as it is and the rejection says what to do first
    rejected = world.events_for(repo, "Repository Enrollment Rejected")
    assert rejected and app in rejected[-1]["detail"]["reason"]
    assert "delete that stack first" in rejected[-1]["detail"]["reason"]
    pipeline = world.pipeline(repo)
    assert pipeline is not None and [s["name"] for s in pipeline["stages"]][-1] == "Deploy"


def test_unenrolling_removes_the_pipeline_and_keeps_the_deploy_role_the_application_stack_needs(
    world: World,
) -> None:
    repo, arn = world.repository("api")
    world.tag(arn, lambda_tags())
    name, app = pipeline_name(repo), application_name(repo)
    push_app(world, repo)
    assert finished(world, name)[0]["status"] == "Succeeded"
    world.untag(arn, ["pipewarden:enabled"])
    assert world.pipeline(repo) is None and world.stack(repo) is None
    kinds = [e["detail-type"] for e in world.events_for(repo)]
    assert kinds[-2:] == ["Repository Unenrollment Started", "Repository Unenrolled"]
    # The application is the team's: its stack stays, and so does the role CloudFormation acts with for
    # it (DeletionPolicy Retain), so the team can still update or delete it
    cfn = world.sandbox.client("cloudformation")
    stack = cfn.describe_stacks(StackName=app)["Stacks"][0]
    iam = world.sandbox.client("iam")
    assert iam.get_role(RoleName=stack["RoleARN"].rsplit("/", 1)[1])["Role"]["Path"].startswith(
        "/pipewarden/"
    )
    # ... and delete it: CloudFormation deletes the function and its role as that retained role
    cfn.delete_stack(StackName=app)
    world.eventually(lambda: not [s for s in cfn.describe_stacks()["Stacks"] if s["StackName"] == app])
    functions = world.sandbox.client("lambda").list_functions()["Functions"]
    assert not [f for f in functions if f["FunctionName"].startswith(app)]


def test_pipewarden_enroll_blueprint_lambda_tags_the_repository(world: World) -> None:
    repo, _ = world.repository("api")
    command = ["enroll", repo, "--blueprint", "lambda", "--sam-template", "app/template.yaml"]
    assert cli_main([*command, "--endpoint-url", world.sandbox.url]) == 0
    assert world.sandbox.wait_idle(30)
    tags = world.sandbox.client("codecommit").list_tags_for_resource(
        resourceArn=f"arn:aws:codecommit:{world.sandbox.client('codecommit').meta.region_name}:"
        f"{world.sandbox.outputs['PermissionsBoundaryArn'].split(':')[4]}:{repo}"
    )["tags"]
    assert tags["pipewarden:blueprint"] == "lambda"
    assert tags["pipewarden:sam-template"] == "app/template.yaml"
    stack = world.stack(repo)
    assert stack is not None
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["SamTemplate"] == "app/template.yaml"
    assert parameters["ApplicationName"] == application_name(repo)


def test_a_throttled_deploy_is_retried_from_a_new_change_set_and_succeeds(world: World) -> None:
    # Given a deployed application whose next deploy is throttled once
    repo, arn = world.repository("api")
    world.tag(arn, lambda_tags())
    name, app = pipeline_name(repo), application_name(repo)
    push_app(world, repo)
    assert finished(world, name)[0]["status"] == "Succeeded"
    throttled = "Rate exceeded (Service: Lambda, Status Code: 429, Request ID: 1)"
    world.sandbox.simulator.scripts.add(name, "ExecuteChangeSet", [Outcome(message=throttled)])
    push_app(world, repo, fleet.sam_application(memory=256))
    # Then the failure is transient and the whole Deploy stage is retried (the executed change set
    # cannot be executed again): CreateChangeSet makes it anew, and the execution succeeds
    scheduled = world.eventually(lambda: world.pipeline_events(name, "Stage Retry Scheduled"))
    assert scheduled[0]["detail"]["classification"] == "transient"
    newest = world.eventually(
        lambda: [e for e in world.executions(name)[:1] if e["status"] == "Succeeded"], timeout=60
    )[0]
    replaced = world.action_runs(name, newest["pipelineExecutionId"], "CreateChangeSet")
    assert len(replaced) == 2
    function = world.sandbox.client("lambda").get_function(FunctionName=f"{app}-hello")["Configuration"]
    assert function["MemorySize"] == 256
