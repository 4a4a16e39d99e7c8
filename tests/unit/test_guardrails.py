"""Guardrails read from the templates: boundary on every generated role, no wildcards that grant too much."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import template
from tests.conftest import ROOT

BLUEPRINT = template.load(ROOT / "layers/pipewarden/pipewarden/blueprints/ecs-rolling.yaml")
CONTROLLER = template.load(ROOT / "template.yaml")

# Actions that AWS does not scope to a resource, so "*" is the only possible Resource.
UNSCOPABLE = {
    "ecr:GetAuthorizationToken",
    "ecs:DescribeTaskDefinition",
    "ecs:RegisterTaskDefinition",
    "ecs:DescribeTasks",
    "ecs:ListTasks",
    "ecs:TagResource",
    "ecs:DescribeServices",  # the enroll function looks up any allowed cluster's service
    "tag:GetResources",
    "codepipeline:ListPipelines",
    "cloudformation:DescribeStacks",
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(tpl: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy statement in a template, with the logical id it belongs to."""

    def walk(node: Any, owner: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, dict):
            if "Effect" in node and "Action" in node:
                yield owner, node
            for key, value in node.items():
                if key == "Fn::If":
                    for branch in value[1:]:
                        yield from walk(branch, owner)
                else:
                    yield from walk(value, owner)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, owner)

    for logical_id, resource in tpl["Resources"].items():
        yield from walk(resource.get("Properties", {}), logical_id)


ALL = [*statements(BLUEPRINT), *statements(CONTROLLER)]
ALLOWS = [(owner, s) for owner, s in ALL if s["Effect"] == "Allow"]


def test_the_templates_have_policies_to_check() -> None:
    assert len(ALLOWS) > 30


@pytest.mark.parametrize(
    ("owner", "statement"), ALLOWS, ids=[f"{o}:{s.get('Sid', i)}" for i, (o, s) in enumerate(ALLOWS)]
)
def test_no_allow_grants_every_action_of_a_service(owner: str, statement: dict[str, Any]) -> None:
    for action in as_list(statement["Action"]):
        assert action != "*" and not action.endswith(":*"), f"{owner} allows {action}"


@pytest.mark.parametrize(
    ("owner", "statement"), ALLOWS, ids=[f"{o}:{s.get('Sid', i)}" for i, (o, s) in enumerate(ALLOWS)]
)
def test_resource_star_only_for_actions_aws_cannot_scope(owner: str, statement: dict[str, Any]) -> None:
    if "*" in as_list(statement.get("Resource")):
        assert set(as_list(statement["Action"])) <= UNSCOPABLE, f"{owner} uses Resource '*'"


def test_every_pass_role_is_scoped_and_conditioned() -> None:
    passes = [(o, s) for o, s in ALLOWS if "iam:PassRole" in as_list(s["Action"])]
    assert len(passes) >= 3  # and the boundary's, in JSON: checked on resolved policies
    for owner, statement in passes:
        assert "*" not in as_list(statement["Resource"]), owner
        assert "iam:PassedToService" in statement["Condition"]["StringEquals"], owner


def test_every_blueprint_role_has_the_boundary_and_the_path() -> None:
    roles = {k: v for k, v in BLUEPRINT["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {"BuildRole", "PipelineRole", "SourceRuleRole"}
    for name, role in roles.items():
        assert role["Properties"]["PermissionsBoundary"] == {"Ref": "PermissionsBoundaryArn"}, name
        assert role["Properties"]["Path"] == "/pipewarden/", name


def test_blueprint_creates_no_other_iam_resources() -> None:
    kinds = {v["Type"] for v in BLUEPRINT["Resources"].values() if v["Type"].startswith("AWS::IAM::")}
    assert kinds == {"AWS::IAM::Role"}


def test_cloudformation_role_creates_roles_only_with_the_boundary() -> None:
    role = CONTROLLER["Resources"]["CloudFormationExecutionRole"]["Properties"]
    found = [s for _, s in statements({"Resources": {"r": {"Properties": role}}})]
    create = [s for s in found if s["Effect"] == "Allow" and "iam:CreateRole" in as_list(s["Action"])]
    assert len(create) == 1
    assert create[0]["Condition"]["StringEquals"]["iam:PermissionsBoundary"] == {"Ref": "PermissionsBoundary"}
    assert create[0]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/pipewarden/*"
    }
    denies = [s for s in found if s["Effect"] == "Deny"]
    assert any("iam:DeleteRolePermissionsBoundary" in as_list(s["Action"]) for s in denies)


def test_enroll_function_cannot_touch_iam_roles_itself() -> None:
    policy = CONTROLLER["Resources"]["EnrollFunction"]["Properties"]["Policies"]
    actions = {
        a
        for _, s in statements({"Resources": {"f": {"Properties": {"P": policy}}}})
        for a in as_list(s["Action"])
    }
    writes = {a for a in actions if a.startswith("iam:") and not a.startswith(("iam:Get", "iam:List"))}
    assert writes <= {"iam:PassRole"}


def test_artifact_bucket_is_encrypted_private_and_tls_only() -> None:
    bucket = CONTROLLER["Resources"]["ArtifactBucket"]["Properties"]
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    lifecycle = bucket["LifecycleConfiguration"]["Rules"]
    assert any("AbortIncompleteMultipartUpload" in r for r in lifecycle)
    assert any("ExpirationInDays" in r for r in lifecycle)
    policy = CONTROLLER["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy
    )


FUNCTIONS = [k for k, v in CONTROLLER["Resources"].items() if v["Type"] == "AWS::Serverless::Function"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_rule_has_a_dead_letter_queue_and_every_function_an_on_failure_queue(name: str) -> None:
    function = CONTROLLER["Resources"][name]["Properties"]
    for event_name, event in function["Events"].items():
        if event["Type"] in ("EventBridgeRule", "Schedule"):
            assert "DeadLetterConfig" in event["Properties"], event_name
    assert function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


def test_queues_hand_poison_messages_to_a_dead_letter_queue() -> None:
    queue = CONTROLLER["Resources"]["RetryQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] <= 10


def test_the_retry_function_can_only_retry_and_read() -> None:
    policy = CONTROLLER["Resources"]["RetryFunction"]["Properties"]["Policies"]
    actions = {
        a
        for _, s in statements({"Resources": {"f": {"Properties": {"P": policy}}}})
        for a in as_list(s["Action"])
    }
    writes = {a for a in actions if not a.split(":")[1].startswith(("Get", "List", "BatchGet"))}
    assert writes == {
        "codepipeline:RetryStageExecution",
        "sqs:SendMessage",
        "dynamodb:PutItem",
        "events:PutEvents",
    }


def test_the_runtime_is_python_3_13_on_arm64() -> None:
    function = CONTROLLER["Globals"]["Function"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]


def test_every_checkov_suppression_carries_its_reason() -> None:
    skips = [
        (name, skip)
        for tpl in (CONTROLLER, BLUEPRINT)
        for name, resource in tpl["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert skip["id"].startswith("CKV_") and len(skip.get("comment", "")) > 40, name


def test_the_notify_function_can_only_publish_remember_and_read() -> None:
    policy = CONTROLLER["Resources"]["NotifyFunction"]["Properties"]["Policies"]
    found = list(statements({"Resources": {"f": {"Properties": {"P": policy}}}}))
    actions = {a for _, s in found for a in as_list(s["Action"])}
    writes = {a for a in actions if not a.split(":")[1].startswith(("Get", "List", "BatchGet"))}
    assert writes == {
        "sns:Publish",
        "kms:GenerateDataKey*",
        "kms:Decrypt",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "events:PutEvents",
    }
    secrets = next(s for _, s in found if "secretsmanager:GetSecretValue" in as_list(s["Action"]))
    assert as_list(secrets["Resource"])[0]["Fn::Sub"].endswith(":secret:pipewarden/slack/*")
    kms = next(s for _, s in found if "kms:Decrypt" in as_list(s["Action"]))
    assert kms["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": "sns.${AWS::Region}.amazonaws.com"
    }


def test_every_queue_topic_and_table_is_encrypted_at_rest() -> None:
    for name, resource in CONTROLLER["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::SQS::Queue":
            assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId"), name
        if resource["Type"] == "AWS::SNS::Topic":
            assert props.get("KmsMasterKeyId"), name
        if resource["Type"] == "AWS::DynamoDB::Table":
            assert props["SSESpecification"]["SSEEnabled"] is True, name
