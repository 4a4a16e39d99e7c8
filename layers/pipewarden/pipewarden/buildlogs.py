"""The end of a CodeBuild build's CloudWatch log: what shows why a build failed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipewarden.aws import NotFound, call

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

LOG_TAIL = 40


def tail(logs_client: CloudWatchLogsClient, build: Mapping[str, Any], lines: int = LOG_TAIL) -> list[str]:
    """The last `lines` lines of the build's log ([] when it has none, or none any more)."""
    logs = build.get("logs") or {}
    if not logs.get("groupName") or not logs.get("streamName"):
        return []
    try:
        events = call(
            logs_client.get_log_events,
            logGroupName=logs["groupName"],
            logStreamName=logs["streamName"],
            limit=lines,
            startFromHead=False,
        ).get("events", [])
    except NotFound:
        return []
    return [str(e.get("message", "")).rstrip() for e in events]
