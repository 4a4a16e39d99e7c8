"""Event parsing: every sample in events/ and arbitrary, hostile input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipewarden import triggers
from tests.conftest import EVENTS, sample_event


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("tag-change-enroll.json", triggers.Repositories(("storefront",), "tag change")),
        ("tag-change-unenroll.json", triggers.Repositories(("storefront",), "tag change")),
        ("cloudtrail-tag-resource.json", triggers.Repositories(("storefront",), "TagResource")),
        ("cloudtrail-untag-resource.json", triggers.Repositories(("storefront",), "UntagResource")),
        ("cloudtrail-create-repository.json", triggers.Repositories(("storefront",), "CreateRepository")),
        ("cloudtrail-delete-repository.json", triggers.Repositories(("storefront",), "DeleteRepository")),
        ("cloudtrail-tag-editor-tag-resources.json", triggers.Repositories(("storefront",), "TagResources")),
        ("scheduled-resync.json", triggers.Resync()),
    ],
)
def test_sample_events_name_what_to_look_at(sample: str, expected: triggers.Trigger) -> None:
    assert triggers.parse(sample_event(sample)) == expected


def test_every_sample_event_file_is_covered() -> None:
    assert len(list(EVENTS.glob("*.json"))) == 11


def test_stack_status_event() -> None:
    parsed = triggers.parse(sample_event("stack-status-rollback-complete.json"))
    assert isinstance(parsed, triggers.StackStatus)
    assert parsed.status == "ROLLBACK_COMPLETE"
    assert parsed.stack_id.startswith("arn:aws:cloudformation:")
    assert "failed to create" in parsed.reason


def test_manual_resync() -> None:
    assert triggers.parse({"action": "resync"}) == triggers.Resync(cause="manual")


def test_repeated_arns_are_looked_at_once() -> None:
    event = sample_event("tag-change-enroll.json")
    event["resources"] *= 3
    assert triggers.parse(event) == triggers.Repositories(("storefront",), "tag change")


@pytest.mark.parametrize(
    "event",
    [
        [],
        {"detail-type": "Tag Change on Resource"},
        {"detail-type": "Tag Change on Resource", "detail": {}, "resources": "arn"},
        {"detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": 5, "requestParameters": {}}},
        {
            "detail-type": "AWS API Call via CloudTrail",
            "detail": {"eventName": "CreateRepository", "requestParameters": {"repositoryName": "x" * 101}},
        },
        {
            "detail-type": "CloudFormation Stack Status Change",
            "detail": {"stack-id": "s", "status-details": {}},
        },
    ],
)
def test_malformed_events_raise_invalid_event(event: Any) -> None:
    with pytest.raises(triggers.InvalidEvent):
        triggers.parse(event)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=15), inner, max_size=4),
    max_leaves=20,
)
detail_types = st.sampled_from(
    [
        "Tag Change on Resource",
        "AWS API Call via CloudTrail",
        "CloudFormation Stack Status Change",
        "Scheduled Event",
        "x",
    ]
)


@given(
    st.fixed_dictionaries(
        {"detail-type": detail_types},
        optional={"detail": json_values, "resources": json_values, "action": json_values},
    )
)
def test_arbitrary_events_give_a_trigger_or_invalid_event_only(event: dict[str, Any]) -> None:
    try:
        result = triggers.parse(event)
    except triggers.InvalidEvent:
        return
    assert isinstance(result, triggers.Resync | triggers.Repositories | triggers.StackStatus)
    if isinstance(result, triggers.Repositories):
        assert result.names
