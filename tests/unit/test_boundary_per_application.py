"""The lambda blueprint's boundaries hold each repository to its own application, whatever a role's policy.

A stack updater may write any policy on a blueprint role (within the CloudFormation role's rights), so
the boundary must keep one repository's pipeline and deploy role off another's application whatever the
policy: both name the application and the repository by the role's own tags (`pipewarden:application`,
`pipewarden:repository`). That rests on the tags being the CloudFormation role's to set: a role made or
tagged with another repository's tags would reach that repository's application (the test below shows
it), which is why the SCP keeps making and tagging `/pipewarden/` roles, and updating their stacks, to
the CloudFormation role and the enroll function (README "What remains"). Evaluated as AWS does
(`sandbox.iam.evaluate`): identity policy "everything", boundary as the controller's template resolves it.
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#policy-vars-infotouse
"""

from __future__ import annotations

import json

import pytest

from sandbox.iam import policies
from sandbox.iam.evaluate import Policy, Request, evaluate
from tests.conftest import ROOT

ACCOUNT = "123456789012"
CONTROLLER = policies.controller({})
DEPLOY_BOUNDARY = CONTROLLER.managed_policy("ApplicationDeployBoundary")
BLUEPRINT_BOUNDARY = CONTROLLER.managed_policy("PermissionsBoundary")
EVERYTHING = Policy(
    "a stack updater's policy",
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
)
OURS, THEIRS = "pipewarden-app-aaaaaaaaaaaa", "pipewarden-app-bbbbbbbbbbbb"
DEPLOY = f"arn:aws:iam::{ACCOUNT}:role/pipewarden/app-deploy/api/pipewarden-api-DeployRole-1"
PIPELINE = f"arn:aws:iam::{ACCOUNT}:role/pipewarden/pipewarden-api-PipelineRole-1"
TAGS = {"aws:PrincipalTag/pipewarden:repository": "api", "aws:PrincipalTag/pipewarden:application": OURS}


def allowed(
    principal: str, boundary: policies.ManagedPolicy, action: str, resource: str, **context: str
) -> bool:
    request = Request(principal, action, resource, {"aws:PrincipalArn": principal, **TAGS, **context})
    return evaluate(request, [EVERYTHING], [Policy("boundary", boundary.document)]).allowed


def function(app: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{app}-hello"


@pytest.mark.parametrize(
    "action", ["lambda:CreateFunction", "lambda:UpdateFunctionCode", "lambda:DeleteFunction"]
)
def test_a_deploy_role_changes_its_own_applications_functions_only(action: str) -> None:
    assert allowed(DEPLOY, DEPLOY_BOUNDARY, action, function(OURS))
    assert not allowed(DEPLOY, DEPLOY_BOUNDARY, action, function(THEIRS))


def test_a_deploy_role_writes_its_own_applications_log_groups_only() -> None:
    group = "arn:aws:logs:us-east-1:{}:log-group:/aws/lambda/{}-hello"
    assert allowed(DEPLOY, DEPLOY_BOUNDARY, "logs:DeleteLogGroup", group.format(ACCOUNT, OURS))
    assert not allowed(DEPLOY, DEPLOY_BOUNDARY, "logs:DeleteLogGroup", group.format(ACCOUNT, THEIRS))


def test_a_deploy_role_makes_and_passes_its_own_repositorys_application_roles_only() -> None:
    application_boundary = CONTROLLER.managed_policy("ApplicationBoundary").arn
    ours = f"arn:aws:iam::{ACCOUNT}:role/pipewarden-apps/api/{OURS}-HelloRole-1"
    theirs = f"arn:aws:iam::{ACCOUNT}:role/pipewarden-apps/billing/{THEIRS}-HelloRole-1"
    with_boundary = {"iam:PermissionsBoundary": application_boundary}
    assert allowed(DEPLOY, DEPLOY_BOUNDARY, "iam:CreateRole", ours, **with_boundary)
    assert not allowed(DEPLOY, DEPLOY_BOUNDARY, "iam:CreateRole", theirs, **with_boundary)
    assert not allowed(DEPLOY, DEPLOY_BOUNDARY, "iam:PutRolePolicy", theirs, **with_boundary)
    to_lambda = {"iam:PassedToService": "lambda.amazonaws.com"}
    assert allowed(DEPLOY, DEPLOY_BOUNDARY, "iam:PassRole", ours, **to_lambda)
    assert not allowed(DEPLOY, DEPLOY_BOUNDARY, "iam:PassRole", theirs, **to_lambda)


def test_a_deploy_role_without_its_tags_reaches_no_application() -> None:
    # A policy variable whose key is missing matches nothing (IAM: "the element ... is not matched")
    request = Request(DEPLOY, "lambda:CreateFunction", function(OURS), {"aws:PrincipalArn": DEPLOY})
    assert not evaluate(request, [EVERYTHING], [Policy("boundary", DEPLOY_BOUNDARY.document)]).allowed


def test_no_application_reserves_the_accounts_concurrency() -> None:
    # Reserved concurrency is taken from the account's pool: one application could throttle the rest.
    # Removing a reservation only gives concurrency back (the function handler's update calls it).
    assert not allowed(DEPLOY, DEPLOY_BOUNDARY, "lambda:PutFunctionConcurrency", function(OURS))
    assert allowed(DEPLOY, DEPLOY_BOUNDARY, "lambda:DeleteFunctionConcurrency", function(OURS))


def test_a_pipeline_deploys_its_own_application_only() -> None:
    stack = "arn:aws:cloudformation:us-east-1:{}:stack/{}/1"
    for action in ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"):
        assert allowed(PIPELINE, BLUEPRINT_BOUNDARY, action, stack.format(ACCOUNT, OURS))
        assert not allowed(PIPELINE, BLUEPRINT_BOUNDARY, action, stack.format(ACCOUNT, THEIRS))
    to_cfn = {"iam:PassedToService": "cloudformation.amazonaws.com"}
    theirs = f"arn:aws:iam::{ACCOUNT}:role/pipewarden/app-deploy/billing/pipewarden-billing-DeployRole-1"
    assert allowed(PIPELINE, BLUEPRINT_BOUNDARY, "iam:PassRole", DEPLOY, **to_cfn)
    assert not allowed(PIPELINE, BLUEPRINT_BOUNDARY, "iam:PassRole", theirs, **to_cfn)


def test_a_role_with_forged_tags_would_reach_the_other_application_so_only_cloudformation_tags_them() -> None:
    # The boundary trusts the tags: a deploy role tagged with another application reaches it ...
    forged = {"aws:PrincipalTag/pipewarden:application": THEIRS}
    assert allowed(DEPLOY, DEPLOY_BOUNDARY, "lambda:UpdateFunctionCode", function(THEIRS), **forged)
    # ... so no one but the CloudFormation role (and the platform team) may tag or make such a role
    scp = json.loads((ROOT / "security/scp.json").read_text())
    developer = f"arn:aws:iam::{ACCOUNT}:role/developer"
    for action in ("iam:TagRole", "iam:CreateRole"):
        request = Request(developer, action, DEPLOY, {"aws:PrincipalArn": developer})
        assert not evaluate(request, [EVERYTHING], (), [EVERYTHING, Policy("scp", scp)]).allowed
