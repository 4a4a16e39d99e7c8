"""Every IAM policy the controller and blueprint templates produce, resolved to the JSON AWS would hold."""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipewarden import blueprint as pipewarden_blueprint
from pipewarden.config import ControllerConfig
from pipewarden.contract import APPLICATION_BLUEPRINTS, RepositorySettings
from pipewarden.naming import stack_name as blueprint_stack_name
from sandbox import template as cfn_template

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[2]
CONTROLLER_TEMPLATE = ROOT / "template.yaml"
BLUEPRINTS = ROOT / "layers/pipewarden/pipewarden/blueprints"
CONTROLLER_STACK = "pipewarden"

# Resource types whose policy document is a resource-based policy, and the property that holds it.
RESOURCE_POLICY_PROPERTIES = {
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::ECR::Repository": "RepositoryPolicyText",
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::SecretsManager::ResourcePolicy": "ResourcePolicy",
    "AWS::Logs::ResourcePolicy": "PolicyDocument",
}
_IAM_TYPES = ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::IAM::RolePolicy")
# Where CloudFormation takes a resource's physical name from when the template names it.
_NAME_PROPERTIES = (
    "RoleName",
    "ManagedPolicyName",
    "Name",
    "LogGroupName",
    "RepositoryName",
    "QueueName",
    "TopicName",
    "TableName",
    "FunctionName",
    "BucketName",
    "LayerName",
)


@dataclass(frozen=True)
class Role:
    """An IAM role as IAM holds it once its stack is deployed."""

    logical_id: str
    path: str
    name: str
    arn: str
    permissions_boundary: str | None
    trust_policy: dict[str, Any]
    inline_policies: dict[str, dict[str, Any]]  # policy name -> document
    managed_policy_arns: tuple[str, ...]
    tags: dict[str, str]  # the boundary's policy variables (aws:PrincipalTag/...) read these


@dataclass(frozen=True)
class ManagedPolicy:
    """A customer managed policy the template creates (attached to roles, or used as a boundary)."""

    logical_id: str
    name: str
    path: str
    arn: str
    document: dict[str, Any]


@dataclass(frozen=True)
class ResourcePolicy:
    """A resource-based policy (bucket, queue, topic, repository, key ...) the template creates."""

    logical_id: str
    resource_type: str
    document: dict[str, Any]


@dataclass(frozen=True)
class Stack:
    """The IAM content of one deployed stack: what `controller()` and `blueprint()` return."""

    label: str  # the template's file name, and for a blueprint the case: "ecs-rolling.yaml[no-pass-roles]"
    template: str  # the template's file name
    stack_name: str
    parameters: dict[str, str]
    roles: tuple[Role, ...]
    managed_policies: tuple[ManagedPolicy, ...]
    resource_policies: tuple[ResourcePolicy, ...]
    outputs: dict[str, str] = field(default_factory=dict)

    def role(self, logical_id: str) -> Role:
        """The role with this logical id (KeyError if the stack has none)."""
        for role in self.roles:
            if role.logical_id == logical_id:
                return role
        raise KeyError(f"{self.label} has no role {logical_id}")

    def managed_policy(self, logical_id: str) -> ManagedPolicy:
        """The customer managed policy with this logical id (KeyError if the stack has none)."""
        for policy in self.managed_policies:
            if policy.logical_id == logical_id:
                return policy
        raise KeyError(f"{self.label} has no managed policy {logical_id}")


@dataclass(frozen=True)
class BlueprintCase:
    """One enrolled repository as the controller would deploy it, and the controller it runs under.

    `pass_role_arns` are the ECS service's task and execution roles (looked up when the stack is
    written); `write_time_parameters` are other parameters the controller looks up then.
    """

    name: str
    settings: RepositorySettings
    pass_role_arns: tuple[str, ...]
    controller_parameters: dict[str, str] = field(default_factory=dict)
    write_time_parameters: dict[str, str] = field(default_factory=dict)


def _service_roles(service: str, repository: str = "storefront") -> tuple[str, ...]:
    """The task and execution roles of a service, where the repository's pipeline may pass them."""
    return (
        f"arn:aws:iam::{ACCOUNT}:role/pipewarden-tasks/{repository}/{service}-task",
        f"arn:aws:iam::{ACCOUNT}:role/pipewarden-tasks/{repository}/{service}-execution",
    )


_STOREFRONT = RepositorySettings("storefront", "apps-prod", "web", "storefront", "storefront")
# What the enroll function reads from an ecs-blue-green service's load balancer (ownership.check).
_LOAD_BALANCING = {
    "TargetGroupNames": "web-blue,web-green",
    "ProductionListenerArn": (
        f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener/app/web/0123456789abcdef/fedcba9876543210"
    ),
    "ContainerPort": "8080",
}
_ALLOW_LIST = {"AllowedEcsTargets": "apps-*,shared/web-*"}

# The controller's parameter sets and the blueprint's: a representative deployment and the edge
# cases that change what a policy says (no role to pass, one role, an ECR repository that exists
# already, every target allowed, no target allowed, another tag prefix, names at their limits).
BLUEPRINT_CASES = (
    BlueprintCase("representative", _STOREFRONT, _service_roles("web"), _ALLOW_LIST),
    # The ECS service does not exist yet, or runs without task and execution roles.
    BlueprintCase("no-pass-roles", _STOREFRONT, (), _ALLOW_LIST),
    BlueprintCase(
        "one-pass-role-existing-ecr-repository",
        RepositorySettings("billing", "shared", "web-billing", "api", "billing-images", branch="release"),
        (f"arn:aws:iam::{ACCOUNT}:role/pipewarden-tasks/@shared/ecsTaskExecutionRole",),
        _ALLOW_LIST,
        {"CreateEcrRepository": "false"},
    ),
    # ecs-blue-green with rollback alarms (CodeDeploy's role may read them).
    BlueprintCase(
        "rollback-alarms",
        RepositorySettings(
            "storefront",
            "apps-prod",
            "web",
            "storefront",
            "storefront",
            rollback_alarms=("web-5xx", "web-p99"),
        ),
        _service_roles("web"),
        _ALLOW_LIST,
    ),
    BlueprintCase("every-target-allowed", _STOREFRONT, _service_roles("web"), {"AllowedEcsTargets": "*"}),
    # The template's defaults: the allow-list may be empty, when no pipeline may deploy anywhere.
    BlueprintCase("controller-defaults", _STOREFRONT, _service_roles("web"), {}),
    BlueprintCase(
        "custom-prefix-and-buildspec",
        RepositorySettings(
            "Payments.API", "apps-payments", "api", "api", "payments.api", buildspec="ci/buildspec.yml"
        ),
        _service_roles("api", "Payments.API"),
        {"TagPrefix": "acme", "AllowedEcsTargets": "apps-payments"},
    ),
    BlueprintCase(
        "long-names",
        RepositorySettings("r" * 100, "apps-" + "c" * 250, "s" * 255, "c" * 255, "e" * 256),
        _service_roles("s" * 50, "r" * 100),
        _ALLOW_LIST,
    ),
)


class _StackResolver(cfn_template.Resolver):
    """The sandbox's resolver, with this stack's name and `Fn::ToJsonString` (AWS::LanguageExtensions)."""

    def __init__(
        self,
        template: Mapping[str, Any],
        overrides: Mapping[str, str],
        resources: Mapping[str, Mapping[str, str]],
        stack_name: str,
    ) -> None:
        # Set before the base class evaluates the conditions, which may name the stack.
        self._stack_name = stack_name
        super().__init__(template, overrides, resources, ACCOUNT, REGION)
        self.pseudo["AWS::StackId"] = (
            f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/{_suffix(stack_name, 'id')}"
        )

    def ref(self, name: str) -> Any:
        if name == "AWS::StackName":
            return self._stack_name
        return super().ref(name)

    def _function(self, name: str, value: Any) -> Any:
        if name == "ToJsonString":
            return json.dumps(self.resolve(value), separators=(",", ":"))
        return super()._function(name, value)


def _suffix(stack: str, logical_id: str) -> str:
    """The random-looking tail CloudFormation appends to names it generates, made up but stable."""
    return hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:12].upper()


def _generated_name(stack: str, logical_id: str, limit: int, lower: bool = False) -> str:
    tail = "-" + _suffix(stack, logical_id)
    name = f"{stack}-{logical_id}"[: limit - len(tail)] + tail
    return name.lower() if lower else name


def _physical_ids(
    template: Mapping[str, Any], parameters: Mapping[str, str], stack: str
) -> dict[str, dict[str, str]]:
    """Made-up physical ids and attributes (Ref, Arn ...) of every resource, as CloudFormation gives them."""
    # Names a template sets may use parameters and pseudo parameters, not other resources.
    names = _StackResolver(template, parameters, {}, stack)
    ids: dict[str, dict[str, str]] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        name = None
        for key in _NAME_PROPERTIES:
            if key in properties and isinstance(properties[key], (str, dict)):
                try:
                    name = str(names.resolve(properties[key]))
                except (KeyError, ValueError):
                    name = None
                break
        try:
            path = str(names.resolve(properties.get("Path", "/")))
        except (KeyError, ValueError):
            path = "/"
        ids[logical_id] = _attributes(kind, logical_id, name, path, stack)
    return ids


def _attributes(kind: str, logical_id: str, name: str | None, path: str, stack: str) -> dict[str, str]:
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    if kind == "AWS::IAM::Role":
        role = name or _generated_name(stack, logical_id, 64)
        return {
            "Ref": role,
            "Arn": f"arn:aws:iam::{ACCOUNT}:role{path}{role}",
            "RoleId": "AROA" + _suffix(stack, logical_id),
        }
    if kind == "AWS::IAM::ManagedPolicy":
        policy = name or _generated_name(stack, logical_id, 128)
        policy_arn = f"arn:aws:iam::{ACCOUNT}:policy{path}{policy}"
        return {"Ref": policy_arn, "PolicyArn": policy_arn}
    if kind == "AWS::S3::Bucket":
        bucket = name or _generated_name(stack, logical_id, 63, lower=True)
        return {
            "Ref": bucket,
            "Arn": f"arn:aws:s3:::{bucket}",
            "DomainName": f"{bucket}.s3.amazonaws.com",
            "RegionalDomainName": f"{bucket}.s3.{REGION}.amazonaws.com",
        }
    if kind == "AWS::SQS::Queue":
        queue = name or _generated_name(stack, logical_id, 80)
        url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue}"
        return {"Ref": url, "QueueUrl": url, "QueueName": queue, "Arn": arn.format("sqs", queue)}
    if kind == "AWS::SNS::Topic":
        topic = name or _generated_name(stack, logical_id, 256)
        return {"Ref": arn.format("sns", topic), "TopicArn": arn.format("sns", topic), "TopicName": topic}
    if kind == "AWS::DynamoDB::Table":
        table = name or _generated_name(stack, logical_id, 255)
        table_arn = arn.format("dynamodb", f"table/{table}")
        return {"Ref": table, "Arn": table_arn, "StreamArn": f"{table_arn}/stream/2025-01-01T00:00:00.000"}
    if kind == "AWS::Lambda::Function":
        function = name or _generated_name(stack, logical_id, 64)
        return {"Ref": function, "Arn": arn.format("lambda", f"function:{function}")}
    if kind == "AWS::Lambda::LayerVersion":
        layer = arn.format("lambda", f"layer:{name or _generated_name(stack, logical_id, 64)}:1")
        return {"Ref": layer, "LayerVersionArn": layer}
    if kind == "AWS::Events::Rule":
        rule = name or _generated_name(stack, logical_id, 64)
        return {"Ref": rule, "Arn": arn.format("events", f"rule/{rule}")}
    if kind == "AWS::Logs::LogGroup":
        group = name or _generated_name(stack, logical_id, 512)
        return {"Ref": group, "Arn": arn.format("logs", f"log-group:{group}:*")}
    if kind == "AWS::CodeBuild::Project":
        project = name or _generated_name(stack, logical_id, 150)
        return {"Ref": project, "Arn": arn.format("codebuild", f"project/{project}")}
    if kind == "AWS::CodePipeline::Pipeline":
        return {"Ref": name or _generated_name(stack, logical_id, 100), "Version": "1"}
    if kind == "AWS::ECR::Repository":
        repository = name or _generated_name(stack, logical_id, 256, lower=True)
        return {
            "Ref": repository,
            "Arn": arn.format("ecr", f"repository/{repository}"),
            "RepositoryUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}",
        }
    return {"Ref": name or _generated_name(stack, logical_id, 255)}


def _document(value: Any, where: str) -> dict[str, Any]:
    """A policy document as AWS holds it: a template may give it as an object or as a JSON string.

    A JSON string is how a template writes condition keys it has to compute (a `!Sub` of
    `aws:ResourceTag/${TagPrefix}:repository` cannot be a YAML key), so it is parsed here.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: the policy document is not valid JSON: {error}") from error
    if not isinstance(value, dict) or "Statement" not in value:
        raise ValueError(f"{where}: not a policy document: {value!r}")
    return value


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _collect(
    label: str,
    template_name: str,
    template: Mapping[str, Any],
    parameters: Mapping[str, str],
    stack: str,
) -> Stack:
    """Resolve the template's IAM resources for these parameters into a `Stack`."""
    ids = _physical_ids(template, parameters, stack)
    resolver = _StackResolver(template, parameters, ids, stack)
    roles: dict[str, dict[str, Any]] = {}
    managed: list[ManagedPolicy] = []
    resource_policies: list[ResourcePolicy] = []
    role_policies: list[tuple[str, list[str], dict[str, Any]]] = []  # name, role names, document
    attachments: list[tuple[str, list[str]]] = []  # managed policy ARN, role names
    for logical_id, resource in template["Resources"].items():
        condition = resource.get("Condition")
        if condition is not None and not resolver.conditions[condition]:
            continue
        kind = resource["Type"]
        where = f"{label}:{logical_id}"
        if kind in RESOURCE_POLICY_PROPERTIES:
            held = resource.get("Properties", {}).get(RESOURCE_POLICY_PROPERTIES[kind])
            if held is not None:
                resource_policies.append(
                    ResourcePolicy(logical_id, kind, _document(resolver.resolve(held), where))
                )
            continue
        if kind not in _IAM_TYPES:
            continue
        properties = resolver.resolve(resource.get("Properties", {}))
        if kind == "AWS::IAM::Role":
            roles[logical_id] = properties
        elif kind == "AWS::IAM::ManagedPolicy":
            policy_arn = ids[logical_id]["Ref"]
            path = str(properties.get("Path", "/"))
            name = policy_arn.rsplit("/", 1)[1]
            managed.append(
                ManagedPolicy(
                    logical_id, name, path, policy_arn, _document(properties["PolicyDocument"], where)
                )
            )
            attachments.append((policy_arn, [str(r) for r in _as_list(properties.get("Roles"))]))
        elif kind == "AWS::IAM::Policy":
            document = _document(properties["PolicyDocument"], where)
            role_names = [str(r) for r in _as_list(properties.get("Roles"))]
            role_policies.append((str(properties["PolicyName"]), role_names, document))
        else:  # AWS::IAM::RolePolicy
            document = _document(properties["PolicyDocument"], where)
            role_policies.append((str(properties["PolicyName"]), [str(properties["RoleName"])], document))

    built: list[Role] = []
    for logical_id, properties in roles.items():
        where = f"{label}:{logical_id}"
        name = ids[logical_id]["Ref"]
        inline = {
            str(p["PolicyName"]): _document(p["PolicyDocument"], f"{where}/{p['PolicyName']}")
            for p in _as_list(properties.get("Policies"))
        }
        inline.update({policy: doc for policy, names, doc in role_policies if name in names})
        arns = [str(a) for a in _as_list(properties.get("ManagedPolicyArns"))]
        arns += [a for a, names in attachments if name in names and a not in arns]
        boundary = properties.get("PermissionsBoundary")
        built.append(
            Role(
                logical_id=logical_id,
                path=str(properties.get("Path", "/")),
                name=name,
                arn=ids[logical_id]["Arn"],
                permissions_boundary=str(boundary) if boundary else None,
                trust_policy=_document(properties["AssumeRolePolicyDocument"], f"{where}/trust"),
                inline_policies=inline,
                managed_policy_arns=tuple(arns),
                tags={str(t["Key"]): str(t["Value"]) for t in _as_list(properties.get("Tags"))},
            )
        )
    outputs = {
        name: str(resolver.resolve(output["Value"])) for name, output in template.get("Outputs", {}).items()
    }
    return Stack(
        label=label,
        template=template_name,
        stack_name=stack,
        parameters=dict(resolver.parameters),
        roles=tuple(built),
        managed_policies=tuple(managed),
        resource_policies=tuple(resource_policies),
        outputs=outputs,
    )


def _managed_policy_loader() -> Any:
    """SAM's managed policy loader, answered from moto's copy of AWS's managed policies, not from IAM."""
    from samtranslator.translator.managed_policy_translator import (  # type: ignore[import-untyped]
        ManagedPolicyLoader,
    )

    class MotoManagedPolicies(ManagedPolicyLoader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._policy_map = {arn.rsplit("/", 1)[1]: arn for arn in _aws_managed_policies()}

        def load(self) -> dict[str, str]:
            return self._policy_map

    return MotoManagedPolicies()


def sam_translate(template: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, Any]:
    """The CloudFormation template the real SAM translator makes of a SAM template, in this process.

    `samtranslator.translator.transform.transform` builds its `Translator` without a boto3 session,
    so the region would come from AWS_DEFAULT_REGION; the same `Translator` is given a session
    with the region instead, and the process environment is left alone.
    """
    import boto3
    from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
    from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]
    from samtranslator.utils.py27hash_fix import (  # type: ignore[import-untyped]
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    fragment = copy.deepcopy(dict(template))
    _code_locations_as_s3_uris(fragment)
    parameter_values: dict[str, Any] = dict(parameters)
    to_py27_compatible_template(fragment, parameter_values)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    loader = _managed_policy_loader()
    translated = translator.translate(fragment, parameter_values, get_managed_policy_map=loader.load)
    translator.metrics.publish()  # to its dummy publisher: unpublished metrics would log a warning at exit
    return undo_mark_unicode_str_in_template(translated)  # type: ignore[no-any-return]


def _code_locations_as_s3_uris(template: dict[str, Any]) -> None:
    """Local CodeUri/ContentUri paths become the s3:// URIs `sam package` would upload them to."""
    holders = [template.get("Globals", {}).get("Function", {})]
    holders += [r.get("Properties", {}) for r in template.get("Resources", {}).values()]
    for properties in holders:
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                properties[key] = f"s3://pipewarden-sam-artifacts/{properties[key].strip('/')}"


def controller(parameters: Mapping[str, str] | None = None, path: Path = CONTROLLER_TEMPLATE) -> Stack:
    """The controller stack's roles and policies (SAM-generated ones included) for these parameter values."""
    template = cfn_template.load(path)
    translated = sam_translate(template, parameters or {})
    return _collect(path.name, path.name, translated, dict(parameters or {}), CONTROLLER_STACK)


def blueprint(
    parameters: Mapping[str, str], stack_name: str, path: Path = BLUEPRINTS / "ecs-rolling.yaml"
) -> Stack:
    """One blueprint stack's roles and policies for these stack parameters.

    Raises ValueError when a parameter without a default is not given, as CloudFormation would.
    """
    template = cfn_template.load(path)
    missing = [
        name
        for name, spec in template.get("Parameters", {}).items()
        if "Default" not in spec and name not in parameters
    ]
    if missing:
        raise ValueError(f"{path.name}: no value for parameters {missing} (they have no default)")
    return _collect(f"{path.name}[{stack_name}]", path.name, template, dict(parameters), stack_name)


def blueprint_parameters(
    case: BlueprintCase, controller_stack: Stack, name: str = "ecs-rolling"
) -> tuple[str, dict[str, str]]:
    """The stack name and parameters the enroll function would deploy blueprint `name` with for this case."""
    outputs = controller_stack.outputs
    parameters = controller_stack.parameters
    config = ControllerConfig(
        tag_prefix=parameters["TagPrefix"],
        allowed_targets=tuple(t for t in parameters["AllowedEcsTargets"].split(",") if t),
        artifact_bucket=outputs["ArtifactBucketName"],
        permissions_boundary_arn=outputs["PermissionsBoundaryArn"],
        cloudformation_role_arn=outputs["CloudFormationExecutionRoleArn"],
        log_retention_days=int(parameters["LogRetentionDays"]),
        application_boundary_arn=outputs["ApplicationBoundaryArn"],
        application_deploy_boundary_arn=outputs["ApplicationDeployBoundaryArn"],
    )
    chosen = pipewarden_blueprint.get(name)
    # A blueprint's own tags at their defaults (sam-template of an application blueprint).
    settings = dataclasses.replace(
        case.settings,
        blueprint=name,
        sam_template=case.settings.sam_template
        or ("template.yaml" if name in APPLICATION_BLUEPRINTS else ""),
    )
    values = chosen.parameters(settings, config)
    looked_up = {
        "PassRoleArns": ",".join(case.pass_role_arns),
        **_LOAD_BALANCING,
        **case.write_time_parameters,
    }
    values.update({key: value for key, value in looked_up.items() if key in chosen.looked_up})
    return blueprint_stack_name(case.settings.repository), values


def blueprint_paths(directory: Path = BLUEPRINTS) -> tuple[Path, ...]:
    """Every blueprint template the controller ships."""
    return tuple(sorted(directory.glob("*.yaml")))


@functools.cache
def every_stack(
    controller_path: Path = CONTROLLER_TEMPLATE, blueprints: tuple[Path, ...] | None = None
) -> tuple[Stack, ...]:
    """The controller under each case's parameters, and every blueprint under every case.

    Labels: `template.yaml[<case>]` and `<blueprint>.yaml[<case>]`; cases that share the
    controller's parameters share its stack, labelled by the first of them.
    """
    stacks: list[Stack] = []
    controllers: dict[str, Stack] = {}
    for case in BLUEPRINT_CASES:
        key = json.dumps(case.controller_parameters, sort_keys=True)
        if key not in controllers:
            controllers[key] = controller(case.controller_parameters, controller_path)
            stacks.append(_relabel(controllers[key], f"{controller_path.name}[{case.name}]"))
        for path in blueprints if blueprints is not None else blueprint_paths():
            name, values = blueprint_parameters(case, controllers[key], path.stem)
            stacks.append(_relabel(blueprint(values, name, path), f"{path.name}[{case.name}]"))
    return tuple(stacks)


def _relabel(stack: Stack, label: str) -> Stack:
    return dataclasses.replace(stack, label=label)


@functools.cache
def _aws_managed_policies() -> dict[str, dict[str, Any]]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data: dict[str, dict[str, Any]] = json.loads(aws_managed_policies_data)
    return {
        f"arn:aws:iam::aws:policy{entry['Path']}{name}": entry["Document"] for name, entry in data.items()
    }


def aws_managed_policy(arn: str) -> dict[str, Any]:
    """The document of an AWS managed policy, from moto's bundled copy (KeyError for an unknown ARN)."""
    try:
        return _aws_managed_policies()[arn]
    except KeyError:
        raise KeyError(f"{arn} is not an AWS managed policy moto knows") from None


def statements(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The statements of a policy document (a lone statement object counts as a list of one)."""
    yield from _as_list(document.get("Statement"))


def physical_ids(
    template: Mapping[str, Any], parameters: Mapping[str, str], stack: str
) -> dict[str, dict[str, str]]:
    """Each resource's made-up physical id and attributes (Ref, Arn ...), named as CloudFormation would in
    stack `stack` (account ACCOUNT, region REGION): for tools that reason about a stack before it exists."""
    return _physical_ids(template, parameters, stack)
