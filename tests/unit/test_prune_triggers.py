"""What the prune function prunes for each trigger (pipewarden.pipeline_events.prune_scope)."""

from __future__ import annotations

from typing import Any

import pytest

from pipewarden.envelope import InvalidEvent
from pipewarden.pipeline_events import prune_scope
from tests.conftest import sample_event

EXECUTION = "CodePipeline Pipeline Execution State Change"


def test_schedule_prunes_the_whole_bucket() -> None:
    assert prune_scope(sample_event("scheduled-resync.json")) is None


def test_an_ended_execution_prunes_its_pipeline() -> None:
    assert prune_scope(sample_event("codepipeline-execution-succeeded.json")) == "pipewarden-storefront"


@pytest.mark.parametrize(
    ("event", "pipeline"),
    [
        ({"action": "prune"}, None),
        ({"action": "prune", "pipeline": "pipewarden-shop"}, "pipewarden-shop"),
        ({"detail-type": "Scheduled Event", "pipeline": "pipewarden-shop"}, "pipewarden-shop"),
        # Every end state prunes; the execution id is not needed to find the pipeline's prefix.
        *(
            ({"detail-type": EXECUTION, "detail": {"pipeline": "p", "state": state}}, "p")
            for state in ("SUCCEEDED", "FAILED", "STOPPED", "SUPERSEDED", "CANCELED")
        ),
    ],
)
def test_what_each_accepted_trigger_prunes(event: dict[str, Any], pipeline: str | None) -> None:
    assert prune_scope(event) == pipeline


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (None, "not an object"),
        ({"detail-type": EXECUTION, "detail": {"pipeline": "p", "state": "STARTED"}}, "not an end state"),
        ({"detail-type": EXECUTION, "detail": {"state": "FAILED"}}, "pipeline None"),
        ({"detail-type": EXECUTION, "detail": "FAILED"}, "no detail object"),
        ({"detail-type": "Something Else"}, "not one the prune function acts on"),
        ({"action": "prune", "pipeline": "../etc"}, "not a pipeline name"),
        ({"action": "prune", "pipeline": ""}, "not a pipeline name"),
    ],
)
def test_other_events_are_invalid_with_a_reason(event: Any, says: str) -> None:
    with pytest.raises(InvalidEvent, match=says):
        prune_scope(event)
