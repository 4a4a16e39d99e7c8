"""Retry function: failed stages (EventBridge) and retry decisions that came due (SQS)."""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipewarden.aws import AwsError, Clients, client
from pipewarden.config import RetryConfig
from pipewarden.emit import EVENT_REJECTED, Emitter
from pipewarden.envelope import InvalidEvent
from pipewarden.observability import logger, metrics, reject
from pipewarden.pipeline_events import stage_failure
from pipewarden.retry import STARTED, DueRetry, InvalidMessage, Retrier
from pipewarden.retry_policy import EXHAUSTED, NOT_RETRIED, SCHEDULED, SKIPPED, RetryDecision

_METRIC = {
    SCHEDULED: "RetriesScheduled",
    STARTED: "RetriesStarted",
    EXHAUSTED: "RetriesExhausted",
    NOT_RETRIED: "FailuresNotRetried",
    SKIPPED: "RetriesSkipped",
}


@functools.cache
def _config() -> RetryConfig:
    return RetryConfig.from_env(os.environ)


def _retrier() -> Retrier:
    config = _config()
    clients = Clients()
    return Retrier(config, clients, Emitter(lambda: client("events"), config.event_bus))


def _count(decision: RetryDecision | None, **context: Any) -> None:
    if decision is None:
        logger.info("retries not enabled for this pipeline", **context)
        return
    logger.info(
        "retry decision", event=decision.event, reason=decision.reason, attempt=decision.attempt, **context
    )
    if decision.event in _METRIC:
        metrics.add_metric(name=_METRIC[decision.event], unit=MetricUnit.Count, value=1)


def _due(retrier: Retrier, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Each queued decision on its own: a transient error returns that message to the queue only."""
    failures = []
    for record in records:
        try:
            if not isinstance(record, dict):
                raise InvalidMessage(f"an SQS record is a {type(record).__name__}, not an object")
            due = DueRetry.from_body(record.get("body", ""))
        except InvalidMessage as error:
            message_id = record.get("messageId") if isinstance(record, dict) else None
            logger.error("invalid queued retry", reason=str(error), message_id=message_id)
            retrier.emitter.emit(EVENT_REJECTED, {"function": "retry", "reason": str(error)})
            continue
        try:
            _count(retrier.on_due(due), pipeline=due.pipeline, stage=due.stage, execution_id=due.execution_id)
        except AwsError as error:
            logger.warning(
                "retry not started yet", pipeline=due.pipeline, error=str(error), transient=error.transient
            )
            if not error.transient:
                raise
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    retrier = _retrier()
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        return _due(retrier, event["Records"])
    try:
        failure = stage_failure(event)
    except InvalidEvent as error:
        return reject(retrier.emitter, "retry", event, str(error))
    decision = retrier.on_failure(failure)
    _count(decision, pipeline=failure.pipeline, stage=failure.stage, execution_id=failure.execution_id)
    return {
        "status": decision.event if decision else "not enabled",
        "reason": decision.reason if decision else "",
    }
