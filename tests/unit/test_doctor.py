"""The pure parts of `pipewarden doctor`: what to simulate, how answers read, what a line says."""

from __future__ import annotations

from typing import Any

import pytest

from cli.doctor import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    Check,
    _denials,
    check_allow_list,
    check_region,
    check_stack_status,
    exit_code,
    records_management_writes,
    services_used,
    simulation_source,
)
from cli.needs import by_resource, controller_needs
from sandbox import template as cfn_template
from sandbox.iam import lint, policies

ACCOUNT = "111122223333"


@pytest.fixture(scope="module")
def needs() -> tuple[Any, ...]:
    return controller_needs("pipewarden", ACCOUNT, "eu-west-1")


def test_the_deployer_needs_what_each_create_handler_lists_on_the_stacks_own_resources(needs) -> None:
    # AWS::IAM::Role's schema: create needs iam:CreateRole (and PutRolePolicy for inline policies).
    assert {"iam:CreateRole", "iam:PutRolePolicy"} <= set(
        lint.handler_permissions("AWS::IAM::Role")["create"]
    )
    roles = {n.resource for n in needs if n.action == "iam:CreateRole"}
    assert f"arn:aws:iam::{ACCOUNT}:role/pipewarden-controller/" in " ".join(roles)  # the template's path
    assert all(r.startswith(f"arn:aws:iam::{ACCOUNT}:role/") and "pipewarden-" in r for r in roles)
    # one role per AWS::IAM::Role of the translated template (SAM's function roles included)
    translated = policies.sam_translate(cfn_template.load(policies.CONTROLLER_TEMPLATE), {})
    assert len(roles) == sum(r["Type"] == "AWS::IAM::Role" for r in translated["Resources"].values())
    # Lambda passes each function's own role: iam:PassRole on the role the function references
    passed = {n.resource for n in needs if n.action == "iam:PassRole"}
    assert passed and passed <= roles
    # in the caller's account and region (S3's ARNs have neither, IAM's no region; the transform is AWS's)
    regional = [
        n.resource for n in needs if n.resource != "*" and n.resource.split(":")[2] not in ("s3", "iam")
    ]
    assert all(":eu-west-1:" in r and (f":{ACCOUNT}:" in r or ":aws:transform/" in r) for r in regional)


def test_sam_deploy_needs_the_change_set_the_transform_and_its_artifacts(needs) -> None:
    stack = f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/pipewarden/*"
    on_stack = {n.action for n in needs if n.resource == stack}
    assert {"cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"} <= on_stack
    assert any(n.resource.endswith(":aws:transform/Serverless-2016-10-31") for n in needs)
    assert any(n.action == "s3:PutObject" and "aws-sam-cli-managed-default" in n.resource for n in needs)


def test_a_permission_for_a_property_the_template_leaves_unset_is_not_asked(needs) -> None:
    # AWS::IAM::ManagedPolicy's create handler may attach the policy to groups; the boundary has none
    assert "iam:AttachGroupPolicy" in lint.handler_permissions("AWS::IAM::ManagedPolicy")["create"]
    assert not [n for n in needs if n.action == "iam:AttachGroupPolicy"]


def test_one_simulation_per_resource(needs) -> None:
    grouped = by_resource(needs)
    assert sum(len(actions) for actions in grouped.values()) == len({(n.action, n.resource) for n in needs})
    assert all(len(set(actions)) == len(actions) for actions in grouped.values())


@pytest.mark.parametrize(
    ("caller", "source"),
    [
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/Deployer/ci",
            f"arn:aws:iam::{ACCOUNT}:role/platform/Deployer",
        ),
        (f"arn:aws:iam::{ACCOUNT}:user/ops/alice", f"arn:aws:iam::{ACCOUNT}:user/ops/alice"),
        (f"arn:aws:iam::{ACCOUNT}:root", None),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/bob", None),
    ],
)
def test_the_simulated_principal_is_the_callers_role_or_user(caller: str, source: str | None) -> None:
    paths = {"Deployer": f"arn:aws:iam::{ACCOUNT}:role/platform/Deployer"}
    assert simulation_source(caller, paths.get) == source


def test_a_role_whose_path_cannot_be_read_is_guessed_at_the_root() -> None:
    caller = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0123/alice"
    assert (
        simulation_source(caller, lambda _: None) == f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_Admin_0123"
    )


def test_denials_are_read_per_resource_when_aws_gives_them() -> None:
    results: list[dict[str, Any]] = [
        {"EvalActionName": "iam:GetRole", "EvalDecision": "allowed"},
        {
            "EvalActionName": "iam:CreateRole",
            "EvalResourceName": "*",
            "EvalDecision": "implicitDeny",
            "ResourceSpecificResults": [
                {"EvalResourceName": "arn:aws:iam::1:role/a", "EvalResourceDecision": "allowed"},
                {"EvalResourceName": "arn:aws:iam::1:role/b", "EvalResourceDecision": "explicitDeny"},
            ],
        },
    ]
    assert _denials(results, "r") == [("iam:CreateRole", "arn:aws:iam::1:role/b", "explicitDeny")]
    # the older answer: one result per action and resource, no ResourceSpecificResults
    old = [{"EvalActionName": "sqs:CreateQueue", "EvalResourceName": "q", "EvalDecision": "implicitDeny"}]
    assert _denials(old, "q") == [("sqs:CreateQueue", "q", "implicitDeny")]
    # a condition key the policy asks for and the simulation lacked
    conditional = [
        {
            "EvalActionName": "iam:CreateRole",
            "EvalResourceName": "r",
            "EvalDecision": "implicitDeny",
            "MissingContextValues": ["iam:PermissionsBoundary"],
        }
    ]
    assert _denials(conditional, "r") == [
        ("iam:CreateRole", "r", "implicitDeny (simulated without iam:PermissionsBoundary)")
    ]


def test_every_service_of_the_templates_is_checked_in_the_region() -> None:
    """Each CloudFormation namespace of the controller and the blueprints is a service doctor checks
    (IAM is global: botocore lists no region for it)."""
    namespaces = {"CodeBuild", "CodePipeline", "DynamoDB", "ECR", "Events", "Logs", "S3", "SNS", "SQS"}
    namespaces |= {"Lambda"}  # AWS::Serverless::Function and LayerVersion
    namespaces |= {"CodeDeploy", "CloudWatch"}  # the blue/green blueprint; the stack's alarms
    types = lint.blueprint_resource_types() | {
        r["Type"] for r in cfn_template.load(policies.CONTROLLER_TEMPLATE)["Resources"].values()
    }
    found = {t.split("::")[1] for t in types} - {"IAM", "Serverless"}
    assert found <= namespaces, found - namespaces
    assert {n.lower() for n in namespaces} <= set(services_used())
    assert {"codecommit", "cloudformation", "resourcegroupstaggingapi", "secretsmanager"} <= set(
        services_used()
    )


def test_a_region_without_a_service_fails_naming_it() -> None:
    import boto3

    session = boto3.session.Session()
    lacking = sorted(
        set(session.get_available_regions("ec2")) - set(session.get_available_regions("codecommit"))
    )
    assert lacking, "botocore's endpoint data lists a region without CodeCommit"
    [check] = check_region(lacking[0])
    assert check.status == FAIL and f"{lacking[0]} does not offer" in check.detail
    assert "codecommit" in check.detail
    [passed] = check_region("us-east-1")
    assert passed.status == PASS
    # a region of another partition is looked up in its own partition's data
    assert check_region("cn-north-1")[0].status == PASS


@pytest.mark.parametrize(
    ("selectors", "recorded"),
    [
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}]}, True),
        ({"EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]}, True),
        ({"EventSelectors": [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]}, False),
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]}, False),
        (
            {
                "AdvancedEventSelectors": [
                    {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
                ]
            },
            True,
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "Equals": ["true"]},
                        ]
                    }
                ]
            },
            False,
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "Equals": ["false"]},
                        ]
                    }
                ]
            },
            True,
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}
                ]
            },
            False,
        ),
        ({}, False),
    ],
)
def test_management_write_events_are_recorded_by(selectors: dict[str, Any], recorded: bool) -> None:
    assert records_management_writes(selectors) is recorded


def test_the_allow_list_before_deploying_is_unknown_without_a_value() -> None:
    [check] = check_allow_list(None, "")
    assert check.status == SKIP and "--allowed-targets" in check.fix


def test_a_rolled_back_or_busy_stack() -> None:
    [failed] = check_stack_status({"StackName": "p", "StackStatus": "UPDATE_ROLLBACK_COMPLETE"})
    assert failed.status == FAIL
    [busy] = check_stack_status({"StackName": "p", "StackStatus": "UPDATE_IN_PROGRESS"})
    assert busy.status == WARN
    [done] = check_stack_status({"StackName": "p", "StackStatus": "UPDATE_COMPLETE"})
    assert done.status == PASS


def test_a_line_carries_the_fix_only_when_something_is_to_be_done() -> None:
    assert Check(PASS, "x", "fine", "ignored").line() == "PASS  x: fine"
    assert Check(FAIL, "x", "broken", "mend it").line() == "FAIL  x: broken — fix: mend it"
    assert Check(WARN, "x", "odd", "look").as_json() == {
        "check": "x",
        "status": "WARN",
        "detail": "odd",
        "fix": "look",
    }
    assert exit_code([Check(WARN, "a", ""), Check(SKIP, "b", "")]) == 0
    assert exit_code([Check(PASS, "a", ""), Check(FAIL, "b", "")]) == 1
