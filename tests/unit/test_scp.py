"""The service control policy the README gives platform teams: it refuses what it must, to whom it must.

Evaluated as AWS evaluates SCPs (`sandbox.iam.evaluate`, with the default FullAWSAccess policy beside
it): a developer with every permission cannot set or remove `pipewarden:*` tags, change pipewarden's
stacks or pass its CloudFormation role; the platform team can; pipewarden's own roles can do what they do.
That every call pipewarden makes passes it is shown on the calls recorded in the sandbox
(tests/integration/test_zz_iam_coverage.py).
https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sandbox.iam.evaluate import Policy, Request, evaluate

ROOT = Path(__file__).resolve().parents[2]
SCP = json.loads((ROOT / "security/scp.json").read_text())
FULL_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
ACCOUNT = "123456789012"
DEVELOPER = f"arn:aws:iam::{ACCOUNT}:role/developer"
PLATFORM = f"arn:aws:iam::{ACCOUNT}:role/platform-admin"
CLOUDFORMATION = (
    f"arn:aws:iam::{ACCOUNT}:role/pipewarden-controller/pipewarden-CloudFormationExecutionRole-1A2B"
)
ENROLL = f"arn:aws:iam::{ACCOUNT}:role/pipewarden-EnrollFunctionRole-1A2B3C"


def allowed(principal: str, action: str, resource: str = "*", **context: str | tuple[str, ...]) -> bool:
    request = Request(principal, action, resource, {"aws:PrincipalArn": principal, **context})
    scps = [Policy("FullAWSAccess", FULL_ACCESS), Policy("pipewarden", SCP)]
    return evaluate(request, [Policy("admin", FULL_ACCESS)], (), scps).allowed


def test_the_readme_gives_the_policy_the_tests_check() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", readme, re.S)]
    assert SCP in blocks


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("codecommit:TagResource", f"arn:aws:codecommit:us-east-1:{ACCOUNT}:shop"),
        ("codecommit:UntagResource", f"arn:aws:codecommit:us-east-1:{ACCOUNT}:shop"),
        ("codecommit:CreateRepository", f"arn:aws:codecommit:us-east-1:{ACCOUNT}:shop"),
        ("codepipeline:TagResource", f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:pipewarden-shop"),
        ("ecs:TagResource", f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/apps/web"),
        ("ecs:CreateService", f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/apps/web"),
        ("ecr:TagResource", f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/payments"),
        ("iam:TagRole", f"arn:aws:iam::{ACCOUNT}:role/web-task"),
    ],
)
def test_only_the_platform_team_and_pipewarden_set_pipewarden_tags(action: str, resource: str) -> None:
    ours = ("pipewarden:repository",)
    assert not allowed(DEVELOPER, action, resource, **{"aws:TagKeys": ours})
    assert allowed(DEVELOPER, action, resource, **{"aws:TagKeys": ("team", "cost-center")})
    assert allowed(PLATFORM, action, resource, **{"aws:TagKeys": ours})


def test_pipewarden_tags_what_it_creates() -> None:
    tags = ("pipewarden:managed-by", "pipewarden:repository")
    pipeline = f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:pipewarden-shop"
    assert allowed(CLOUDFORMATION, "codepipeline:CreatePipeline", pipeline, **{"aws:TagKeys": tags})
    assert allowed(
        CLOUDFORMATION, "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/pipewarden/x", **{"aws:TagKeys": tags}
    )
    assert allowed(
        CLOUDFORMATION,
        "ecr:CreateRepository",
        f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/shop",
        **{"aws:TagKeys": tags},
    )


@pytest.mark.parametrize(
    "stack",
    [
        f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/pipewarden-shop/1",
        f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/pipewarden/1",
    ],
    ids=["a-blueprint-stack", "the-controller"],
)
def test_only_pipewarden_changes_its_stacks(stack: str) -> None:
    for action in (
        "cloudformation:UpdateStack",
        "cloudformation:DeleteStack",
        "cloudformation:CreateChangeSet",
        # Cancelling or rolling back pipewarden's own update would undo a tag change until the resync.
        "cloudformation:CancelUpdateStack",
        "cloudformation:RollbackStack",
        "cloudformation:UpdateTerminationProtection",
    ):
        assert not allowed(DEVELOPER, action, stack)
        assert allowed(PLATFORM, action, stack)
    assert allowed(
        DEVELOPER,
        "cloudformation:UpdateStack",
        f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/team-app/1",
    )


def test_the_enroll_function_changes_blueprint_stacks_and_alone_passes_the_cloudformation_role() -> None:
    blueprint = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/pipewarden-shop/1"
    assert allowed(ENROLL, "cloudformation:CreateStack", blueprint)
    assert allowed(
        ENROLL, "iam:PassRole", CLOUDFORMATION, **{"iam:PassedToService": "cloudformation.amazonaws.com"}
    )
    assert not allowed(DEVELOPER, "iam:PassRole", CLOUDFORMATION)


def test_reading_stays_open() -> None:
    assert allowed(
        DEVELOPER, "codecommit:ListTagsForResource", f"arn:aws:codecommit:us-east-1:{ACCOUNT}:shop"
    )
    assert allowed(
        DEVELOPER,
        "cloudformation:DescribeStacks",
        f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/pipewarden-shop/1",
    )


@pytest.mark.parametrize(
    "role",
    [
        "role/pipewarden-EnrollFunctionRole-evil",
        "role/pipewarden-controller/mine",
        "role/pipewarden-tasks/payments/admin-task",
        "role/pipewarden/pipewarden-shop-BuildRole-1",
    ],
)
def test_no_one_else_makes_a_role_whose_name_or_path_the_exemptions_trust(role: str) -> None:
    # The exemptions match pipewarden's roles by name and path: those are reserved too
    arn = f"arn:aws:iam::{ACCOUNT}:{role}"
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:TagRole"):
        assert not allowed(DEVELOPER, action, arn)
        assert allowed(PLATFORM, action, arn)


def test_only_the_cloudformation_role_makes_and_passes_pipeline_roles() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/pipewarden/pipewarden-shop-BuildRole-1"
    assert allowed(CLOUDFORMATION, "iam:CreateRole", role)
    assert allowed(CLOUDFORMATION, "iam:PassRole", role, **{"iam:PassedToService": "codebuild.amazonaws.com"})
    assert not allowed(DEVELOPER, "iam:PassRole", role, **{"iam:PassedToService": "codebuild.amazonaws.com"})
    # ... but not its own kind: the controller's roles are the platform team's
    assert not allowed(
        CLOUDFORMATION, "iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/pipewarden-controller/x"
    )


def test_no_one_else_runs_code_as_pipewardens_functions() -> None:
    # The exemptions trust the enroll function's role: code run with it would be the exemption
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:pipewarden-EnrollFunction-1A2B"
    for action in ("lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration", "lambda:AddPermission"):
        assert not allowed(DEVELOPER, action, function)
        assert allowed(PLATFORM, action, function)
    assert not allowed(DEVELOPER, "iam:PassRole", ENROLL, **{"iam:PassedToService": "lambda.amazonaws.com"})
    assert allowed(PLATFORM, "iam:PassRole", ENROLL, **{"iam:PassedToService": "lambda.amazonaws.com"})


def test_the_policy_fits_an_scp() -> None:
    # "maximum size of a service control policy: 5,120 characters" (AWS Organizations quotas)
    assert len(json.dumps(SCP, separators=(",", ":"))) <= 5120


# The lambda blueprint: a pipeline role makes and executes its application stack's change sets and passes
# its deploy role (to CloudFormation only); the deploy role creates, passes and changes only its
# application's roles and functions.
PIPELINE = f"arn:aws:iam::{ACCOUNT}:role/pipewarden/pipewarden-api-PipelineRole-1"
DEPLOY = f"arn:aws:iam::{ACCOUNT}:role/pipewarden/app-deploy/api/pipewarden-api-DeployRole-1"
APP_STACK = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/pipewarden-app-abcdefghijkl/1"


def test_a_lambda_pipeline_deploys_its_application_and_no_one_else_does() -> None:
    for action in ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"):
        assert allowed(PIPELINE, action, APP_STACK)
        assert not allowed(DEVELOPER, action, APP_STACK)
    to_cfn = {"iam:PassedToService": "cloudformation.amazonaws.com"}
    assert allowed(PIPELINE, "iam:PassRole", DEPLOY, **to_cfn)
    assert not allowed(PIPELINE, "iam:PassRole", DEPLOY, **{"iam:PassedToService": "lambda.amazonaws.com"})
    assert not allowed(DEVELOPER, "iam:PassRole", DEPLOY, **to_cfn)


def test_a_deploy_role_acts_only_on_its_applications_roles_and_functions() -> None:
    app_role = f"arn:aws:iam::{ACCOUNT}:role/pipewarden-apps/api/pipewarden-app-abcdefghijkl-FnRole-1"
    app_function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:pipewarden-app-abcdefghijkl-fn"
    assert allowed(DEPLOY, "iam:CreateRole", app_role)
    assert allowed(DEPLOY, "iam:PassRole", app_role, **{"iam:PassedToService": "lambda.amazonaws.com"})
    assert allowed(DEPLOY, "lambda:UpdateFunctionCode", app_function)
    assert not allowed(DEPLOY, "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/pipewarden/evil")
    assert not allowed(DEPLOY, "iam:PassRole", ENROLL, **{"iam:PassedToService": "lambda.amazonaws.com"})
    controller_function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:pipewarden-EnrollFunction-1A2B"
    assert not allowed(DEPLOY, "lambda:UpdateFunctionCode", controller_function)
    assert not allowed(DEVELOPER, "iam:CreateRole", app_role)


@pytest.mark.parametrize(
    "stack",
    [
        f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/pipewarden/1",
        f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/pipewarden-shop/1",
        f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/team-app/1",
    ],
    ids=["the-controller", "a-blueprint-stack", "a-stack-of-the-account"],
)
def test_a_pipeline_role_makes_change_sets_of_application_stacks_only(stack: str) -> None:
    # A /pipewarden/ role is exempt on pipewarden-* stacks only for the lambda blueprint's change sets
    # on pipewarden-app-*: the controller's stack (whose role may change IAM) and a pipeline's stack stay
    # the platform team's, and no stack outside pipewarden is a pipeline role's to change.
    for action in ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"):
        assert not allowed(PIPELINE, action, stack)
        assert not allowed(DEPLOY, action, stack)
    assert allowed(PIPELINE, "cloudformation:CreateChangeSet", APP_STACK)
    transform = "arn:aws:cloudformation:us-east-1:aws:transform/Serverless-2016-10-31"
    assert allowed(PIPELINE, "cloudformation:CreateChangeSet", transform)
    assert not allowed(
        PIPELINE, "cloudformation:CreateChangeSet", "arn:aws:cloudformation:us-east-1:aws:transform/Include"
    )


def test_the_enroll_function_makes_no_change_sets() -> None:
    # It writes blueprint stacks with CreateStack/UpdateStack; a change set would be a second way in.
    controller = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/pipewarden/1"
    assert not allowed(ENROLL, "cloudformation:CreateChangeSet", controller)
    assert allowed(PLATFORM, "cloudformation:ExecuteChangeSet", controller)


SUPPLEMENT = json.loads((ROOT / "security/scp-supplement.json").read_text())


def allowed_with_both(
    principal: str, action: str, resource: str = "*", **context: str | tuple[str, ...]
) -> bool:
    request = Request(principal, action, resource, {"aws:PrincipalArn": principal, **context})
    scps = [Policy("FullAWSAccess", FULL_ACCESS), Policy("pipewarden", SCP), Policy("supplement", SUPPLEMENT)]
    return evaluate(request, [Policy("admin", FULL_ACCESS)], (), scps).allowed


def test_the_readme_gives_the_supplement_and_it_fits() -> None:
    readme = (ROOT / "README.md").read_text()
    assert SUPPLEMENT in [json.loads(b) for b in re.findall(r"```json\n(.*?)```", readme, re.S)]
    assert len(json.dumps(SUPPLEMENT, separators=(",", ":"))) <= 5120


@pytest.mark.parametrize("key", ["PipeWarden:repository", "PIPEWARDEN:REPOSITORY", "Pipewarden:application"])
def test_an_ownership_tag_in_another_case_is_reserved_too(key: str) -> None:
    # IAM matches the key of aws:ResourceTag/<key> without regard to case ("Condition key names are not
    # case-sensitive", reference_policies_elements_condition.html), so PipeWarden:repository on a
    # listener would satisfy the boundary's ownership condition; the first SCP matches keys as written.
    listener = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener/app/web/1/2"
    assert allowed(DEVELOPER, "elasticloadbalancing:AddTags", listener, **{"aws:TagKeys": (key,)})
    assert not allowed_with_both(
        DEVELOPER, "elasticloadbalancing:AddTags", listener, **{"aws:TagKeys": (key,)}
    )
    assert allowed_with_both(PLATFORM, "elasticloadbalancing:AddTags", listener, **{"aws:TagKeys": (key,)})
    assert allowed_with_both(
        DEVELOPER, "elasticloadbalancing:AddTags", listener, **{"aws:TagKeys": ("team",)}
    )


def test_only_the_platform_team_refactors_pipewardens_stacks() -> None:
    for stack in (APP_STACK, f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/pipewarden/1"):
        for action in ("cloudformation:CreateStackRefactor", "cloudformation:ExecuteStackRefactor"):
            assert not allowed_with_both(DEVELOPER, action, stack)
            assert allowed_with_both(PLATFORM, action, stack)
    team = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/team-app/1"
    assert allowed_with_both(DEVELOPER, "cloudformation:CreateStackRefactor", team)


def test_only_the_platform_team_writes_pipewardens_alarms() -> None:
    # A genuine state change of an alarm named pipewarden-* is told to the operators: writing one is
    # the platform team's (CloudFormation deploys the controller with its credentials)
    alarm = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:pipewarden-function-failures"
    for action in ("cloudwatch:SetAlarmState", "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"):
        assert not allowed_with_both(DEVELOPER, action, alarm)
        assert allowed_with_both(PLATFORM, action, alarm)
    team = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:team-latency"
    assert allowed_with_both(DEVELOPER, "cloudwatch:PutMetricAlarm", team)
