"""CodePipeline's events, read into what the retry, prune and notify functions act on.

- `CodePipeline Stage Execution State Change`, FAILED: the retry function's `StageFailure`.
- `CodePipeline Pipeline Execution State Change`: `ExecutionChange`, for the notify function (every
  end state) and the prune function (`prune_scope`, with the prune schedule and a manual run).
Field names and states as in
https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipewarden.envelope import MAX_ID, Envelope, InvalidEvent, shown
from pipewarden.naming import is_execution_id, is_pipeline_name

STAGE_CHANGE = "CodePipeline Stage Execution State Change"
EXECUTION_CHANGE = "CodePipeline Pipeline Execution State Change"
# A pipeline execution's end states (STARTED, STOPPING and RESUMED are not ends).
ENDED = ("FAILED", "SUCCEEDED", "STOPPED", "CANCELED", "SUPERSEDED")


def name(fields: Mapping[str, Any], key: str) -> str:
    """A pipeline or stage name CodePipeline would accept: anything else cannot name one."""
    value = fields.get(key)
    if not is_pipeline_name(value):
        raise InvalidEvent(f"{key} {shown(value)} is not a pipeline or stage name")
    return str(value)


def execution_id(fields: Mapping[str, Any], key: str = "execution-id") -> str:
    value = fields.get(key)
    if not is_execution_id(value):
        raise InvalidEvent(f"{key} {shown(value)} is not an execution id")
    return str(value)


@dataclass(frozen=True)
class StageFailure:
    """Which stage of which execution failed (all an event may tell us)."""

    pipeline: str
    execution_id: str
    stage: str


def stage_failure(event: Any) -> StageFailure:
    """The pipeline, execution and stage of a `CodePipeline Stage Execution State Change` FAILED event."""
    detail = Envelope.of(event).detail()
    if detail.get("state") != "FAILED":
        raise InvalidEvent(f"stage state is {shown(detail.get('state'))}, not FAILED")
    return StageFailure(name(detail, "pipeline"), execution_id(detail), name(detail, "stage"))


@dataclass(frozen=True)
class ExecutionChange:
    """A pipeline execution reached a state. `execution_id` is '' when the event names none."""

    pipeline: str
    state: str
    execution_id: str = ""

    @property
    def ended(self) -> bool:
        return self.state in ENDED


def execution_change(detail: Mapping[str, Any], *, with_execution: bool = False) -> ExecutionChange:
    """The detail of a `CodePipeline Pipeline Execution State Change`: its pipeline and state are
    required, its execution id too `with_execution` (else '' when it is not one)."""
    pipeline = name(detail, "pipeline")
    if with_execution:
        execution = execution_id(detail)
    else:
        execution = detail["execution-id"] if is_execution_id(detail.get("execution-id")) else ""
    state = detail.get("state")
    if not isinstance(state, str) or not state or len(state) > MAX_ID:
        raise InvalidEvent(f"pipeline execution state {shown(state)} is not a state")
    return ExecutionChange(pipeline, state, execution)


def prune_scope(event: Any) -> str | None:
    """The pipeline whose artifacts to prune, or None for the whole bucket.

    The prune schedule and a manual `{"action": "prune"}` prune the whole bucket, or the pipeline the
    invocation names; an execution that ended prunes its pipeline.
    """
    envelope = Envelope.of(event)
    if envelope.scheduled or envelope.field("action") == "prune":
        pipeline = envelope.field("pipeline")
        if pipeline is not None and not is_pipeline_name(pipeline):
            raise InvalidEvent(f"{shown(pipeline)} is not a pipeline name")
        return pipeline if isinstance(pipeline, str) else None
    if envelope.detail_type != EXECUTION_CHANGE:
        raise InvalidEvent(f"detail-type {shown(envelope.detail_type)} is not one the prune function acts on")
    change = execution_change(envelope.detail())
    if not change.ended:
        raise InvalidEvent(f"pipeline execution state {shown(change.state)} is not an end state")
    return change.pipeline
