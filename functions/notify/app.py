"""Notify function: execution events and pipewarden's own events -> one message each on SNS and Slack."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipewarden.aws import Clients
from pipewarden.config import NotifyConfig
from pipewarden.deliver import Deliverer
from pipewarden.emit import Emitter
from pipewarden.envelope import InvalidEvent
from pipewarden.notify import Notifier
from pipewarden.notify_rules import Happening, parse
from pipewarden.observability import logger, metrics, reject

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

    from pipewarden.webhooks import WebhookSecrets

# EventBridge retries a delivery for up to 24 hours: a duplicate inside that window posts nothing.
DEDUPE_SECONDS = 24 * 3600
IDEMPOTENCY_ATTEMPTS = 8


@functools.cache
def _config() -> NotifyConfig:
    return NotifyConfig.from_env(os.environ)


@functools.cache
def _webhooks() -> WebhookSecrets:
    # One provider per container: Powertools keeps each webhook URL for 5 minutes across warm
    # invocations. Imported on first use, like boto3 itself (it imports boto3).
    from pipewarden.webhooks import WebhookSecrets

    return WebhookSecrets(Clients().secretsmanager)


def _mark_duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    """Called by Powertools when the key was seen: say so in what the handler returns and logs."""
    if isinstance(response, dict):
        return {**response, "status": "duplicate", "reason": "this event was reported already"}
    return response


def _notifier() -> Notifier:
    config = _config()
    clients = Clients()
    return Notifier(config, clients, Deliverer(clients, config.topic_arn, config.slack_secret, _webhooks()))


def _report(happening: dict[str, Any]) -> dict[str, str]:
    outcome = _notifier().report(Happening(**happening))
    if outcome.delivery is not None:
        metrics.add_metric(name="NotificationsSent", unit=MetricUnit.Count, value=1)
        if outcome.delivery.slack.startswith("failed"):
            logger.error("Slack did not take the message", slack=outcome.delivery.slack)
            metrics.add_metric(name="SlackDeliveryFailed", unit=MetricUnit.Count, value=1)
        if outcome.delivery.sns.startswith("failed"):
            logger.error("SNS did not take the message", sns=outcome.delivery.sns)
            metrics.add_metric(name="SnsDeliveryFailed", unit=MetricUnit.Count, value=1)
    return outcome.summary()


@functools.cache
def _idempotency() -> tuple[IdempotencyConfig, Callable[..., dict[str, str]]]:
    # Imported on first use, like boto3 itself: the module import stays as light as the other handlers'.
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = _config()
    settings = IdempotencyConfig(
        event_key_jmespath="once",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=DEDUPE_SECONDS,
        response_hook=_mark_duplicate,
    )
    # The record is what keeps a redelivered event from being told twice: its writes get more tries.
    store = DynamoDBPersistenceLayer(
        table_name=config.idempotency_table, boto3_client=Clients(attempts=IDEMPOTENCY_ATTEMPTS).dynamodb
    )
    once = idempotent_function(
        _report,
        data_keyword_argument="happening",
        persistence_store=store,
        config=settings,
        key_prefix="pipewarden-notify",
    )
    return settings, once


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    config = _config()  # first: a broken environment fails every invocation alike
    try:
        happening = parse(event)
    except InvalidEvent as error:
        return reject(Emitter(lambda: Clients().events, config.event_bus), "notify", event, str(error))
    logger.append_keys(event_key=happening.key, kind=happening.kind, pipeline=happening.pipeline)
    unheard = Notifier(_config(), Clients()).screen(happening)
    if unheard is not None:
        # Nobody hears it whatever happened: no idempotency record is written (most events end here).
        logger.info("notification", extra=unheard.summary())
        return unheard.summary()
    settings, once = _idempotency()
    settings.register_lambda_context(context)
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    try:
        result = once(happening=vars(happening) | {"detail": dict(happening.detail)})
    except IdempotencyAlreadyInProgressError:
        # Another delivery of this event is being told, or was told and its record could not be
        # marked done: either way a message is (or will be) out. Telling it again is the worse risk.
        result = {"status": "duplicate", "reason": "another delivery of this event is being reported"}
    logger.info("notification", extra=result)
    return result
