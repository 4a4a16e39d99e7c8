"""parliament and cloudsplaining on every IAM policy both templates produce, and what feeds them.

The policies are the templates resolved as AWS would hold them (`sandbox.iam.policies`): template.yaml
through the real SAM translator, so SAM's generated roles, inline policies and managed policy ARNs are
linted too. Every finding is fixed or explained in security/iam-exceptions.yaml, and no entry is stale.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sandbox import template as cfn_template
from sandbox.iam import lint, policies

STACKS = policies.every_stack()
POLICIES = lint.policies_under_test(STACKS)
FINDINGS = lint.lint_findings(STACKS)
LINTERS = ("parliament", "cloudsplaining", "condition-keys")
EXPLANATIONS = [e for e in lint.load_explanations() if e.tool in LINTERS]
EXPLAINED = {e.key: e for e in EXPLANATIONS}
AWS_LAMBDA_BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def stack(label: str) -> policies.Stack:
    return next(s for s in STACKS if s.label == label)


def unresolved(node: Any) -> list[str]:
    """Intrinsic functions left in a document (there should be none)."""
    if isinstance(node, dict):
        own = [k for k in node if k == "Ref" or k.startswith("Fn::")]
        return own + [x for v in node.values() for x in unresolved(v)]
    if isinstance(node, list):
        return [x for v in node for x in unresolved(v)]
    return []


# -- the policies the linters see ---------------------------------------------------------------


def test_sam_generated_roles_policies_and_managed_policies_are_there() -> None:
    """SAM gives a function role its Policies as `<Function>RolePolicy0`, the on-failure destination's
    `<Function>EventInvokeConfigOnFailureSQSPolicy`, AWSLambdaBasicExecutionRole (AWSXrayWriteOnlyAccess
    only with Tracing: Active, which the template leaves off), and AWSLambdaSQSQueueExecutionRole for an
    SQS event source.
    """
    controller = stack("template.yaml[representative]")
    enroll = controller.role("EnrollFunctionRole")
    assert {"EnrollFunctionRolePolicy0", "EnrollFunctionEventInvokeConfigOnFailureSQSPolicy"} <= set(
        enroll.inline_policies
    )
    assert AWS_LAMBDA_BASIC in enroll.managed_policy_arns
    assert enroll.managed_policy_arns == (AWS_LAMBDA_BASIC,)  # no X-Ray: tracing is off
    # The retry function has a role of its own, so SAM attaches nothing to it: no
    # AWSLambdaSQSQueueExecutionRole (every queue of the account), the poller scoped to RetryQueue.
    retry = controller.role("RetryFunctionExecutionRole")
    assert (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole" not in retry.managed_policy_arns
    )
    assert AWS_LAMBDA_BASIC in retry.managed_policy_arns
    assert not [r for r in controller.roles if r.logical_id == "RetryFunctionRole"]
    assert enroll.trust_policy["Statement"][0]["Principal"] == {"Service": ["lambda.amazonaws.com"]}
    assert enroll.tags == {"lambda:createdBy": "SAM"}


def test_the_sam_translator_gets_its_region_without_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """SAM's `transform` reads the region from boto3's default session (AWS_DEFAULT_REGION); the
    translator is handed a session with the region instead, and the environment stays as it was.
    """
    for variable in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    translated = policies.sam_translate(cfn_template.load(policies.CONTROLLER_TEMPLATE), {})
    assert translated["Resources"]["EnrollFunction"]["Type"] == "AWS::Lambda::Function"
    assert "AWS_DEFAULT_REGION" not in os.environ and "AWS_REGION" not in os.environ


def test_aws_managed_policy_documents_come_from_moto() -> None:
    document = policies.aws_managed_policy(AWS_LAMBDA_BASIC)
    assert "logs:CreateLogGroup" in document["Statement"][0]["Action"]
    with pytest.raises(KeyError):
        policies.aws_managed_policy("arn:aws:iam::aws:policy/NoSuchPolicy")


def test_every_policy_of_every_role_boundary_and_resource_is_linted() -> None:
    names = {p.policy for p in POLICIES}
    for each in STACKS:
        for role in each.roles:
            assert f"{each.template}:{role.logical_id}/AssumeRolePolicyDocument" in names
            assert {f"{each.template}:{role.logical_id}/{n}" for n in role.inline_policies} <= names
            assert set(role.managed_policy_arns) <= names
        assert {f"{each.template}:{r.logical_id}" for r in each.resource_policies} <= names
    kinds = {p.policy: p.kind for p in POLICIES}
    assert kinds["template.yaml:PermissionsBoundary"] == "boundary"
    assert kinds["template.yaml:ArtifactBucketPolicy"] == "resource"
    assert kinds["template.yaml:RuleDeadLetterQueuePolicy"] == "resource"


def test_policies_are_resolved_to_plain_json_with_the_stacks_physical_ids() -> None:
    for each in STACKS:
        for policy in lint.policies_under_test([each]):
            assert not unresolved(policy.document), f"{each.label} {policy.policy}"
    blueprint = stack("ecs-rolling.yaml[representative]")
    pipeline = blueprint.role("PipelineRole")
    start_build = next(
        s
        for s in policies.statements(pipeline.inline_policies["pipeline"])
        if "codebuild:StartBuild" in s["Action"]
    )
    project = f"arn:aws:codebuild:us-east-1:{policies.ACCOUNT}:project/"
    assert start_build["Resource"] in {
        project + blueprint.stack_name,
        project + blueprint.parameters.get("PipelineName", ""),
    }
    controller = stack("template.yaml[representative]")
    assert pipeline.permissions_boundary == controller.outputs["PermissionsBoundaryArn"]
    assert pipeline.arn.startswith(
        f"arn:aws:iam::{policies.ACCOUNT}:role{pipeline.path}pipewarden-storefront-"
    )


def test_pass_role_follows_the_services_roles() -> None:
    """The blueprint's PassRole statement lists PassRoleArns and is left out without them (Fn::If)."""

    def passed(label: str) -> list[Any]:
        document = stack(label).role("PipelineRole").inline_policies["pipeline"]
        return [s["Resource"] for s in policies.statements(document) if "iam:PassRole" in s["Action"]]

    assert passed("ecs-rolling.yaml[representative]") == [list(policies.BLUEPRINT_CASES[0].pass_role_arns)]
    assert passed("ecs-rolling.yaml[no-pass-roles]") == []


def test_a_policy_document_given_as_a_json_string_is_parsed(tmp_path: Path) -> None:
    """Condition keys that contain a parameter cannot be YAML keys, so a template may write the
    document as a `!Sub` JSON string (or Fn::ToJsonString); IAM holds the parsed document.
    """
    template = tmp_path / "t.yaml"
    template.write_text(
        """
Parameters:
  TagPrefix: {Type: String, Default: pipewarden}
Resources:
  Boundary:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument: !Sub |
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:PutImage",
         "Resource": "*", "Condition": {"StringEquals":
         {"aws:ResourceTag/${TagPrefix}:repository": "${!aws:PrincipalTag/${TagPrefix}:repository}"}}}]}
  Role:
    Type: AWS::IAM::Role
    Properties:
      PermissionsBoundary: !Ref Boundary
      AssumeRolePolicyDocument:
        Fn::ToJsonString:
          Version: "2012-10-17"
          Statement: [{Effect: Allow, Principal: {Service: codebuild.amazonaws.com}, Action: sts:AssumeRole}]
      Policies:
        - PolicyName: inline
          PolicyDocument: !Sub '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": "s3:GetObject", "Resource": "arn:${AWS::Partition}:s3:::${AWS::StackName}/*"}]}'
""",
        encoding="utf-8",
    )
    resolved = policies.blueprint({"TagPrefix": "acme"}, "pipewarden-x", template)
    condition = resolved.managed_policy("Boundary").document["Statement"][0]["Condition"]
    assert condition == {
        "StringEquals": {"aws:ResourceTag/acme:repository": "${aws:PrincipalTag/acme:repository}"}
    }
    role = resolved.role("Role")
    assert role.permissions_boundary == resolved.managed_policy("Boundary").arn
    assert role.trust_policy["Statement"][0]["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert role.inline_policies["inline"]["Statement"][0]["Resource"] == "arn:aws:s3:::pipewarden-x/*"


def test_a_blueprint_parameter_without_a_value_is_refused(tmp_path: Path) -> None:
    """CloudFormation refuses a stack when a parameter without Default has no value."""
    template = tmp_path / "t.yaml"
    template.write_text("Parameters:\n  Name: {Type: String}\nResources: {}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Name"):
        policies.blueprint({}, "pipewarden-x", template)


# -- the linters, as this gate runs them ----------------------------------------------------------


def lint_one(statements: list[dict[str, Any]], kind: str = "identity") -> list[lint.Finding]:
    policy = lint.PolicyUnderTest("test:policy", kind, {"Version": "2012-10-17", "Statement": statements})
    return [
        *lint.parliament_findings(policy),
        *lint.cloudsplaining_findings(policy),
        *lint.condition_key_findings(policy),
    ]


def test_a_parliament_crash_is_a_finding_on_its_statement_and_the_rest_is_still_linted() -> None:
    """parliament 1.6.4 raises "Unknown data format: ArrayOfARN" on events:TargetArn."""
    found = lint_one(
        [
            {
                "Effect": "Allow",
                "Action": "events:PutTargets",
                "Resource": "*",
                "Condition": {"ArnLike": {"events:TargetArn": "arn:aws:codepipeline:*:*:x"}},
            },
            {"Effect": "Allow", "Action": "ecs:DescribeTasks", "Resource": "*"},
        ]
    )
    keys = {(f.tool, f.kind, f.action) for f in found}
    assert ("parliament", "EXCEPTION", "events:PutTargets") in keys
    assert ("parliament", "RESOURCE_STAR", "ecs:DescribeTasks") in keys


def test_a_deny_does_not_hide_the_allowed_actions_from_parliament() -> None:
    """parliament's auditors drop an action that any Deny with NotResource names, although the Deny
    only narrows where it applies; the Allow statements are linted on their own as well.
    """
    roles = "arn:aws:iam::123456789012:role/pipewarden/*"
    found = lint_one(
        [
            {"Effect": "Allow", "Action": "iam:PutRolePolicy", "Resource": roles},
            {"Effect": "Deny", "Action": "iam:PutRolePolicy", "NotResource": roles},
        ]
    )
    assert ("PERMISSIONS_MANAGEMENT_ACTIONS", "iam:PutRolePolicy") in {(f.kind, f.action) for f in found}


def test_a_parliament_finding_located_by_line_is_about_that_statements_actions() -> None:
    found = lint_one(
        [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["iam:CreateRole"],
                "Resource": "arn:aws:iam::123456789012:role/x/*",
                "Condition": {
                    "StringEquals": {"iam:PermissionsBoundary": "arn:aws:iam::123456789012:policy/b"}
                },
            },
        ]
    )
    mismatched = [f for f in found if f.kind == "MISMATCHED_TYPE_BUT_USABLE"]
    assert [f.action for f in mismatched] == ["iam:CreateRole"]


def test_trust_policies_go_to_cloudsplaining_only() -> None:
    """parliament calls any trust policy MALFORMED (no Resource); cloudsplaining checks who may assume."""
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
            "Action": "sts:AssumeRole",
        }
    ]
    found = lint_one(statements, kind="trust")
    assert [(f.tool, f.kind) for f in found] == [("cloudsplaining", "AssumableByCrossAccountPrincipal")]


def test_cloudsplaining_finds_privilege_escalation_and_public_resource_policies() -> None:
    escalation = lint_one([{"Effect": "Allow", "Action": "iam:CreatePolicyVersion", "Resource": "*"}])
    assert ("PrivilegeEscalation", "CreateNewPolicyVersion") in {(f.kind, f.action) for f in escalation}
    public = lint_one(
        [{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}], kind="resource"
    )
    assert ("cloudsplaining", "InternetAccessible", "sqs:SendMessage") in {
        (f.tool, f.kind, f.action) for f in public
    }


@pytest.mark.parametrize(
    ("operator", "key", "flagged"),
    [
        ("ArnLike", "events:TargetArn", True),  # ArrayOfARN in AWS's definitions
        ("ForAllValues:ArnLike", "events:TargetArn", False),
        ("StringLike", "aws:TagKeys", True),  # multivalued per the IAM User Guide
        ("ForAnyValue:StringLike", "aws:TagKeys", False),
        ("StringEquals", "aws:ResourceTag/team", False),  # one value per tag key
        ("StringEquals", "iam:PassedToService", False),
    ],
)
def test_a_multivalued_key_needs_a_set_operator(operator: str, key: str, flagged: bool) -> None:
    """IAM User Guide, single-valued vs. multivalued context keys (lint.MULTIVALUED_KEYS_REFERENCE):
    "Multivalued context keys require a condition set operator".
    """
    statement = {
        "Effect": "Allow",
        "Action": "events:PutTargets",
        "Resource": "*",
        "Condition": {operator: {key: "x*"}},
    }
    found = [f for f in lint_one([statement]) if f.tool == "condition-keys"]
    assert bool(found) == flagged
    assert all(f.action == "events:PutTargets" for f in found)


# -- the explanations -------------------------------------------------------------------------------


@pytest.mark.parametrize("finding", FINDINGS, ids=[f.describe()[:150] for f in FINDINGS])
def test_every_finding_is_fixed_or_explained(finding: lint.Finding) -> None:
    assert finding.key in EXPLAINED, (
        f"{finding.describe()} in {', '.join(finding.stacks)}: fix the template, or explain it in "
        "security/iam-exceptions.yaml (tool, issue, policy, action, reason)"
    )


@pytest.mark.parametrize("entry", EXPLANATIONS, ids=[e.describe() for e in EXPLANATIONS])
def test_no_explanation_is_stale(entry: lint.Explanation) -> None:
    """A pending entry whose fix landed, or an explanation of a finding that went away, must be removed."""
    assert entry.key in {f.key for f in FINDINGS}, (
        f"{entry.describe()} matches no finding any more: remove it"
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("findings: [{tool: parliament, issue: X, policy: p, action: a, reason: short}]", "reason"),
        (
            "findings: [{tool: parliament, issue: X, policy: p, reason: a reason long enough to count, pending: true}]",
            "fix",
        ),
        ("findings: [{tool: pylint, issue: X, policy: p, reason: a reason long enough to count}]", "name"),
        (
            "findings:\n"
            "  - {tool: parliament, issue: X, policy: p, action: A, reason: a reason long enough to count}\n"
            "  - {tool: parliament, issue: X, policy: p, action: a, reason: a reason long enough to count}\n",
            "twice",
        ),
    ],
)
def test_a_malformed_explanation_is_refused(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "exceptions.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=complaint):
        lint.load_explanations(path)


def test_the_report_says_what_is_unexplained_and_stale_and_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finding = lint.Finding("parliament", "RESOURCE_STAR", "template.yaml:X/y", "ecs:ListTasks")
    monkeypatch.setattr(lint, "every_finding", lambda stacks=None: [finding])
    path = tmp_path / "exceptions.yaml"
    stale = {"tool": "cloudsplaining", "issue": "DataExfiltration", "policy": "p", "action": "s3:GetObject"}
    path.write_text(json.dumps({"findings": [{**stale, "reason": "a reason long enough to count"}]}), "utf-8")
    assert lint.main(["--exceptions", str(path)]) == 1
    printed = capsys.readouterr().out
    assert "!! parliament RESOURCE_STAR: template.yaml:X/y ecs:ListTasks" in printed
    assert "UNEXPLAINED" in printed and "STALE" in printed
    assert (
        "1 findings: 0 explained (0 pending a template fix), 1 unexplained; 1 stale explanations" in printed
    )


def test_the_report_passes_when_everything_is_explained(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `make iam-lint` runs, on the findings computed above."""
    findings = [*FINDINGS, *lint.schema_findings(STACKS)]
    monkeypatch.setattr(lint, "every_finding", lambda stacks=None: findings)
    status = lint.main([])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "0 unexplained; 0 stale explanations" in printed
