"""The one Logger and Metrics every handler shares (Powertools; service name from the environment),
and how every handler turns away an event it cannot read."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from pipewarden.emit import EVENT_REJECTED, Emitter

logger = Logger()
metrics = Metrics(namespace="pipewarden")


def reject(emitter: Emitter, function: str, event: Any, reason: str) -> dict[str, str]:
    """Log, count and report an unreadable event once; the result tells Lambda not to retry it."""
    event_id = str(event.get("id", ""))[:256] if isinstance(event, dict) else ""
    logger.error("invalid event", reason=reason, event_id=event_id)
    logger.debug("invalid event body", event=event)
    metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
    emitter.emit(EVENT_REJECTED, {"function": function, "reason": reason, "event-id": event_id})
    return {"status": "invalid", "reason": reason}
