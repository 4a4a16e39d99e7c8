"""How the moto extensions hand the events AWS would emit to whoever listens (the sandbox's bus)."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Sequence
from typing import Any

Event = dict[str, Any]
_listeners: list[Callable[[Event], None]] = []


def subscribe(listener: Callable[[Event], None]) -> None:
    """Receive every event the extended services emit (called from the API request's thread)."""
    _listeners.append(listener)


def unsubscribe(listener: Callable[[Event], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def envelope(
    source: str,
    detail_type: str,
    detail: dict[str, Any],
    account: str,
    region: str,
    resources: Sequence[str] = (),
    event_id: str | None = None,
) -> Event:
    """An EventBridge event in AWS's shape."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": list(resources),
        "detail": detail,
    }


def emit(event: Event) -> None:
    for listener in list(_listeners):
        listener(event)


def cloudtrail(
    service: str,
    event_name: str,
    request: dict[str, Any],
    account: str,
    region: str,
    response: dict[str, Any] | None = None,
) -> Event:
    """An `AWS API Call via CloudTrail` event, as a trail delivers it to EventBridge."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    detail = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:sandbox",
            "arn": f"arn:aws:sts::{account}:assumed-role/developer/sandbox",
            "accountId": account,
        },
        "eventTime": now,
        "eventSource": f"{service}.amazonaws.com",
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": "127.0.0.1",
        "userAgent": "sandbox",
        "requestParameters": request,
        "responseElements": response,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    return envelope(f"aws.{service}", "AWS API Call via CloudTrail", detail, account, region)


def tag_change(
    service: str,
    resource_type: str,
    arn: str,
    changed: Sequence[str],
    tags: dict[str, str],
    account: str,
    region: str,
) -> Event:
    """A `Tag Change on Resource` event: the full current tag set, and which keys changed."""
    detail = {
        "changed-tag-keys": list(changed),
        "service": service,
        "resource-type": resource_type,
        "version": 1,
        "tags": dict(tags),
    }
    return envelope("aws.tag", "Tag Change on Resource", detail, account, region, [arn])
