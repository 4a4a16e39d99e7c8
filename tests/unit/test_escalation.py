"""Each escalation path of a hostile stack updater and a hostile build, tried against the resolved policies.

The policies are the templates as AWS holds them (`sandbox.iam.policies`: template.yaml through SAM,
the blueprint for a representative repository), evaluated as IAM evaluates them
(`sandbox.iam.evaluate`). Whoever may update a `pipewarden-*` stack wields the CloudFormation execution
role; a buildspec runs with the build role; a hostile template can give a blueprint role any policy,
so the boundary alone must hold. Integration tests try the same paths through the sandbox.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from sandbox.iam import policies
from sandbox.iam.evaluate import Decision, Policy, Request, evaluate

ACCOUNT = policies.ACCOUNT
STACKS = policies.every_stack()
CONTROLLER = next(s for s in STACKS if s.label == "template.yaml[representative]")
BLUEPRINT = next(s for s in STACKS if s.label == "ecs-rolling.yaml[representative]")
CFN_ROLE = CONTROLLER.role("CloudFormationExecutionRole")
BOUNDARY = CONTROLLER.managed_policy("PermissionsBoundary")
REPOSITORY = BLUEPRINT.parameters["RepositoryName"]
BUCKET = CONTROLLER.outputs["ArtifactBucketName"]
# What a hostile stack update can give a blueprint role: everything.
EVERYTHING = Policy(
    "hostile", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def identity(role: policies.Role) -> list[Policy]:
    found = [Policy(f"{role.name}/{name}", doc) for name, doc in role.inline_policies.items()]
    return found + [Policy(arn, policies.aws_managed_policy(arn)) for arn in role.managed_policy_arns]


def decide(
    role: policies.Role,
    action: str,
    resource: str,
    context: Mapping[str, str | tuple[str, ...]] | None = None,
    extra: list[Policy] | None = None,
) -> Decision:
    """IAM's decision for the role's session (its tags are principal tags, its boundary applies)."""
    principal = {f"aws:PrincipalTag/{k}": v for k, v in role.tags.items()}
    request = Request(
        f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.name}/session",
        action,
        resource,
        {"aws:PrincipalArn": role.arn, "aws:PrincipalAccount": ACCOUNT, **principal, **(context or {})},
    )
    boundaries = [Policy(BOUNDARY.arn, BOUNDARY.document)] if role.permissions_boundary else []
    return evaluate(request, identity(role) + (extra or []), boundaries)


# -- the CloudFormation execution role, as a hostile stack updater wields it -------------------------

SELF_WRITES = [
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:DeleteRolePermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:DeleteRole",
    "iam:PassRole",
]


@pytest.mark.parametrize("action", SELF_WRITES)
def test_the_cloudformation_role_cannot_change_itself(action: str) -> None:
    decision = decide(CFN_ROLE, action, CFN_ROLE.arn, {"iam:PermissionsBoundary": BOUNDARY.arn})
    assert not decision.allowed
    assert decision.reason == "explicit-deny", decision.message(Request("p", action, CFN_ROLE.arn, {}))


@pytest.mark.parametrize(
    "role_arn",
    [
        f"arn:aws:iam::{ACCOUNT}:role/admin",
        f"arn:aws:iam::{ACCOUNT}:role/pipewarden-controller/other",
        f"arn:aws:iam::{ACCOUNT}:role/service-role/pipewarden-x",
    ],
)
def test_the_cloudformation_role_cannot_write_any_role_outside_the_blueprint_path(role_arn: str) -> None:
    for action in (
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:CreateRole",
        "iam:UpdateAssumeRolePolicy",
    ):
        assert not decide(CFN_ROLE, action, role_arn, {"iam:PermissionsBoundary": BOUNDARY.arn}).allowed


def test_the_cloudformation_role_creates_roles_only_with_the_boundary() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/pipewarden/pipewarden-x-BuildRole-1"
    assert decide(CFN_ROLE, "iam:CreateRole", role, {"iam:PermissionsBoundary": BOUNDARY.arn}).allowed
    assert not decide(CFN_ROLE, "iam:CreateRole", role).allowed  # no boundary
    other = f"arn:aws:iam::{ACCOUNT}:policy/pipewarden/wider"
    assert not decide(CFN_ROLE, "iam:CreateRole", role, {"iam:PermissionsBoundary": other}).allowed
    assert not decide(
        CFN_ROLE, "iam:PutRolePermissionsBoundary", role, {"iam:PermissionsBoundary": other}
    ).allowed
    assert not decide(CFN_ROLE, "iam:DeleteRolePermissionsBoundary", role).allowed


def test_the_cloudformation_role_writes_policies_only_onto_roles_that_carry_the_boundary() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/pipewarden/made-by-someone-else"
    for action in ("iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"):
        assert decide(CFN_ROLE, action, role, {"iam:PermissionsBoundary": BOUNDARY.arn}).allowed
        assert not decide(CFN_ROLE, action, role).allowed  # the role has no boundary


@pytest.mark.parametrize(
    "setting",
    [
        {"codebuild:source.location": "https://github.com/victim/private.git"},
        {"codebuild:source.auth.resource": "arn:aws:codebuild:us-east-1:123456789012:token/github"},
        {"codebuild:vpcConfig.vpcId": "vpc-0a1b2c"},
        {"codebuild:environment.fleet.fleetArn": "arn:aws:codebuild:us-east-1:123456789012:fleet/theirs"},
        {"codebuild:environment.image": "attacker/image:latest"},
        {"codebuild:serviceRole": "arn:aws:iam::123456789012:role/admin"},
    ],
    ids=["github-source", "imported-credential", "vpc", "fleet", "foreign-image", "foreign-role"],
)
def test_the_cloudformation_role_makes_build_projects_only_as_the_blueprint_does(
    setting: dict[str, str],
) -> None:
    project = f"arn:aws:codebuild:us-east-1:{ACCOUNT}:project/pipewarden-x"
    blueprint = {
        "codebuild:environment.image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
        "codebuild:serviceRole": f"arn:aws:iam::{ACCOUNT}:role/pipewarden/pipewarden-x-BuildRole-1",
    }
    assert decide(CFN_ROLE, "codebuild:CreateProject", project, blueprint).allowed
    for action in ("codebuild:CreateProject", "codebuild:UpdateProject"):
        assert not decide(CFN_ROLE, action, project, {**blueprint, **setting}).allowed


def test_the_cloudformation_role_cannot_widen_the_boundary_or_make_other_policies() -> None:
    for action in ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy"):
        assert decide(CFN_ROLE, action, BOUNDARY.arn).reason == "explicit-deny"
    assert not decide(CFN_ROLE, "iam:CreatePolicy", f"arn:aws:iam::{ACCOUNT}:policy/pipewarden/x").allowed
    assert not decide(CFN_ROLE, "iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/x").allowed


@pytest.mark.parametrize(
    ("service", "allowed"),
    [
        ("codebuild.amazonaws.com", True),
        ("codepipeline.amazonaws.com", True),
        ("events.amazonaws.com", True),
        ("lambda.amazonaws.com", False),
        ("ec2.amazonaws.com", False),
        ("cloudformation.amazonaws.com", False),
        ("ecs-tasks.amazonaws.com", False),
    ],
)
def test_the_cloudformation_role_passes_blueprint_roles_only_to_their_services(
    service: str, allowed: bool
) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/pipewarden/pipewarden-x-BuildRole-1"
    assert decide(CFN_ROLE, "iam:PassRole", role, {"iam:PassedToService": service}).allowed is allowed


def test_the_cloudformation_role_creates_nothing_outside_the_blueprint_types() -> None:
    for action, resource in (
        ("lambda:CreateFunction", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:pipewarden-x"),
        ("cloudformation:CreateStack", f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/pipewarden-x/1"),
        ("ec2:RunInstances", "*"),
        ("s3:PutBucketPolicy", f"arn:aws:s3:::{BUCKET}"),
        ("ecr:SetRepositoryPolicy", f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/x"),
        ("logs:PutResourcePolicy", "*"),
    ):
        assert not decide(CFN_ROLE, action, resource).allowed, action


def test_the_cloudformation_role_never_deletes_or_changes_a_teams_own_ecr_repository() -> None:
    arn = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/payments"
    teams = {"aws:ResourceTag/pipewarden:repository": "payments"}
    ours = {**teams, "aws:ResourceTag/pipewarden:managed-by": "pipewarden"}
    assert not decide(CFN_ROLE, "ecr:DeleteRepository", arn, teams).allowed
    # marking a team's repository as pipewarden's (an imported resource's tags) is refused too
    claim: dict[str, str | tuple[str, ...]] = {
        **teams,
        "aws:RequestTag/pipewarden:managed-by": "pipewarden",
        "aws:RequestTag/pipewarden:repository": "attacker",
        "aws:TagKeys": ("pipewarden:managed-by", "pipewarden:repository"),
    }
    assert not decide(CFN_ROLE, "ecr:TagResource", arn, claim).allowed
    # ... while a repository being created, with no tags yet, is tagged as pipewarden's as it is made
    # (ECR authorizes ecr:TagResource, a dependent action of CreateRepository)
    creating = {k: v for k, v in claim.items() if not k.startswith("aws:ResourceTag/")}
    assert decide(CFN_ROLE, "ecr:CreateRepository", arn, creating).allowed
    assert decide(CFN_ROLE, "ecr:TagResource", arn, creating).allowed
    assert not decide(
        CFN_ROLE,
        "ecr:TagResource",
        arn,
        {**teams, "aws:RequestTag/pipewarden:repository": "x", "aws:TagKeys": ("pipewarden:repository",)},
    ).allowed
    assert not decide(CFN_ROLE, "ecr:DeleteRepository", arn, ours).allowed  # never: repositories are kept


def test_change_detection_rules_target_only_pipewarden_pipelines() -> None:
    rule = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/pipewarden-x-SourceRule-1"
    ours = f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:pipewarden-x"
    theirs = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:payroll"
    assert decide(CFN_ROLE, "events:PutTargets", rule, {"events:TargetArn": (ours,)}).allowed
    assert not decide(CFN_ROLE, "events:PutTargets", rule, {"events:TargetArn": (ours, theirs)}).allowed


# -- a blueprint role given everything by a hostile template: the boundary holds ------------------------

BUILD = BLUEPRINT.role("BuildRole")
PIPELINE = BLUEPRINT.role("PipelineRole")
SERVICE = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/apps-prod/web"


def owned(repository: str) -> dict[str, str]:
    return {"aws:ResourceTag/pipewarden:repository": repository}


@pytest.mark.parametrize("role", [BUILD, PIPELINE], ids=["build", "pipeline"])
def test_a_blueprint_role_pushes_only_to_an_ecr_repository_that_names_its_repository(
    role: policies.Role,
) -> None:
    arn = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/payments"
    assert not decide(role, "ecr:PutImage", arn, owned("payments"), [EVERYTHING]).allowed
    assert not decide(role, "ecr:InitiateLayerUpload", arn, {}, [EVERYTHING]).allowed
    assert decide(role, "ecr:PutImage", arn, owned(REPOSITORY), [EVERYTHING]).allowed


@pytest.mark.parametrize("role", [BUILD, PIPELINE], ids=["build", "pipeline"])
def test_a_blueprint_role_deploys_only_to_an_allowed_service_that_names_its_repository(
    role: policies.Role,
) -> None:
    assert decide(role, "ecs:UpdateService", SERVICE, owned(REPOSITORY), [EVERYTHING]).allowed
    assert not decide(role, "ecs:UpdateService", SERVICE, owned("payments"), [EVERYTHING]).allowed
    assert not decide(role, "ecs:UpdateService", SERVICE, {}, [EVERYTHING]).allowed
    outside = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/payments-prod/web"  # not on the allow-list
    assert not decide(role, "ecs:UpdateService", outside, owned(REPOSITORY), [EVERYTHING]).allowed
    elsewhere = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:service/apps-prod/web"
    assert (
        decide(role, "ecs:UpdateService", elsewhere, owned(REPOSITORY), [EVERYTHING]).reason
        == "explicit-deny"
    )


def test_a_blueprint_role_never_opts_a_service_in_itself() -> None:
    tag: dict[str, str | tuple[str, ...]] = {
        "aws:RequestTag/pipewarden:repository": REPOSITORY,
        "aws:TagKeys": ("pipewarden:repository",),
    }
    assert not decide(PIPELINE, "ecs:TagResource", SERVICE, tag, [EVERYTHING]).allowed
    assert decide(PIPELINE, "ecs:TagResource", SERVICE, {"aws:TagKeys": ("team",)}, [EVERYTHING]).allowed


@pytest.mark.parametrize(
    ("role_arn", "service", "allowed"),
    [
        (
            f"arn:aws:iam::{ACCOUNT}:role/pipewarden-tasks/{REPOSITORY}/web-task",
            "ecs-tasks.amazonaws.com",
            True,
        ),
        (f"arn:aws:iam::{ACCOUNT}:role/pipewarden-tasks/@shared/execution", "ecs-tasks.amazonaws.com", True),
        (f"arn:aws:iam::{ACCOUNT}:role/pipewarden-tasks/payments/web-task", "ecs-tasks.amazonaws.com", False),
        (
            f"arn:aws:iam::{ACCOUNT}:role/pipewarden-tasks/{REPOSITORY}x/web-task",
            "ecs-tasks.amazonaws.com",
            False,
        ),
        (f"arn:aws:iam::{ACCOUNT}:role/admin-task", "ecs-tasks.amazonaws.com", False),
        (
            f"arn:aws:iam::{ACCOUNT}:role/pipewarden-tasks/{REPOSITORY}/web-task",
            "lambda.amazonaws.com",
            False,
        ),
        (f"arn:aws:iam::{ACCOUNT}:role/pipewarden-tasks/{REPOSITORY}/web-task", "ec2.amazonaws.com", False),
    ],
)
def test_a_blueprint_role_passes_only_its_repositorys_task_roles_to_ecs_tasks(
    role_arn: str, service: str, allowed: bool
) -> None:
    # A role's tags do not count: AWS calls iam:ResourceTag with PassRole unreliable, and the boundary
    # does not rely on it (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html)
    context = {"iam:PassedToService": service, "iam:ResourceTag/pipewarden:repository": REPOSITORY}
    assert decide(PIPELINE, "iam:PassRole", role_arn, context, [EVERYTHING]).allowed is allowed


@pytest.mark.parametrize("role", [BUILD, PIPELINE], ids=["build", "pipeline"])
def test_a_blueprint_role_reads_and_writes_only_its_own_artifact_prefix(role: policies.Role) -> None:
    own = BLUEPRINT.parameters["ArtifactPrefix"]
    assert decide(role, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/{own}/SourceOutp/x", {}, [EVERYTHING]).allowed
    for key in ("pipewarden-other/SourceOutp/x", f"{own}x/SourceOutp/x", "x"):
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            assert not decide(role, action, f"arn:aws:s3:::{BUCKET}/{key}", {}, [EVERYTHING]).allowed, (
                action,
                key,
            )


@pytest.mark.parametrize("role", [BUILD, PIPELINE], ids=["build", "pipeline"])
def test_a_blueprint_role_can_do_nothing_with_iam_or_other_services(role: policies.Role) -> None:
    for action, resource in (
        ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/x"),
        ("iam:PutRolePolicy", role.arn),
        ("iam:DeleteRolePermissionsBoundary", role.arn),
        ("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/admin"),
        ("codecommit:GitPush", f"arn:aws:codecommit:us-east-1:{ACCOUNT}:{REPOSITORY}"),
        ("codecommit:GetCommit", f"arn:aws:codecommit:us-east-1:{ACCOUNT}:payments"),
        ("secretsmanager:GetSecretValue", "*"),
        ("cloudformation:UpdateStack", "*"),
        ("codepipeline:StartPipelineExecution", f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:other"),
    ):
        assert not decide(role, action, resource, {}, [EVERYTHING]).allowed, action
