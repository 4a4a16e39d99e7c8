"""Classification + attempts so far -> retry after N seconds, or give up; with the reason either way."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from pipewarden.classify import DETERMINISTIC, UNKNOWN, Classification

SCHEDULED = "Stage Retry Scheduled"
EXHAUSTED = "Retries Exhausted"
NOT_RETRIED = "Failure Not Retried"
SKIPPED = "Stage Retry Skipped"

RATE_LIMIT_ADVICE = (
    "Docker Hub limits anonymous pulls: log in to Docker Hub in the buildspec (credentials from Secrets "
    "Manager) or pull base images through an ECR pull-through cache"
)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, in whole seconds; rate limits wait at least `rate_limit`."""

    base: int = 30
    cap: int = 900
    rate_limit: int = 900

    def delay(self, retries_done: int, rate_limited: bool, rand: Callable[[], float]) -> int:
        ceiling = min(self.cap, self.base * 2**retries_done)
        jittered = int(rand() * ceiling) + 1
        if rate_limited:
            return max(self.rate_limit, jittered)
        return min(jittered, self.cap)


@dataclass(frozen=True)
class RetryDecision:
    """Retry (after `delay` seconds, as attempt `attempt`) or the event that says why not."""

    retry: bool
    event: str
    reason: str
    attempt: int = 0
    delay: int = 0


def decide(
    classification: Classification,
    mode: str,
    retries_done: int,
    max_retries: int,
    backoff: Backoff,
    rand: Callable[[], float] = random.random,
) -> RetryDecision:
    """Apply the pipeline's retry mode (`transient`, `all`, `off`) and cap to one classified failure."""
    if mode == "off":
        return RetryDecision(False, SKIPPED, "retries are off for this pipeline")
    if retries_done >= max_retries:
        advice = f"; {RATE_LIMIT_ADVICE}" if classification.rate_limited else ""
        return RetryDecision(
            False,
            EXHAUSTED,
            f"gave up after {retries_done} of {max_retries} retries: {classification.reason}{advice}",
        )
    if mode == "transient" and classification.kind == DETERMINISTIC:
        return RetryDecision(False, NOT_RETRIED, f"not retried: {classification.reason}")
    if mode == "transient" and classification.kind == UNKNOWN and retries_done >= 1:
        return RetryDecision(
            False, NOT_RETRIED, f"not retried again: cause unknown ({classification.reason})"
        )
    attempt = retries_done + 1
    delay = backoff.delay(retries_done, classification.rate_limited, rand)
    return RetryDecision(
        True,
        SCHEDULED,
        f"retry {attempt} of {max_retries} in {delay} s: {classification.reason}",
        attempt,
        delay,
    )
