"""What the prune function prunes for each trigger."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from tests.conftest import ROOT, sample_event


def scope() -> Any:
    spec = importlib.util.spec_from_file_location("prune_app_under_test", ROOT / "functions/prune/app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._scope


def test_schedule_prunes_the_whole_bucket() -> None:
    assert scope()(sample_event("scheduled-resync.json")) == (None, "")


def test_an_ended_execution_prunes_its_pipeline() -> None:
    assert scope()(sample_event("codepipeline-execution-succeeded.json")) == ("pipewarden-storefront", "")


@pytest.mark.parametrize(
    "event",
    [
        None,
        {
            "detail-type": "CodePipeline Pipeline Execution State Change",
            "detail": {"pipeline": "p", "state": "STARTED"},
        },
        {"detail-type": "CodePipeline Pipeline Execution State Change", "detail": {"state": "FAILED"}},
        {"detail-type": "Something Else"},
    ],
)
def test_other_events_are_invalid_with_a_reason(event: Any) -> None:
    pipeline, reason = scope()(event)
    assert pipeline is None and reason
