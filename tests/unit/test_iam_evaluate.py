"""IAM policy evaluation against the examples and rules of AWS's IAM User Guide."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sandbox.iam.evaluate import (
    IDENTITY_POLICY,
    PERMISSIONS_BOUNDARY,
    RESOURCE_POLICY,
    SERVICE_CONTROL_POLICY,
    Decision,
    Policy,
    Request,
    StatementRef,
    evaluate,
)

DOCS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/pipewarden/build-x"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/build-x/session-1"
CARLOS = f"arn:aws:iam::{ACCOUNT}:user/carlossalazar"


def policy(*statements: dict[str, Any], name: str = "identity", version: str = "2012-10-17") -> Policy:
    """A policy document holding `statements`."""
    return Policy(name, {"Version": version, "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def request(
    action: str, resource: str = "*", principal: str = SESSION, context: dict[str, Any] | None = None
) -> Request:
    return Request(principal, action, resource, context or {})


def allowed(req: Request, *statements: dict[str, Any], version: str = "2012-10-17") -> bool:
    """Whether one identity-based policy of `statements` allows `req`."""
    return evaluate(req, [policy(*statements, version=version)]).allowed


def condition_holds(condition: dict[str, Any], context: dict[str, Any]) -> bool:
    """Whether a statement allowing everything under `condition` allows a request with `context`."""
    return allowed(
        request("s3:GetObject", "arn:aws:s3:::b/k", context=context), allow("*", Condition=condition)
    )


# --- Evaluation logic --------------------------------------------------------------------------------


CARLOS_POLICY = policy(
    {
        "Sid": "AllowS3ListRead",
        "Effect": "Allow",
        "Action": [
            "s3:GetBucketLocation",
            "s3:GetAccountPublicAccessBlock",
            "s3:ListAccessPoints",
            "s3:ListAllMyBuckets",
        ],
        "Resource": "arn:aws:s3:::*",
    },
    {
        "Sid": "AllowS3Self",
        "Effect": "Allow",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
    },
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
    name="user/carlossalazar inline",
)
CARLOS_BUCKET_POLICY = policy(
    {
        "Effect": "Allow",
        "Principal": {"AWS": CARLOS},
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
    },
    name="bucket carlossalazar",
)


def test_explicit_deny_in_identity_policy_overrides_its_allows() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html
    # (example identity-based and resource-based policy evaluation)
    req = request("s3:PutObject", "arn:aws:s3:::carlossalazar-logs/file.txt", CARLOS)
    decision = evaluate(req, [CARLOS_POLICY], resource_policies=[CARLOS_BUCKET_POLICY])
    assert decision.reason == "explicit-deny"
    assert decision.policy_type == IDENTITY_POLICY
    assert decision.denied_by == StatementRef("user/carlossalazar inline", "DenyS3Logs", 2)


def test_identity_or_resource_based_policy_allowing_is_enough_in_the_same_account() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html
    # "If either the identity-based policy or the resource-based policy within the same account
    # allows the request and the other doesn't, the request is still allowed."
    req = request("s3:PutObject", "arn:aws:s3:::carlossalazar/file.txt", CARLOS)
    both = evaluate(req, [CARLOS_POLICY], resource_policies=[CARLOS_BUCKET_POLICY])
    assert both == Decision(
        True, "allowed", "", (StatementRef("user/carlossalazar inline", "AllowS3Self", 1),), None
    )
    assert evaluate(req, [], resource_policies=[CARLOS_BUCKET_POLICY]).allowed
    assert evaluate(req, [CARLOS_POLICY]).allowed


def test_implicit_deny_explicit_deny_and_allow_in_one_policy() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html
    get_list = policy(
        {"Sid": "AllowGetList", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
        {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"},
    )
    assert evaluate(request("iam:GetRole"), [get_list]).allowed
    reports = evaluate(request("iam:GetOrganizationsAccessReport"), [get_list])
    assert (reports.reason, reports.denied_by) == (
        "explicit-deny",
        StatementRef("identity", "DenyReports", 1),
    )
    # The Allow still matches: allowed_by names it even though the Deny decided.
    assert reports.allowed_by == (StatementRef("identity", "AllowGetList", 0),)
    create = evaluate(request("iam:CreatePolicy"), [get_list])
    assert (create.allowed, create.reason, create.policy_type) == (False, "no-allow", IDENTITY_POLICY)


def test_allowed_by_names_every_identity_statement_that_allows() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
    # ("If any statement in any applicable identity-based policies allows the requested action")
    first = policy(allow("ecr:PutImage"), allow("ecr:*", Sid="Ecr"), name="role inline:build")
    second = policy(allow("s3:GetObject"), allow("*"), name="role managed:admin")
    decision = evaluate(request("ecr:PutImage"), [first, second])
    assert decision.allowed_by == (
        StatementRef("role inline:build", "", 0),
        StatementRef("role inline:build", "Ecr", 1),
        StatementRef("role managed:admin", "", 1),
    )


def test_no_identity_policy_means_implicit_deny() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
    decision = evaluate(request("s3:GetObject", "arn:aws:s3:::b/k"), [])
    assert decision == Decision(False, "no-allow", IDENTITY_POLICY, (), None)


def test_service_control_policies_must_allow_when_present() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
    # ("If the enforcement code does not find any applicable Allow statements in the SCPs ... Deny")
    admin = policy(allow("*"))
    scp = policy(allow(["codecommit:*", "codebuild:*"]), name="scp pipelines-only")
    assert evaluate(request("codebuild:StartBuild"), [admin], scps=[scp]).allowed
    outside = evaluate(request("ecs:UpdateService"), [admin], scps=[scp])
    assert (outside.reason, outside.policy_type) == ("no-allow", SERVICE_CONTROL_POLICY)
    # No SCP given: nothing to pass.
    assert evaluate(request("ecs:UpdateService"), [admin]).allowed


def test_service_control_policy_allow_grants_nothing_by_itself() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
    # (identity-based policies with Organizations SCPs: "must be allowed by both")
    full_access = policy(allow("*"), name="scp FullAWSAccess")
    decision = evaluate(request("s3:GetObject", "arn:aws:s3:::b/k"), [], scps=[full_access])
    assert (decision.reason, decision.policy_type) == ("no-allow", IDENTITY_POLICY)


def test_explicit_deny_in_a_service_control_policy_beats_every_allow() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
    # (access denied due to a Service Control Policy)
    scp = policy(allow("*"), deny("codecommit:ListRepositories"), name="scp")
    bucket = policy({**allow("*"), "Principal": "*"}, name="resource")
    decision = evaluate(request("codecommit:ListRepositories"), [policy(allow("*"))], scps=[scp])
    assert (decision.reason, decision.policy_type, decision.denied_by) == (
        "explicit-deny",
        SERVICE_CONTROL_POLICY,
        StatementRef("scp", "", 1),
    )
    assert not evaluate(
        request("codecommit:ListRepositories"), [], scps=[scp], resource_policies=[bucket]
    ).allowed


def test_root_user_has_full_access_unless_explicitly_denied() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
    # ("all requests are implicitly denied with the exception of the AWS account root user")
    root = f"arn:aws:iam::{ACCOUNT}:root"
    assert evaluate(request("iam:CreateRole", principal=root), []).allowed
    scp = policy(allow("*"), deny("iam:CreateRole"), name="scp")
    assert evaluate(request("iam:CreateRole", principal=root), [], scps=[scp]).reason == "explicit-deny"


# Permissions boundaries: the X-Company example of access_policies_boundaries.html.

XCOMPANY_BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/XCompanyBoundaries"
XCOMPANY_BOUNDARIES = policy(
    {
        "Sid": "ServiceBoundaries",
        "Effect": "Allow",
        "Action": ["s3:*", "cloudwatch:*", "ec2:*", "dynamodb:*"],
        "Resource": "*",
    },
    {
        "Sid": "AllowIAMConsoleForCredentials",
        "Effect": "Allow",
        "Action": ["iam:ListUsers", "iam:GetAccountPasswordPolicy"],
        "Resource": "*",
    },
    {
        "Sid": "AllowManageOwnPasswordAndAccessKeys",
        "Effect": "Allow",
        "Action": [
            "iam:*AccessKey*",
            "iam:ChangePassword",
            "iam:GetUser",
            "iam:*ServiceSpecificCredential*",
            "iam:*SigningCertificate*",
        ],
        "Resource": ["arn:aws:iam::*:user/${aws:username}"],
    },
    {
        "Sid": "DenyS3Logs",
        "Effect": "Deny",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"],
    },
    {
        "Sid": "DenyEC2Production",
        "Effect": "Deny",
        "Action": "ec2:*",
        "Resource": "arn:aws:ec2:*:*:instance/i-1234567890abcdef0",
    },
    name="XCompanyBoundaries",
)
DELEGATED_USER_BOUNDARY = policy(
    {
        "Sid": "CreateOrChangeOnlyWithBoundary",
        "Effect": "Allow",
        "Action": [
            "iam:AttachUserPolicy",
            "iam:CreateUser",
            "iam:DeleteUserPolicy",
            "iam:DetachUserPolicy",
            "iam:PutUserPermissionsBoundary",
            "iam:PutUserPolicy",
        ],
        "Resource": "*",
        "Condition": {"StringEquals": {"iam:PermissionsBoundary": XCOMPANY_BOUNDARY_ARN}},
    },
    {
        "Sid": "CloudWatchAndOtherIAMTasks",
        "Effect": "Allow",
        "Action": ["cloudwatch:*", "iam:CreateAccessKey", "iam:GetUser", "iam:ListUsers"],
        "NotResource": f"arn:aws:iam::{ACCOUNT}:user/Maria",
    },
    {
        "Sid": "NoBoundaryPolicyEdit",
        "Effect": "Deny",
        "Action": ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion"],
        "Resource": [XCOMPANY_BOUNDARY_ARN, f"arn:aws:iam::{ACCOUNT}:policy/DelegatedUserBoundary"],
    },
    {
        "Sid": "NoBoundaryUserDelete",
        "Effect": "Deny",
        "Action": "iam:DeleteUserPermissionsBoundary",
        "Resource": "*",
    },
    name="DelegatedUserBoundary",
)
DELEGATED_USER_PERMISSIONS = policy(
    {"Sid": "IAM", "Effect": "Allow", "Action": "iam:*", "Resource": "*"},
    {
        "Sid": "CloudWatchLimited",
        "Effect": "Allow",
        "Action": ["cloudwatch:GetDashboard", "cloudwatch:ListDashboards"],
        "Resource": "*",
    },
    {
        "Sid": "S3BucketContents",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::ZhangBucket",
    },
    name="DelegatedUserPermissions",
)
ZHANG = f"arn:aws:iam::{ACCOUNT}:user/Zhang"
NIKHIL = f"arn:aws:iam::{ACCOUNT}:user/Nikhil"


def zhang(action: str, resource: str = "*", context: dict[str, Any] | None = None) -> Decision:
    req = request(action, resource, ZHANG, context)
    return evaluate(req, [DELEGATED_USER_PERMISSIONS], boundaries=[DELEGATED_USER_BOUNDARY])


def test_boundary_and_identity_policy_intersect() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
    # (Task 3: IAM limited by the boundary, CloudWatch by the permissions policy, no S3 at all)
    assert zhang("cloudwatch:GetDashboard").allowed
    # The boundary allows all of CloudWatch, the permissions policy only some of it.
    assert zhang("cloudwatch:PutDashboard").policy_type == IDENTITY_POLICY
    s3 = zhang("s3:ListBucket", "arn:aws:s3:::ZhangBucket")
    assert (s3.reason, s3.policy_type) == ("no-allow", PERMISSIONS_BOUNDARY)
    assert s3.allowed_by == (StatementRef("DelegatedUserPermissions", "S3BucketContents", 2),)


def test_boundary_requires_the_permissions_boundary_on_new_users() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
    # (Task 4: CreateUser fails without the XCompanyBoundaries boundary, succeeds with it)
    new_user = f"arn:aws:iam::{ACCOUNT}:user/Nikhil"
    assert zhang("iam:CreateUser", new_user, {"iam:PermissionsBoundary": XCOMPANY_BOUNDARY_ARN}).allowed
    without = zhang("iam:CreateUser", new_user)
    assert (without.reason, without.policy_type) == ("no-allow", PERMISSIONS_BOUNDARY)
    other = zhang(
        "iam:CreateUser", new_user, {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/Admin"}
    )
    assert not other.allowed


def test_create_role_only_with_the_pipeline_boundary() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html
    # (iam:PermissionsBoundary works with ARN operators; same pattern as the boundaries page's CreateUser)
    boundary_arn = f"arn:aws:iam::{ACCOUNT}:policy/pipewarden/build-boundary"
    create_roles = policy(
        allow(
            ["iam:CreateRole", "iam:PutRolePermissionsBoundary"],
            f"arn:aws:iam::{ACCOUNT}:role/pipewarden/*",
            Condition={"ArnEquals": {"iam:PermissionsBoundary": boundary_arn}},
        )
    )
    role = f"arn:aws:iam::{ACCOUNT}:role/pipewarden/build-y"
    assert evaluate(
        request("iam:CreateRole", role, context={"iam:PermissionsBoundary": boundary_arn}), [create_roles]
    ).allowed
    assert not evaluate(request("iam:CreateRole", role), [create_roles]).allowed
    outside = f"arn:aws:iam::{ACCOUNT}:role/admin"
    assert not evaluate(
        request("iam:CreateRole", outside, context={"iam:PermissionsBoundary": boundary_arn}), [create_roles]
    ).allowed


def test_explicit_deny_in_boundary_and_not_resource_allow() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
    # (NoBoundaryPolicyEdit; CloudWatchAndOtherIAMTasks with NotResource user/Maria)
    edit = zhang("iam:DeletePolicy", XCOMPANY_BOUNDARY_ARN)
    assert (edit.reason, edit.policy_type) == ("explicit-deny", PERMISSIONS_BOUNDARY)
    assert edit.denied_by == StatementRef("DelegatedUserBoundary", "NoBoundaryPolicyEdit", 2)
    assert zhang("iam:CreateAccessKey", NIKHIL).allowed
    assert (
        zhang("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/Maria").policy_type == PERMISSIONS_BOUNDARY
    )


def test_resource_policy_naming_a_user_is_not_limited_by_the_boundary() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
    # (Nikhil: the secret's resource-based policy works despite the boundary; the logs bucket does not,
    # because the boundary denies it explicitly)
    read_only = policy(allow(["iam:*", "s3:Get*", "s3:List*"]), name="Nikhil")
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
    secret_policy = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": NIKHIL},
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
        },
        name="secret db",
    )
    get_secret = request("secretsmanager:GetSecretValue", secret, NIKHIL)
    assert evaluate(
        get_secret, [read_only], boundaries=[XCOMPANY_BOUNDARIES], resource_policies=[secret_policy]
    ).allowed
    assert not evaluate(get_secret, [read_only], boundaries=[XCOMPANY_BOUNDARIES]).allowed

    logs_policy = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": NIKHIL},
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::logs/*",
        },
        name="bucket logs",
    )
    put_log = request("s3:PutObject", "arn:aws:s3:::logs/today", NIKHIL)
    decision = evaluate(
        put_log, [read_only], boundaries=[XCOMPANY_BOUNDARIES], resource_policies=[logs_policy]
    )
    assert (decision.reason, decision.policy_type) == ("explicit-deny", PERMISSIONS_BOUNDARY)


def test_boundary_policy_variable_resolves_the_callers_user_name() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
    # (AllowManageOwnPasswordAndAccessKeys: "arn:aws:iam::*:user/${aws:username}")
    iam_admin = policy(allow("iam:*"))
    own = request("iam:CreateAccessKey", NIKHIL, NIKHIL)
    other = request("iam:CreateAccessKey", ZHANG, NIKHIL)
    assert evaluate(own, [iam_admin], boundaries=[XCOMPANY_BOUNDARIES]).allowed
    assert evaluate(other, [iam_admin], boundaries=[XCOMPANY_BOUNDARIES]).policy_type == PERMISSIONS_BOUNDARY


# Role ARN vs role session ARN in a resource-based policy.

ONLY_S3_BOUNDARY = policy(allow("s3:GetObject"), name="boundary")
REPOSITORY = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/app"


def repository_policy(principal: Any) -> Policy:
    return policy(
        {"Effect": "Allow", "Principal": principal, "Action": "ecr:PutImage", "Resource": REPOSITORY},
        name="repository app",
    )


def test_resource_policy_naming_the_session_is_not_limited_by_boundary_or_identity_policy() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
    # ("IAM role session ... Permissions granted directly to a session are not limited by an implicit
    # deny in an identity-based policy, a permissions boundary, or session policy.")
    decision = evaluate(
        request("ecr:PutImage", REPOSITORY),
        [],
        boundaries=[ONLY_S3_BOUNDARY],
        resource_policies=[repository_policy({"AWS": SESSION})],
    )
    assert decision == Decision(True, "allowed", "", (), None)


def test_resource_policy_naming_the_role_is_limited_by_the_boundary() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
    # ("IAM role - Resource-based policies that grant permissions to an IAM role ARN are limited by an
    # implicit deny in a permissions boundary or session policy.")
    role_grant = repository_policy({"AWS": ROLE})
    put = request("ecr:PutImage", REPOSITORY)
    limited = evaluate(put, [], boundaries=[ONLY_S3_BOUNDARY], resource_policies=[role_grant])
    assert (limited.reason, limited.policy_type) == ("no-allow", PERMISSIONS_BOUNDARY)
    # The role ARN stands in for an identity-based policy: no boundary, or one that allows, and it passes.
    assert evaluate(put, [], resource_policies=[role_grant]).allowed
    ecr_boundary = policy(allow("ecr:*"), name="boundary")
    assert evaluate(put, [], boundaries=[ecr_boundary], resource_policies=[role_grant]).allowed


def test_role_is_matched_by_name_or_by_aws_principal_arn() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
    # (IAM role principals; a session ARN leaves the role's path out, aws:PrincipalArn has it)
    put = request("ecr:PutImage", REPOSITORY)
    other_path = repository_policy({"AWS": f"arn:aws:iam::{ACCOUNT}:role/elsewhere/build-x"})
    assert evaluate(put, [], resource_policies=[other_path]).allowed
    pinned = request("ecr:PutImage", REPOSITORY, context={"aws:PrincipalArn": ROLE})
    assert not evaluate(pinned, [], resource_policies=[other_path]).allowed
    assert evaluate(pinned, [], resource_policies=[repository_policy({"AWS": ROLE})]).allowed
    other_role = repository_policy({"AWS": f"arn:aws:iam::{ACCOUNT}:role/pipewarden/deploy"})
    assert not evaluate(put, [], resource_policies=[other_role]).allowed


@pytest.mark.parametrize("account", [ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"])
def test_resource_policy_naming_the_account_leaves_the_decision_to_identity_policies(account: str) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
    # ("The account ARN and the shortened account ID behave the same way. Both delegate permissions
    # to the account.")
    put = request("ecr:PutImage", REPOSITORY)
    grant = repository_policy({"AWS": account})
    assert evaluate(put, [], resource_policies=[grant]).policy_type == IDENTITY_POLICY
    assert evaluate(put, [policy(allow("ecr:PutImage"))], resource_policies=[grant]).allowed


def test_resource_policy_explicit_deny_for_the_account() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
    # (deny evaluation covers resource-based policies)
    lock = policy(
        {"Effect": "Deny", "Principal": {"AWS": ACCOUNT}, "Action": "ecr:PutImage", "Resource": REPOSITORY},
        name="repository app",
    )
    decision = evaluate(request("ecr:PutImage", REPOSITORY), [policy(allow("*"))], resource_policies=[lock])
    assert (decision.reason, decision.policy_type) == ("explicit-deny", RESOURCE_POLICY)


# --- Statement matching: Action, Resource, Principal -------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("iam:ListAccessKeys", "IAM:listaccesskeys", True),
        ("IAM:listaccesskeys", "iam:ListAccessKeys", True),
        ("s3:*", "s3:GetObject", True),
        ("iam:*AccessKey*", "iam:CreateAccessKey", True),
        ("iam:*AccessKey*", "iam:UpdateAccessKey", True),
        ("iam:*AccessKey*", "iam:CreateUser", False),
        ("*", "codebuild:StartBuild", True),
        ("s3:Get?bject", "s3:GetObject", True),
        ("s3:Get?bject", "s3:GetObjectAcl", False),
        ("s3:GetObject", "s3:GetObjectAcl", False),
    ],
)
def test_action_matching_is_case_insensitive_with_wildcards(
    pattern: str, action: str, expected: bool
) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
    # ("The prefix and the action name are case insensitive"; "iam:*AccessKey*")
    assert allowed(request(action, "*"), allow(pattern)) is expected


def test_not_action_with_allow_matches_every_other_action() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html
    everything_but_iam = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    assert allowed(request("s3:GetObject", "arn:aws:s3:::b/k"), everything_but_iam)
    assert not allowed(request("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/x"), everything_but_iam)


def test_not_action_with_allow_is_scoped_by_resource() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html
    # ("This does not allow users to use the ListAllMyBuckets S3 API operation, because that action
    # requires the "*" resource.")
    s3_but_delete = {"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "arn:aws:s3:::*"}
    assert allowed(request("s3:PutObject", "arn:aws:s3:::b/k"), s3_but_delete)
    assert not allowed(request("s3:DeleteBucket", "arn:aws:s3:::b"), s3_but_delete)
    assert not allowed(request("s3:ListAllMyBuckets", "*"), s3_but_delete)


def test_not_action_and_not_resource_deny_everything_but_one_bucket() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_s3_deny-except-bucket.html
    only_bucket = (
        allow("s3:*", ["arn:aws:s3:::bucket-name", "arn:aws:s3:::bucket-name/*"]),
        {
            "Effect": "Deny",
            "NotAction": "s3:*",
            "NotResource": ["arn:aws:s3:::bucket-name", "arn:aws:s3:::bucket-name/*"],
        },
    )
    admin = allow("*")
    assert allowed(request("s3:GetObject", "arn:aws:s3:::bucket-name/k"), *only_bucket, admin)
    assert not allowed(request("ec2:RunInstances", "*"), *only_bucket, admin)
    # An S3 action on another bucket is not denied by NotAction s3:* - and is allowed by the admin statement.
    assert allowed(request("s3:GetObject", "arn:aws:s3:::other/k"), *only_bucket, admin)


def test_not_resource_deny_protects_everything_but_the_listed_resources() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html
    # (HRPayroll: deny all S3 except the Payroll folder; it grants nothing by itself)
    payroll = {
        "Effect": "Deny",
        "Action": "s3:*",
        "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"],
    }
    grant = allow(["s3:*", "ec2:*"])
    assert allowed(request("s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/2026.csv"), payroll, grant)
    denied = evaluate(request("s3:GetObject", "arn:aws:s3:::HRBucket/Other/x"), [policy(payroll, grant)])
    assert denied.reason == "explicit-deny"
    assert allowed(request("ec2:RunInstances", "*"), payroll, grant)
    assert not allowed(request("s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/2026.csv"), payroll)


WILDCARD_OBJECTS = "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*/test/*"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("1/test/object.jpg", True),
        ("1/2/test/object.jpg", True),
        ("1/2/test/3/object.jpg", True),
        ("1/2/3/test/4/object.jpg", True),
        ("1///test///object.jpg", True),
        ("1/test/.jpg", True),
        ("/test/object.jpg", True),
        ("1/test/", True),
        ("1-test/object.jpg", False),
        ("test/object.jpg", False),
        ("1/2/test.jpg", False),
    ],
)
def test_resource_wildcard_spans_slashes(key: str, expected: bool) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
    # (Using wildcards in resource ARNs: the DOC-EXAMPLE-BUCKET/*/test/* lists)
    resource = f"arn:aws:s3:::DOC-EXAMPLE-BUCKET/{key}"
    assert allowed(request("s3:GetObject", resource), allow("s3:GetObject", WILDCARD_OBJECTS)) is expected


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        # ARNs are case-sensitive: "In the Resource element, the IAM user name is case sensitive."
        (f"arn:aws:iam::{ACCOUNT}:user/Bob", f"arn:aws:iam::{ACCOUNT}:user/Bob", True),
        (f"arn:aws:iam::{ACCOUNT}:user/Bob", f"arn:aws:iam::{ACCOUNT}:user/bob", False),
        ("arn:aws:iam::*:role/x", f"arn:aws:iam::{ACCOUNT}:role/x", True),
        ("arn:aws:iam::*:role/x", f"arn:aws:iam::{ACCOUNT}:role/y", False),
        ("arn:aws:s3:::*", "arn:aws:s3:::b/k", True),
        ("arn:aws:s3:::*", "*", False),
        ("*", "*", True),
        ("*", "arn:aws:s3:::b/k", True),
        ("arn:aws:sqs:us-east-?:*:queue1", f"arn:aws:sqs:us-east-2:{ACCOUNT}:queue1", True),
        # A * ending a segment can expand beyond the colons that follow it.
        ("arn:aws:ec2:*", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-1", True),
        (
            "arn:aws:logs:*:*:log-group:/aws/codebuild/*",
            "arn:aws:logs:r:1:log-group:/aws/codebuild/p:log-stream:s",
            True,
        ),
        # Within a segment a wildcard stays within it.
        ("arn:aws:logs:us-east-1:1:log-group:a*b", "arn:aws:logs:us-east-1:1:log-group:a:b", False),
        ("arn:aws:s3:::*log*", "arn:aws:s3:::carlossalazar-logs", True),
    ],
)
def test_resource_arn_matching(pattern: str, resource: str, expected: bool) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
    assert allowed(request("svc:Act", resource), allow("svc:Act", pattern)) is expected


def test_resource_policy_principal_star_allows_everyone() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
    # ("For IAM users and role principals within your account, no other permissions are required."
    # "Principal": "*" and {"AWS": "*"} are equivalent)
    for principal in ("*", {"AWS": "*"}):
        assert evaluate(
            request("ecr:PutImage", REPOSITORY), [], resource_policies=[repository_policy(principal)]
        ).allowed


def test_principal_arns_are_matched_exactly_and_case_sensitively() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
    # ("In a Principal element, the user name part of the Amazon Resource Name (ARN) is case sensitive.")
    grant = repository_policy({"AWS": f"arn:aws:iam::{ACCOUNT}:user/Carlos"})
    assert evaluate(
        request("ecr:PutImage", REPOSITORY, f"arn:aws:iam::{ACCOUNT}:user/Carlos"),
        [],
        resource_policies=[grant],
    ).allowed
    assert not evaluate(
        request("ecr:PutImage", REPOSITORY, f"arn:aws:iam::{ACCOUNT}:user/carlos"),
        [],
        resource_policies=[grant],
    ).allowed


def test_resource_policy_grant_still_needs_the_service_control_policies() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
    # (Organizations SCPs are checked before resource-based policies)
    scp = policy(allow("s3:*"), name="scp")
    decision = evaluate(
        request("ecr:PutImage", REPOSITORY),
        [],
        scps=[scp],
        resource_policies=[repository_policy({"AWS": SESSION})],
    )
    assert (decision.reason, decision.policy_type) == ("no-allow", SERVICE_CONTROL_POLICY)


def test_service_principal_in_a_role_trust_policy() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
    # (AWS service principals; a trust policy has no Resource element)
    trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": ["ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        },
        name="role trust",
    )
    assume = request("sts:AssumeRole", ROLE, "ecs.amazonaws.com")
    assert evaluate(assume, [], resource_policies=[trust]).allowed
    other = request("sts:AssumeRole", ROLE, "codebuild.amazonaws.com")
    assert not evaluate(other, [], resource_policies=[trust]).allowed
    assert not evaluate(request("sts:AssumeRole", ROLE), [], resource_policies=[trust]).allowed


BOB = "arn:aws:iam::444455556666:user/Bob"
ALICE = "arn:aws:iam::444455556666:user/Alice"


def not_bob(*exempt: str) -> Policy:
    return policy(
        {
            "Effect": "Deny",
            "NotPrincipal": {"AWS": list(exempt)},
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::BUCKETNAME", "arn:aws:s3:::BUCKETNAME/*"],
        },
        name="bucket BUCKETNAME",
    )


def test_not_principal_with_deny_exempts_only_principals_named_with_their_account() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
    # ("If the NotPrincipal element contained only Bob's ARN, the effect of the policy might be to
    # explicitly deny access to the AWS account that contains the user Bob.")
    admin = policy(allow("s3:*"))
    get = "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k"
    with_account = not_bob(BOB, "arn:aws:iam::444455556666:root")
    assert evaluate(request(*get, BOB), [admin], resource_policies=[with_account]).allowed
    assert evaluate(request(*get, ALICE), [admin], resource_policies=[with_account]).reason == "explicit-deny"
    assert evaluate(request(*get, BOB), [admin], resource_policies=[not_bob(BOB)]).reason == "explicit-deny"


def test_not_principal_with_deny_for_a_role_session_needs_session_role_and_account() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
    # (IAM role example: the assumed-role user, the role and the account)
    session = "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app"
    role = "arn:aws:iam::444455556666:role/cross-account-read-only-role"
    admin = policy(allow("s3:*"))
    get = request("s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", session)
    assert evaluate(get, [admin], resource_policies=[not_bob(session, role, "444455556666")]).allowed
    assert not evaluate(get, [admin], resource_policies=[not_bob(session, "444455556666")]).allowed


def test_not_principal_with_deny_always_denies_principals_with_a_boundary() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
    # ("The NotPrincipal element with a Deny effect will always deny any IAM principal that has a
    # permissions boundary policy attached, regardless of the values specified")
    admin = policy(allow("s3:*"))
    get = request("s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", BOB)
    exempt = not_bob(BOB, "arn:aws:iam::444455556666:root")
    decision = evaluate(get, [admin], boundaries=[policy(allow("*"), name="b")], resource_policies=[exempt])
    assert (decision.reason, decision.policy_type) == ("explicit-deny", RESOURCE_POLICY)


# --- Policy variables ------------------------------------------------------------------------------


def test_aws_username_in_resource_gives_each_user_a_home_folder() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
    # (Resource element: "arn:aws:s3:::mybucket/${aws:username}/*")
    home = allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::mybucket/${aws:username}/*")
    david = f"arn:aws:iam::{ACCOUNT}:user/David"
    assert allowed(request("s3:GetObject", "arn:aws:s3:::mybucket/David/notes.txt", david), home)
    assert not allowed(request("s3:GetObject", "arn:aws:s3:::mybucket/Adele/notes.txt", david), home)
    # A role session has no aws:username: the resource matches nothing.
    assert not allowed(request("s3:GetObject", "arn:aws:s3:::mybucket/David/notes.txt"), home)


def test_principal_tag_in_resource_matches_nothing_when_the_tag_is_missing() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
    # ("the resource that includes a policy variable with no value will not match any resource")
    department = allow("s3:*", "arn:aws:s3:::bucket/${aws:PrincipalTag/department}")
    tagged = {"aws:PrincipalTag/department": "hr"}
    assert allowed(request("s3:GetObject", "arn:aws:s3:::bucket/hr", context=tagged), department)
    assert not allowed(request("s3:GetObject", "arn:aws:s3:::bucket/hr"), department)
    # ... which in a NotResource means that entry excludes nothing.
    not_department = {
        "Effect": "Allow",
        "Action": "s3:*",
        "NotResource": "arn:aws:s3:::bucket/${aws:PrincipalTag/department}",
    }
    assert allowed(request("s3:GetObject", "arn:aws:s3:::bucket/hr"), not_department)


def test_variable_default_value_applies_when_the_key_is_missing() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
    # (Specifying default values: "${aws:PrincipalTag/team, 'company-wide'}")
    team = allow("s3:*", "arn:aws:s3:::DOC-EXAMPLE-BUCKET-${aws:PrincipalTag/team, 'company-wide'}")
    yellow = {"aws:PrincipalTag/team": "yellow"}
    assert allowed(request("s3:ListBucket", "arn:aws:s3:::DOC-EXAMPLE-BUCKET-yellow", context=yellow), team)
    assert not allowed(
        request("s3:ListBucket", "arn:aws:s3:::DOC-EXAMPLE-BUCKET-company-wide", context=yellow), team
    )
    assert allowed(request("s3:ListBucket", "arn:aws:s3:::DOC-EXAMPLE-BUCKET-company-wide"), team)


def test_principal_account_and_any_context_key_as_variables() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
    # ("Global condition context keys can be used as variables"; key names are case-insensitive)
    same_account = allow(
        "s3:*", Condition={"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}
    )
    assert allowed(request("s3:GetObject", context={"aws:ResourceAccount": ACCOUNT}), same_account)
    assert not allowed(request("s3:GetObject", context={"aws:ResourceAccount": "999999999999"}), same_account)
    by_key = allow(
        "codebuild:StartBuild", "arn:aws:codebuild:us-east-1:*:project/${codebuild:ProjectPrefix}-*"
    )
    project = f"arn:aws:codebuild:us-east-1:{ACCOUNT}:project/pw-app"
    assert allowed(
        request("codebuild:StartBuild", project, context={"CODEBUILD:projectprefix": "pw"}), by_key
    )


def test_special_variables_stand_for_literal_characters() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
    # (Special characters: ${*}, ${?}, ${$})
    literal = allow("s3:*", Condition={"StringLike": {"s3:prefix": "a${*}b${?}${$}"}})
    assert allowed(request("s3:ListBucket", context={"s3:prefix": "a*b?$"}), literal)
    assert not allowed(request("s3:ListBucket", context={"s3:prefix": "axbyz$"}), literal)
    assert allowed(request("s3:GetObject", "arn:aws:s3:::b/a*"), allow("s3:*", "arn:aws:s3:::b/a${*}"))
    assert not allowed(request("s3:GetObject", "arn:aws:s3:::b/ab"), allow("s3:*", "arn:aws:s3:::b/a${*}"))


def test_variables_are_plain_text_before_version_2012_10_17() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
    # ("If you don't include the Version element ... variables like ${aws:username} are treated as
    # literal strings")
    david = f"arn:aws:iam::{ACCOUNT}:user/David"
    home = allow("s3:GetObject", "arn:aws:s3:::mybucket/${aws:username}/*")
    assert not allowed(
        request("s3:GetObject", "arn:aws:s3:::mybucket/David/x", david), home, version="2008-10-17"
    )
    literal = request("s3:GetObject", "arn:aws:s3:::mybucket/${aws:username}/x", david)
    assert allowed(literal, home, version="2008-10-17")


def test_multivalued_key_cannot_be_a_variable() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
    # ("you cannot use a multivalued context key as a policy variable")
    by_tag_key = allow("s3:*", "arn:aws:s3:::b/${aws:TagKeys}")
    assert not allowed(
        request("s3:GetObject", "arn:aws:s3:::b/a", context={"aws:TagKeys": ["a", "b"]}), by_tag_key
    )
    assert allowed(request("s3:GetObject", "arn:aws:s3:::b/a", context={"aws:TagKeys": ["a"]}), by_tag_key)


def test_variable_with_no_value_fails_equals_and_satisfies_not_equals() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
    # (Policy variables with no value: "Access is specifically denied when aws:principaltag/Team is not set.")
    team_guard = deny(
        "s3:GetObject",
        "arn:aws:s3:::example-bucket/*",
        Condition={"StringNotEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}},
    )
    get = allow("s3:GetObject")
    obj = "arn:aws:s3:::example-bucket/report"
    same = {"s3:ExistingObjectTag/Team": "blue", "aws:PrincipalTag/Team": "blue"}
    assert allowed(request("s3:GetObject", obj, context=same), team_guard, get)
    untagged = {"s3:ExistingObjectTag/Team": "blue"}
    assert not allowed(request("s3:GetObject", obj, context=untagged), team_guard, get)
    equals = {"StringEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}}
    assert not condition_holds(equals, untagged)


# --- Conditions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "wanted", "value", "expected"),
    [
        ("StringEquals", "iamuser-admin", "iamuser-admin", True),
        ("StringEquals", "iamuser-admin", "IAMuser-admin", False),
        ("StringNotEquals", "iamuser-admin", "other", True),
        ("StringNotEquals", "iamuser-admin", "iamuser-admin", False),
        ("StringEqualsIgnoreCase", "iamuser-admin", "IAMUSER-Admin", True),
        ("StringNotEqualsIgnoreCase", "iamuser-admin", "IAMUSER-Admin", False),
        ("StringNotEqualsIgnoreCase", "iamuser-admin", "other", True),
        ("StringLike", "home/*", "home/David/", True),
        ("StringLike", "home/*", "HOME/David/", False),
        ("StringLike", "t?.*", "t2.micro", True),
        ("StringLike", "t?.*", "t22.micro", False),
        ("StringLike", "", "", True),
        ("StringNotLike", "home/*", "home/David/", False),
        ("StringNotLike", "home/*", "work/", True),
    ],
)
def test_string_operators(operator: str, wanted: str, value: str, expected: bool) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String
    assert (
        condition_holds(
            {operator: {"aws:PrincipalTag/job-category": wanted}}, {"aws:PrincipalTag/job-category": value}
        )
        is expected
    )


@pytest.mark.parametrize(
    ("operator", "wanted", "value", "expected"),
    [
        ("NumericLessThanEquals", "10", "10", True),
        ("NumericLessThanEquals", "10", "11", False),
        ("NumericLessThan", "10", "9.5", True),
        ("NumericGreaterThan", "10", "10", False),
        ("NumericGreaterThanEquals", "10", "10.0", True),
        ("NumericEquals", 10, "10", True),
        ("NumericNotEquals", "10", "11", True),
        ("NumericEquals", "10", "ten", False),
    ],
)
def test_numeric_operators(operator: str, wanted: Any, value: str, expected: bool) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Numeric
    # (s3:max-keys up to 10)
    assert condition_holds({operator: {"s3:max-keys": wanted}}, {"s3:max-keys": value}) is expected


@pytest.mark.parametrize(
    ("operator", "wanted", "value", "expected"),
    [
        ("DateGreaterThan", "2020-01-01T00:00:01Z", "2020-06-01T12:00:00Z", True),
        ("DateGreaterThan", "2020-01-01T00:00:01Z", "2019-12-31T23:59:59Z", False),
        ("DateGreaterThan", "2020-01-01T00:00:01Z", "1590000000", True),
        ("DateLessThan", "2020-01-01", "2019-12-31T23:59:59+00:00", True),
        ("DateLessThanEquals", "1577836800", "2020-01-01T00:00:00Z", True),
        ("DateEquals", "2020-01-01T01:00:00+01:00", "2020-01-01T00:00:00Z", True),
        ("DateNotEquals", "2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z", True),
        ("DateGreaterThanEquals", "2020-01", "2020-01-01", True),
        ("DateLessThan", "2020-01-01T00:00:00Z", "99999999999999999999", False),
        ("DateLessThan", "2020-01-01T00:00:00Z", "yesterday", False),
    ],
)
def test_date_operators(operator: str, wanted: str, value: str, expected: bool) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Date
    # (W3C ISO 8601 dates or epoch time; the aws:TokenIssueTime example)
    assert (
        condition_holds({operator: {"aws:TokenIssueTime": wanted}}, {"aws:TokenIssueTime": value}) is expected
    )


def test_bool_operator_denies_requests_not_over_ssl() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Boolean
    ssl_only = {
        "Sid": "BooleanExample",
        "Action": "s3:*",
        "Effect": "Deny",
        "Resource": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    get = request(
        "s3:GetObject", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/k", context={"aws:SecureTransport": "false"}
    )
    assert evaluate(get, [policy(ssl_only, allow("s3:*"))]).reason == "explicit-deny"
    secure = request(
        "s3:GetObject", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/k", context={"aws:SecureTransport": "true"}
    )
    assert allowed(secure, ssl_only, allow("s3:*"))
    assert condition_holds({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "True"})


def test_binary_equals_compares_base64_values_byte_for_byte() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_BinaryEquals
    binary = {"BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}
    assert condition_holds(binary, {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="})
    assert not condition_holds(binary, {"key": "T3RoZXJWYWx1ZQ=="})
    assert not condition_holds(binary, {})


def test_null_operator_tests_whether_the_key_exists() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null
    # (the user must not be using temporary credentials: aws:TokenIssueTime must not exist)
    own_credentials = {"Null": {"aws:TokenIssueTime": "true"}}
    assert condition_holds(own_credentials, {})
    assert not condition_holds(own_credentials, {"aws:TokenIssueTime": "2026-01-01T00:00:00Z"})
    assert condition_holds(
        {"Null": {"aws:TokenIssueTime": "false"}}, {"aws:TokenIssueTime": "2026-01-01T00:00:00Z"}
    )


def test_ip_address_operator_mixes_ipv4_and_ipv6() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IPAddress
    ranges = {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}}
    assert condition_holds(ranges, {"aws:SourceIp": "203.0.113.7"})
    assert condition_holds(ranges, {"aws:SourceIp": "2001:db8:1234:5678::1"})
    assert not condition_holds(ranges, {"aws:SourceIp": "198.51.100.1"})
    # An address without a prefix is a /32.
    assert condition_holds({"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:SourceIp": "203.0.113.7"})
    assert not condition_holds(
        {"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:SourceIp": "203.0.113.8"}
    )


def test_not_ip_address_denies_outside_the_company_ranges() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_aws_deny-ip.html
    outside_ranges = {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]},
            "Bool": {"aws:ViaAWSService": "false"},
        },
    }
    admin = allow("*")

    def from_address(address: str, via_service: str = "false") -> bool:
        context = {"aws:SourceIp": address, "aws:ViaAWSService": via_service}
        return allowed(request("s3:GetObject", "arn:aws:s3:::b/k", context=context), outside_ranges, admin)

    assert from_address("203.0.113.10")
    assert not from_address("198.51.100.10")
    assert from_address("198.51.100.10", via_service="true")


def test_arn_equals_matches_the_source_topic() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:builds"
    queue_policy = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ACCOUNT},
            "Action": "SQS:SendMessage",
            "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:notify",
            "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
        },
        name="queue notify",
    )
    identity = [policy(allow("sqs:SendMessage"))]
    send = request(
        "sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:notify", context={"aws:SourceArn": topic}
    )
    assert evaluate(send, identity, resource_policies=[queue_policy]).allowed
    other = request(
        "sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:notify", context={"aws:SourceArn": topic + "2"}
    )
    assert evaluate(other, identity, resource_policies=[queue_policy]).allowed  # identity policy alone allows
    assert not evaluate(other, [], resource_policies=[queue_policy]).allowed


def test_arn_like_matches_each_component_apart_where_string_like_does_not() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN
    # ("With a StringLike condition, the match succeeds ... With an ArnLike condition ... the match fails.")
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    value = {
        "aws:SourceArn": "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    }
    assert condition_holds({"StringLike": {"aws:SourceArn": pattern}}, value)
    assert not condition_holds({"ArnLike": {"aws:SourceArn": pattern}}, value)
    assert condition_holds({"ArnNotLike": {"aws:SourceArn": pattern}}, value)
    good = {"aws:SourceArn": "arn:aws:someservice:us-east-2:111122223333:finance/document.txt"}
    assert condition_holds({"ArnLike": {"aws:SourceArn": pattern}}, good)
    assert condition_holds({"ArnLike": {"aws:SourceArn": "arn:aws:someservice:*"}}, good)
    assert not condition_holds({"ArnEquals": {"aws:SourceArn": pattern}}, {"aws:SourceArn": "not-an-arn"})


def test_if_exists_lets_resources_without_the_key_through() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists
    # (THISPOLICYDOESNOTWORK vs StringLikeIfExists for ec2:InstanceType)
    types = ["t1.*", "t2.*", "m3.*"]
    strict = allow("ec2:RunInstances", Condition={"StringLike": {"ec2:InstanceType": types}})
    if_exists = allow("ec2:RunInstances", Condition={"StringLikeIfExists": {"ec2:InstanceType": types}})
    image = request("ec2:RunInstances", "arn:aws:ec2:us-east-1::image/ami-1")
    instance = request(
        "ec2:RunInstances", "arn:aws:ec2:us-east-1:1:instance/*", context={"ec2:InstanceType": "t2.micro"}
    )
    large = request(
        "ec2:RunInstances", "arn:aws:ec2:us-east-1:1:instance/*", context={"ec2:InstanceType": "c5.large"}
    )
    assert not allowed(image, strict)
    assert allowed(image, if_exists)
    assert allowed(instance, if_exists)
    assert not allowed(large, if_exists)


def test_negated_if_exists_deny_still_applies_when_the_key_is_missing() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists
    # ("If you are using an "Effect": "Deny" element with a negated condition operator like
    # StringNotEqualsIfExists, the request is still denied even if the tag is missing.")
    guard = deny("ec2:*", Condition={"StringNotEqualsIfExists": {"aws:ResourceTag/env": "dev"}})
    assert not allowed(
        request("ec2:StopInstances", context={"aws:ResourceTag/env": "prod"}), guard, allow("*")
    )
    assert allowed(request("ec2:StopInstances", context={"aws:ResourceTag/env": "dev"}), guard, allow("*"))


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("StringEquals", False),
        ("StringLike", False),
        ("NumericEquals", False),
        ("DateEquals", False),
        ("Bool", False),
        ("IpAddress", False),
        ("ArnLike", False),
        ("StringNotEquals", True),
        ("StringNotLike", True),
        ("ArnNotLike", True),
        ("NotIpAddress", True),
        ("NumericNotEquals", True),
        ("StringEqualsIfExists", True),
        ("ArnLikeIfExists", True),
    ],
)
def test_missing_key_makes_operators_false_and_negated_operators_true(operator: str, expected: bool) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
    # ("If the key that you specify in a policy condition is not present in the request context, the
    # values do not match and the condition is false. If the policy condition requires that the key is
    # not matched, such as StringNotLike or ArnNotLike, and the right key is not present, the
    # condition is true.")
    values = {
        "Numeric": "1",
        "Date": "2020-01-01T00:00:00Z",
        "Bool": "true",
        "IpAddress": "203.0.113.0/24",
        "NotIpAddress": "203.0.113.0/24",
        "Arn": "arn:aws:s3:::b",
    }
    value = next((v for prefix, v in values.items() if operator.startswith(prefix)), "x")
    assert condition_holds({operator: {"some:MissingKey": value}}, {"other:Key": "x"}) is expected


def test_several_values_are_or_and_negated_operators_are_nor() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
    # ("If a single negated matching condition operator includes multiple values for a context key,
    # those values are evaluated using a logical NOR.")
    accounts = ["111122223333", "444455556666"]
    assert condition_holds(
        {"StringEquals": {"aws:PrincipalAccount": accounts}}, {"aws:PrincipalAccount": "444455556666"}
    )
    assert not condition_holds(
        {"StringNotEquals": {"aws:PrincipalAccount": accounts}}, {"aws:PrincipalAccount": "444455556666"}
    )
    assert condition_holds(
        {"StringNotEquals": {"aws:PrincipalAccount": accounts}}, {"aws:PrincipalAccount": "777788889999"}
    )


def test_several_keys_and_operators_are_and() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
    # (department and role tags, and the account: all must hold)
    condition = {
        "StringEqualsIgnoreCase": {
            "aws:PrincipalTag/department": ["finance", "hr", "legal"],
            "aws:PrincipalTag/role": ["audit", "security"],
        },
        "StringEquals": {"aws:PrincipalAccount": ACCOUNT},
    }
    everything = {
        "aws:PrincipalTag/department": "HR",
        "aws:PrincipalTag/role": "audit",
        "aws:PrincipalAccount": ACCOUNT,
    }
    assert condition_holds(condition, everything)
    assert not condition_holds(condition, {**everything, "aws:PrincipalTag/role": "dev"})
    assert not condition_holds(condition, {**everything, "aws:PrincipalAccount": "999999999999"})
    no_role = {k: v for k, v in everything.items() if k != "aws:PrincipalTag/role"}
    assert not condition_holds(condition, no_role)


def test_condition_key_names_are_case_insensitive_and_values_case_sensitive() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
    # ("Key names are case-insensitive. For example, aws:CurrentTime is equivalent to AWS:currenttime.")
    condition = {"StringEquals": {"aws:PrincipalTag/Team": "Blue"}}
    assert condition_holds(condition, {"AWS:principaltag/team": "Blue"})
    assert not condition_holds(condition, {"aws:PrincipalTag/Team": "blue"})


def test_for_all_values_requires_every_requested_value_in_the_policy() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
    # (the DynamoDB Thread example: ForAllValues:StringEquals on dynamodb:Attributes)
    attributes = {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["PostDateTime", "Message", "Tags"]}}
    assert condition_holds(attributes, {"dynamodb:Attributes": ["PostDateTime", "Message"]})
    assert not condition_holds(attributes, {"dynamodb:Attributes": ["PostDateTime", "UserName"]})
    # "It also returns true if there are no keys in the request, or if the key values resolve to a
    # null data set"
    assert condition_holds(attributes, {})
    assert condition_holds(attributes, {"dynamodb:Attributes": []})
    assert condition_holds(attributes, {"dynamodb:Attributes": [""]})


def test_for_any_value_needs_one_match_and_is_false_without_values() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
    # (ForAnyValue:StringEquals with Deny on ID and PostDateTime; "For no matching key or a null
    # dataset, the condition returns false.")
    forbidden = deny(
        "dynamodb:PutItem",
        "arn:aws:dynamodb:*:*:table/Thread",
        Condition={"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["ID", "PostDateTime"]}},
    )
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Thread"

    def put(*names: str) -> bool:
        return allowed(
            request("dynamodb:PutItem", table, context={"dynamodb:Attributes": list(names)}),
            forbidden,
            allow("*"),
        )

    assert not put("UserName", "Message", "PostDateTime")
    assert put("UserName")
    assert put()
    assert put("")
    assert allowed(request("dynamodb:PutItem", table), forbidden, allow("*"))


def test_for_all_values_with_a_negated_operator_and_for_any_value_like() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition_examples-multi-valued-context-keys.html
    # (Deny tagging when tag keys use reserved prefixes)
    reserved = deny("iam:Tag*", Condition={"ForAnyValue:StringLike": {"aws:TagKeys": ["key1*", "aws*"]}})
    assert not allowed(
        request("iam:TagRole", context={"aws:TagKeys": ["team", "key1-x"]}), reserved, allow("*")
    )
    assert allowed(request("iam:TagRole", context={"aws:TagKeys": ["team"]}), reserved, allow("*"))
    none_reserved = {"ForAllValues:StringNotLike": {"aws:TagKeys": ["key1*", "aws*"]}}
    assert condition_holds(none_reserved, {"aws:TagKeys": ["team", "owner"]})
    assert not condition_holds(none_reserved, {"aws:TagKeys": ["team", "awsome"]})


def test_tag_keys_in_request_limited_with_for_all_values() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_iam-add-tag.html
    tag_manager = {
        "Sid": "TagManagerWithSpecificDepartment",
        "Effect": "Allow",
        "Action": "iam:TagUser",
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "iam:ResourceTag/JobFunction": "Manager",
                "aws:RequestTag/Department": ["Marketing", "Development", "QualityAssurance"],
            },
            "ForAllValues:StringEquals": {"aws:TagKeys": "Department"},
        },
    }
    context: dict[str, Any] = {
        "iam:ResourceTag/JobFunction": "Manager",
        "aws:RequestTag/Department": "Development",
        "aws:TagKeys": ["Department"],
    }
    target = f"arn:aws:iam::{ACCOUNT}:user/Ana"
    assert allowed(request("iam:TagUser", target, context=context), tag_manager)
    assert not allowed(
        request("iam:TagUser", target, context={**context, "aws:TagKeys": ["Department", "Cost"]}),
        tag_manager,
    )
    assert not allowed(
        request("iam:TagUser", target, context={**context, "aws:RequestTag/Department": "Sales"}), tag_manager
    )
    assert not allowed(
        request("iam:TagUser", target, context={**context, "iam:ResourceTag/JobFunction": "Dev"}), tag_manager
    )


def test_abac_principal_tag_must_equal_resource_tag() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_ec2-start-stop-match-tags.html
    matching = allow(
        ["ec2:startInstances", "ec2:stopInstances"],
        Condition={"StringEquals": {"aws:ResourceTag/CostCenter": "${aws:PrincipalTag/CostCenter}"}},
    )
    instance = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-1"
    same = {"aws:ResourceTag/CostCenter": "0735", "aws:PrincipalTag/CostCenter": "0735"}
    assert allowed(request("ec2:StartInstances", instance, context=same), matching)
    other = {**same, "aws:PrincipalTag/CostCenter": "0736"}
    assert not allowed(request("ec2:StopInstances", instance, context=other), matching)
    untagged = {"aws:ResourceTag/CostCenter": "0735"}
    assert not allowed(request("ec2:StopInstances", instance, context=untagged), matching)


def test_pass_role_only_to_the_named_service() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_iam-passrole-service.html
    pass_to_cloudwatch = allow(
        "iam:PassRole", Condition={"StringEquals": {"iam:PassedToService": "cloudwatch.amazonaws.com"}}
    )
    assert allowed(
        request("iam:PassRole", ROLE, context={"iam:PassedToService": "cloudwatch.amazonaws.com"}),
        pass_to_cloudwatch,
    )
    assert not allowed(
        request("iam:PassRole", ROLE, context={"iam:PassedToService": "ec2.amazonaws.com"}),
        pass_to_cloudwatch,
    )
    assert not allowed(request("iam:PassRole", ROLE), pass_to_cloudwatch)


def test_deny_outside_requested_regions_except_global_services() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_aws_deny-requested-region.html
    regions = {
        "Sid": "DenyAllOutsideRequestedRegions",
        "Effect": "Deny",
        "NotAction": ["cloudfront:*", "iam:*", "route53:*", "support:*"],
        "Resource": "*",
        "Condition": {
            "StringNotEquals": {
                "aws:RequestedRegion": ["eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3"]
            }
        },
    }
    admin = allow("*")
    assert allowed(request("s3:GetObject", context={"aws:RequestedRegion": "eu-west-1"}), regions, admin)
    assert not allowed(request("s3:GetObject", context={"aws:RequestedRegion": "us-east-1"}), regions, admin)
    assert allowed(request("iam:CreateRole", context={"aws:RequestedRegion": "us-east-1"}), regions, admin)


# --- AccessDenied messages -------------------------------------------------------------------------

JOHN = f"arn:aws:iam::{ACCOUNT}:user/JohnDoe"
JOHN_777 = "arn:aws:iam::777788889999:user/JohnDoe"
DEPLOYMENT_GROUPS = f"arn:aws:codedeploy:us-east-1:{ACCOUNT}:deploymentgroup:*"


@pytest.mark.parametrize(
    ("req", "policies", "expected"),
    [
        (
            request("codecommit:ListRepositories", "*", JOHN),
            {"identity": []},
            "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: codecommit:ListRepositories because no identity-based policy allows the codecommit:ListRepositories action",
        ),
        (
            request("codedeploy:ListDeployments", DEPLOYMENT_GROUPS, JOHN),
            {"identity": [policy(deny("codedeploy:ListDeployments"))]},
            "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: codedeploy:ListDeployments on resource: arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:* with an explicit deny in an identity-based policy",
        ),
        (
            request("codedeploy:ListDeployments", DEPLOYMENT_GROUPS, JOHN),
            {"identity": [policy(allow("*"))], "boundaries": [policy(allow("s3:*"), name="b")]},
            "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: codedeploy:ListDeployments on resource: arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:* because no permissions boundary allows the codedeploy:ListDeployments action",
        ),
        (
            request("sagemaker:ListModels", "*", JOHN_777),
            {
                "identity": [policy(allow("*"))],
                "boundaries": [policy(allow("*"), deny("sagemaker:*"), name="b")],
            },
            "User: arn:aws:iam::777788889999:user/JohnDoe is not authorized to perform: sagemaker:ListModels with an explicit deny in a permissions boundary",
        ),
        (
            request("codecommit:ListRepositories", "*", JOHN_777),
            {
                "identity": [policy(allow("*"))],
                "scps": [policy(allow("*"), deny("codecommit:*"), name="scp")],
            },
            "User: arn:aws:iam::777788889999:user/JohnDoe is not authorized to perform: codecommit:ListRepositories with an explicit deny in a service control policy",
        ),
        (
            request(
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
                JOHN,
            ),
            {
                "identity": [policy(allow("*"))],
                "resource_policies": [policy({**deny("secretsmanager:*"), "Principal": "*"}, name="secret")],
            },
            "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:123456789012:secret:* with an explicit deny in a resource-based policy",
        ),
    ],
)
def test_access_denied_messages_as_aws_documents_them(
    req: Request, policies: dict[str, Any], expected: str
) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
    # (Access denied error message examples, reproduced word for word)
    decision = evaluate(req, **policies)
    assert decision.message(req) == expected


def test_implicit_deny_by_service_control_policy_message() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
    # ("When the policy implicitly denies access, then AWS includes the phrase because no type policy
    # allows the action action")
    req = request("s3:GetObject", "arn:aws:s3:::b/k", "arn:aws:sts::123456789012:assumed-role/R/s")
    decision = evaluate(req, [policy(allow("*"))], scps=[policy(allow("ec2:*"), name="scp")])
    assert decision.message(req) == (
        "User: arn:aws:sts::123456789012:assumed-role/R/s is not authorized to perform: s3:GetObject "
        "on resource: arn:aws:s3:::b/k because no service control policy allows the s3:GetObject action"
    )
    assert evaluate(req, [policy(allow("*"))]).message(req) == ""


# --- Malformed documents ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "allow", "Action": "s3:*", "Resource": "*"}]},
            "Effect",
        ),
        (
            {"Statement": [{"Effect": "Allow", "Action": "s3:*", "NotAction": "iam:*", "Resource": "*"}]},
            "not both",
        ),
        ({"Statement": [{"Effect": "Allow", "Resource": "*"}]}, "Action or NotAction is required"),
        (
            {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "NotResource": "x"}]},
            "not both",
        ),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}, "Resource or NotResource is required"),
        (
            {"Statement": [allow("s3:*", Condition={"StringEqual": {"a:b": "c"}})]},
            "unknown condition operator",
        ),
        (
            {"Statement": [allow("s3:*", Condition={"ForSomeValues:StringEquals": {"a:b": "c"}})]},
            "set operator",
        ),
        ({"Statement": [allow("s3:*", Condition={"NullIfExists": {"a:b": "true"}})]}, "Null takes"),
        ({"Statement": [allow("s3:*", Condition={"Null": {"a:b": "maybe"}})]}, "not a valid value"),
        (
            {"Statement": [allow("s3:*", Condition={"NumericLessThan": {"s3:max-keys": "ten"}})]},
            "not a valid value",
        ),
        (
            {"Statement": [allow("s3:*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.300"}})]},
            "not a valid value",
        ),
        (
            {"Statement": [allow("s3:*", Condition={"DateLessThan": {"aws:CurrentTime": "soon"}})]},
            "not a valid value",
        ),
        (
            {"Statement": [allow("s3:*", Condition={"Bool": {"aws:SecureTransport": "yes"}})]},
            "not a valid value",
        ),
        (
            {"Statement": [allow("s3:*", Condition={"StringEquals": {"a:b": {"nested": 1}}})]},
            "condition value",
        ),
        ({"Statement": [allow("s3:*", Condition={"StringEquals": {"a:b": []}})]}, "no condition values"),
        ({"Statement": [allow("s3:*", Condition=["StringEquals"])]}, "Condition must be"),
        ({"Statement": [{**allow("s3:*"), "Principal": "*"}]}, "resource-based policies only"),
        ({"Statement": [{**allow("s3:*"), "Actions": "s3:*"}]}, "unknown statement element"),
        ({"Statement": [allow("s3GetObject")]}, "service:action"),
        ({"Statement": [allow([])]}, "non-empty"),
        ({"Statement": []}, "Statement"),
        ({"Version": "2012-10-17"}, "Statement"),
        ({"Version": "2012-10-18", "Statement": [allow("s3:*")]}, "Version"),
        ({"Statement": [allow("s3:*")], "Statment": []}, "unknown policy element"),
        ({"Statement": [{**allow("s3:*"), "Sid": 7}]}, "Sid"),
        ({"Statement": ["Allow everything"]}, "JSON object"),
    ],
)
def test_malformed_identity_policies_raise(document: dict[str, Any], message: str) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
    with pytest.raises(ValueError, match=message):
        evaluate(request("s3:GetObject", "arn:aws:s3:::b/k"), [Policy("bad", document)])


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (allow("s3:*"), "Principal or NotPrincipal is required"),
        ({**allow("s3:*"), "Principal": {"AWS": "*"}, "NotPrincipal": {"AWS": "*"}}, "not both"),
        ({**allow("s3:*"), "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/*"}}, "wildcard in principal"),
        ({**allow("s3:*"), "Principal": {"Amazon": ACCOUNT}}, "unknown principal type"),
        ({**allow("s3:*"), "Principal": "everyone"}, "principal must be"),
    ],
)
def test_malformed_resource_policies_raise(statement: dict[str, Any], message: str) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
    # ("You cannot use a wildcard to match part of a principal name or ARN.")
    with pytest.raises(ValueError, match=message):
        evaluate(
            request("s3:GetObject", "arn:aws:s3:::b/k"), [], resource_policies=[policy(statement, name="bad")]
        )


def test_malformed_policy_raises_even_when_another_policy_denies_first() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
    # ("If the AWS enforcement code encounters an error at any point during the evaluation, then it
    # generates an exception and closes.")
    scp = policy(deny("*"), name="scp")
    broken = Policy("broken", {"Statement": [{"Effect": "Permit", "Action": "*", "Resource": "*"}]})
    with pytest.raises(ValueError, match="broken statement 0"):
        evaluate(request("s3:GetObject"), [broken], scps=[scp])


# --- Properties ------------------------------------------------------------------------------------

ACTIONS = ["s3:GetObject", "s3:PutObject", "ecr:PutImage", "iam:PassRole"]
RESOURCES = ["*", "arn:aws:s3:::b/k", "arn:aws:s3:::b/other", REPOSITORY, ROLE]
conditions = st.sampled_from(
    [
        None,
        {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
        {"StringNotEquals": {"aws:PrincipalTag/team": "blue"}},
        {"Null": {"aws:PrincipalTag/team": "true"}},
        {"StringLikeIfExists": {"iam:PassedToService": "codebuild.*"}},
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}},
    ]
)


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None, principal: bool = False) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": effect or draw(st.sampled_from(["Allow", "Deny"])),
        draw(st.sampled_from(["Action", "NotAction"])): draw(
            st.sampled_from(["*", "s3:*", "s3:Get*", "ecr:PutImage", "iam:PassRole", "S3:getobject"])
        ),
        draw(st.sampled_from(["Resource", "NotResource"])): draw(
            st.sampled_from(["*", "arn:aws:s3:::b/*", "arn:aws:s3:::b/k", "arn:aws:ecr:*:*:repository/*"])
        ),
    }
    condition = draw(conditions)
    if condition is not None:
        statement["Condition"] = condition
    if principal:
        statement["Principal"] = draw(
            st.sampled_from(["*", {"AWS": SESSION}, {"AWS": ROLE}, {"AWS": ACCOUNT}])
        )
    return statement


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Request, dict[str, list[Policy]]]:
    context: dict[str, Any] = {}
    if draw(st.booleans()):
        context["aws:PrincipalTag/team"] = draw(st.sampled_from(["blue", "red"]))
    if draw(st.booleans()):
        context["aws:TagKeys"] = draw(st.lists(st.sampled_from(["team", "cost"]), max_size=2))
    req = request(draw(st.sampled_from(ACTIONS)), draw(st.sampled_from(RESOURCES)), context=context)

    def policies(name: str, principal: bool = False) -> list[Policy]:
        found = draw(st.lists(statements(principal=principal), max_size=3))
        return [policy(*found, name=name)] if found else []

    return req, {
        "identity": policies("identity"),
        "boundaries": policies("boundary"),
        "scps": policies("scp"),
        "resource_policies": policies("resource", principal=True),
    }


KINDS = ["identity", "boundaries", "scps", "resource_policies"]


@settings(max_examples=300, deadline=None)
@given(scenario=scenarios(), kind=st.sampled_from(KINDS), position=st.integers(min_value=0, max_value=3))
def test_a_matching_explicit_deny_always_wins(
    scenario: tuple[Request, dict[str, list[Policy]]], kind: str, position: int
) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html
    # ("If policies that apply to a request include an Allow statement and a Deny statement, the Deny
    # statement trumps the Allow statement.")
    req, policies = scenario
    deny_all: dict[str, Any] = {"Sid": "DenyAll", "Effect": "Deny", "Action": "*", "Resource": "*"}
    if kind == "resource_policies":
        deny_all["Principal"] = "*"
    existing = list(policies[kind])
    existing.insert(min(position, len(existing)), policy(deny_all, name="deny-all"))
    decision = evaluate(req, **{**policies, kind: existing})
    assert not decision.allowed
    assert decision.reason == "explicit-deny"
    assert decision.denied_by is not None
    assert decision.message(req)


@settings(max_examples=300, deadline=None)
@given(scenario=scenarios(), kind=st.sampled_from(KINDS), data=st.data())
def test_adding_an_allow_statement_never_denies_an_allowed_request(
    scenario: tuple[Request, dict[str, list[Policy]]], kind: str, data: st.DataObject
) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
    # (only a Deny, or a missing Allow, denies). A first boundary or SCP is another matter: with none
    # there is nothing to pass, so the statement goes where that kind already has a policy.
    req, policies = scenario
    assume(kind in ("identity", "resource_policies") or policies[kind])
    before = evaluate(req, **policies)
    extra = data.draw(statements(effect="Allow", principal=kind == "resource_policies"))
    after = evaluate(req, **{**policies, kind: [*policies[kind], policy(extra, name="extra")]})
    if before.allowed:
        assert after.allowed
    assert set(before.allowed_by) <= set(after.allowed_by)


@settings(max_examples=200, deadline=None)
@given(scenario=scenarios())
def test_each_statement_in_allowed_by_allows_the_request_on_its_own(
    scenario: tuple[Request, dict[str, list[Policy]]],
) -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
    # (identity-based policies: "If any statement in any applicable identity-based policies allows the
    # requested action")
    req, policies = scenario
    decision = evaluate(req, **policies)
    documents = {p.name: p.document for p in policies["identity"]}
    for ref in decision.allowed_by:
        statement = documents[ref.policy]["Statement"][ref.index]
        assert evaluate(req, [policy(statement)]).allowed
