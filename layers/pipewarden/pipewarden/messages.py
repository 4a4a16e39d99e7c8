"""Notices -> Slack messages (Block Kit with a plain-text fallback) and SNS messages, within limits.

Pure: what to say is decided elsewhere; this module only makes sure it cannot break the layout, ping
anyone (`<!channel>`, `<@U…>`) or exceed Slack's and SNS's limits, whatever a commit message holds.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
CONTEXT_LIMIT = 2000
FALLBACK_LIMIT = 3000
SNS_SUBJECT_LIMIT = 99
SNS_TEXT_LIMIT = 4000
LOG_LINES = 8
Severity = Literal["info", "warning", "error"]
SEVERITY_ICON: dict[Severity, str] = {"info": ":white_check_mark:", "warning": ":warning:", "error": ":x:"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SAFE_URL = re.compile(r"^https://[^\s<>|]+$")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


@dataclass(frozen=True, kw_only=True)
class Story:
    """Where an execution came from and how far it got: what AWS tells the notifier (`Facts`) and
    what a message carries on (`Notice`)."""

    repository: str = ""
    pipeline: str = ""
    execution_id: str = ""
    state: str = ""
    branch: str = ""
    commit_id: str = ""
    commit_message: str = ""
    author: str = ""
    stage: str = ""
    action: str = ""
    duration_seconds: float | None = None
    log_lines: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Notice(Story):
    """One thing that happened, with everything a reader needs (empty fields are left out)."""

    title: str
    severity: Severity
    summary: str
    decision: str = ""
    event: str = ""  # the event's detail-type, for programs reading SNS
    key: str = ""  # what identifies the event: a second delivery carries the same key
    detail: Mapping[str, Any] = field(default_factory=dict)  # the event's scalar fields, for programs


def clean(text: str, limit: int) -> str:
    """Printable text of at most `limit` characters (an ellipsis marks a cut)."""
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", str(text)))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str, limit: int) -> str:
    """Text for Slack mrkdwn: &, < and > escaped (no mention, link or channel ping survives), then cut.

    The cut never splits an entity, and an ellipsis marks it.
    """
    cleaned = clean(text, len(str(text)) + 1)
    pieces = [_ENTITIES.get(ch, ch) for ch in cleaned]
    if sum(len(p) for p in pieces) <= limit:
        return "".join(pieces)
    out: list[str] = []
    size = 0
    for piece in pieces:
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) + "…"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _fields(notice: Notice) -> list[tuple[str, str]]:
    commit = notice.commit_id[:12]
    if commit and notice.author:
        commit = f"{commit} by {notice.author}"
    where = "/".join(p for p in (notice.stage, notice.action) if p)
    pairs = [
        ("Repository", notice.repository),
        ("Branch", notice.branch),
        ("Commit", commit),
        ("Pipeline", notice.pipeline),
        ("Execution", notice.execution_id[:8]),
        ("Failed in" if notice.severity == "error" else "Stage", where),
        ("Duration", _duration(notice.duration_seconds)),
    ]
    return [(label, value) for label, value in pairs if value]


def slack_payload(notice: Notice) -> dict[str, Any]:
    """The incoming-webhook payload: Block Kit blocks and the plain-text `text` fallback."""
    icon = SEVERITY_ICON.get(notice.severity, "")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": escape(notice.title, HEADER_LIMIT), "emoji": True},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"{icon} {escape(notice.summary, SECTION_LIMIT - 30)}".strip(),
            },
        },
    ]
    fields = [
        {"type": "mrkdwn", "text": f"*{label}*\n{escape(value, FIELD_LIMIT - 40)}"}
        for label, value in _fields(notice)
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})
    if notice.commit_message:
        first = notice.commit_message.strip().splitlines()[0] if notice.commit_message.strip() else ""
        if first:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"> {escape(first, 300)}"}})
    if notice.decision:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*pipewarden:* {escape(notice.decision, SECTION_LIMIT - 20)}",
                },
            }
        )
    if notice.log_lines:
        lines = "\n".join(clean(line, 300).replace("```", "'''") for line in notice.log_lines[-LOG_LINES:])
        body = escape(lines, SECTION_LIMIT - 10)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{body}```"}})
    links = [
        f"<{url}|{escape(label, 80)}>"
        for label, url in notice.links
        if _SAFE_URL.match(url) and len(url) < 1500
    ]
    if links:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": clean(" · ".join(links), CONTEXT_LIMIT)}],
            }
        )
    return {"text": fallback_text(notice), "blocks": blocks}


def fallback_text(notice: Notice) -> str:
    """One escaped line for notifications and clients without blocks."""
    name = notice.pipeline or notice.repository
    where = f" ({name})" if name else ""
    return escape(f"{notice.title}{where}: {notice.summary}", FALLBACK_LIMIT)


def sns_subject(notice: Notice) -> str:
    """SNS allows an ASCII subject under 100 characters with no line breaks."""
    ascii_only = clean(notice.title, 200).encode("ascii", "ignore").decode().replace("\n", " ").strip()
    subject = f"[pipewarden] {ascii_only}" if ascii_only else "[pipewarden] notification"
    return subject if len(subject) <= SNS_SUBJECT_LIMIT else subject[: SNS_SUBJECT_LIMIT - 3] + "..."


def sns_message(notice: Notice) -> str:
    """JSON that reads top-down for a person (its first key is the summary line) and parses for a program."""
    body = {"text": clean(f"{notice.title}: {notice.summary}", FALLBACK_LIMIT)}
    fields = {k: clean(v, SNS_TEXT_LIMIT) if isinstance(v, str) else v for k, v in asdict(notice).items()}
    fields["log_lines"] = [clean(line, 300) for line in notice.log_lines[-LOG_LINES:]]
    fields["detail"] = {k: clean(v, 1000) if isinstance(v, str) else v for k, v in notice.detail.items()}
    body.update({k: v for k, v in fields.items() if v not in ("", None, (), {}, [])})
    return json.dumps(body, indent=2, ensure_ascii=False, default=list)


def sns_attributes(notice: Notice) -> dict[str, MessageAttributeValueTypeDef]:
    """Message attributes subscribers can filter on."""
    values = {
        "repository": notice.repository,
        "pipeline": notice.pipeline,
        "state": notice.state,
        "severity": notice.severity,
    }
    return {k: {"DataType": "String", "StringValue": clean(v, 256)} for k, v in values.items() if v}
