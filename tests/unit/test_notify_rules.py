"""What deserves a message, for whom, and what it says (pure rules; no AWS)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipewarden.contract import ContractViolation, parse_settings
from pipewarden.envelope import InvalidEvent
from pipewarden.messages import slack_payload, sns_message
from pipewarden.notify_rules import (
    ALL,
    FAILURES,
    PIPELINE_EXECUTION,
    Audience,
    Facts,
    audience,
    audience_from_detail,
    compose,
    importance,
    parse,
    problem,
    standing,
    telling_lines,
)
from tests.conftest import sample_event
from tests.unit.test_messages import validate


def event(kind: str, source: str = "pipewarden", /, **detail: Any) -> dict[str, Any]:
    return {
        "id": "e-1",
        "source": source,
        "detail-type": kind,
        "region": "eu-west-1",
        "account": "123456789012",
        "time": "2026-11-29T10:00:00Z",
        "detail": {"pipeline": "pipewarden-shop", **detail},
    }


def execution(state: str) -> dict[str, Any]:
    return event(
        PIPELINE_EXECUTION,
        "aws.codepipeline",
        **{"execution-id": "c54a5df4-5ea1-4d6a-9f5e-3b0b2c4b1a77", "state": state},
    )


MANAGED = {
    "pipewarden:managed-by": "pipewarden",
    "pipewarden:retry": "transient",
    "pipewarden:max-retries": "2",
}


@pytest.mark.parametrize(
    ("sample", "kind", "key"),
    [
        ("codepipeline-execution-succeeded.json", PIPELINE_EXECUTION, "6a7e8feb-b491-4cf7-a9f1-bf3703467718"),
        (
            "pipewarden-retry-scheduled.json",
            "Stage Retry Scheduled",
            "Stage Retry Scheduled:c54a5df4-5ea1-4d6a-9f5e-3b0b2c4b1a77:Build:1",
        ),
        (
            "pipewarden-enrollment-rejected.json",
            "Repository Enrollment Rejected",
            "rejected:5f0c2a9e1b7d3c48",
        ),
    ],
)
def test_the_sample_events_parse(sample: str, kind: str, key: str) -> None:
    happening = parse(sample_event(sample))
    assert (happening.kind, happening.key) == (kind, key)
    assert happening.pipeline.startswith("pipewarden-storefront")


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("nope", "not an object"),
        ({"source": "pipewarden", "detail-type": "Repository Enrolled", "detail": {}}, "no id"),
        (
            {"id": "1", "source": "pipewarden", "detail-type": "Repository Enrolled", "detail": []},
            "no detail",
        ),
        ({"id": "1", "source": "aws.s3", "detail-type": "Object Created", "detail": {}}, "not an event"),
        ({"id": "1", "source": "pipewarden", "detail-type": "Repository Enrolled", "detail": {}}, "names no"),
        ({**execution("FAILED"), "detail": {"pipeline": "p", "state": "FAILED"}}, "execution-id"),
        (
            {**execution("FAILED"), "detail": {"pipeline": "p" * 300, "execution-id": "x", "state": "F"}},
            "pipeline",
        ),
    ],
)
def test_unreadable_events_are_refused_with_the_reason(bad: Any, says: str) -> None:
    with pytest.raises(InvalidEvent, match=says):
        parse(bad)


def test_a_rejection_is_keyed_on_its_fingerprint_so_each_trigger_reports_it_once() -> None:
    one = event("Repository Enrollment Rejected", repository="shop", fingerprint="0123456789abcdef")
    other = dict(one, id="e-2")
    assert parse(one).key == parse(other).key == "rejected:0123456789abcdef"
    assert parse(event("Repository Enrolled", repository="shop")).key == "e-1"


def test_a_retry_decision_is_keyed_on_its_execution_stage_and_attempt() -> None:
    ids = {"execution-id": "c54a5df4-5ea1-4d6a-9f5e-3b0b2c4b1a77", "stage": "Build"}
    first = event("Stage Retry Scheduled", **ids, attempt=1)
    twice = dict(first, id="e-2")  # the retry function decided again on a duplicated FAILED event
    assert (
        parse(first).key
        == parse(twice).key
        == "Stage Retry Scheduled:c54a5df4-5ea1-4d6a-9f5e-3b0b2c4b1a77:Build:1"
    )
    assert parse(dict(first, detail={**first["detail"], "attempt": 2})).key != parse(first).key
    gave_up = event("Retries Exhausted", **ids, **{"retries-done": 2})
    assert parse(gave_up).key.endswith(":Build:2")


def test_tags_choose_the_audience_and_a_typo_cannot_silence_failures() -> None:
    assert audience({}, "pipewarden") is None  # a pipeline nobody opted in
    assert audience(MANAGED, "pipewarden") == Audience(FAILURES, "", retrying=True)
    chosen = audience(
        {**MANAGED, "pipewarden:notify": "ALL", "pipewarden:slack-channel": "team-a"}, "pipewarden"
    )
    assert chosen == Audience(ALL, "team-a", retrying=True)
    typo = audience(
        {**MANAGED, "pipewarden:notify": "everything", "pipewarden:slack-channel": "../x"}, "pipewarden"
    )
    assert typo == Audience(FAILURES, "", retrying=True)
    assert audience({**MANAGED, "pipewarden:retry": "off"}, "pipewarden") == Audience(FAILURES)
    assert audience({**MANAGED, "pipewarden:max-retries": "9"}, "pipewarden") == Audience(FAILURES)
    # A pipeline a team opted in with a notify tag alone is not retried (the retry function reads the
    # same PipelineSettings and leaves it alone), so its failures are told when they happen.
    assert audience({"pipewarden:notify": "all"}, "pipewarden") == Audience(ALL, retrying=False)
    assert audience({"pipewarden:retry": "transient"}, "pipewarden") is None  # retried, never told


def test_enrollment_outcomes_carry_their_own_settings() -> None:
    assert audience_from_detail({"notify": "off"}) == Audience("off")
    assert audience_from_detail({"settings": {"notify": "all"}}) == Audience(ALL)
    assert audience_from_detail({"notify": "loud"}) is None
    assert audience_from_detail({}) is None


@pytest.mark.parametrize(
    ("raw", "retrying", "retries", "expected"),
    [
        (execution("FAILED"), True, 0, None),  # the retry function's decision tells it
        (execution("FAILED"), False, 0, FAILURES),
        (execution("SUCCEEDED"), True, 0, ALL),
        (execution("SUCCEEDED"), True, 1, FAILURES),  # a recovery closes a failure story
        (execution("STOPPED"), True, 0, ALL),
        (execution("STARTED"), True, 0, None),
        (event("Stage Retry Scheduled"), True, 0, FAILURES),
        (event("Stage Retry Started"), True, 0, ALL),
        (event("Stage Retry Skipped"), True, 0, None),
        (event("Stage Retry Skipped", attempt=1), True, 0, FAILURES),
        (event("Artifacts Pruned", bucket="b", **{"objects-deleted": 0}), False, 0, None),
        (event("Artifacts Pruned", bucket="b", **{"objects-deleted": 3}), False, 0, ALL),
        (event("Artifacts Pruned", bucket="b", **{"objects-deleted": 3, "dry-run": True}), False, 0, None),
        (event("Artifacts Pruned", bucket="b", complete=False), False, 0, FAILURES),
    ],
)
def test_importance(raw: dict[str, Any], retrying: bool, retries: int, expected: str | None) -> None:
    assert importance(parse(raw), Audience(ALL, retrying=retrying), retries) == expected


def test_levels_hear_what_they_promise() -> None:
    assert Audience(FAILURES).hears(FAILURES) and not Audience(FAILURES).hears(ALL)
    assert Audience(ALL).hears(FAILURES) and Audience(ALL).hears(ALL)
    assert not Audience("off").hears(FAILURES) and not Audience(ALL).hears(None)


FACTS = Facts(
    repository="shop",
    branch="main",
    commit_id="4f2a9c1e0b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
    commit_message="add checkout page",
    author="Alice",
    stage="Build",
    action="Build",
    error="Build terminated with state: FAILED",
    log_lines=("toomanyrequests: You have reached your pull rate limit",),
    links=(("Execution", "https://eu-west-1.console.aws.amazon.com/codesuite/x"),),
    retries=1,
    duration_seconds=95,
)


def test_a_scheduled_retry_says_what_failed_when_it_retries_and_which_attempt() -> None:
    raw = event(
        "Stage Retry Scheduled",
        **{
            "execution-id": "c54a5df4-5ea1-4d6a-9f5e-3b0b2c4b1a77",
            "stage": "Build",
            "attempt": 1,
            "max-retries": 2,
            "delay-seconds": 120,
        },
        classification="transient",
    )
    notice = compose(parse(raw), FACTS)
    assert notice.title == "Pipeline failed, retrying"
    assert notice.decision == "retrying in 2 min, attempt 1 of 2 (transient failure)"
    assert notice.summary == "Build/Build failed: Build terminated with state: FAILED"
    payload = slack_payload(notice)
    validate(payload)
    text = json.dumps(payload)
    for part in (
        "shop",
        "main",
        "4f2a9c1e0b7d by Alice",
        "add checkout page",
        "toomanyrequests",
        "1 min 35 s",
    ):
        assert part in text
    body = json.loads(sns_message(notice))
    assert (
        body["event"] == "Stage Retry Scheduled"
        and body["key"].endswith(":Build:1")
        and body["detail"]["attempt"] == 1
    )


def test_a_recovery_and_a_final_failure_say_so() -> None:
    recovered = compose(parse(execution("SUCCEEDED")), FACTS)
    assert recovered.title == "Pipeline recovered after 1 retry" and recovered.severity == "info"
    assert not recovered.log_lines  # a green build's log is not news
    exhausted = compose(
        parse(
            event("Retries Exhausted", reason="gave up after 2 of 2 retries: timeout", **{"retries-done": 2})
        ),
        FACTS,
    )
    assert exhausted.title == "Pipeline failed, gave up after 2 retries"
    assert exhausted.decision.startswith("gave up after 2 of 2 retries") and exhausted.severity == "error"
    not_retried = compose(parse(event("Failure Not Retried", reason="not retried: tests failed")), FACTS)
    assert not_retried.decision == "not retried: tests failed"


def test_an_ecs_deploy_failure_quotes_why_its_tasks_stopped() -> None:
    """No build log for a deploy: the message quotes the stopped tasks' reasons the decision carries."""
    reason = (
        "CannotPullContainerError: failed to resolve ref 1.dkr.ecr.us-east-1.amazonaws.com/shop:1a: not found"
    )
    raw = event(
        "Failure Not Retried",
        reason="not retried: not-found in the ECS action",
        evidence={"pattern": "not-found", "stopped-reasons": [reason]},
    )
    notice = compose(parse(raw), Facts(stage="Deploy", action="Deploy", error="tasks failed to start"))
    assert notice.log_lines == (reason,)
    assert reason in json.dumps(slack_payload(notice))


def test_a_rejection_names_the_repository_not_a_pipeline_that_may_not_exist() -> None:
    raw = event("Repository Enrollment Rejected", repository="shop", reason="pipewarden:notify='x': bad")
    notice = compose(parse(raw), Facts())
    assert notice.pipeline == "" and notice.repository == "shop" and not notice.links
    assert slack_payload(notice)["text"] == "Enrollment tags rejected (shop): pipewarden:notify='x': bad"


def test_telling_lines_pick_the_failure_from_the_log() -> None:
    log = ["step 1", "ok", "npm ERR! Test failed", "[Container] Phase complete: BUILD State: FAILED", "done"]
    assert telling_lines(log) == ("npm ERR! Test failed", "[Container] Phase complete: BUILD State: FAILED")
    assert telling_lines(["a", "b", "c"], 2) == ("b", "c")  # nothing says why: the end of the log


def test_the_slack_channel_tag_is_validated_because_it_names_a_secret() -> None:
    base = {"pipewarden:enabled": "true", "pipewarden:ecs-cluster": "c", "pipewarden:ecs-service": "s"}
    settings_ = parse_settings("shop", {**base, "pipewarden:slack-channel": "team-a"}, "pipewarden")
    assert settings_ is not None and settings_.slack_channel == "team-a"
    with pytest.raises(ContractViolation, match="slack-channel"):
        parse_settings("shop", {**base, "pipewarden:slack-channel": "../prod"}, "pipewarden")


junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=6),
    max_leaves=20,
)
kinds = st.sampled_from(
    [
        PIPELINE_EXECUTION,
        "Stage Retry Scheduled",
        "Retries Exhausted",
        "Artifacts Pruned",
        "Repository Enrolled",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    kinds,
    st.sampled_from(["pipewarden", "aws.codepipeline"]),
    st.dictionaries(st.text(max_size=30), junk),
    junk,
)
def test_any_event_parses_to_a_valid_message_or_is_refused(
    kind: str, source: str, detail: dict[str, Any], noise: Any
) -> None:
    raw = {
        "id": "e",
        "source": source,
        "detail-type": kind,
        "region": "eu-west-1",
        "detail": detail,
        "x": noise,
    }
    try:
        happening = parse(raw)
    except InvalidEvent:
        return
    importance(happening, Audience(ALL, retrying=True))
    notice = compose(happening, Facts())
    validate(slack_payload(notice))
    json.loads(sns_message(notice))


def test_a_standing_problem_is_keyed_on_its_fingerprint_and_looked_at_per_event() -> None:
    """An enrollment problem is keyed on its fingerprint: the two events of one tag change are one
    message. One the resync met again (`standing`) is looked at per event (`once` is its id), and
    pipewarden.standing tells it only if it differs from the one last told."""
    shown = {"repository": "shop", "status": "NOT_STARTED", "fingerprint": "0123456789abcdef"}
    by_a_change = parse(event("Repository Enrollment Failed", **shown))
    assert (by_a_change.key, by_a_change.once) == ("failed:0123456789abcdef", "failed:0123456789abcdef")
    assert problem(by_a_change.detail, by_a_change.kind) == "0123456789abcdef"
    assert standing(by_a_change.detail, by_a_change.kind) == ""
    by_the_resync = parse(
        event(
            "Repository Enrollment Rejected", repository="shop", fingerprint="0123456789abcdef", standing=True
        )
    )
    assert (by_the_resync.key, by_the_resync.once) == ("rejected:0123456789abcdef", "e-1")
    assert standing(by_the_resync.detail, by_the_resync.kind) == "0123456789abcdef"
    # A stack that failed is an event of its own, told each time; so is every other kind
    rolled_back = parse(event("Repository Enrollment Failed", repository="shop", status="ROLLBACK_COMPLETE"))
    assert rolled_back.key == rolled_back.once == "e-1"
    assert problem(rolled_back.detail, rolled_back.kind) == ""
