"""Posting to a Slack incoming webhook: 429 waits as Retry-After says, 5xx is retried a bounded number of
times, any other 4xx is final. The webhook URL is a secret: it never appears in an error or a log."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class SlackError(Exception):
    """Slack did not take the message; `final` when trying again cannot help (a 4xx other than 429)."""

    def __init__(self, reason: str, status: int = 0, final: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.final = final


@dataclass
class SlackPoster:
    """Posts one payload; `attempts` and `waited` say what it took (for metrics and tests)."""

    max_attempts: int = 4
    max_wait: float = 30.0
    timeout: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    attempts: int = 0
    waited: list[float] = field(default_factory=list)

    def post(self, url: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        for attempt in range(1, self.max_attempts + 1):
            self.attempts = attempt
            request = urllib.request.Request(  # noqa: S310 - a https webhook URL from Secrets Manager
                url, data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    response.read()
                    return
            except urllib.error.HTTPError as error:
                status = error.code
                if status == 429:
                    wait = _retry_after(error.headers.get("Retry-After"), default=2.0**attempt)
                elif status >= 500:
                    wait = min(2.0**attempt, self.max_wait)
                else:
                    raise SlackError(
                        f"Slack refused the message: HTTP {status}", status, final=True
                    ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                status = 0
                wait = min(2.0**attempt, self.max_wait)
                reason = type(getattr(error, "reason", error)).__name__
                if attempt == self.max_attempts:
                    raise SlackError(f"Slack could not be reached ({reason})") from None
                self._wait(wait)
                continue
            if attempt == self.max_attempts or wait > self.max_wait:
                raise SlackError(
                    f"Slack kept answering HTTP {status} after {attempt} attempts", status
                ) from None
            self._wait(wait)

    def _wait(self, seconds: float) -> None:
        self.waited.append(seconds)
        self.sleep(seconds)


def _retry_after(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default
