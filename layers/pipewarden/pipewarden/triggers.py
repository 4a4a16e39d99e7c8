"""Events that reach the enroll function -> what to look at (repositories, a stack, or everything).

Tag Change on Resource (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-tag.html), CodeCommit
and Tag Editor calls via CloudTrail, CloudFormation Stack Status Change
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/event-detail-stack-status-change.html),
the resync schedule, and a manual `{"action": "resync"}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipewarden.envelope import Envelope, InvalidEvent, required, shown
from pipewarden.naming import repository_from_arn

_REPOSITORY = re.compile(r"^[\w.-]{1,100}$")
# A stack's id is its ARN: arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<uuid>; a
# stack name starts with a letter and holds letters, digits and hyphens (CreateStack's StackName).
_STACK_ID = re.compile(
    r"^arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:\d{12}:stack/[A-Za-z][-A-Za-z0-9]{0,127}/[-A-Za-z0-9]+$"
)
_TAG_CALLS = {"TagResource", "UntagResource"}
_NAME_CALLS = {"CreateRepository", "DeleteRepository"}
_TAGGING_CALLS = {"TagResources", "UntagResources"}


@dataclass(frozen=True)
class Resync:
    """Look at every enrolled repository and every managed stack."""

    cause: str = "schedule"


@dataclass(frozen=True)
class Repositories:
    """Look at these repositories (an event only says where to look, never what the tags are)."""

    names: tuple[str, ...]
    cause: str


@dataclass(frozen=True)
class StackStatus:
    """A blueprint stack reached a new status."""

    stack_id: str
    status: str
    reason: str
    token: str = ""  # the operation's ClientRequestToken: pipewarden's own start with OWN_TOKEN


Trigger = Resync | Repositories | StackStatus


def _repository(name: Any) -> str:
    if not isinstance(name, str) or not _REPOSITORY.match(name):
        raise InvalidEvent(f"{shown(name)} is not a CodeCommit repository name")
    return name


def _from_arns(arns: Any) -> tuple[str, ...]:
    if not isinstance(arns, list):
        raise InvalidEvent("resource ARNs are missing or not a list")
    names = []
    for arn in arns:
        if isinstance(arn, str) and arn.startswith("arn:") and ":codecommit:" in arn:
            try:
                names.append(_repository(repository_from_arn(arn)))
            except ValueError as error:
                raise InvalidEvent(str(error)) from error
    if not names:
        raise InvalidEvent("no CodeCommit repository ARN in the event")
    return tuple(dict.fromkeys(names))


def parse(event: Any) -> Trigger:
    """Classify an EventBridge event (or a manual `{"action": "resync"}` invocation).

    Raises `InvalidEvent` with a reason for anything malformed or unexpected.
    """
    envelope = Envelope.of(event)
    if envelope.field("action") == "resync":
        return Resync(cause="manual")
    if envelope.scheduled:
        return Resync()
    detail = envelope.detail()
    detail_type = envelope.detail_type
    if detail_type == "Tag Change on Resource":
        return Repositories(_from_arns(envelope.field("resources")), cause="tag change")
    if detail_type == "AWS API Call via CloudTrail":
        name = required(detail, "eventName", str)
        params = detail.get("requestParameters")
        if not isinstance(params, Mapping):
            raise InvalidEvent(f"{shown(name)} event has no requestParameters")
        if name in _TAG_CALLS:
            return Repositories(_from_arns([params.get("resourceArn")]), cause=name)
        if name in _NAME_CALLS:
            return Repositories((_repository(params.get("repositoryName")),), cause=name)
        if name in _TAGGING_CALLS:
            return Repositories(_from_arns(params.get("resourceARNList")), cause=name)
        raise InvalidEvent(f"CloudTrail event {shown(name)} is not one pipewarden acts on")
    if detail_type == "CloudFormation Stack Status Change":
        stack_id = required(detail, "stack-id", str)
        if not _STACK_ID.match(stack_id):
            raise InvalidEvent(f"stack-id {shown(stack_id)} is not a CloudFormation stack ARN")
        status_details = required(detail, "status-details", Mapping)
        status = required(status_details, "status", str)
        reason = status_details.get("status-reason") or ""
        token = detail.get("client-request-token") or ""
        return StackStatus(stack_id, status, str(reason), token if isinstance(token, str) else "")
    raise InvalidEvent(f"detail-type {shown(detail_type)} is not one pipewarden acts on")
