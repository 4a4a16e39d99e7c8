"""Would slack_sdk's WebhookClient and its retry handlers fit the notify function? Figures to decide by.

Prints what slack_sdk would add to the layer, what importing it costs against `import boto3` (fresh
interpreters, same run), and what its built-in retry handlers do with the cases pipewarden bounds
today (a long Retry-After, a 502, a fractional Retry-After, the webhook URL in its logs), against
the local Slack sink. Nothing sleeps: the handlers' sleep is recorded instead. Asserts nothing.
Run: .venv/bin/python -m bench.slack_webhook [--repeat 9]   (from the repository root)
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
from importlib import metadata
from pathlib import Path
from typing import Any
from unittest import mock

from bench.enroll import LAYER, ROOT, import_seconds
from sandbox.figures import figure
from sandbox.slack_sink import SlackSink


def layer_size() -> None:
    files = [f for f in metadata.files("slack_sdk") or [] if "__pycache__" not in str(f)]
    size = sum(Path(str(f.locate())).stat().st_size for f in files)
    used = sum(
        Path(str(f.locate())).stat().st_size
        for f in files
        if str(f).startswith(("slack_sdk/webhook/", "slack_sdk/http_retry/", "slack_sdk/models/"))
    )
    print(f"slack_sdk {metadata.version('slack_sdk')}: {len(files)} files, {size / 1e6:.2f} MB installed")
    print(f"  of which webhook + http_retry + models (what a webhook post uses): {used / 1e6:.2f} MB")
    figure("slack_sdk: size added to the layer", f"{size / 1e6:.2f} MB", "installed, without __pycache__")


def import_cost(repeat: int) -> None:
    notify = [str(ROOT / "functions/notify"), str(LAYER)]
    cases = {
        "import boto3": ("import boto3", [str(LAYER)]),
        "import slack_sdk.webhook": ("import slack_sdk.webhook, slack_sdk.http_retry", [str(LAYER)]),
        "functions/notify": ("import app", notify),
        "functions/notify + slack_sdk": ("import app, slack_sdk.webhook, slack_sdk.http_retry", notify),
    }
    for stmt, path in cases.values():
        import_seconds(stmt, path)  # warm the file cache
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, (stmt, path) in cases.items():
            samples[name].append(import_seconds(stmt, path))
    base = statistics.median(samples["import boto3"])
    print(f"\nImport cost, fresh interpreter, median of {repeat} (budget: a handler <= 1.30x import boto3)")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"  {name:<30} {median * 1000:7.1f} ms  {median / base:4.2f}x")
        figure(f"slack_sdk: {name}", f"{median * 1000:.1f} ms", f"{median / base:.2f}x import boto3")


def handlers() -> list[Any]:
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )

    return [
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=3),
        ConnectionErrorRetryHandler(max_retry_count=3),
    ]


def post(sink: SlackSink, logger: logging.Logger | None = None) -> tuple[str, list[float]]:
    """One post through WebhookClient with the three built-in handlers; its sleeps recorded, not slept."""
    from slack_sdk.webhook import WebhookClient

    slept: list[float] = []
    with (
        mock.patch("slack_sdk.http_retry.builtin_handlers.time.sleep", slept.append),
        mock.patch("slack_sdk.http_retry.handler.time.sleep", slept.append),
    ):
        client = WebhookClient(sink.url, timeout=5, retry_handlers=handlers(), logger=logger)
        try:
            answer = client.send_dict({"text": "Build failed"})
        except Exception as error:
            return f"raised {type(error).__name__}: {error}", slept
    return f"HTTP {answer.status_code}", slept


def behaviour() -> None:
    print("\nThe built-in retry handlers (3 retries each) on what today's poster bounds:")
    sink = SlackSink().start()
    try:
        cases = [
            ("429, Retry-After: 3600", 429, "3600", "gives up: 3600 s is past the 30 s bound"),
            ("429, Retry-After: 1.5", 429, "1.5", "waits 1.5 s"),
            ("502 Bad Gateway x2", 502, None, "retried with backoff"),
            ("503 x2", 503, None, "retried with backoff"),
        ]
        for name, status, retry_after, today in cases:
            sink.fail(status, times=2, retry_after=retry_after)
            outcome, slept = post(sink)
            sink.answers.clear()
            waits = ", ".join(f"{s:.1f}" for s in slept) or "none"
            print(f"  {name:<24} -> {outcome:<52} slept [{waits}] s   (today: {today})")
        # Where the webhook URL goes: the SDK's own module logger, at the levels Lambda may be set to
        for level in (logging.INFO, logging.DEBUG):
            stream = io.StringIO()
            handler = logging.StreamHandler(stream)
            root = logging.getLogger()
            root.addHandler(handler)
            previous = root.level
            root.setLevel(level)
            try:
                sink.fail(500, times=1)
                post(sink)
            finally:
                root.removeHandler(handler)
                root.setLevel(previous)
            lines = [line for line in stream.getvalue().splitlines() if "/services/" in line]
            print(
                f"  root logger at {logging.getLevelName(level)}: {len(lines)} line(s) with the webhook URL"
            )
            for line in lines:
                print(f"      {line.replace(sink.url, '<webhook URL>')[:110]}")
    finally:
        sink.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    layer_size()
    import_cost(args.repeat)
    behaviour()


if __name__ == "__main__":
    main()
