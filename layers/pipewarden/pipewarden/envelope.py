"""The EventBridge envelope every event arrives in, read once, and the one error for an unreadable event.

Each function's parser (pipewarden.triggers, pipewarden.pipeline_events, pipewarden.notify_rules)
starts here and checks only the fields it acts on: EventBridge's own rules already chose the events,
so a parser refuses what it cannot read, not what it was never sent.
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_ID = 256  # EventBridge event ids are UUIDs; anything much longer is not one
SHOWN = 120  # how much of a bad value a reason quotes


class InvalidEvent(ValueError):
    """An event (or a queued message) a function cannot read: logged, counted, reported, never retried."""


def shown(value: Any) -> str:
    """A bad value as a reason quotes it: repr'd (control characters stay visible) and cut short."""
    return repr(value[:SHOWN]) if isinstance(value, str) else repr(value)[:SHOWN]


class Envelope:
    """An event's envelope fields as sent (a manual invocation is a plain object without them)."""

    __slots__ = ("raw",)  # a plain class: a dataclass costs a millisecond of every cold start

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    @classmethod
    def of(cls, event: Any) -> Envelope:
        if not isinstance(event, Mapping):
            raise InvalidEvent(f"event is a {type(event).__name__}, not an object")
        return cls(event)

    @property
    def detail_type(self) -> Any:
        return self.raw.get("detail-type")

    @property
    def source(self) -> Any:
        return self.raw.get("source")

    @property
    def scheduled(self) -> bool:
        """An EventBridge schedule's event (its detail is empty: the schedule itself is the news)."""
        return bool(self.detail_type == "Scheduled Event")

    def field(self, name: str) -> Any:
        """A top-level field of a manual invocation (`action`, `pipeline`), as sent."""
        return self.raw.get(name)

    def event_id(self) -> str:
        value = self.raw.get("id")
        if not isinstance(value, str) or not value or len(value) > MAX_ID:
            raise InvalidEvent("event has no id")
        return value

    def kind(self) -> tuple[str, str]:
        """(source, detail-type), both strings."""
        source, detail_type = self.source, self.detail_type
        if not isinstance(detail_type, str) or not isinstance(source, str):
            raise InvalidEvent("event has no detail-type or source")
        return source, detail_type

    def detail(self) -> Mapping[str, Any]:
        value = self.raw.get("detail")
        if not isinstance(value, Mapping):
            raise InvalidEvent("event has no detail object")
        return value


def required(mapping: Mapping[str, Any], key: str, kind: type) -> Any:
    """A field that must be there with this type."""
    value = mapping.get(key)
    if not isinstance(value, kind):
        raise InvalidEvent(f"field {key!r} is missing or not a {kind.__name__}")
    return value
