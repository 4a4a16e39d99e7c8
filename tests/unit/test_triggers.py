"""Event parsing: every sample in events/ and arbitrary, hostile input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipewarden import stacks, triggers
from pipewarden.envelope import InvalidEvent
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


RETRY_SAMPLES = {
    "codepipeline-stage-failed.json",
    "retry-due-sqs.json",
    "codepipeline-execution-succeeded.json",
}
# Parsed in tests/unit/test_notify_rules.py and (the alarms') tests/unit/test_alarms.py.
NOTIFY_SAMPLES = {
    "pipewarden-retry-scheduled.json",
    "pipewarden-enrollment-rejected.json",
    "cloudwatch-alarm-dead-letters.json",
    "cloudwatch-alarm-dead-letters-resolved.json",
}


def test_every_sample_event_file_is_covered() -> None:
    files = {p.name for p in EVENTS.glob("*.json")}
    enroll = files - RETRY_SAMPLES - NOTIFY_SAMPLES
    assert len(enroll) == 11
    assert files >= RETRY_SAMPLES | NOTIFY_SAMPLES


def test_retry_samples_parse() -> None:
    from pipewarden.pipeline_events import StageFailure, stage_failure
    from pipewarden.retry import DueRetry

    failure = stage_failure(sample_event("codepipeline-stage-failed.json"))
    assert failure == StageFailure("pipewarden-storefront", "c54a5df4-5ea1-4d6a-9f5e-3b0b2c4b1a77", "Build")
    due = DueRetry.from_body(sample_event("retry-due-sqs.json")["Records"][0]["body"])
    assert (due.pipeline, due.stage, due.attempt, due.requeues) == ("pipewarden-storefront", "Build", 1, 0)


@pytest.mark.parametrize(
    "event",
    [
        None,
        {},
        {"detail": {"state": "SUCCEEDED", "pipeline": "p", "execution-id": "e", "stage": "s"}},
        {"detail": {"state": "FAILED"}},
    ],
)
def test_malformed_stage_events_are_invalid(event: Any) -> None:
    from pipewarden.pipeline_events import stage_failure

    with pytest.raises(InvalidEvent):
        stage_failure(event)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "[]",
        '"text"',
        '{"pipeline": "p"}',
        '{"pipeline": "p", "execution_id": "e", "stage": "s", "attempt": "x"}',
        '{"pipeline": "p", "execution_id": "e", "stage": "s", "attempt": Infinity}',
        '{"pipeline": "p", "execution_id": "not an id", "stage": "s", "attempt": 1}',
    ],
)
def test_malformed_queued_decisions_are_invalid(body: str) -> None:
    from pipewarden.retry import DueRetry, InvalidMessage

    with pytest.raises(InvalidMessage):
        DueRetry.from_body(body)


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
    with pytest.raises(InvalidEvent):
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
    except InvalidEvent:
        return
    assert isinstance(result, triggers.Resync | triggers.Repositories | triggers.StackStatus)
    if isinstance(result, triggers.Repositories):
        assert result.names


def test_stack_status_event_carries_the_operations_token() -> None:
    """CloudFormation puts the operation's ClientRequestToken on each of its status events, which is how
    the enroll function tells its own operations from anyone else's.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/event-detail-stack-status-change.html"""
    event = sample_event("stack-status-create-complete.json")
    assert triggers.parse(event).token == ""  # type: ignore[union-attr]
    event["detail"]["client-request-token"] = "pipewarden-0b9c6a52-8f0e-4a59-9d2e-0d4b3f1f6c11"
    parsed = triggers.parse(event)
    assert isinstance(parsed, triggers.StackStatus)
    assert stacks.is_own(parsed.token)
    event["detail"]["client-request-token"] = "Console-UpdateStack-7f59c3cf-00d2-40c7-b2ff-e75db0987002"
    assert not stacks.is_own(triggers.parse(event).token)  # type: ignore[union-attr]


@pytest.mark.parametrize("stack_id", ["\x1f", "pipewarden-shop", "arn:aws:s3:::bucket", ""])
def test_a_stack_status_event_whose_stack_id_is_no_stack_arn_is_refused(stack_id: str) -> None:
    """Found by the hostile-event fuzzing: a control character reached DescribeStacks and the answer
    echoing it was not XML botocore could parse (a crash retried, not a refused event)."""
    event = sample_event("stack-status-create-complete.json")
    event["detail"]["stack-id"] = stack_id
    with pytest.raises(InvalidEvent):
        triggers.parse(event)


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (
            {"detail-type": "Object Created", "detail": {}},
            "detail-type 'Object Created' is not one pipewarden",
        ),
        ({"detail-type": "Tag Change on Resource", "detail": [], "resources": []}, "no detail object"),
        (
            {"detail-type": "Tag Change on Resource", "detail": {}, "resources": ["arn:aws:s3:::bucket"]},
            "no CodeCommit repository ARN",
        ),
        (
            {"detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": "GetRepository"}},
            "'GetRepository' event has no requestParameters",
        ),
        (
            {
                "detail-type": "AWS API Call via CloudTrail",
                "detail": {"eventName": "GetRepository", "requestParameters": {}},
            },
            "CloudTrail event 'GetRepository' is not one pipewarden acts on",
        ),
        (
            {
                "detail-type": "CloudFormation Stack Status Change",
                "detail": {
                    "stack-id": "arn:aws:cloudformation:us-east-1:123456789012:stack/pipewarden-shop/1a2b",
                    "status-details": {"status": 5},
                },
            },
            "field 'status' is missing or not a str",
        ),
    ],
)
def test_each_refused_enroll_event_says_why(event: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidEvent, match=says):
        triggers.parse(event)
