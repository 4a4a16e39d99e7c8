"""The retry policy: modes, the cap, backoff bounds, rate limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipewarden.classify import DETERMINISTIC, DOCKER_HUB_RATE_LIMIT, TRANSIENT, UNKNOWN, Classification
from pipewarden.retry_policy import EXHAUSTED, NOT_RETRIED, SCHEDULED, SKIPPED, Backoff, decide

BACKOFF = Backoff(base=30, cap=600, rate_limit=900)
TRANSIENT_FAILURE = Classification(
    TRANSIENT, "connection-reset in the BUILD log", {"pattern": "connection-reset"}
)
RATE_LIMIT = Classification(TRANSIENT, "rate limit", {"pattern": DOCKER_HUB_RATE_LIMIT})
TEST_FAILURE = Classification(DETERMINISTIC, "a command failed in BUILD")
MYSTERY = Classification(UNKNOWN, "build timed out")


@pytest.mark.parametrize(
    ("verdict", "mode", "done", "event"),
    [
        (TRANSIENT_FAILURE, "transient", 0, SCHEDULED),
        (TRANSIENT_FAILURE, "transient", 1, SCHEDULED),
        (TRANSIENT_FAILURE, "transient", 2, EXHAUSTED),
        (TEST_FAILURE, "transient", 0, NOT_RETRIED),
        (MYSTERY, "transient", 0, SCHEDULED),
        (MYSTERY, "transient", 1, NOT_RETRIED),
        (TEST_FAILURE, "all", 0, SCHEDULED),
        (MYSTERY, "all", 1, SCHEDULED),
        (TEST_FAILURE, "all", 2, EXHAUSTED),
        (TRANSIENT_FAILURE, "off", 0, SKIPPED),
    ],
)
def test_modes_and_cap(verdict: Classification, mode: str, done: int, event: str) -> None:
    decision = decide(verdict, mode, done, 2, BACKOFF, rand=lambda: 0.5)
    assert decision.event == event
    assert decision.retry == (event == SCHEDULED)
    if decision.retry:
        assert decision.attempt == done + 1


def test_max_retries_zero_never_retries() -> None:
    assert decide(TRANSIENT_FAILURE, "all", 0, 0, BACKOFF).event == EXHAUSTED


def test_giving_up_on_a_rate_limit_says_how_to_fix_it() -> None:
    decision = decide(RATE_LIMIT, "transient", 2, 2, BACKOFF)
    assert "pull-through cache" in decision.reason


def test_rate_limit_waits_at_least_the_rate_limit_delay() -> None:
    assert decide(RATE_LIMIT, "transient", 0, 2, BACKOFF, rand=lambda: 0.0).delay == 900


@given(st.integers(min_value=0, max_value=10), st.floats(min_value=0, max_value=0.999999))
def test_full_jitter_stays_within_one_second_and_the_exponential_ceiling(done: int, draw: float) -> None:
    delay = BACKOFF.delay(done, rate_limited=False, rand=lambda: draw)
    assert 1 <= delay <= min(BACKOFF.cap, BACKOFF.base * 2**done)


@given(
    st.sampled_from([TRANSIENT_FAILURE, TEST_FAILURE, MYSTERY, RATE_LIMIT]),
    st.sampled_from(["transient", "all", "off"]),
    st.integers(0, 5),
    st.integers(0, 8),
)
def test_never_schedules_beyond_the_cap(verdict: Classification, mode: str, cap: int, done: int) -> None:
    decision = decide(verdict, mode, done, cap, BACKOFF)
    if decision.retry:
        assert decision.attempt <= cap
