"""Posting to a Slack webhook (the local sink): success, 429 with Retry-After, 5xx bound, final 4xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipewarden.slack import SlackError, SlackPoster
from sandbox.slack_sink import SlackSink

PAYLOAD = {"text": "Build failed", "blocks": []}


@pytest.fixture
def sink() -> Iterator[SlackSink]:
    running = SlackSink().start()
    yield running
    running.stop()


def poster() -> SlackPoster:
    return SlackPoster(sleep=lambda _: None)


def test_a_message_is_delivered_once_and_the_sink_tells_its_listeners(sink: SlackSink) -> None:
    heard: list[dict[str, object]] = []
    sink.listeners.append(heard.append)
    sink.fail(500)
    sent = poster()
    sent.post(sink.url, PAYLOAD)
    assert sink.received == [PAYLOAD] and heard == [PAYLOAD]  # the refused attempt is not recorded
    assert sent.attempts == 2


def test_429_waits_as_long_as_retry_after_says_then_posts(sink: SlackSink) -> None:
    sink.fail(429, times=2, retry_after="7")
    sent = poster()
    sent.post(sink.url, PAYLOAD)
    assert sent.waited == [7.0, 7.0]
    assert sink.received == [PAYLOAD]


def test_5xx_is_retried_a_bounded_number_of_times_then_given_up(sink: SlackSink) -> None:
    sink.fail(500, times=10)
    sent = poster()
    with pytest.raises(SlackError) as error:
        sent.post(sink.url, PAYLOAD)
    assert sent.attempts == 4 and not error.value.final
    assert sink.received == []


def test_other_4xx_is_final_and_the_url_is_never_in_the_error(sink: SlackSink) -> None:
    sink.fail(404)
    sent = poster()
    with pytest.raises(SlackError) as error:
        sent.post(sink.url, PAYLOAD)
    assert error.value.final and sent.attempts == 1
    assert "services" not in str(error.value) and "127.0.0.1" not in str(error.value)


def test_an_unreachable_webhook_is_retried_then_reported_without_the_url() -> None:
    sent = SlackPoster(sleep=lambda _: None, max_attempts=2, timeout=1)
    with pytest.raises(SlackError) as error:
        sent.post("http://127.0.0.1:9/services/T000/B000/secret", PAYLOAD)
    assert "secret" not in str(error.value)
    assert sent.attempts == 2
