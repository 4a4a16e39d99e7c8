"""Retry function: failed stages (EventBridge) and retry decisions that came due (SQS)."""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipewarden.aws import AwsError, Clients
from pipewarden.config import RetryConfig
from pipewarden.emit import EVENT_REJECTED, Emitter
from pipewarden.envelope import InvalidEvent
from pipewarden.observability import logger, metrics, reject
from pipewarden.pipeline_events import stage_failure
from pipewarden.retry import STARTED, DueRetry, InvalidMessage, Retrier
from pipewarden.retry_policy import EXHAUSTED, NOT_RETRIED, SCHEDULED, SKIPPED, RetryDecision

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

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
    return Retrier(config, clients, Emitter(lambda: Clients().events, config.event_bus))


def _count(decision: RetryDecision | None, **context: Any) -> None:
    if decision is None:
        logger.info("retries not enabled for this pipeline", **context)
        return
    logger.info(
        "retry decision", event=decision.event, reason=decision.reason, attempt=decision.attempt, **context
    )
    if decision.event in _METRIC:
        metrics.add_metric(name=_METRIC[decision.event], unit=MetricUnit.Count, value=1)


def _due(retrier: Retrier, event: dict[str, Any], max_receives: int) -> dict[str, Any]:
    """Each queued decision on its own (Powertools' batch processor): only the messages that failed go
    back to the queue.

    When every message of a batch fails, Powertools would raise BatchProcessingError by default. A
    raised batch and a batch reported all failed return the same messages to SQS (each receive counts
    towards the queue's maxReceiveCount, then its dead-letter queue), as Powertools' maintainers note
    (https://github.com/aws-powertools/powertools-lambda-python/issues/4691). Batches here mostly hold
    one decision, so raising would turn each throttled retry into a function error: they are reported.
    """
    # Imported on first use: the batch utility costs a cold start more than the handler itself.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
    one = functools.partial(_due_one, retrier, max_receives)
    return dict(process_partial_response(event, one, processor))


def _receives(raw: dict[str, Any]) -> int:
    """How many times SQS has handed this message out, this time included (0: not said).
    https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html (the record's `attributes`)"""
    attributes = raw.get("attributes")
    count = attributes.get("ApproximateReceiveCount") if isinstance(attributes, dict) else None
    return int(count) if isinstance(count, str) and count.isascii() and count.isdigit() else 0


def _due_one(retrier: Retrier, max_receives: int, record: SQSRecord) -> None:
    """One queued decision; raising returns this message (and only it) to the queue."""
    raw = record.raw_event
    try:
        if not isinstance(raw, dict):
            raise InvalidMessage(f"an SQS record is a {type(raw).__name__}, not an object")
        due = DueRetry.from_body(raw.get("body", ""))
    except InvalidMessage as error:
        # Rejected once and dropped: it would read no better on its next delivery.
        message_id = raw.get("messageId") if isinstance(raw, dict) else None
        logger.error("invalid queued retry", reason=str(error), message_id=message_id)
        retrier.emitter.emit(EVENT_REJECTED, {"function": "retry", "reason": str(error)})
        return
    try:
        _count(retrier.on_due(due), pipeline=due.pipeline, stage=due.stage, execution_id=due.execution_id)
    except Exception as error:
        if isinstance(error, AwsError):
            logger.warning(
                "retry not started yet", pipeline=due.pipeline, error=str(error), transient=error.transient
            )
        if not getattr(error, "transient", False):
            # Not transient (access denied, an invalid request, a bug): back to the queue as well, but
            # alone; its batch's other decisions are done. People were told this retry is scheduled, so
            # dropping it would break that silently; redelivered, it heals once its cause is fixed (a
            # role's permission, usually), and after maxReceiveCount receives the retry dead-letter queue
            # keeps it for a person. (It used to fail the whole batch, and every decision in it with it.)
            logger.exception("queued retry failed", pipeline=due.pipeline, execution_id=due.execution_id)
        if _receives(raw) >= max_receives:
            _give_up(retrier, due, error)
        raise  # still failed: SQS moves it to the retry dead-letter queue, where a person can read it


def _give_up(retrier: Retrier, due: DueRetry, error: Exception) -> None:
    """The queue's last receive of this decision failed: say the retry could not be started.

    Lambda's on-failure destination (EventInvokeConfig) keeps failed asynchronous invocations only;
    a message an SQS event source fails goes to the queue's own dead-letter queue, silently.
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
    """
    logger.error("queued retry given up", pipeline=due.pipeline, execution_id=due.execution_id)
    try:
        decision = retrier.on_given_up(due, error)
    except Exception:
        # The message still goes to the dead-letter queue; telling is what failed.
        logger.exception("could not tell that a queued retry was given up", pipeline=due.pipeline)
        return
    if decision is not None:
        _count(decision, pipeline=due.pipeline, stage=due.stage, execution_id=due.execution_id)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    retrier = _retrier()
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        return _due(retrier, event, _config().queue_max_receives)
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
