"""CloudFormation access for blueprint stacks: read one or all, create, update, delete."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

from pipewarden.aws import Conflict, Invalid, NotFound, call, pages

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.literals import CapabilityType
    from mypy_boto3_cloudformation.type_defs import ParameterTypeDef, StackTypeDef, TagTypeDef

IN_PROGRESS_SUFFIX = "_IN_PROGRESS"
# Every stack operation pipewarden starts carries a ClientRequestToken with this prefix; CloudFormation
# puts the token on each status event of that operation ("client-request-token"), so the outcome of
# pipewarden's own operation is told apart from one someone else started.
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/event-detail-stack-status-change.html
OWN_TOKEN = "pipewarden-"  # noqa: S105 - a name prefix, not a secret
# A stack in one of these states cannot be updated, only deleted and created again.
BROKEN = frozenset(
    {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"}
)
FAILED_OUTCOMES = BROKEN | {"UPDATE_ROLLBACK_COMPLETE", "UPDATE_FAILED", "IMPORT_ROLLBACK_COMPLETE"}
SUCCEEDED_OUTCOMES = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE"})


@dataclass(frozen=True)
class StackView:
    """What the reconciler needs to know of an existing stack."""

    name: str
    stack_id: str
    status: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    status_reason: str = ""

    @property
    def in_progress(self) -> bool:
        return self.status.endswith(IN_PROGRESS_SUFFIX)

    @classmethod
    def from_api(cls, stack: StackTypeDef) -> StackView:
        return cls(
            name=stack["StackName"],
            stack_id=stack["StackId"],
            status=stack["StackStatus"],
            parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])},
            tags={t["Key"]: t["Value"] for t in stack.get("Tags", [])},
            status_reason=stack.get("StackStatusReason", ""),
        )


def describe(cfn: CloudFormationClient, name_or_id: str) -> StackView | None:
    """The stack by name (live stacks only) or id (deleted ones too); None if there is none."""
    try:
        response = call(cfn.describe_stacks, StackName=name_or_id)
    except (NotFound, Invalid) as error:
        if "does not exist" in error.message:
            return None
        raise
    stacks = response.get("Stacks", [])
    return StackView.from_api(stacks[0]) if stacks else None


def managed(cfn: CloudFormationClient, prefix: str) -> Iterator[StackView]:
    """Every live stack tagged as managed by pipewarden, page by page (one call per page)."""
    for response in pages(cfn.get_paginator("describe_stacks").paginate):
        for stack in response.get("Stacks", []):
            view = StackView.from_api(stack)
            if view.tags.get(f"{prefix}:managed-by") == "pipewarden" and view.status != "DELETE_COMPLETE":
                yield view


def first_failure(cfn: CloudFormationClient, name: str) -> str:
    """`<logical id>: <reason>` of the latest operation's first failed resource ("" if none failed).

    DescribeStackEvents lists newest first; the operation starts at the stack's own event with the
    reason "User Initiated".
    """
    events = call(cfn.describe_stack_events, StackName=name).get("StackEvents", [])
    failed = ""
    for event in events:
        logical = event.get("LogicalResourceId", "")
        if str(event.get("ResourceStatus", "")).endswith("_FAILED") and logical != name:
            failed = f"{logical}: {event.get('ResourceStatusReason', '')}"
        if logical == name and event.get("ResourceStatusReason") == "User Initiated":
            break
    return failed


def own_token() -> str:
    """A token for one operation: [a-zA-Z0-9][-a-zA-Z0-9]*, at most 128 characters (the API's rule)."""
    return f"{OWN_TOKEN}{uuid.uuid4()}"


def is_own(token: str) -> bool:
    return token.startswith(OWN_TOKEN)


class _StackRequest(TypedDict):
    """What CreateStack and UpdateStack are both given."""

    ClientRequestToken: str
    StackName: str
    TemplateBody: str
    Parameters: list[ParameterTypeDef]
    Tags: list[TagTypeDef]
    RoleARN: str
    Capabilities: list[CapabilityType]


@dataclass(frozen=True)
class StackSpec:
    """A blueprint stack as pipewarden writes it, and the role CloudFormation acts as for it."""

    name: str
    body: str
    parameters: Mapping[str, str]
    tags: Mapping[str, str]
    role_arn: str

    def request(self) -> _StackRequest:
        """CreateStack's or UpdateStack's arguments, with a token of its own for this operation."""
        return {
            "ClientRequestToken": own_token(),
            "StackName": self.name,
            "TemplateBody": self.body,
            "Parameters": [
                {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(self.parameters.items())
            ],
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(self.tags.items())],
            "RoleARN": self.role_arn,
            "Capabilities": ["CAPABILITY_IAM"],
        }


def create(cfn: CloudFormationClient, spec: StackSpec) -> str:
    """Start creating the stack; returns its id. The outcome arrives later as a status event."""
    return call(cfn.create_stack, OnFailure="ROLLBACK", **spec.request())["StackId"]


def update(cfn: CloudFormationClient, spec: StackSpec) -> bool:
    """Start updating the stack; False when CloudFormation finds nothing to change."""
    try:
        call(cfn.update_stack, **spec.request())
    except Invalid as error:
        if "No updates are to be performed" in error.message:
            return False
        raise
    return True


def delete(cfn: CloudFormationClient, name_or_id: str, role_arn: str) -> None:
    """Start deleting the stack (deleting one that is gone already is not an error)."""
    call(cfn.delete_stack, StackName=name_or_id, RoleARN=role_arn, ClientRequestToken=own_token())


def first_failure_reason(cfn: CloudFormationClient, stack_id: str, fallback: str) -> str:
    """CloudFormation's own words for why the stack failed: the first failed resource's reason."""
    try:
        response = call(cfn.describe_stack_events, StackName=stack_id)
    except (NotFound, Conflict, Invalid):
        return fallback
    failures = [
        e
        for e in response.get("StackEvents", [])
        if str(e.get("ResourceStatus", "")).endswith("_FAILED") and e.get("ResourceStatusReason")
    ]
    # Events come newest first: the oldest failure is the cause, later ones are consequences.
    return str(failures[-1]["ResourceStatusReason"]) if failures else fallback
