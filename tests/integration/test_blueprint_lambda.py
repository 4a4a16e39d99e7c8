"""The lambda blueprint end to end in the sandbox: enrolled, deployed through a CloudFormation change
set as its bounded deploy role, updated, told when a deploy rolls back, and torn down."""

from __future__ import annotations

import json

import pytest

from pipewarden.naming import application_name, pipeline_name
from sandbox.executions import Outcome
from tests.conftest import World

pytestmark = pytest.mark.integration

# A team's SAM template as the blueprint asks for it (README "Blueprints"): the three parameters the
# pipeline fills, used for the function's name, its role's path and its role's boundary.
APP = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  PipewardenApplicationName: {Type: String}
  PipewardenRolePath: {Type: String}
  PipewardenBoundaryArn: {Type: String}
Globals:
  Function:
    PermissionsBoundary: !Ref PipewardenBoundaryArn
    RolePath: !Ref PipewardenRolePath
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub ${PipewardenApplicationName}-hello
      Runtime: python3.13
      Handler: app.handler
      CodeUri: src/
      MemorySize: %(memory)d
"""


def lambda_tags(**extra: str) -> dict[str, str]:
    return {"pipewarden:enabled": "true", "pipewarden:blueprint": "lambda", **extra}


def push_app(world: World, repo: str, text: str = APP % {"memory": 128}) -> str:
    return world.sandbox.push(repo, text, "main", path="template.yaml")


def finished(world: World, pipeline: str, count: int = 1) -> list[dict[str, object]]:
    return world.eventually(
        lambda: (
            runs
            if len(runs := [e for e in world.executions(pipeline) if e["status"] in ("Succeeded", "Failed")])
            >= count
            else None
        )
    )


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
    # The deploy role lives under /pipewarden/app-deploy/<repository>/ with the controller's boundary
    iam = world.sandbox.client("iam")
    role_arn = deploy[0]["configuration"]["RoleArn"]
    role = iam.get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"]
    assert role["Path"] == f"/pipewarden/app-deploy/{repo}/"
    boundary = world.sandbox.outputs["PermissionsBoundaryArn"]
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
