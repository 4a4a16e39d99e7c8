"""Prune function: the whole artifact bucket on a schedule, one pipeline's prefix when its execution ends."""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipewarden.aws import Clients
from pipewarden.config import PruneConfig
from pipewarden.emit import Emitter
from pipewarden.envelope import InvalidEvent
from pipewarden.observability import logger, metrics, reject
from pipewarden.pipeline_events import prune_scope
from pipewarden.prune import Pruner


@functools.cache
def _config() -> PruneConfig:
    return PruneConfig.from_env(os.environ)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = _config()
    emitter = Emitter(lambda: Clients().events, config.event_bus)
    try:
        pipeline = prune_scope(event)
    except InvalidEvent as error:
        return reject(emitter, "prune", event, str(error))
    pruner = Pruner(
        config, Clients(), emitter, time_left=lambda: context.get_remaining_time_in_millis() / 1000
    )
    report = pruner.run(only=pipeline)
    total = report.total()
    metrics.add_metric(name="ObjectsPruned", unit=MetricUnit.Count, value=total.objects_deleted)
    metrics.add_metric(name="BytesPruned", unit=MetricUnit.Bytes, value=total.bytes_deleted)
    if report.errors:
        metrics.add_metric(name="PruneErrors", unit=MetricUnit.Count, value=len(report.errors))
    logger.info("pruned", **report.summary())
    return {
        "status": "pruned" if report.complete else "partial",
        "deleted": total.objects_deleted,
        "kept": total.objects_kept,
    }
