"""CloudFormation: real CodeBuild projects and pipelines behind stacks, rollback on failure, status events.

moto 5.2.5 reports CREATE_COMPLETE for AWS::CodeBuild::Project and AWS::CodePipeline::Pipeline without
creating anything, raises a resource failure out of CreateStack instead of rolling the stack back,
and emits no `CloudFormation Stack Status Change` events. This module adds the two resource models
(in moto's CloudFormationModel style) and a backend that behaves as CloudFormation does.

A stack with a service role is deployed with that role's credentials: every resource's create, update
and delete handler is authorized against the role (`sandbox.iam.stack_handlers`), and a denial fails
the resource as AWS reports it, so the stack rolls back.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from moto.cloudformation import exceptions as cfn_exceptions
from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation import utils as cfn_utils
from moto.cloudformation.exceptions import ValidationError
from moto.codebuild.models import codebuild_backends
from moto.codepipeline.models import codepipeline_backends
from moto.core.common_models import CloudFormationModel
from moto.utilities.utils import get_partition

from sandbox import template as cfn_template
from sandbox.iam.stack_handlers import HandlerCall, handler_calls
from sandbox.moto_ext import publish
from sandbox.moto_ext.urls import ServedLikeMoto

_RENAMED = {"BuildSpec": "buildspec"}
_OPAQUE = {"Configuration"}  # action configuration keys stay as CloudFormation spells them


def api_shape(value: Any) -> Any:
    """CloudFormation's PascalCase properties -> the API's camelCase request shape."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = _RENAMED.get(key, key[:1].lower() + key[1:])
            out[name] = dict(item) if key in _OPAQUE and isinstance(item, dict) else api_shape(item)
        return out
    if isinstance(value, list):
        return [api_shape(v) for v in value]
    return value


class NamedResource:
    """What both resource models share: the `Name` property is the physical id and the key to delete by.

    A mixin rather than a base class: moto discovers models as direct subclasses of CloudFormationModel.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def remove(cls, account_id: str, region_name: str, name: str) -> None:
        raise NotImplementedError

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        cls.remove(account_id, region_name, resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        self.remove(account_id, region_name, self.name)


class BuildProject(NamedResource, CloudFormationModel):
    """AWS::CodeBuild::Project backed by moto's CodeBuild backend."""

    def __init__(self, name: str, arn: str) -> None:
        super().__init__(name)
        self.arn = arn

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeBuild::Project"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.arn
        raise cfn_parsing.UnformattedGetAttTemplateException()

    @staticmethod
    def _properties(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
        shaped = api_shape(cloudformation_json["Properties"])
        return shaped if isinstance(shaped, dict) else {}

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> BuildProject:
        props = cls._properties(cloudformation_json)
        backend = codebuild_backends[account_id][region_name]
        if resource_name in backend.codebuild_projects:
            message = f"Resource of type 'AWS::CodeBuild::Project' with identifier '{resource_name}' exists."
            raise ValidationError(resource_name, message)
        metadata = backend.create_project(
            project_name=resource_name,
            description=props.get("description"),
            project_source=props["source"],
            artifacts=props["artifacts"],
            environment=props["environment"],
            service_role=props["serviceRole"],
            tags=props.get("tags"),
            cache=props.get("cache"),
            timeout=props.get("timeoutInMinutes"),
            queued_timeout=props.get("queuedTimeoutInMinutes"),
            source_version=props.get("sourceVersion"),
            logs_config=props.get("logsConfig"),
            vpc_config=props.get("vpcConfig"),
        )
        return cls(resource_name, metadata["arn"])

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: BuildProject,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> BuildProject:
        props = cls._properties(cloudformation_json)
        project = codebuild_backends[account_id][region_name].codebuild_projects[original_resource.name]
        for key in (
            "description",
            "source",
            "artifacts",
            "environment",
            "serviceRole",
            "cache",
            "logsConfig",
        ):
            if key in props:
                project.project_metadata[key] = props[key]
        if "timeoutInMinutes" in props:
            project.project_metadata["timeoutInMinutes"] = props["timeoutInMinutes"]
        project.tags = props.get("tags")
        return original_resource

    @classmethod
    def remove(cls, account_id: str, region_name: str, name: str) -> None:
        codebuild_backends[account_id][region_name].delete_project(name)


class Pipeline(NamedResource, CloudFormationModel):
    """AWS::CodePipeline::Pipeline backed by moto's CodePipeline backend."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodePipeline::Pipeline"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Version"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        raise cfn_parsing.UnformattedGetAttTemplateException()

    @staticmethod
    def _declaration(
        name: str, cloudformation_json: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        props = dict(cloudformation_json["Properties"])
        tags = [{"key": t["Key"], "value": t["Value"]} for t in props.pop("Tags", [])]
        for ignored in ("RestartExecutionOnUpdate", "DisableInboundStageTransitions", "Name"):
            props.pop(ignored, None)
        declaration = api_shape(props)
        declaration["name"] = name
        return declaration, tags

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Pipeline:
        declaration, tags = cls._declaration(resource_name, cloudformation_json)
        codepipeline_backends[account_id][region_name].create_pipeline(declaration, tags)
        return cls(resource_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Pipeline,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Pipeline:
        backend = codepipeline_backends[account_id][region_name]
        declaration, tags = cls._declaration(original_resource.name, cloudformation_json)
        backend.update_pipeline(declaration)
        backend.pipelines[original_resource.name].tags = {t["key"]: t["value"] for t in tags}
        return original_resource

    @classmethod
    def remove(cls, account_id: str, region_name: str, name: str) -> None:
        codepipeline_backends[account_id][region_name].delete_pipeline(name)


# Decides one handler call as the stack's role: None when allowed, else AWS's AccessDenied message.
# The sandbox sets it; without it (moto alone) nothing is authorized.
Authorizer = Callable[[str, HandlerCall], "str | None"]
authorizer: Authorizer | None = None
# The service names AWS prints in a handler's error ("(Service: Iam, Status Code: 403, ...)").
_SERVICE_NAMES = {"iam": "Iam", "ecr": "Ecr", "logs": "CloudWatchLogs", "events": "EventBridge"}


@dataclass(frozen=True)
class _Acting:
    role_arn: str
    stack_tags: dict[str, str]
    operation: str = ""


_acting: contextvars.ContextVar[_Acting | None] = contextvars.ContextVar(
    "cloudformation_acting", default=None
)


class HandlerAccessDenied(Exception):
    """A resource handler's call that the stack's role may not make."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.logical_id = ""


@contextlib.contextmanager
def _as(role_arn: str | None, tags: dict[str, str] | None, operation: str = "") -> Iterator[None]:
    current = _acting.get()
    if role_arn is None and current is None:
        yield
        return
    acting = _Acting(role_arn or (current.role_arn if current else ""), dict(tags or {}), operation)
    if current is not None and role_arn is None:
        acting = _Acting(current.role_arn, current.stack_tags, operation or current.operation)
    token = _acting.set(acting)
    try:
        yield
    finally:
        _acting.reset(token)


def _authorize(
    operation: str, resource_type: str, name: str, properties: dict[str, Any], account: str, region: str
) -> None:
    acting = _acting.get()
    if acting is None or authorizer is None or not acting.role_arn:
        return
    for call in handler_calls(
        resource_type, operation, name or "", properties, account, region, acting.stack_tags
    ):
        denied = authorizer(acting.role_arn, call)
        if denied is not None:
            service = _SERVICE_NAMES.get(call.action.split(":")[0], call.action.split(":")[0].capitalize())
            raise HandlerAccessDenied(
                f"{denied} (Service: {service}, Status Code: 403, Request ID: {uuid.uuid4()})"
            )


def _install_handler_authorization() -> None:
    """Authorize each resource's handler as the stack's role, before moto creates, updates or deletes it."""
    original_name = cfn_parsing.parse_resource_and_generate_name
    original_create = cfn_parsing.parse_and_create_resource
    original_update = cfn_parsing.parse_and_update_resource
    original_delete = cfn_parsing.ResourceMap._delete_resource

    def generate_name(logical_id: str, resource_json: dict[str, Any], resources_map: Any) -> Any:
        parsed = original_name(logical_id, resource_json, resources_map)
        acting = _acting.get()
        if acting is not None and acting.operation:
            properties = parsed[1].get("Properties", {}) if parsed else resource_json.get("Properties", {})
            name = parsed[2] if parsed else ""
            account, region = resources_map._account_id, resources_map._region_name
            try:
                _authorize(acting.operation, resource_json["Type"], name, properties, account, region)
            except HandlerAccessDenied as denied:
                denied.logical_id = logical_id  # the resource the stack's events name as failed
                raise
        return parsed

    def create(*args: Any, **kwargs: Any) -> Any:
        with _as(None, None, "create"):
            return original_create(*args, **kwargs)

    def update(
        logical_id: str, resource_json: dict[str, Any], resources_map: Any, *args: Any, **kwargs: Any
    ) -> Any:
        # A resource whose condition just turned true is new: CloudFormation creates it.
        new = logical_id not in resources_map._parsed_resources
        with _as(None, None, "create" if new else "update"):
            return original_update(logical_id, resource_json, resources_map, *args, **kwargs)

    def delete(self: Any, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
        name = getattr(parsed_resource, "physical_resource_id", "") or ""
        properties = resource_json.get("Properties", {})
        _authorize(
            "delete", resource_json["Type"], str(name), properties, self._account_id, self._region_name
        )
        original_delete(self, parsed_resource, resource_json)

    cfn_parsing.parse_resource_and_generate_name = generate_name
    cfn_parsing.parse_and_create_resource = create
    cfn_parsing.parse_and_update_resource = update
    cfn_parsing.ResourceMap._delete_resource = delete


# Stack name -> the message its next create or update fails with (a resource handler's error), as the
# simulator's scripted outcome of a CloudFormation deploy action asks.
scripted_failures: dict[str, str] = {}


class ScriptedFailure(Exception):
    """A resource's handler failed as scripted: the stack's first function (else its first resource)."""

    def __init__(self, message: str, logical_id: str) -> None:
        super().__init__(message)
        self.message = message
        self.logical_id = logical_id


def _scripted_failure(stack: Any) -> None:
    message = scripted_failures.pop(stack.name, None)
    if message is not None:
        resources = stack.template_dict.get("Resources", {})
        functions = [k for k, v in resources.items() if v.get("Type") == "AWS::Lambda::Function"]
        raise ScriptedFailure(message, next(iter(functions or list(resources)), stack.name))


def _failed_resource(stack: Any) -> str:
    created = set(getattr(stack.resource_map, "_parsed_resources", {}))
    for logical_id in stack.template_dict.get("Resources", {}):
        if logical_id not in created:
            return str(logical_id)
    return stack.name


# How long a stack operation stays *_IN_PROGRESS before CloudFormation finishes it (seconds), and
# what runs the rest of the operation then. With no scheduler (moto alone) or no delay, an operation
# finishes inside its API call. The sandbox queues the rest on its event bus, so `wait_idle` covers it.
delay: float = 0.0
Scheduler = Callable[[Callable[[], None], float], None]
scheduler: Scheduler | None = None


def _later(step: Callable[[], None]) -> None:
    if scheduler is None or delay <= 0:
        step()
    else:
        scheduler(functools.partial(_holding_state, step), delay)


def _holding_state(step: Callable[[], None]) -> None:
    from sandbox.moto_ext import state_lock

    with state_lock:  # the rest of a stack operation changes moto's state as a request would
        step()


# One stack operation starts at a time: CloudFormation decides "exists" and "busy" atomically, and
# the server answers requests on many threads.
_starting = threading.RLock()


# The ClientRequestToken of the request being served (one per server thread): CloudFormation puts
# it on every status event of the operation the request started.
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/event-detail-stack-status-change.html
_request = threading.local()


def _token() -> str:
    return str(getattr(_request, "token", "") or "")


def _with_token(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def serve(self: Any) -> Any:
        _request.token = self._get_param("ClientRequestToken") or ""
        try:
            return handler(self)
        finally:
            _request.token = ""

    return serve


_NOT_UPDATABLE = (
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "CREATE_FAILED",
    "DELETE_FAILED",
    "REVIEW_IN_PROGRESS",
)


class ChangeSetNotFound(cfn_exceptions.CloudFormationError):
    """AWS's error for a change set that is not there (HTTP 404)."""

    code = "ChangeSetNotFound"

    def __init__(self, name: str) -> None:
        super().__init__(f"ChangeSet [{name}] does not exist")


def _stack_param() -> str | None:
    return getattr(_request, "stack_name", None) or None


def _with_stack_name(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """DescribeChangeSet and DeleteChangeSet name the change set's stack: moto's backend takes no stack."""

    def serve(self: Any) -> Any:
        _request.stack_name = self._get_param("StackName") or ""
        try:
            return handler(self)
        finally:
            _request.stack_name = ""

    return serve


def expand_transforms(template: str, parameters: dict[str, str]) -> str:
    """The template CloudFormation processes: a SAM template expanded by the real SAM translator."""
    try:
        parsed = cfn_template.loads(template)
    except Exception as error:  # CloudFormation's answer to a template it cannot read
        raise ValidationError(None, f"Template format error: {error}") from None
    transforms = parsed.get("Transform")
    names = transforms if isinstance(transforms, list) else [transforms] if transforms else []
    if not names:
        return template
    if names != ["AWS::Serverless-2016-10-31"]:
        raise ValidationError(None, f"Transform {names} is not one the sandbox can process")
    from sandbox.iam.policies import sam_translate

    try:
        return json.dumps(sam_translate(parsed, parameters))
    except Exception as error:  # samtranslator's InvalidDocumentException and friends
        raise ValidationError(None, f"Transform AWS::Serverless-2016-10-31 failed with: {error}") from None


def busy(stack: Any) -> bool:
    return str(stack.status).endswith("_IN_PROGRESS")


class CloudFormationBackend(ServedLikeMoto, cfn_models.CloudFormationBackend):
    """moto's backend: stacks take time, roll back on failure and emit status events, as in AWS.

    CreateStack, UpdateStack and DeleteStack answer at once with the stack *_IN_PROGRESS; the resources
    change `delay` seconds later, then the stack reaches its outcome and emits it. While a stack is busy:
    UpdateStack fails with AWS's ValidationError, DeleteStack fails during an update, and a DeleteStack
    during a create is carried out once the create is done. Outputs appear only with CREATE_COMPLETE.
    Sources: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stack-resource-configuration-complete.html
    (stack status codes) and the errors AWS returns, as users report them verbatim:
    "Stack:<arn> is in UPDATE_IN_PROGRESS state and can not be updated." (github.com/stratospheric-dev/
    stratospheric/issues/21), "Stack [<arn>] cannot be deleted while in status UPDATE_IN_PROGRESS"
    (github.com/aws-solutions-library-samples/guidance-for-clickstream-analytics-on-aws/issues/573),
    a delete during a create waits for the create (github.com/cloudtools/stacker/issues/422).
    """

    def _status(self, stack: Any, status: str, reason: str = "") -> None:
        stack.status = status
        stack.status_reason = reason or None
        detail = {
            "stack-id": stack.stack_id,
            "status-details": {"status": status, "status-reason": reason},
            "client-request-token": getattr(stack, "operation_token", ""),
        }
        event = publish.envelope(
            "aws.cloudformation",
            "CloudFormation Stack Status Change",
            detail,
            self.account_id,
            self.region_name,
            [stack.stack_id],
        )
        publish.emit(event)

    def _resource_failed(self, stack: Any, logical_id: str, status: str, error: Exception) -> str:
        message = getattr(error, "message", "") or str(error)
        reason = f'Resource handler returned message: "{message}"'
        if isinstance(error, HandlerAccessDenied):
            reason += f" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: AccessDenied)"
        resource_type = stack.template_dict.get("Resources", {}).get(logical_id, {}).get("Type", "")
        stack.events.append(
            cfn_models.Event(
                stack_id=stack.stack_id,
                stack_name=stack.name,
                logical_resource_id=logical_id,
                physical_resource_id="",
                resource_type=resource_type,
                resource_status=status,
                resource_status_reason=reason,
                resource_properties=None,
            )
        )
        return reason

    def _create_stack(
        self,
        name: str,
        template: str,
        parameters: dict[str, Any],
        notification_arns: list[str] | None = None,
        tags: dict[str, str] | None = None,
        role_arn: str | None = None,
        enable_termination_protection: bool | None = False,
        timeout_in_mins: int | None = None,
        stack_policy_body: str | None = None,
    ) -> Any:
        if name in [stack.name for stack in self.stacks.values()]:
            raise cfn_exceptions.AlreadyExistsException(f"Stack {name} already exists")
        stack_id = cfn_utils.generate_stack_id(name, self.region_name, self.account_id)
        stack = cfn_models.Stack(
            stack_id=stack_id,
            name=name,
            template=template,
            parameters=parameters,
            account_id=self.account_id,
            region_name=self.region_name,
            notification_arns=notification_arns,
            tags=tags,
            role_arn=role_arn,
            cross_stack_resources=self.exports,
            enable_termination_protection=enable_termination_protection,
            timeout_in_mins=timeout_in_mins,
            stack_policy_body=stack_policy_body,
        )
        # Outputs exist once the stack is created; moto would evaluate them on every DescribeStacks,
        # creating resources from the request thread while the stack is still in progress.
        outputs = stack.template_dict.pop("Outputs", None)
        stack.output_map = stack._create_output_map()
        self.stacks[stack_id] = stack
        stack.operation_token = _token()
        stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
        self._status(stack, "CREATE_IN_PROGRESS", "User Initiated")
        _later(functools.partial(self._finish_create, stack, outputs, role_arn, tags))
        return stack

    def _finish_create(
        self, stack: Any, outputs: Any, role_arn: str | None, tags: dict[str, str] | None
    ) -> None:
        try:
            _scripted_failure(stack)
            with _as(role_arn, tags):
                stack.create_resources()
        except Exception as error:
            logical_id = getattr(error, "logical_id", "") or _failed_resource(stack)
            self._resource_failed(stack, logical_id, "CREATE_FAILED", error)
            reason = (
                f"The following resource(s) failed to create: [{logical_id}]. Rollback requested by user."
            )
            stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
            self._status(stack, "ROLLBACK_IN_PROGRESS", reason)
            with contextlib.suppress(Exception):  # rolling back a partial stack is best effort
                stack.resource_map.delete()
            stack._add_stack_event("ROLLBACK_COMPLETE")
            self._status(stack, "ROLLBACK_COMPLETE", reason)
        else:
            if outputs is not None:
                stack.template_dict["Outputs"] = outputs
                stack.output_map = stack._create_output_map()
                self._validate_export_uniqueness(stack)
                for export in stack.exports:
                    self.exports[export.name] = export
            self._status(stack, "CREATE_COMPLETE")
        pending = getattr(stack, "pending_delete", None)
        if pending is not None:
            stack.pending_delete = None
            _request.token = pending[1]  # the delete's own token, on this (the bus's) thread
            try:
                self.delete_stack(pending[0])
            finally:
                _request.token = ""

    def _update_stack(
        self,
        name: str,
        template: str,
        role_arn: str | None,
        parameters: list[dict[str, Any]],
        tags: dict[str, str] | None,
    ) -> Any:
        stack = self.get_stack(name)
        if busy(stack) or stack.status in (
            "ROLLBACK_COMPLETE",
            "CREATE_FAILED",
            "ROLLBACK_FAILED",
            "DELETE_FAILED",
        ):
            raise ValidationError(
                name, f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated."
            )
        resolved = self._resolve_update_parameters(instance=stack, incoming_params=parameters)
        if (
            template == stack.template
            and resolved == stack.parameters
            and (tags is None or tags == stack.tags)
        ):
            raise ValidationError(name, "No updates are to be performed.")
        stack.operation_token = _token()
        self._status(stack, "UPDATE_IN_PROGRESS", "User Initiated")
        _later(functools.partial(self._finish_update, stack, template, role_arn, resolved, tags))
        return stack

    def _finish_update(
        self,
        stack: Any,
        template: str,
        role_arn: str | None,
        resolved: dict[str, Any],
        tags: dict[str, str] | None,
    ) -> None:
        previous = (stack.template, dict(stack.parameters), dict(stack.tags or {}))
        try:
            # Without a role in the request, CloudFormation uses (and keeps) the one the stack has.
            role = role_arn or getattr(stack, "role_arn", None)
            _scripted_failure(stack)
            with _as(role, tags if tags is not None else stack.tags):
                stack.update(template, role, parameters=resolved, tags=tags)
            # A stack has the parameters its template declares: moto keeps those the old one declared.
            declared = stack.resource_map._template.get("Parameters", {})
            kept = stack.resource_map.resolved_parameters
            for name in [n for n in kept if n not in declared]:
                del kept[name]
        except Exception as error:
            logical_id = getattr(error, "logical_id", "") or _failed_resource(stack)
            self._resource_failed(stack, logical_id, "UPDATE_FAILED", error)
            reason = f"The following resource(s) failed to update: [{logical_id}]."
            self._status(stack, "UPDATE_ROLLBACK_IN_PROGRESS", reason)
            stack.template, stack.parameters, stack.tags = previous
            stack._parse_template()
            stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
            self._status(stack, "UPDATE_ROLLBACK_COMPLETE", reason)
            return
        self._status(stack, "UPDATE_COMPLETE")

    def _delete_stack(self, name_or_stack_id: str) -> None:
        live = [s for s in self.stacks.values() if name_or_stack_id in (s.name, s.stack_id)]
        if not live:
            super().delete_stack(name_or_stack_id)  # deleting a stack that is gone is not an error
            return
        stack = live[0]
        if stack.status == "DELETE_IN_PROGRESS":
            return
        if stack.status == "CREATE_IN_PROGRESS":
            # CloudFormation deletes it once the create is done
            stack.pending_delete = (stack.stack_id, _token())
            return
        if busy(stack):
            raise ValidationError(
                name_or_stack_id, f"Stack [{stack.stack_id}] cannot be deleted while in status {stack.status}"
            )
        stack.operation_token = _token()
        self._status(stack, "DELETE_IN_PROGRESS", "User Initiated")
        _later(functools.partial(self._finish_delete, stack))

    def create_stack(self, *args: Any, **kwargs: Any) -> Any:
        with _starting:
            return self._create_stack(*args, **kwargs)

    def update_stack(self, *args: Any, **kwargs: Any) -> Any:
        with _starting:
            return self._update_stack(*args, **kwargs)

    def delete_stack(self, name_or_stack_id: str) -> None:
        with _starting:
            self._delete_stack(name_or_stack_id)

    # -- change sets: the CodePipeline CloudFormation action's CHANGE_SET_REPLACE / _EXECUTE ---------------
    def _find_change_set(self, change_set_name: str, stack_name: str | None = None) -> Any:
        """The change set by ARN, or by name on that stack (moto matches a name on any stack)."""
        if change_set_name in self.change_sets:
            return self.change_sets[change_set_name]
        for change_set in self.change_sets.values():
            if change_set.change_set_name == change_set_name and (
                not stack_name or stack_name in (change_set.stack_name, change_set.stack_id)
            ):
                return change_set
        raise ChangeSetNotFound(change_set_name)

    def describe_change_set(self, change_set_name: str) -> Any:
        return self._find_change_set(change_set_name, _stack_param())

    def delete_change_set(self, change_set_name: str) -> None:
        change_set = self._find_change_set(change_set_name, _stack_param())
        del self.change_sets[change_set.change_set_id]

    def create_change_set(
        self,
        stack_name: str,
        change_set_name: str,
        template: str,
        parameters: dict[str, str],
        description: str,
        change_set_type: str,
        notification_arns: list[str] | None = None,
        tags: dict[str, str] | None = None,
        role_arn: str | None = None,
    ) -> tuple[str, str]:
        """As CloudFormation: a SAM template is expanded first (the AWS::Serverless transform, which
        needs CAPABILITY_AUTO_EXPAND), a parameter the template does not declare is refused, a stack
        rolled back or failed cannot take an UPDATE change set, and a CREATE change set of a stack still
        REVIEW_IN_PROGRESS (none executed yet) reuses it."""
        with _starting:
            live = [s for s in self.stacks.values() if s.name == stack_name]
            if change_set_type == "UPDATE" and live and live[0].status in _NOT_UPDATABLE:
                raise ValidationError(
                    stack_name,
                    f"Stack:{live[0].stack_id} is in {live[0].status} state and can not be updated.",
                )
            if change_set_type == "CREATE" and live:
                if live[0].status != "REVIEW_IN_PROGRESS":
                    raise cfn_exceptions.AlreadyExistsException(f"Stack [{stack_name}] already exists")
                del self.stacks[live[0].stack_id]
            template = expand_transforms(template, parameters)
            declared = set(cfn_template.loads(template).get("Parameters") or {})
            undeclared = sorted(set(parameters) - declared)
            if undeclared:
                raise ValidationError(
                    stack_name, f"Parameters: [{', '.join(undeclared)}] do not exist in the template"
                )
            return super().create_change_set(
                stack_name,
                change_set_name,
                template,
                parameters,
                description,
                change_set_type,
                notification_arns,
                tags,
                role_arn,
            )

    def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
        """Carry the change set out as CreateStack/UpdateStack would, as the change set's role (or the
        stack's), rolling back on a failure. It finishes within the call: the simulator's deploy
        action (on the sandbox bus) waits for it, and the bus would otherwise run the rest after it."""
        with _starting:
            change_set = self._find_change_set(change_set_name, stack_name)
            if change_set.execution_status != "AVAILABLE":
                raise cfn_exceptions.ValidationError(
                    stack_name,
                    f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current execution "
                    f"status of [{change_set.execution_status}]",
                )
            stack = self.stacks[change_set.stack_id]
            change_set.execution_status = "EXECUTE_IN_PROGRESS"
            stack.operation_token = _token()
            role = change_set.role_arn or getattr(stack, "role_arn", None)
            if change_set.change_set_type == "CREATE":
                created = cfn_models.Stack(
                    stack_id=stack.stack_id,
                    name=stack.name,
                    template=change_set.template,
                    parameters=change_set.parameters,
                    account_id=self.account_id,
                    region_name=self.region_name,
                    notification_arns=change_set.notification_arns,
                    tags=change_set.tags,
                    role_arn=role,
                    cross_stack_resources=self.exports,
                )
                outputs = created.template_dict.pop("Outputs", None)
                created.output_map = created._create_output_map()
                created.events = stack.events
                self.stacks[stack.stack_id] = created
                created._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
                self._status(created, "CREATE_IN_PROGRESS", "User Initiated")
                self._finish_create(created, outputs, role, change_set.tags)
            else:
                incoming = [
                    {"ParameterKey": k, "ParameterValue": v} for k, v in change_set.parameters.items()
                ]
                resolved = self._resolve_update_parameters(instance=stack, incoming_params=incoming)
                stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
                self._status(stack, "UPDATE_IN_PROGRESS", "User Initiated")
                self._finish_update(stack, change_set.template, role, resolved, None)
            change_set.execution_status = "EXECUTE_COMPLETE"
            # CloudFormation deletes a stack's other change sets once one of them is executed.
            for other in [c for c in self.change_sets.values() if c.stack_id == stack.stack_id]:
                del self.change_sets[other.change_set_id]

    def _finish_delete(self, stack: Any) -> None:
        try:
            with _as(getattr(stack, "role_arn", None), None, "delete"):
                super().delete_stack(stack.stack_id)
        except HandlerAccessDenied as error:
            self.stacks[stack.stack_id] = stack  # moto let go of it before its resources refused
            logical_id = next(iter(stack.resource_map._parsed_resources), stack.name)
            reason = self._resource_failed(stack, logical_id, "DELETE_FAILED", error)
            self._status(
                stack,
                "DELETE_FAILED",
                f"The following resource(s) failed to delete: [{logical_id}]. {reason}",
            )
            return
        self._status(stack, "DELETE_COMPLETE")


_clean_json = cfn_parsing.clean_json


def _clean_json_without_no_value(resource_json: Any, resources_map: Any) -> Any:
    """moto's clean_json, but AWS::NoValue in a list removes the element, as in CloudFormation
    ("removes the corresponding resource property when specified as a return value in the Fn::If
    intrinsic function": an `!If [cond, {...}, !Ref AWS::NoValue]` statement of a policy is left out,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html);
    moto keeps a None there, which IAM would refuse as a statement."""
    if isinstance(resource_json, list):
        cleaned = [_clean_json_without_no_value(item, resources_map) for item in resource_json]
        return [
            item for item, source in zip(cleaned, resource_json, strict=True) if not _no_value(item, source)
        ]
    return _clean_json(resource_json, resources_map)


def _no_value(cleaned: Any, source: Any) -> bool:
    return cleaned is None and isinstance(source, dict) and ("Ref" in source or "Fn::If" in source)


def install() -> None:
    cfn_parsing.clean_json = _clean_json_without_no_value
    cfn_models.cloudformation_backends.backend = CloudFormationBackend
    response = cfn_responses.CloudFormationResponse
    for operation in ("create_stack", "update_stack", "delete_stack", "execute_change_set"):
        setattr(response, operation, _with_token(getattr(response, operation)))
    for operation in ("describe_change_set", "delete_change_set"):
        setattr(response, operation, _with_stack_name(getattr(response, operation)))
    _install_handler_authorization()
    for cached in (cfn_parsing.get_model_list, cfn_parsing.get_model_map, cfn_parsing.get_name_type_map):
        cached.cache_clear()


__all__ = ["BuildProject", "CloudFormationBackend", "Pipeline", "api_shape", "get_partition", "install"]
