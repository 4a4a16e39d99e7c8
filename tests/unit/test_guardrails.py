"""Guardrails read from the policies the templates produce, resolved as AWS holds them.

The IAM checks run on `sandbox.iam.policies`: template.yaml through SAM's translator and every blueprint
under every case (the boundary is a JSON string in the template, so only its resolved form can be read).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import template
from sandbox.iam import catalog, policies
from tests.conftest import ROOT

BLUEPRINT = template.load(ROOT / "layers/pipewarden/pipewarden/blueprints/ecs-rolling.yaml")
CONTROLLER = template.load(ROOT / "template.yaml")
STACKS = policies.every_stack()
CONTROLLER_STACK = next(s for s in STACKS if s.template == "template.yaml")
BLUEPRINT_STACKS = [s for s in STACKS if s.template != "template.yaml"]

# Actions AWS's own policy for CodePipeline's ECS deploy action gives on "*", although the Service
# Authorization Reference names a resource: CodePipeline calls them without one (DescribeTasks for the
# deployment's tasks, ListTasks without a container instance).
# https://docs.aws.amazon.com/codepipeline/latest/userguide/security-iam.html#how-to-custom-role
STAR_AS_AWS_DOCUMENTS = {"ecs:DescribeTasks", "ecs:ListTasks"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def documents(stack: policies.Stack) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, document) of every identity policy and customer managed policy of the stack."""
    for role in stack.roles:
        for name, document in role.inline_policies.items():
            yield f"{stack.label}:{role.logical_id}/{name}", document
    for policy in stack.managed_policies:
        yield f"{stack.label}:{policy.logical_id}", policy.document


ALLOWS = [
    (where, statement)
    for stack in STACKS
    for where, document in documents(stack)
    for statement in policies.statements(document)
    if statement["Effect"] == "Allow"
]
IDS = [f"{w}:{s.get('Sid', i)}" for i, (w, s) in enumerate(ALLOWS)]


def actions(statements: Any) -> set[str]:
    return {a for s in statements for a in as_list(s.get("Action", []))}


def test_the_templates_have_policies_to_check() -> None:
    assert len(ALLOWS) > 60
    assert any("PermissionsBoundary" in where for where, _ in ALLOWS)


@pytest.mark.parametrize(("where", "statement"), ALLOWS, ids=IDS)
def test_no_allow_grants_every_action_of_a_service(where: str, statement: dict[str, Any]) -> None:
    assert "NotAction" not in statement, where
    for action in as_list(statement["Action"]):
        assert action != "*" and not action.endswith(":*"), f"{where} allows {action}"


@pytest.mark.parametrize(("where", "statement"), ALLOWS, ids=IDS)
def test_resource_star_only_for_actions_aws_cannot_scope(where: str, statement: dict[str, Any]) -> None:
    """Resource "*" only where the Service Authorization Reference gives the action no required resource."""
    if "*" not in as_list(statement.get("Resource")):
        return
    for action in as_list(statement["Action"]):
        known = catalog.action(action)
        assert known is not None, f"{where}: AWS defines no action {action}"
        required = [r.resource_type for r in known.resources if r.required]
        assert not required or action in STAR_AS_AWS_DOCUMENTS, (
            f"{where}: {action} on '*' (it takes {required})"
        )


def test_every_pass_role_is_scoped_and_conditioned() -> None:
    passes = [(w, s) for w, s in ALLOWS if "iam:PassRole" in as_list(s["Action"])]
    assert any("PermissionsBoundary" in w for w, _ in passes) and any("PipelineRole" in w for w, _ in passes)
    for where, statement in passes:
        assert not [r for r in as_list(statement["Resource"]) if r.endswith(":role/*") or r == "*"], where
        assert "iam:PassedToService" in statement["Condition"]["StringEquals"], where


def test_the_boundary_passes_each_kind_of_role_only_to_its_service_by_path() -> None:
    """Task roles to ECS tasks (the repository's own, or @shared), the lambda blueprint's deploy roles to
    CloudFormation, and its applications' roles to Lambda: each by path, none to another service."""
    boundary = CONTROLLER_STACK.managed_policy("PermissionsBoundary").document
    deploy = CONTROLLER_STACK.managed_policy("ApplicationDeployBoundary").document
    passing = [s for s in policies.statements(boundary) if "iam:PassRole" in as_list(s.get("Action"))]
    by_service = {s["Condition"]["StringEquals"]["iam:PassedToService"]: s["Resource"] for s in passing}
    assert len(passing) == len(by_service) == 2
    # Only a lambda deploy role's boundary lets it pass roles to Lambda (its application's)
    passing = [s for s in policies.statements(deploy) if "iam:PassRole" in as_list(s.get("Action"))]
    assert len(passing) == 1
    by_service.update({s["Condition"]["StringEquals"]["iam:PassedToService"]: s["Resource"] for s in passing})
    assert by_service["ecs-tasks.amazonaws.com"] == [
        "arn:aws:iam::123456789012:role/pipewarden-tasks/${aws:PrincipalTag/pipewarden:repository}/*",
        "arn:aws:iam::123456789012:role/pipewarden-tasks/@shared/*",
    ]
    # a lambda pipeline passes only its own repository's deploy role, the deploy role only its own
    # repository's application roles: by the principal's tag, so one repository's pipeline cannot deploy
    # another's application with the other's role
    assert by_service["cloudformation.amazonaws.com"] == (
        "arn:aws:iam::123456789012:role/pipewarden/app-deploy/${aws:PrincipalTag/pipewarden:repository}/*"
    )
    assert by_service["lambda.amazonaws.com"] == (
        "arn:aws:iam::123456789012:role/pipewarden-apps/${aws:PrincipalTag/pipewarden:repository}/*"
    )


def test_every_blueprint_role_has_the_boundary_and_the_path() -> None:
    boundary = CONTROLLER_STACK.managed_policy("PermissionsBoundary").arn
    for stack in BLUEPRINT_STACKS:
        expected = {"BuildRole", "PipelineRole", "SourceRuleRole"}
        if stack.template in ("lambda.yaml", "ecs-blue-green.yaml"):
            expected.add("DeployRole")  # CloudFormation's for the application, CodeDeploy's for blue/green
        assert {r.logical_id for r in stack.roles} == expected
        for role in stack.roles:
            # lambda's deploy role under /pipewarden/app-deploy/<repository>/, where only its pipeline may
            # pass it, with the deploy boundary; every other role (CodeDeploy's included) under
            # /pipewarden/ with the blueprint boundary.
            path = f"/pipewarden/app-deploy/{stack.parameters['RepositoryName']}/"
            deploys_applications = role.logical_id == "DeployRole" and stack.template == "lambda.yaml"
            own = "DeployBoundaryArn" if deploys_applications else "PermissionsBoundaryArn"
            assert role.permissions_boundary == stack.parameters[own], role.logical_id
            assert role.path == (path if deploys_applications else "/pipewarden/"), role.logical_id
            owner = f"{stack.parameters['TagPrefix']}:repository"
            assert role.tags[owner] == stack.parameters["RepositoryName"], role.logical_id
    assert all(s.parameters["PermissionsBoundaryArn"] for s in BLUEPRINT_STACKS) and boundary


def test_blueprint_creates_no_other_iam_resources() -> None:
    kinds = {v["Type"] for v in BLUEPRINT["Resources"].values() if v["Type"].startswith("AWS::IAM::")}
    assert kinds == {"AWS::IAM::Role"}


def test_cloudformation_role_creates_roles_only_with_the_boundary_and_lives_off_their_path() -> None:
    role = CONTROLLER_STACK.role("CloudFormationExecutionRole")
    boundary = CONTROLLER_STACK.managed_policy("PermissionsBoundary").arn
    assert not role.path.startswith("/pipewarden/")  # where it may create roles
    found = [s for d in role.inline_policies.values() for s in policies.statements(d)]
    create = [s for s in found if s["Effect"] == "Allow" and "iam:CreateRole" in as_list(s["Action"])]
    assert len(create) == 2
    assert create[0]["Condition"]["StringEquals"]["iam:PermissionsBoundary"] == boundary
    assert create[0]["Resource"] == "arn:aws:iam::123456789012:role/pipewarden/*"
    # The deploy boundary (which may create functions and roles) only on the lambda deploy roles' path
    deploy = CONTROLLER_STACK.managed_policy("ApplicationDeployBoundary").arn
    assert create[1]["Condition"]["StringEquals"]["iam:PermissionsBoundary"] == deploy
    assert create[1]["Resource"] == "arn:aws:iam::123456789012:role/pipewarden/app-deploy/*"
    denies = [s for s in found if s["Effect"] == "Deny"]
    assert any("iam:DeleteRolePermissionsBoundary" in as_list(s["Action"]) for s in denies)


def role_actions(logical_id: str) -> set[str]:
    role = CONTROLLER_STACK.role(logical_id)
    return actions(
        s for d in role.inline_policies.values() for s in policies.statements(d) if s["Effect"] == "Allow"
    )


def writes(found: set[str]) -> set[str]:
    return {a for a in found if not a.split(":")[1].startswith(("Get", "List", "BatchGet", "Describe"))}


def test_enroll_function_cannot_touch_iam_roles_itself() -> None:
    assert {a for a in writes(role_actions("EnrollFunctionRole")) if a.startswith("iam:")} <= {"iam:PassRole"}


def test_the_retry_function_can_only_retry_and_read() -> None:
    assert writes(role_actions("RetryFunctionExecutionRole")) == {
        "codepipeline:RetryStageExecution",
        "sqs:SendMessage",  # its decisions, and the failed invocations it reports
        "sqs:ReceiveMessage",  # the event source mapping, on RetryQueue only
        "sqs:DeleteMessage",
        "dynamodb:PutItem",
        "events:PutEvents",
    }


def test_the_notify_function_can_only_publish_remember_and_read() -> None:
    assert writes(role_actions("NotifyFunctionRole")) == {
        "sns:Publish",
        "sqs:SendMessage",  # SAM's on-failure destination
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "events:PutEvents",
    }
    role = CONTROLLER_STACK.role("NotifyFunctionRole")
    secrets = next(
        s
        for d in role.inline_policies.values()
        for s in policies.statements(d)
        if "secretsmanager:GetSecretValue" in as_list(s["Action"])
    )
    assert as_list(secrets["Resource"]) == [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:pipewarden/slack/*"
    ]


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


def test_the_retry_function_knows_its_queues_last_receive_and_the_dead_letters_are_an_output() -> None:
    """The retry function tells a decision whose last receive failed (SQS then moves it to the dead-letter
    queue without telling anyone): it must count receives as the queue's redrive policy does."""
    queue = CONTROLLER["Resources"]["RetryQueue"]["Properties"]
    variables = CONTROLLER["Resources"]["RetryFunction"]["Properties"]["Environment"]["Variables"]
    assert int(variables["RETRY_QUEUE_MAX_RECEIVES"]) == queue["RedrivePolicy"]["maxReceiveCount"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["RetryDeadLetterQueue", "Arn"]}
    assert CONTROLLER["Outputs"]["RetryDeadLetterQueueUrl"]["Value"] == {"Ref": "RetryDeadLetterQueue"}


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


def test_every_queue_topic_and_table_is_encrypted_at_rest() -> None:
    for name, resource in CONTROLLER["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::SQS::Queue":
            assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId"), name
        if resource["Type"] == "AWS::SNS::Topic":
            assert props.get("KmsMasterKeyId"), name
        if resource["Type"] == "AWS::DynamoDB::Table":
            assert props["SSESpecification"]["SSEEnabled"] is True, name


# IAM quotas: a managed policy holds at most 6,144 characters (whitespace not counted), a role's inline
# policies 10,240 together (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
# CreatePolicy refuses a longer one (LimitExceeded), which would fail the controller's deployment.
MANAGED_POLICY_CHARACTERS = 6144
ROLE_INLINE_CHARACTERS = 10240


def _characters(document: Any) -> int:
    return len("".join(json.dumps(document, separators=(",", ":")).split()))


def test_every_policy_fits_iams_size_quotas() -> None:
    for stack in STACKS:
        for managed in stack.managed_policies:
            assert _characters(managed.document) <= MANAGED_POLICY_CHARACTERS, (
                stack.label,
                managed.logical_id,
            )
        for role in stack.roles:
            inline = sum(_characters(document) for document in role.inline_policies.values())
            assert inline <= ROLE_INLINE_CHARACTERS, (stack.label, role.logical_id)


def test_the_boundary_fits_with_five_allowed_ecs_targets() -> None:
    # Each AllowedEcsTargets entry adds three resources to the boundary (README "The allow-list").
    targets = ",".join(f"apps-team{i}-*" for i in range(5))
    boundary = policies.controller({"AllowedEcsTargets": targets}).managed_policy("PermissionsBoundary")
    assert _characters(boundary.document) <= MANAGED_POLICY_CHARACTERS
    many = ",".join(f"apps-team{i}-*" for i in range(8))
    boundary = policies.controller({"AllowedEcsTargets": many}).managed_policy("PermissionsBoundary")
    assert _characters(boundary.document) > MANAGED_POLICY_CHARACTERS  # the limit the README states


def test_a_lambda_deploy_role_is_never_made_with_the_blueprint_boundary() -> None:
    # The CloudFormation role may create /pipewarden/* roles with the blueprint boundary, but under
    # /pipewarden/app-deploy/ (the SCP's deploy-role exemptions) only with the deploy boundary.
    role = CONTROLLER_STACK.role("CloudFormationExecutionRole")
    found = [s for d in role.inline_policies.values() for s in policies.statements(d)]
    deny = next(s for s in found if s.get("Sid") == "DeployRolesNeverWithAnotherBoundary")
    assert deny["Effect"] == "Deny"
    deploy = CONTROLLER_STACK.managed_policy("ApplicationDeployBoundary").arn
    assert deny["Condition"]["StringNotEquals"]["iam:PermissionsBoundary"] == deploy
    assert deny["Resource"] == "arn:aws:iam::123456789012:role/pipewarden/app-deploy/*"
