"""Enroll function: tag changes, CloudTrail calls, stack status changes and the resync schedule."""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipewarden import alarms, triggers
from pipewarden.aws import AwsError, Clients
from pipewarden.config import ControllerConfig
from pipewarden.emit import Emitter
from pipewarden.envelope import InvalidEvent
from pipewarden.observability import logger, metrics, reject
from pipewarden.outcomes import on_stack_status
from pipewarden.reconcile import Action, Decision, Reconciler
from pipewarden.resync import resync

_METRIC = {
    Action.CREATE: "StacksCreated",
    Action.UPDATE: "StacksUpdated",
    Action.DELETE: "StacksDeleted",
    Action.REPAIR: "StacksRepaired",
    Action.REJECT: "EnrollmentsRejected",
}


@functools.cache
def _config() -> ControllerConfig:
    return ControllerConfig.from_env(os.environ)


def _count(decisions: list[Decision]) -> None:
    for decision in decisions:
        logger.info(
            "reconciled",
            repository=decision.repository,
            action=decision.action.value,
            reason=decision.reason,
        )
        if decision.action in _METRIC:
            metrics.add_metric(name=_METRIC[decision.action], unit=MetricUnit.Count, value=1)


def _heartbeat(emitter: Emitter, repositories: int, stacks: int) -> None:
    """Say the pass completed: the resync alarm counts these (template.yaml ResyncAlarm). A heartbeat
    that cannot be sent is logged, not raised: raising would redo the whole pass for it."""
    try:
        emitter.emit(alarms.RESYNC_COMPLETED, {"repositories": repositories, "stacks": stacks})
    except AwsError as error:
        logger.warning("resync heartbeat not sent", error=str(error))


def _reconcile_each(reconciler: Reconciler, names: tuple[str, ...]) -> None:
    """Converge each repository under the library's error policy; a transient error is raised at the end."""
    transient = [
        error
        for name in names
        if (error := reconciler.converge(name, functools.partial(reconciler.reconcile, name))) is not None
    ]
    if transient:
        raise transient[0]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = _config()
    emitter = Emitter(lambda: Clients().events, config.event_bus)
    reconciler = Reconciler(config, Clients(), emitter)
    try:
        trigger = triggers.parse(event)
    except InvalidEvent as error:
        return reject(emitter, "enroll", event, str(error))

    if isinstance(trigger, triggers.Resync):
        report = resync(reconciler)
        _count(reconciler.decisions)
        logger.info("resync done", cause=trigger.cause, **report.summary())
        if report.transient:
            raise report.transient[0]
        _heartbeat(emitter, report.repositories, report.stacks)
        return {"status": "resynced", "actions": report.actions, "errors": report.errors}

    if isinstance(trigger, triggers.StackStatus):
        outcome = on_stack_status(reconciler, trigger.stack_id, trigger.status, trigger.reason, trigger.token)
        _count(reconciler.decisions)
        if outcome is None:
            logger.info("stack status ignored", stack_id=trigger.stack_id, status=trigger.status)
            return {"status": "ignored"}
        logger.info(
            "stack outcome", repository=outcome.repository, status=outcome.status, event=outcome.event
        )
        return {"status": outcome.status, "repository": outcome.repository, "event": outcome.event}

    _reconcile_each(reconciler, trigger.names)
    _count(reconciler.decisions)
    return {
        "status": "reconciled",
        "cause": trigger.cause,
        "decisions": {d.repository: d.action.value for d in reconciler.decisions},
    }
