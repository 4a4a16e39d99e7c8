"""Reading events: the envelope every function shares, and CodePipeline's events (pipewarden.pipeline_events).

Event shapes as AWS documents them:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html (the envelope) and
https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html
(`detail`: pipeline, execution-id, stage, state, version; the states of pipelines and stages).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipewarden import notify_rules, triggers
from pipewarden.envelope import Envelope, InvalidEvent
from pipewarden.pipeline_events import (
    ExecutionChange,
    StageFailure,
    execution_change,
    prune_scope,
    stage_failure,
)
from pipewarden.retry import DueRetry, InvalidMessage
from tests.conftest import sample_event

EXECUTION_ID = "c54a5df4-5ea1-4d6a-9f5e-3b0b2c4b1a77"
# The four functions' parsers: each refuses what is not an object, and an event without a detail
# object, with the same words.
PARSERS: dict[str, Callable[[Any], object]] = {
    "enroll": triggers.parse,
    "retry": stage_failure,
    "prune": prune_scope,
    "notify": notify_rules.parse,
}


def stage_event(**detail: Any) -> dict[str, Any]:
    """A `CodePipeline Stage Execution State Change` as the CodePipeline user guide shows one."""
    event = sample_event("codepipeline-stage-failed.json")
    event["detail"].update(detail)
    return event


@pytest.mark.parametrize("parse", PARSERS.values(), ids=PARSERS.keys())
@pytest.mark.parametrize("event", [None, [], "text", 5])
def test_every_parser_refuses_what_is_not_an_object_alike(parse: Callable[[Any], object], event: Any) -> None:
    with pytest.raises(InvalidEvent, match=f"^event is a {type(event).__name__}, not an object$"):
        parse(event)


@pytest.mark.parametrize(
    ("function", "detail_type"),
    [
        ("enroll", "Tag Change on Resource"),
        ("retry", "CodePipeline Stage Execution State Change"),
        ("prune", "CodePipeline Pipeline Execution State Change"),
        ("notify", "Repository Enrolled"),
    ],
)
def test_every_parser_refuses_an_event_without_a_detail_object_alike(function: str, detail_type: str) -> None:
    # Given the detail-type the function acts on, with a detail that is not an object
    event = {"id": "e-1", "source": "pipewarden", "detail-type": detail_type, "detail": "?"}
    with pytest.raises(InvalidEvent, match=r"^event has no detail object$"):
        PARSERS[function](event)


def test_the_envelope_reads_a_manual_invocation_without_envelope_fields() -> None:
    envelope = Envelope.of({"action": "prune", "pipeline": "pipewarden-shop"})
    assert (envelope.field("action"), envelope.detail_type, envelope.scheduled) == ("prune", None, False)
    with pytest.raises(InvalidEvent, match="no id"):
        envelope.event_id()
    assert Envelope.of(sample_event("scheduled-resync.json")).scheduled


def test_a_failed_stage_names_its_pipeline_execution_and_stage() -> None:
    assert stage_failure(sample_event("codepipeline-stage-failed.json")) == StageFailure(
        "pipewarden-storefront", EXECUTION_ID, "Build"
    )


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (stage_event(state="SUCCEEDED"), "stage state is 'SUCCEEDED', not FAILED"),
        (stage_event(state="RESUMED"), "not FAILED"),
        (stage_event(pipeline="a pipeline"), "pipeline 'a pipeline' is not a pipeline or stage name"),
        (stage_event(pipeline=None), "pipeline None is not"),
        (stage_event(stage="x" * 101), "stage 'xxx"),
        (stage_event(**{"execution-id": "not-an-id!"}), "execution-id 'not-an-id!' is not an execution id"),
        ({"detail": {"state": "FAILED"}}, "pipeline None"),
    ],
)
def test_a_stage_event_that_is_no_failure_of_a_named_stage_is_refused(event: Any, says: str) -> None:
    with pytest.raises(InvalidEvent, match=says):
        stage_failure(event)


@pytest.mark.parametrize(
    "state", ["CANCELED", "FAILED", "RESUMED", "STARTED", "STOPPED", "STOPPING", "SUCCEEDED", "SUPERSEDED"]
)
def test_every_documented_execution_state_is_read_and_only_the_ends_are_ended(state: str) -> None:
    detail = {"pipeline": "pipewarden-shop", "execution-id": EXECUTION_ID, "state": state, "version": 3.0}
    change = execution_change(detail, with_execution=True)
    assert change == ExecutionChange("pipewarden-shop", state, EXECUTION_ID)
    assert change.ended is (state in ("CANCELED", "FAILED", "STOPPED", "SUCCEEDED", "SUPERSEDED"))


def test_an_execution_change_needs_its_execution_id_only_when_asked() -> None:
    detail = {"pipeline": "pipewarden-shop", "state": "SUCCEEDED", "execution-id": "?"}
    assert execution_change(detail).execution_id == ""  # pruning finds the prefix by the pipeline alone
    with pytest.raises(InvalidEvent, match="execution-id '\\?' is not an execution id"):
        execution_change(detail, with_execution=True)


@pytest.mark.parametrize(
    ("detail", "says"),
    [
        ({"state": "FAILED"}, "pipeline None"),
        ({"pipeline": "p", "state": ""}, "state '' is not a state"),
        ({"pipeline": "p", "state": 3}, "state 3 is not a state"),
        ({"pipeline": "p", "state": "S" * 300}, "is not a state"),
    ],
)
def test_an_execution_change_without_a_pipeline_or_state_is_refused(
    detail: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidEvent, match=says):
        execution_change(detail)


def test_a_queued_decision_is_read_back_and_a_malformed_one_refused_as_invalid_events_are() -> None:
    body = sample_event("retry-due-sqs.json")["Records"][0]["body"]
    due = DueRetry.from_body(body)
    assert (due.pipeline, due.execution_id, due.stage, due.attempt) == (
        "pipewarden-storefront",
        EXECUTION_ID,
        "Build",
        1,
    )
    broken = dict(json.loads(body), stage="no such stage!")
    with pytest.raises(InvalidEvent, match="queued retry is malformed: stage 'no such stage!'"):
        DueRetry.from_body(json.dumps(broken))
    assert InvalidMessage is InvalidEvent  # one error type for anything unreadable


junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=10,
)


def mutated(sample: str) -> st.SearchStrategy[dict[str, Any]]:
    """A sample event with one top-level or detail field replaced by junk, or removed."""

    def change(key: str, value: Any, remove: bool, in_detail: bool) -> dict[str, Any]:
        event = copy.deepcopy(sample_event(sample))
        target = event["detail"] if in_detail else event
        if remove:
            target.pop(key, None)
        else:
            target[key] = value
        return event

    keys = st.sampled_from(["pipeline", "execution-id", "stage", "state", "detail", "detail-type", "action"])
    return st.builds(change, keys, junk, st.booleans(), st.booleans())


@settings(max_examples=200, deadline=None)
@given(mutated("codepipeline-stage-failed.json"))
def test_any_stage_event_gives_a_failure_or_invalid_event_only(event: dict[str, Any]) -> None:
    try:
        failure = stage_failure(event)
    except InvalidEvent:
        return
    assert failure.pipeline and failure.execution_id and failure.stage


@settings(max_examples=200, deadline=None)
@given(mutated("codepipeline-execution-succeeded.json") | mutated("scheduled-resync.json"))
def test_any_prune_trigger_gives_a_scope_or_invalid_event_only(event: dict[str, Any]) -> None:
    try:
        scope = prune_scope(event)
    except InvalidEvent:
        return
    assert scope is None or isinstance(scope, str)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["pipeline", "execution_id", "stage", "attempt", "requeues"]), junk))
def test_any_queued_body_gives_a_decision_or_invalid_message_only(data: dict[str, Any]) -> None:
    try:
        DueRetry.from_body(json.dumps(data))
    except InvalidMessage:
        return
