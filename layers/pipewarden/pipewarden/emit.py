"""pipewarden's own events: every outcome goes to EventBridge with `source: pipewarden`."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipewarden.aws import Throttled, call

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

SOURCE = "pipewarden"

ENROLLMENT_STARTED = "Repository Enrollment Started"
ENROLLED = "Repository Enrolled"
ENROLLMENT_FAILED = "Repository Enrollment Failed"
ENROLLMENT_REJECTED = "Repository Enrollment Rejected"
UNENROLLMENT_STARTED = "Repository Unenrollment Started"
UNENROLLED = "Repository Unenrolled"
EVENT_REJECTED = "Invalid Event Received"

# EventBridge refuses entries over 256 KB; details stay far below that, strings are capped.
_MAX_TEXT = 2000


def _capped(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        return value[: _MAX_TEXT - 1] + "…"
    if isinstance(value, Mapping):
        return {str(k): _capped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_capped(v) for v in value]
    return value


class Emitter:
    """Puts events on the controller's bus; remembers what it sent for logs and return values."""

    def __init__(self, events_client: Callable[[], EventBridgeClient], bus: str) -> None:
        self._client = events_client
        self._bus = bus
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def emit(self, detail_type: str, detail: Mapping[str, Any], resources: Sequence[str] = ()) -> None:
        """Send one event. A rejected entry is raised as transient, so the invocation is retried."""
        body = _capped(dict(detail))
        entry: PutEventsRequestEntryTypeDef = {
            "Source": SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(body, sort_keys=True, default=str),
            "EventBusName": self._bus,
            "Resources": [r for r in resources if r],
        }
        response = call(self._client().put_events, Entries=[entry])
        if response.get("FailedEntryCount"):
            failed = response.get("Entries", [{}])[0]
            raise Throttled(
                str(failed.get("ErrorCode", "PutEventsFailed")), str(failed.get("ErrorMessage", ""))
            )
        self.sent.append((detail_type, body))
