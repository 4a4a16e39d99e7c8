"""A hostile application template against the lambda blueprint's deploy role, with IAM enforced.

The team writes the SAM template the pipeline deploys, so it may declare anything; CloudFormation acts
for it as the blueprint's DeployRole (sandbox.iam.stack_handlers authorizes each resource handler's
calls as that role). Each attempt to reach beyond the application must fail the deploy, roll the
application stack back, and leave nothing behind.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipewarden.naming import application_name, pipeline_name
from sandbox import fleet
from tests.conftest import World
from tests.integration.test_blueprint_lambda import finished, lambda_tags, push_app, tear_down

pytestmark = pytest.mark.integration
APP = fleet.sam_application()
__all__ = ["tear_down"]  # the autouse fixture: each test's repositories unenrolled, applications deleted

HEADER = fleet.SAM_PARAMETERS + "Resources:\n"


def function(name: str = "${PipewardenApplicationName}-fn", **properties: str) -> str:
    lines = [
        "  Fn:",
        "    Type: AWS::Serverless::Function",
        "    Properties:",
        f"      FunctionName: !Sub {name}",
        "      Runtime: python3.13",
        "      Handler: app.handler",
        "      CodeUri: src/",
    ]
    lines += [f"      {key}: {value}" for key, value in properties.items()]
    return HEADER + "\n".join(lines) + "\n"


BOUNDED = {"RolePath": "!Ref PipewardenRolePath", "PermissionsBoundary": "!Ref PipewardenBoundaryArn"}


def deploy_fails(world: World, repo: str, template: str, count: int) -> str:
    """Push the template; the execution fails at ExecuteChangeSet: its summary."""
    name = pipeline_name(repo)
    push_app(world, repo, template)
    runs = finished(world, name, count)
    assert runs[0]["status"] == "Failed"
    run = world.action_runs(name, runs[0]["pipelineExecutionId"], "ExecuteChangeSet")[0]
    return str(run["output"]["executionResult"]["externalExecutionSummary"])


def delete_application(world: World, app: str) -> None:
    world.sandbox.client("cloudformation").delete_stack(StackName=app)
    world.eventually(lambda: not _live(world, app))


def _live(world: World, app: str) -> list[dict[str, Any]]:
    stacks = world.sandbox.client("cloudformation").describe_stacks()["Stacks"]
    return [s for s in stacks if s["StackName"] == app and s["StackStatus"] != "DELETE_COMPLETE"]


def _role_names(world: World, path: str) -> list[str]:
    iam = world.sandbox.client("iam")
    return [
        r["RoleName"] for p in iam.get_paginator("list_roles").paginate(PathPrefix=path) for r in p["Roles"]
    ]


def test_a_hostile_application_template_cannot_reach_beyond_its_application(world: World) -> None:
    repo, arn = world.repository("api")
    world.tag(arn, lambda_tags(**{"pipewarden:retry": "off"}))
    app = application_name(repo)
    build_role = next(
        arn
        for arn in (
            world.sandbox.client("iam").get_role(RoleName=n)["Role"]["Arn"]
            for n in _role_names(world, "/pipewarden/")
        )
        if f"pipewarden-{repo}" in arn and "BuildRole" in arn
    )
    attempts = [
        # a role without the application boundary (SAM makes it with none)
        (function(RolePath="!Ref PipewardenRolePath"), "iam:CreateRole"),
        # a role with the boundary, but outside the repository's application path
        (
            function(RolePath="/pipewarden/", PermissionsBoundary="!Ref PipewardenBoundaryArn"),
            "iam:CreateRole",
        ),
        # the pipeline's own build role handed to a function
        (function(Role=build_role), "iam:PassRole"),
        # a function named outside the application (another team's name)
        (function("victim-function", **BOUNDED), "lambda:CreateFunction"),
        # reserved concurrency taken from the account's pool (one application could throttle the rest)
        (function(ReservedConcurrentExecutions="900", **BOUNDED), "lambda:PutFunctionConcurrency"),
        # a resource type the deploy role was never given
        (HEADER + "  Intruder:\n    Type: AWS::IAM::User\n    Properties: {}\n", "iam:"),
    ]
    for count, (template, action) in enumerate(attempts, start=1):
        summary = deploy_fails(world, repo, template, count)
        assert "Current stack status: ROLLBACK_COMPLETE" in summary, summary
        assert f"not authorized to perform: {action}" in summary, summary
        delete_application(world, app)
    # Nothing of the attempts was left behind
    assert _role_names(world, f"/pipewarden-apps/{repo}/") == []
    assert not [r for r in _role_names(world, "/pipewarden/") if r.startswith(app)]
    functions = world.sandbox.client("lambda").list_functions()["Functions"]
    assert not [
        f for f in functions if f["FunctionName"] in ("victim-function",) or f["FunctionName"].startswith(app)
    ]


def test_an_application_cannot_change_or_drop_its_roles_boundary(world: World) -> None:
    # Given a deployed application whose function role carries the application boundary
    repo, arn = world.repository("api")
    world.tag(arn, lambda_tags(**{"pipewarden:retry": "off"}))
    app, name = application_name(repo), pipeline_name(repo)
    push_app(world, repo, APP)
    assert finished(world, name)[0]["status"] == "Succeeded"
    application_boundary = world.sandbox.outputs["ApplicationBoundaryArn"]
    # When its template swaps the boundary for the controller's wider one, then drops it
    wider = APP.replace("!Ref PipewardenBoundaryArn", world.sandbox.outputs["PermissionsBoundaryArn"])
    summary = deploy_fails(world, repo, wider % {"memory": 128}, 2)
    # (the first of the role's update calls whose iam:PermissionsBoundary is not the application's)
    assert "UPDATE_ROLLBACK_COMPLETE" in summary and "HelloRole" in summary, summary
    assert "not authorized to perform: iam:" in summary, summary
    dropped = APP.replace("    PermissionsBoundary: !Ref PipewardenBoundaryArn\n", "")
    summary = deploy_fails(world, repo, dropped % {"memory": 128}, 3)
    assert "UPDATE_ROLLBACK_COMPLETE" in summary and "not authorized to perform: iam:" in summary, summary
    # Then the function's role still carries the application boundary
    iam = world.sandbox.client("iam")
    (role,) = _role_names(world, f"/pipewarden-apps/{repo}/")
    assert (
        iam.get_role(RoleName=role)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"]
        == application_boundary
    )
    assert world.sandbox.client("lambda").get_function(FunctionName=f"{app}-hello")
