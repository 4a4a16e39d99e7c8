"""EventBridge: events put through PutEvents also reach the sandbox's bus (which routes them to handlers)."""

from __future__ import annotations

import json
from typing import Any

from moto.events import models as ev_models

from sandbox.moto_ext import publish

_original_put_events = ev_models.EventsBackend.put_events


def put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entries = _original_put_events(self, events)
    for event, entry in zip(events, entries, strict=True):
        if "EventId" not in entry:
            continue
        detail = json.loads(event["Detail"])
        publish.emit(
            publish.envelope(
                event["Source"],
                event["DetailType"],
                detail if isinstance(detail, dict) else {},
                self.account_id,
                self.region_name,
                event.get("Resources", []),
                event_id=entry["EventId"],
            )
        )
    return entries


def install() -> None:
    ev_models.EventsBackend.put_events = put_events
