"""Prune function: the whole artifact bucket on a schedule, one pipeline's prefix when its execution ends."""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipewarden.aws import Clients, client
from pipewarden.emit import Emitter
from pipewarden.naming import is_pipeline_name
from pipewarden.observability import logger, metrics, reject
from pipewarden.prune import PruneConfig, Pruner

ENDED = {"SUCCEEDED", "FAILED", "STOPPED", "SUPERSEDED", "CANCELED"}


@functools.cache
def _config() -> PruneConfig:
    return PruneConfig.from_env(os.environ)


def _scope(event: Any) -> tuple[str | None, str]:
    """(pipeline or None for the whole bucket, '' or the reason the event is not one to act on)."""
    if not isinstance(event, dict):
        return None, f"event is a {type(event).__name__}, not an object"
    if event.get("detail-type") == "Scheduled Event" or event.get("action") == "prune":
        pipeline = event.get("pipeline")
        if pipeline is not None and not is_pipeline_name(pipeline):
            return None, f"{str(pipeline)[:120]!r} is not a pipeline name"
        return pipeline, ""
    detail = event.get("detail")
    if event.get("detail-type") == "CodePipeline Pipeline Execution State Change" and isinstance(
        detail, dict
    ):
        pipeline, state = detail.get("pipeline"), detail.get("state")
        if is_pipeline_name(pipeline) and isinstance(state, str) and state in ENDED:
            return pipeline, ""
        return None, f"pipeline execution event without a pipeline or an end state: {str(state)[:120]!r}"
    return None, f"detail-type {event.get('detail-type')!r} is not one the prune function acts on"


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = _config()
    emitter = Emitter(lambda: client("events"), config.event_bus)
    pipeline, invalid = _scope(event)
    if invalid:
        return reject(emitter, "prune", event, invalid)
    pruner = Pruner(
        config, Clients(), emitter, time_left=lambda: context.get_remaining_time_in_millis() / 1000
    )
    report = pruner.run(only=pipeline)
    total = report.total()
    metrics.add_metric(name="ObjectsPruned", unit=MetricUnit.Count, value=total.objects_deleted)
    metrics.add_metric(name="BytesPruned", unit=MetricUnit.Bytes, value=total.bytes_deleted)
    if report.errors:
        metrics.add_metric(name="PruneErrors", unit=MetricUnit.Count, value=len(report.errors))
    logger.info(
        "pruned",
        scope=report.scope,
        deleted=total.objects_deleted,
        kept=total.objects_kept,
        complete=report.complete,
        errors=report.errors[:20],
        list_calls=report.list_calls,
        delete_calls=report.delete_calls,
    )
    return {
        "status": "pruned" if report.complete else "partial",
        "deleted": total.objects_deleted,
        "kept": total.objects_kept,
    }
