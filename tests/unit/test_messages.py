"""Message building: every payload passes slack_sdk's Block Kit models, stays in limits, pings nobody."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from pipewarden.messages import Notice, escape, slack_payload, sns_attributes, sns_message, sns_subject

FAILED = Notice(
    title="Build failed: pipewarden-storefront",
    severity="error",
    summary="A unit test failed in BUILD; not retried.",
    repository="storefront",
    pipeline="pipewarden-storefront",
    execution_id="c54a5df4-5ea1-4d6a-9f5e-3b0b2c4b1a77",
    state="FAILED",
    branch="main",
    commit_id="4f2a9c1e0b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
    commit_message="Refactor cart totals\n\nlonger body",
    author="Alice",
    stage="Build",
    action="Build",
    decision="not retried: a command failed in BUILD with no transient cause in the log",
    duration_seconds=191,
    log_lines=("FAIL src/cart.test.js", "Tests: 1 failed, 41 passed, 42 total"),
    links=(("Execution", "https://console.aws.amazon.com/codesuite/codepipeline/pipelines/x/executions/y"),),
)


def validate(payload: dict[str, Any]) -> None:
    assert len(payload["blocks"]) <= 50
    for block in payload["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()  # raises SlackObjectFormationError on any violation
    assert len(json.dumps(payload, ensure_ascii=False)) < 40_000  # characters, as Slack counts them


def test_a_failure_has_every_part_a_reader_needs() -> None:
    payload = slack_payload(FAILED)
    validate(payload)
    text = json.dumps(payload)
    for part in (
        "storefront",
        "4f2a9c1e0b7d",
        "Alice",
        "Build",
        "3 min 11 s",
        "not retried",
        "FAIL src/cart.test.js",
        "<https://console",
    ):
        assert part in text
    assert payload["text"].startswith("Build failed: pipewarden-storefront (pipewarden-storefront)")


def test_mentions_and_markup_cannot_ping_or_break_the_layout() -> None:
    hostile = Notice(
        title="<!channel> deploy",
        severity="error",
        summary="<!here> <@U024BE7LH> <https://evil.example|click> & more",
        commit_message="```\n<!everyone>",
        log_lines=("```", "<!channel>"),
        links=(("bad", "javascript:alert(1)"), ("pipe", "https://x.example/a|b")),
    )
    payload = slack_payload(hostile)
    validate(payload)
    text = json.dumps(payload)
    assert (
        "<!channel>" not in text
        and "<!here>" not in text
        and "<@U024BE7LH>" not in text
        and "<!everyone>" not in text
    )
    assert "javascript:" not in text and "x.example/a|b" not in text
    assert payload["blocks"][-1]["text"]["text"].count("```") == 2


def test_escaping_never_splits_an_entity_at_the_cut() -> None:
    cut = escape("&" * 5000, 100)
    assert len(cut) <= 100
    assert cut.rstrip("…").endswith("&amp;")


def test_sns_subject_message_and_attributes() -> None:
    subject = sns_subject(Notice(title="Déploiement échoué ✗ " + "x" * 200, severity="error", summary=""))
    assert len(subject) <= 99 and subject.isascii() and "\n" not in subject
    body = json.loads(sns_message(FAILED))
    assert next(iter(body)) == "text" and body["pipeline"] == "pipewarden-storefront"
    assert sns_attributes(FAILED)["severity"] == {"DataType": "String", "StringValue": "error"}


texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=6000) | st.sampled_from(
    ["<!channel>", "```", "&<>", "\u202e\u0000\x07", "*_~`", "\U0001f680" * 2000]
)


@settings(max_examples=150, deadline=None)
@given(texts, texts, texts, st.lists(texts, max_size=12), texts)
def test_any_content_gives_a_valid_payload_within_limits(
    title: str, summary: str, message: str, logs: list[str], author: str
) -> None:
    notice = Notice(
        title=title or "t",
        severity="warning",
        summary=summary,
        commit_message=message,
        log_lines=tuple(logs),
        author=author,
        commit_id="abc",
        pipeline="p",
    )
    payload = slack_payload(notice)
    validate(payload)
    assert "<!" not in json.dumps(payload)
    assert len(sns_subject(notice)) <= 99
    json.loads(sns_message(notice))
