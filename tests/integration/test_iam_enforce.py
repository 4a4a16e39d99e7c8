"""IAM in the sandbox: an assumed role's calls are allowed and denied as AWS would, other keys are not enforced."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from pipewarden.aws import AccessDenied, call
from sandbox import moto_ext
from sandbox.iam.enforce import Enforcer
from sandbox.iam.requests import MotoState
from sandbox.server import SandboxServer

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
REGION = "us-east-1"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@dataclass
class Aws:
    """A sandbox server, clients for the admin (`testing`, never enforced) and for assumed roles."""

    url: str
    iam: Enforcer

    def admin(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def role(
        self,
        statements: list[dict[str, Any]],
        boundary: list[dict[str, Any]] | str | None = None,
        tags: dict[str, str] | None = None,
    ) -> Role:
        """A role under /pipewarden/ with one inline policy (`work`) and maybe a boundary, assumed."""
        iam, name = self.admin("iam"), f"role-{uuid.uuid4().hex[:8]}"
        extra: dict[str, Any] = {"Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}
        if isinstance(boundary, list):
            document = {"Version": "2012-10-17", "Statement": boundary}
            boundary = iam.create_policy(
                PolicyName=f"{name}-boundary", Path="/pipewarden/", PolicyDocument=json.dumps(document)
            )["Policy"]["Arn"]
        if boundary:
            extra["PermissionsBoundary"] = boundary
        role_arn = iam.create_role(
            RoleName=name, Path="/pipewarden/", AssumeRolePolicyDocument=json.dumps(TRUST), **extra
        )["Role"]["Arn"]
        iam.put_role_policy(
            RoleName=name,
            PolicyName="work",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
        credentials = self.admin("sts").assume_role(RoleArn=role_arn, RoleSessionName="build-1")[
            "Credentials"
        ]
        return Role(self, name, role_arn, credentials)


@dataclass
class Role:
    aws: Aws
    name: str
    arn: str
    credentials: dict[str, Any]

    @property
    def session_arn(self) -> str:
        # arn:aws:sts::<account>:assumed-role/<role name without path>/<session>
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns)
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.name}/build-1"

    @property
    def access_key(self) -> str:
        return str(self.credentials["AccessKeyId"])

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.aws.url,
            region_name=REGION,
            aws_access_key_id=self.credentials["AccessKeyId"],
            aws_secret_access_key=self.credentials["SecretAccessKey"],
            aws_session_token=self.credentials["SessionToken"],
        )


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    moto_ext.install()  # CodeCommit tags and the rest, as the sandbox always runs
    running = SandboxServer("127.0.0.1", 0, {})
    running.start()
    yield running
    running.stop()


@pytest.fixture
def aws(server: SandboxServer) -> Iterator[Aws]:
    server.iam.enabled = True
    server.iam.recorder.reset()
    _, port = server.get_host_and_port()
    yield Aws(f"http://127.0.0.1:{port}", server.iam)
    server.iam.enabled = True


def repository(aws: Aws) -> tuple[str, str]:
    name = f"repo-{uuid.uuid4().hex[:8]}"
    created = aws.admin("codecommit").create_repository(repositoryName=name)["repositoryMetadata"]
    return name, str(created["Arn"])


def denied(error: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = error.value.response
    return (
        int(response["ResponseMetadata"]["HTTPStatusCode"]),
        str(response["Error"]["Code"]),
        str(response["Error"]["Message"]),
    )


def test_a_call_the_policy_allows_passes_and_one_it_does_not_is_denied_with_awss_message(aws: Aws) -> None:
    allowed, allowed_arn = repository(aws)
    other, other_arn = repository(aws)
    role = aws.role(
        [{"Sid": "ReadOne", "Effect": "Allow", "Action": "codecommit:GetRepository", "Resource": allowed_arn}]
    )
    codecommit = role.client("codecommit")
    assert codecommit.get_repository(repositoryName=allowed)["repositoryMetadata"]["Arn"] == allowed_arn
    with pytest.raises(ClientError) as error:
        codecommit.get_repository(repositoryName=other)
    # The wording of https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html;
    # JSON services answer AccessDeniedException (botocore's ecs/logs/events models name the shape).
    assert denied(error) == (
        403,
        "AccessDeniedException",
        f"User: {role.session_arn} is not authorized to perform: codecommit:GetRepository on resource: "
        f"{other_arn} because no identity-based policy allows the codecommit:GetRepository action",
    )
    # pipewarden reads it as a deployment problem, not something to retry.
    with pytest.raises(AccessDenied):
        call(codecommit.get_repository, repositoryName=other)
    # GetCallerIdentity needs no permission (botocore's sts model).
    assert role.client("sts").get_caller_identity()["Arn"] == role.session_arn


@pytest.mark.parametrize(
    ("service", "operation", "code", "action"),
    [
        # Query protocol: <ErrorResponse><Error><Code>AccessDenied</Code> (IAM, STS, CloudFormation)
        ("cloudformation", "list_stacks", "AccessDenied", "cloudformation:ListStacks"),
        ("iam", "list_roles", "AccessDenied", "iam:ListRoles"),
        # SNS names it AuthorizationError, HTTP 403 (botocore's sns model, AuthorizationErrorException)
        ("sns", "list_topics", "AuthorizationError", "sns:ListTopics"),
        # S3's REST-XML <Error><Code>AccessDenied</Code> (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html)
        ("s3", "list_buckets", "AccessDenied", "s3:ListAllMyBuckets"),
        # SQS speaks JSON and gives SDKs its query code in x-amzn-query-error (botocore's sqs model is
        # awsQueryCompatible)
        ("sqs", "list_queues", "AccessDenied", "sqs:ListQueues"),
        # rest-json: Lambda's AccessDeniedException
        ("lambda", "list_functions", "AccessDeniedException", "lambda:ListFunctions"),
    ],
)
def test_each_protocol_answers_access_denied_in_its_own_shape(
    aws: Aws, service: str, operation: str, code: str, action: str
) -> None:
    role = aws.role([{"Effect": "Allow", "Action": "codecommit:ListRepositories", "Resource": "*"}])
    with pytest.raises(ClientError) as error:
        getattr(role.client(service), operation)()
    assert denied(error) == (
        403,
        code,
        f"User: {role.session_arn} is not authorized to perform: {action} "
        f"because no identity-based policy allows the {action} action",
    )


def test_a_permissions_boundary_that_does_not_allow_denies(aws: Aws) -> None:
    name, arn = repository(aws)
    role = aws.role(
        [
            {
                "Effect": "Allow",
                "Action": ["codecommit:GetRepository", "codepipeline:ListPipelines"],
                "Resource": "*",
            }
        ],
        boundary=[{"Effect": "Allow", "Action": "codecommit:*", "Resource": "*"}],
    )
    assert role.client("codecommit").get_repository(repositoryName=name)["repositoryMetadata"]["Arn"] == arn
    with pytest.raises(ClientError) as error:
        role.client("codepipeline").list_pipelines()
    # "... because no permissions boundary allows the <action> action" (troubleshoot_access-denied.html)
    assert denied(error)[2] == (
        f"User: {role.session_arn} is not authorized to perform: codepipeline:ListPipelines "
        "because no permissions boundary allows the codepipeline:ListPipelines action"
    )


def test_an_aws_managed_boundary_is_read_from_awss_own_policy(aws: Aws) -> None:
    # AWSCodeCommitReadOnly allows codecommit:Get* and List* among others, not CreateRepository.
    name, _ = repository(aws)
    role = aws.role(
        [{"Effect": "Allow", "Action": "codecommit:*", "Resource": "*"}],
        boundary="arn:aws:iam::aws:policy/AWSCodeCommitReadOnly",
    )
    codecommit = role.client("codecommit")
    codecommit.get_repository(repositoryName=name)
    with pytest.raises(ClientError) as error:
        codecommit.create_repository(repositoryName=f"new-{uuid.uuid4().hex[:8]}")
    assert "because no permissions boundary allows the codecommit:CreateRepository action" in denied(error)[2]


def test_an_explicit_deny_wins_over_an_allow(aws: Aws) -> None:
    name, arn = repository(aws)
    other, _ = repository(aws)
    role = aws.role(
        [
            {"Sid": "All", "Effect": "Allow", "Action": "codecommit:*", "Resource": "*"},
            {"Sid": "NotThisOne", "Effect": "Deny", "Action": "codecommit:GetRepository", "Resource": arn},
        ]
    )
    codecommit = role.client("codecommit")
    codecommit.get_repository(repositoryName=other)
    with pytest.raises(ClientError) as error:
        codecommit.get_repository(repositoryName=name)
    assert denied(error)[2] == (
        f"User: {role.session_arn} is not authorized to perform: codecommit:GetRepository on resource: {arn} "
        "with an explicit deny in an identity-based policy"
    )


def test_passrole_to_another_service_than_the_policy_names_is_refused(aws: Aws) -> None:
    passed = f"arn:aws:iam::{ACCOUNT}:role/task-{uuid.uuid4().hex[:8]}"
    role = aws.role(
        [
            {
                "Effect": "Allow",
                "Action": ["ecs:RegisterTaskDefinition", "cloudformation:CreateStack"],
                "Resource": "*",
            },
            {
                "Sid": "PassToEcsTasks",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": passed,
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            },
        ]
    )
    role.client("ecs").register_task_definition(
        family=f"web-{uuid.uuid4().hex[:8]}",
        containerDefinitions=[{"name": "app", "image": "nginx", "memory": 128}],
        taskRoleArn=passed,
    )
    stack = f"stack-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as error:
        role.client("cloudformation").create_stack(StackName=stack, TemplateBody="{}", RoleARN=passed)
    # CloudFormation passes the role to cloudformation.amazonaws.com (id_roles_use_passrole.html)
    assert denied(error) == (
        403,
        "AccessDenied",
        f"User: {role.session_arn} is not authorized to perform: iam:PassRole on resource: {passed} "
        "because no identity-based policy allows the iam:PassRole action",
    )
    assert not [
        s for s in aws.admin("cloudformation").list_stacks()["StackSummaries"] if s["StackName"] == stack
    ]


def test_a_tag_conditioned_statement_follows_the_resources_tags(aws: Aws) -> None:
    ecs = aws.admin("ecs")
    cluster = f"apps-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    family = f"web-{uuid.uuid4().hex[:8]}"
    ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "app", "image": "nginx", "memory": 128}]
    )
    arns = {}
    for service, team in (("web", "storefront"), ("pay", "payments")):
        created = ecs.create_service(
            cluster=cluster,
            serviceName=service,
            taskDefinition=family,
            desiredCount=1,
            tags=[{"key": "team", "value": team}],
        )
        arns[service] = created["service"]["serviceArn"]
    # aws:ResourceTag on an ECS service (Service Authorization Reference, Amazon ECS: service resource type)
    role = aws.role(
        [
            {
                "Effect": "Allow",
                "Action": "ecs:UpdateService",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/team": "storefront"}},
            }
        ]
    )
    deployer = role.client("ecs")
    deployer.update_service(cluster=cluster, service="web", desiredCount=2)
    with pytest.raises(ClientError) as error:
        deployer.update_service(cluster=cluster, service="pay", desiredCount=2)
    assert denied(error)[2].endswith(
        f"ecs:UpdateService on resource: {arns['pay']} because no identity-based policy allows the "
        "ecs:UpdateService action"
    )
    ecs.tag_resource(resourceArn=arns["pay"], tags=[{"key": "team", "value": "storefront"}])
    deployer.update_service(cluster=cluster, service="pay", desiredCount=2)


def test_the_services_own_resource_tag_key_is_set_too(aws: Aws) -> None:
    # ecr:ResourceTag/<k> is an alias of aws:ResourceTag/<k> on repositories (Service Authorization
    # Reference, Amazon ECR: repository resource type)
    ecr = aws.admin("ecr")
    mine, theirs = f"mine-{uuid.uuid4().hex[:8]}", f"theirs-{uuid.uuid4().hex[:8]}"
    for name, team in ((mine, "storefront"), (theirs, "payments")):
        ecr.create_repository(repositoryName=name, tags=[{"Key": "team", "Value": team}])
    role = aws.role(
        [
            {
                "Effect": "Allow",
                "Action": "ecr:DescribeImages",
                "Resource": "*",
                "Condition": {"StringEquals": {"ecr:ResourceTag/team": "storefront"}},
            }
        ]
    )
    role.client("ecr").describe_images(repositoryName=mine)
    with pytest.raises(ClientError):
        role.client("ecr").describe_images(repositoryName=theirs)


def test_resource_tags_and_arns_are_read_from_each_services_state(aws: Aws) -> None:
    tags, pairs = [{"Key": "team", "Value": "a"}], [{"key": "team", "value": "a"}]
    suffix = uuid.uuid4().hex[:8]
    arns = {
        "iam role": aws.admin("iam").create_role(
            RoleName=f"r-{suffix}", Path="/x/", AssumeRolePolicyDocument="{}", Tags=tags
        )["Role"]["Arn"],
        "ecr repository": aws.admin("ecr").create_repository(repositoryName=f"e-{suffix}", tags=tags)[
            "repository"
        ]["repositoryArn"],
        "codecommit repository": aws.admin("codecommit").create_repository(
            repositoryName=f"c-{suffix}", tags={"team": "a"}
        )["repositoryMetadata"]["Arn"],
        "secret": aws.admin("secretsmanager").create_secret(Name=f"s/{suffix}", SecretString="x", Tags=tags)[
            "ARN"
        ],
        "topic": aws.admin("sns").create_topic(Name=f"t-{suffix}", Tags=tags)["TopicArn"],
    }
    ecs = aws.admin("ecs")
    ecs.create_cluster(clusterName=f"cl-{suffix}", tags=pairs)
    arns["ecs task definition"] = ecs.register_task_definition(
        family=f"f-{suffix}", containerDefinitions=[{"name": "a", "image": "b", "memory": 128}], tags=pairs
    )["taskDefinition"]["taskDefinitionArn"]
    arns["ecs service"] = ecs.create_service(
        cluster=f"cl-{suffix}", serviceName="sv", taskDefinition=f"f-{suffix}", desiredCount=1, tags=pairs
    )["service"]["serviceArn"]
    arns["cloudformation stack"] = aws.admin("cloudformation").create_stack(
        StackName=f"stk-{suffix}",
        TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}),
        Tags=tags,
    )["StackId"]
    aws.admin("events").put_rule(Name=f"ru-{suffix}", EventPattern="{}", Tags=tags)
    arns["events rule"] = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/ru-{suffix}"
    state = MotoState(ACCOUNT, REGION)
    assert {kind: dict(state.tags(arn)) for kind, arn in arns.items()} == {
        kind: {"team": "a"} for kind in arns
    }
    assert state.stack_arn(f"stk-{suffix}") == arns["cloudformation stack"]
    assert state.secret_arn(f"s/{suffix}") == arns["secret"]
    assert state.role_arn(f"r-{suffix}") == arns["iam role"]
    assert state.next_task_definition_revision(f"f-{suffix}") == 2


def test_a_bucket_policy_deny_applies_to_the_role(aws: Aws) -> None:
    bucket = f"bucket-{uuid.uuid4().hex[:8]}"
    s3 = aws.admin("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="secret/a", Body=b"x")
    s3.put_object(Bucket=bucket, Key="open/a", Body=b"x")
    role = aws.role([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}])
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": {"AWS": role.arn},
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/secret/*",
                    }
                ],
            }
        ),
    )
    reader = role.client("s3")
    assert reader.get_object(Bucket=bucket, Key="open/a")["Body"].read() == b"x"
    with pytest.raises(ClientError) as error:
        reader.get_object(Bucket=bucket, Key="secret/a")
    assert denied(error) == (
        403,
        "AccessDenied",
        f"User: {role.session_arn} is not authorized to perform: s3:GetObject on resource: "
        f"arn:aws:s3:::{bucket}/secret/a with an explicit deny in a resource-based policy",
    )


def test_keys_that_are_no_assumed_role_are_not_enforced_and_the_switch_turns_it_off(aws: Aws) -> None:
    name, _ = repository(aws)
    role = aws.role([{"Effect": "Allow", "Action": "codecommit:ListRepositories", "Resource": "*"}])
    aws.admin("codecommit").get_repository(repositoryName=name)  # `testing` stands for an administrator
    with pytest.raises(ClientError):
        role.client("codecommit").get_repository(repositoryName=name)
    aws.iam.enabled = False
    role.client("codecommit").get_repository(repositoryName=name)
    assert not aws.iam.recorder.decisions(role.name)[1:]  # nothing decided while switched off


def test_the_recorder_keeps_each_decision_and_which_statements_were_needed(aws: Aws) -> None:
    first, first_arn = repository(aws)
    second, second_arn = repository(aws)
    role = aws.role(
        [
            {"Sid": "First", "Effect": "Allow", "Action": "codecommit:GetRepository", "Resource": first_arn},
            {
                "Sid": "Both",
                "Effect": "Allow",
                "Action": "codecommit:GetRepository",
                "Resource": [first_arn, second_arn],
            },
            {"Sid": "Unused", "Effect": "Allow", "Action": "codecommit:DeleteRepository", "Resource": "*"},
        ]
    )
    codecommit = role.client("codecommit")
    codecommit.get_repository(repositoryName=first)
    codecommit.get_repository(repositoryName=second)
    records = aws.iam.recorder.decisions(role.arn)
    assert [(r.action, r.resource, r.allowed, [s.sid for s in r.allowed_by]) for r in records] == [
        ("codecommit:GetRepository", first_arn, True, ["First", "Both"]),
        ("codecommit:GetRepository", second_arn, True, ["Both"]),
    ]
    # "Both" is the only allower of the second call: without it that call is denied. "First" never is.
    assert {s.sid for s in aws.iam.recorder.needed(role.name)} == {"Both"}
    assert {s.sid for s in aws.iam.recorder.used(role.name)} == {"First", "Both"}
    aws.iam.recorder.reset()
    assert aws.iam.recorder.decisions() == []


def test_permissions_without_an_api_call_are_authorized_in_process(aws: Aws) -> None:
    # codecommit:UploadArchive is a permission CodePipeline's source action needs, not an API operation
    # (CodeCommit permissions reference).
    _, arn = repository(aws)
    role = aws.role([{"Effect": "Allow", "Action": "codecommit:UploadArchive", "Resource": arn}])
    allowed = aws.iam.authorize(role.access_key, "codecommit:UploadArchive", arn)
    assert allowed is not None and allowed.allowed
    refused = aws.iam.authorize(role.access_key, "codecommit:GetUploadArchiveStatus", arn)
    assert refused is not None and not refused.allowed
    assert aws.iam.authorize("testing", "codecommit:UploadArchive", arn) is None  # not an assumed role
    assert [r.action for r in aws.iam.recorder.decisions(role.name)] == [
        "codecommit:UploadArchive",
        "codecommit:GetUploadArchiveStatus",
    ]


def test_a_call_the_sandbox_cannot_map_to_iam_actions_is_denied_and_recorded(aws: Aws) -> None:
    role = aws.role([{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}])
    with pytest.raises(ClientError) as error:
        role.client("dynamodb").transact_write_items(
            TransactItems=[{"Put": {"TableName": "t", "Item": {"k": {"S": "v"}}}}]
        )
    assert denied(error)[:2] == (403, "AccessDeniedException")
    assert "TransactWriteItems" in aws.iam.recorder.unmapped()[-1]
