"""What CloudFormation's resource handlers ask IAM for when they act with a stack's service role.

A stack with a service role is created, updated and deleted with that role's credentials: each
resource's handler calls the service's API, and IAM authorizes each call. The permissions a handler
may call are in the type's resource provider schema (`handlers.<create|update|delete>.permissions`,
read by `sandbox.iam.lint.handler_permissions`). Some of them a handler calls only for a property
(a repository policy, a KMS key, managed policies): those are required here only when the resource
sets that property, so a template that sets one needs the permission and one that does not, does not.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html
https://docs.aws.amazon.com/cloudformation-cli/latest/userguide/resource-type-schema.html#schema-properties-handlers
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.iam import catalog, lint
from sandbox.iam.requests import ContextValue, MotoState

# The session name CloudFormation gives a stack's service role.
SESSION_NAME = "AWSCloudFormation"
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/")

Properties = Mapping[str, Any]


def _has(name: str) -> Callable[[Properties], bool]:
    return lambda properties: bool(properties.get(name))


def _kms_encryption(properties: Properties) -> bool:
    return str((properties.get("EncryptionConfiguration") or {}).get("EncryptionType", "")).upper() == "KMS"


def _connection_source(properties: Properties) -> bool:
    return any(
        (action.get("ActionTypeId") or {}).get("Provider") == "CodeStarSourceConnection"
        for stage in properties.get("Stages") or []
        for action in stage.get("Actions") or []
    )


# (type, action) -> the property that makes the handler call it (AWS's docs for each property say so).
ONLY_WHEN: dict[tuple[str, str], Callable[[Properties], bool]] = {
    ("AWS::IAM::Role", "iam:AttachRolePolicy"): _has("ManagedPolicyArns"),
    ("AWS::IAM::Role", "iam:PutRolePolicy"): _has("Policies"),
    ("AWS::IAM::Role", "iam:PutRolePermissionsBoundary"): _has("PermissionsBoundary"),
    # An update calls it to take the boundary off: when the new properties have none.
    ("AWS::IAM::Role", "iam:DeleteRolePermissionsBoundary"): lambda p: not p.get("PermissionsBoundary"),
    ("AWS::ECR::Repository", "ecr:SetRepositoryPolicy"): _has("RepositoryPolicyText"),
    ("AWS::ECR::Repository", "ecr:PutLifecyclePolicy"): _has("LifecyclePolicy"),
    ("AWS::ECR::Repository", "kms:CreateGrant"): _kms_encryption,
    ("AWS::ECR::Repository", "kms:DescribeKey"): _kms_encryption,
    ("AWS::ECR::Repository", "kms:RetireGrant"): _kms_encryption,
    ("AWS::Logs::LogGroup", "logs:AssociateKmsKey"): _has("KmsKeyId"),
    # Removals: only when a value the log group had is taken away (the update handler: e.g.
    # `kmsKeyChanged && model.getKmsKeyId() == null`, aws-cloudformation-resource-providers-logs,
    # aws-logs-loggroup/.../UpdateHandler.java). Setting the value first takes the matching Put or
    # Associate, which the stack role is never given (security/iam-exceptions.yaml): no blueprint log
    # group has one to remove.
    ("AWS::Logs::LogGroup", "logs:DisassociateKmsKey"): lambda _: False,
    ("AWS::Logs::LogGroup", "logs:DeleteIndexPolicy"): lambda _: False,
    ("AWS::Logs::LogGroup", "logs:DeleteResourcePolicy"): lambda _: False,
    ("AWS::Logs::LogGroup", "logs:PutRetentionPolicy"): _has("RetentionInDays"),
    ("AWS::Logs::LogGroup", "logs:PutDataProtectionPolicy"): _has("DataProtectionPolicy"),
    ("AWS::Logs::LogGroup", "logs:PutIndexPolicy"): _has("FieldIndexPolicies"),
    ("AWS::Logs::LogGroup", "logs:PutResourcePolicy"): _has("ResourcePolicyDocument"),
    ("AWS::Logs::LogGroup", "logs:PutLogGroupDeletionProtection"): _has("DeletionProtectionEnabled"),
    ("AWS::Logs::LogGroup", "logs:PutBearerTokenAuthentication"): _has("BearerTokenAuthenticationEnabled"),
    ("AWS::Logs::LogGroup", "logs:CreateLogDelivery"): _has("ResourcePolicyDocument"),
    ("AWS::Logs::LogGroup", "firehose:TagDeliveryStream"): lambda _: False,  # log delivery to Firehose
    ("AWS::CodeBuild::Project", "codebuild:CreateWebhook"): _has("Triggers"),
    ("AWS::CodeBuild::Project", "codebuild:UpdateWebhook"): _has("Triggers"),
    ("AWS::CodeBuild::Project", "codebuild:DeleteWebhook"): _has("Triggers"),
    ("AWS::CodeBuild::Project", "codebuild:UpdateProjectVisibility"): _has("Visibility"),
    # A deployment group's handlers deploy, register a revision and stop a deployment only for its
    # Deployment property, and register instances only for on-premises tag filters (the property
    # docs of AWS::CodeDeploy::DeploymentGroup).
    ("AWS::CodeDeploy::DeploymentGroup", "codedeploy:CreateDeployment"): _has("Deployment"),
    ("AWS::CodeDeploy::DeploymentGroup", "codedeploy:RegisterApplicationRevision"): _has("Deployment"),
    ("AWS::CodeDeploy::DeploymentGroup", "codedeploy:StopDeployment"): _has("Deployment"),
    ("AWS::CodeDeploy::DeploymentGroup", "codedeploy:RegisterOnPremisesInstance"): lambda p: bool(
        p.get("OnPremisesInstanceTagFilters") or p.get("OnPremisesTagSet")
    ),
    ("AWS::CodePipeline::Pipeline", "codestar-connections:PassConnection"): _connection_source,
    ("AWS::CodePipeline::Pipeline", "codepipeline:DisableStageTransition"): _has(
        "DisableInboundStageTransitions"
    ),
    # AWS::Lambda::Function: each property's documentation in the AWS::Lambda::Function reference and
    # the Lambda API it maps to (VpcConfig -> ec2:Describe*, FileSystemConfigs -> EFS mount targets,
    # KmsKeyArn -> KMS, CodeSigningConfigArn, Layers, RuntimeManagementConfig, RecursiveLoop,
    # ReservedConcurrentExecutions -> PutFunctionConcurrency, Code.S3ObjectVersion -> GetObjectVersion).
    **{
        ("AWS::Lambda::Function", a): _has("VpcConfig")
        for a in (
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcs",
            "ec2:DescribeNetworkInterfaces",
        )
    },
    **{
        ("AWS::Lambda::Function", a): _has("FileSystemConfigs")
        for a in ("elasticfilesystem:DescribeMountTargets", "s3files:ListMountTargets")
    },
    **{
        ("AWS::Lambda::Function", a): _has("KmsKeyArn")
        for a in ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")
    },
    **{
        ("AWS::Lambda::Function", a): _has("CodeSigningConfigArn")
        for a in (
            "lambda:GetCodeSigningConfig",
            "lambda:PutFunctionCodeSigningConfig",
            "lambda:DeleteFunctionCodeSigningConfig",
        )
    },
    ("AWS::Lambda::Function", "lambda:GetLayerVersion"): _has("Layers"),
    ("AWS::Lambda::Function", "lambda:PutRuntimeManagementConfig"): _has("RuntimeManagementConfig"),
    ("AWS::Lambda::Function", "lambda:PutFunctionRecursionConfig"): _has("RecursiveLoop"),
    ("AWS::Lambda::Function", "lambda:PutFunctionConcurrency"): _has("ReservedConcurrentExecutions"),
    ("AWS::Lambda::Function", "lambda:PutFunctionScalingConfig"): _has("FunctionScalingConfig"),
    ("AWS::Lambda::Function", "lambda:PassCapacityProvider"): _has("CapacityProviderConfig"),
    ("AWS::Lambda::Function", "s3:GetObjectVersion"): lambda p: bool(
        (p.get("Code") or {}).get("S3ObjectVersion")
    ),
    ("AWS::Lambda::Function", "s3:GetObject"): lambda p: bool((p.get("Code") or {}).get("S3Key")),
    # (unverified) Neither has a property of its own in the reference: publishing a version and a
    # runtime alias belong to AWS::Lambda::Version and SnapStart, which the application's functions
    # do not use; the sandbox does not ask for them.
    ("AWS::Lambda::Function", "lambda:PublishVersion"): _has("SnapStart"),
    ("AWS::Lambda::Function", "lambda:AssociateRuntimeAlias"): lambda _: False,
}

# The service a role in the resource's properties is passed to, by resource type (or its namespace).
PASSED_TO = {
    "AWS::CodeBuild::Project": "codebuild.amazonaws.com",
    "AWS::CodePipeline::Pipeline": "codepipeline.amazonaws.com",
    "AWS::CodeDeploy::DeploymentGroup": "codedeploy.amazonaws.com",
    "AWS::Events::Rule": "events.amazonaws.com",
    "AWS::Lambda::Function": "lambda.amazonaws.com",
    "AWS::ECS::TaskDefinition": "ecs-tasks.amazonaws.com",
    "AWS::StepFunctions::StateMachine": "states.amazonaws.com",
    "AWS::CloudFormation::Stack": "cloudformation.amazonaws.com",
}


@dataclass(frozen=True)
class HandlerCall:
    """One authorization a resource handler needs: an action on a resource, with its context."""

    action: str
    resource: str
    context: dict[str, ContextValue] = field(default_factory=dict)


def resource_arn(resource_type: str, name: str, properties: Properties, account: str, region: str) -> str:
    """The ARN IAM sees for the resource (`*` for a type the sandbox does not know)."""
    arn = {
        "AWS::IAM::Role": f"arn:aws:iam::{account}:role{properties.get('Path') or '/'}{name}",
        "AWS::IAM::ManagedPolicy": f"arn:aws:iam::{account}:policy{properties.get('Path') or '/'}{name}",
        "AWS::CodePipeline::Pipeline": f"arn:aws:codepipeline:{region}:{account}:{name}",
        "AWS::CodeBuild::Project": f"arn:aws:codebuild:{region}:{account}:project/{name}",
        "AWS::CodeDeploy::Application": f"arn:aws:codedeploy:{region}:{account}:application:{name}",
        "AWS::CodeDeploy::DeploymentGroup": (
            f"arn:aws:codedeploy:{region}:{account}:deploymentgroup:"
            f"{_application_of(properties, name, account, region)}/{name}"
        ),
        "AWS::Events::Rule": f"arn:aws:events:{region}:{account}:rule/{name}",
        "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{account}:log-group:{name}",
        "AWS::ECR::Repository": f"arn:aws:ecr:{region}:{account}:repository/{name}",
        "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
        "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
        "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account}:{name}",
        "AWS::SNS::Topic": f"arn:aws:sns:{region}:{account}:{name}",
        "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
    }.get(resource_type)
    return arn or "*"


def _application_of(properties: Properties, group: str, account: str, region: str) -> str:
    """A deployment group's application: its property, or (a delete sees the template's unresolved
    `!Ref`, and moto may have deleted the application first) the one the group was created in."""
    named = properties.get("ApplicationName")
    if isinstance(named, str):
        return named
    from sandbox.moto_ext.codedeploy import APPLICATION_OF_GROUP

    return APPLICATION_OF_GROUP.get((account, region, group), "*")


def required_permissions(resource_type: str, operation: str, properties: Properties) -> list[str]:
    """The handler permissions of the operation this resource's properties make it call."""
    try:
        permissions = lint.handler_permissions(resource_type).get(operation, ())
    except KeyError:
        permissions = ()
    needed = []
    for action in permissions:
        trigger = ONLY_WHEN.get((resource_type, action))
        if trigger is not None and not trigger(properties):
            continue
        if catalog.action(action) is None:
            continue  # the schema names something IAM does not know (s3:REST.PUT.OBJECT)
        needed.append(action)
    if not permissions:
        # No schema or documented permissions: the type's own create/update/delete, whatever it is
        # called, cannot be authorized; ask for the namespace's `<Operation><Type>` action.
        service, _, kind = resource_type.removeprefix("AWS::").partition("::")
        needed.append(f"{service.lower()}:{operation.capitalize()}{kind}")
    return needed


def handler_calls(
    resource_type: str,
    operation: str,
    name: str,
    properties: Properties,
    account: str,
    region: str,
    stack_tags: Mapping[str, str] | None = None,
    state: MotoState | None = None,
) -> list[HandlerCall]:
    """What IAM authorizes when CloudFormation's `operation` handler acts on this resource."""
    state = state or MotoState(account, region)
    own = resource_arn(resource_type, name, properties, account, region)
    if resource_type == "AWS::IAM::Role" and not isinstance(properties.get("Path", "/"), str):
        # A delete sees the template's properties unresolved (a Path from a parameter): the role is
        # the one of that name, wherever it lives.
        own = state.role_arn(name) or own
    # A create's first call creates the resource with its tags (the stack's propagate to it); the
    # handler's later calls act on that resource, which carries them by then.
    created_tags = {**(stack_tags or {}), **_tags(properties.get("Tags"))} if operation == "create" else {}
    existing_tags = dict(state.tags(own)) if operation != "create" and own != "*" else {}
    calls = []
    for action in required_permissions(resource_type, operation, properties):
        known = catalog.action(action)
        for resource, extra in _targets(action, resource_type, own, properties, state, account):
            context: dict[str, ContextValue] = dict(extra)
            if known is not None and resource == own:
                # A create tags as it creates: the creating action and its tagging (ECR authorizes
                # ecr:TagResource, a dependent action of CreateRepository) see the request's tags and
                # a resource without tags; the handler's later calls see the tags the resource got.
                tagging = "Tag" in known.name
                creating = operation == "create" and (known.name.startswith("Create") or tagging)
                request_tags = created_tags if creating or tagging else {}
                resource_tags = existing_tags if operation != "create" else ({} if creating else created_tags)
                context.update(_tag_context(known, request_tags, resource_tags))
            if action.startswith("iam:") and known is not None and known.supports("iam:PermissionsBoundary"):
                boundary = _boundary(
                    action, resource, resource_type, properties if operation != "delete" else {}, state
                )
                if boundary:
                    context["iam:PermissionsBoundary"] = boundary
            if resource_type == "AWS::CodeBuild::Project" and known is not None:
                context.update(_project_context(known, properties))
            if action == "events:PutTargets":
                context["events:TargetArn"] = tuple(
                    str(t["Arn"]) for t in properties.get("Targets") or [] if t.get("Arn")
                )
            calls.append(HandlerCall(action, resource, context))
    return calls


def _targets(
    action: str, resource_type: str, own: str, properties: Properties, state: MotoState, account: str
) -> Iterator[tuple[str, dict[str, ContextValue]]]:
    """The resources an action of this handler acts on, each with its own context."""
    if action == "iam:PassRole":
        service = PASSED_TO.get(resource_type) or (resource_type.split("::")[1].lower() + ".amazonaws.com")
        for role in sorted(set(_role_arns(properties))):
            yield role, {"iam:PassedToService": service}
        return
    if resource_type == "AWS::Lambda::Function" and action.startswith("s3:"):
        # Lambda reads the deployment package with the caller's credentials.
        code = properties.get("Code") or {}
        yield f"arn:aws:s3:::{code.get('S3Bucket', '')}/{code.get('S3Key', '')}", {}
        return
    if action.startswith("iam:") and resource_type != "AWS::IAM::Role" and "Role" in action:
        # An inline or managed policy's handler, or GetRole for a role a pipeline uses.
        named = [*_role_arns(properties)]
        for key in ("RoleName", "Roles"):
            value = properties.get(key)
            for role_name in value if isinstance(value, list) else [value] if value else []:
                named.append(state.role_arn(str(role_name)) or f"arn:aws:iam::{account}:role/{role_name}")
        for role in sorted(set(named)) or ["*"]:
            yield role, {}
        return
    known = catalog.action(action)
    if known is not None and own != "*" and any(r.matches(own) for r in known.resource_types()):
        yield own, {}
        return
    if resource_type == "AWS::CodeDeploy::DeploymentGroup" and own != "*":
        # A deployment group's handler reads its application's revisions and its deployment
        # configuration: each on its own ARN (codedeploy's resource types).
        base = own.split(":deploymentgroup:", 1)[0]
        if action == "codedeploy:GetDeploymentConfig":
            config = properties.get("DeploymentConfigName") or "CodeDeployDefault.OneAtATime"
            yield f"{base}:deploymentconfig:{config}", {}
            return
        if action in ("codedeploy:GetApplicationRevision", "codedeploy:RegisterApplicationRevision"):
            yield f"{base}:application:{properties.get('ApplicationName')}", {}
            return
    if known is not None and own != "*" and resource_type == "AWS::CodePipeline::Pipeline":
        # Stage transitions act on the pipeline's stages (`<pipeline ARN>/<stage>`).
        stages = [f"{own}/{s['Name']}" for s in properties.get("Stages") or [] if s.get("Name")]
        if stages and all(any(r.matches(s) for r in known.resource_types()) for s in stages):
            for stage in stages:
                yield stage, {}
            return
    yield "*", {}


def _boundary(action: str, role: str, resource_type: str, properties: Properties, state: MotoState) -> str:
    """iam:PermissionsBoundary as IAM fills it: the boundary a role is created or set with, else the
    one the role has (a role created with one has it by the time the handler writes its policies;
    a delete reads it from the role, the template's properties being unresolved then)."""
    setting = (
        action in ("iam:CreateRole", "iam:PutRolePermissionsBoundary") or resource_type == "AWS::IAM::Role"
    )
    if setting and properties.get("PermissionsBoundary"):
        return str(properties["PermissionsBoundary"])
    return state.role_boundary(role) if role != "*" else ""


def _project_context(action: catalog.Action, properties: Properties) -> dict[str, ContextValue]:
    """CodeBuild's condition keys on a project's settings (`codebuild:source.location`, ...): each
    property path in the API's camelCase, as the Service Authorization Reference names them."""
    found: dict[str, list[str]] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                name = str(key)[:1].lower() + str(key)[1:]
                walk(value, f"{path}.{name}" if path else name)
        elif isinstance(node, list):
            for item in node:
                walk(item, path)
        elif node is not None and path:
            found.setdefault(f"codebuild:{path}", []).append(
                str(node).lower() if isinstance(node, bool) else str(node)
            )

    walk(properties, "")
    return {
        key: values[0] if len(values) == 1 else tuple(values)
        for key, values in found.items()
        if action.supports(key)
    }


def _role_arns(node: Any) -> Iterator[str]:
    """Every role ARN among the resource's property values."""
    if isinstance(node, str) and _ROLE_ARN.match(node):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _role_arns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _role_arns(value)


def _tags(value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return {str(t["Key"]): str(t["Value"]) for t in value or [] if isinstance(t, Mapping) and "Key" in t}


def _tag_context(
    action: catalog.Action, request_tags: Mapping[str, str], resource_tags: Mapping[str, str]
) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {}
    if request_tags and action.supports("aws:RequestTag/x"):
        context.update({f"aws:RequestTag/{k}": v for k, v in request_tags.items()})
        context["aws:TagKeys"] = tuple(request_tags)
    if resource_tags and action.supports("aws:ResourceTag/x"):
        context.update({f"aws:ResourceTag/{k}": v for k, v in resource_tags.items()})
    return context
