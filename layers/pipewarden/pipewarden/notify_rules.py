"""Which events are worth a message, for whom, and what the message says. Pure: no AWS calls.

The notifier hears CodePipeline's execution events and pipewarden's own. A pipeline's
`<prefix>:notify` tag picks how much it hears: `failures` (something needs a person),
`all` (every outcome) or `off`. A failure pipewarden is retrying is told by the retry
function's decision events, not by CodePipeline's FAILED, so a reader sees "retrying" and then
"recovered" or "gave up", never a final failure in between.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipewarden import alarms, emit, prune, retry, retry_policy
from pipewarden.contract import NOTIFY_MODES, SLACK_CHANNEL, PipelineSettings
from pipewarden.envelope import Envelope, InvalidEvent, shown
from pipewarden.messages import Notice, Severity, Story
from pipewarden.pipeline_events import ENDED, EXECUTION_CHANGE, execution_change, execution_id, name

PIPELINE_EXECUTION = EXECUTION_CHANGE
FAILURES, ALL = "failures", "all"
_RANK = {"off": 0, FAILURES: 1, ALL: 2}

# pipewarden's events the notifier reports, and the least notify level that hears each.
PIPEWARDEN_KINDS: dict[str, str] = {
    emit.ENROLLED: ALL,
    emit.ENROLLMENT_FAILED: FAILURES,
    emit.ENROLLMENT_REJECTED: FAILURES,
    emit.UNENROLLED: ALL,
    retry_policy.SCHEDULED: FAILURES,
    retry.STARTED: ALL,
    retry_policy.EXHAUSTED: FAILURES,
    retry_policy.NOT_RETRIED: FAILURES,
    retry_policy.SKIPPED: FAILURES,
    prune.PRUNED: ALL,
}
_FINGERPRINT = re.compile(r"^[0-9a-f]{8,64}$")
# The retry function's decisions: one per stage failure and attempt, however often it was asked.
_DECISIONS = (retry_policy.SCHEDULED, retry.STARTED, retry_policy.EXHAUSTED, retry_policy.NOT_RETRIED)


@dataclass(frozen=True)
class Happening:
    """One event that may deserve a message. `key` is what makes a second delivery a duplicate."""

    key: str
    kind: str
    source: str
    detail: Mapping[str, Any]
    region: str = ""
    account: str = ""
    time: str = ""
    # What the idempotency record is keyed on: `key`, except for a standing problem, which is told
    # once while it stands (pipewarden.standing), so each event about it is looked at.
    once: str = ""

    def text(self, name: str) -> str:
        value = self.detail.get(name, "")
        return value if isinstance(value, str) else ""

    @property
    def pipeline(self) -> str:
        if self.kind == prune.PRUNED:  # a prune run names its pipeline as its scope
            scope = self.text("scope")
            return "" if scope == "all" else scope
        return self.text("pipeline")

    @property
    def execution_id(self) -> str:
        return self.text("execution-id")


@dataclass(frozen=True)
class Audience:
    """Who hears about a pipeline: its notify level, its Slack channel, whether pipewarden retries it."""

    level: str = FAILURES
    slack_channel: str = ""
    retrying: bool = False

    def hears(self, importance: str | None) -> bool:
        return importance is not None and _RANK[self.level] >= _RANK[importance]


def _read_own(kind: str, detail: Mapping[str, Any]) -> None:
    """Check the names one of pipewarden's own events carries (the notifier quotes them, links them)."""
    for key in ("pipeline", "scope", "stage"):
        if detail.get(key) not in (None, "", "all"):
            name(detail, key)
    if detail.get("execution-id") is not None:
        execution_id(detail)
    named = ("pipeline", "repository", "bucket")
    if not any(isinstance(detail.get(k), str) and detail.get(k) for k in named):
        raise InvalidEvent(f"{kind} event names no pipeline, repository or bucket")


def parse(event: Any) -> Happening:
    """The event's dedupe key, kind and detail; `InvalidEvent` for anything else."""
    envelope = Envelope.of(event)
    event_id = envelope.event_id()
    detail = envelope.detail()
    source, kind = envelope.kind()
    region, account = str(event.get("region", "")), str(event.get("account", ""))
    if source == "aws.codepipeline" and kind == PIPELINE_EXECUTION:
        execution_change(detail, with_execution=True)
    elif source == alarms.SOURCE and kind == alarms.STATE_CHANGE:
        change = alarms.read(detail, region, account)
        # CloudWatch may send a change twice (with two ids): the alarm and its state's time are the change.
        key = f"alarm:{change.alarm}:{change.state}:{change.changed_at or event_id}"
        return Happening(key, kind, source, detail, region, account, str(event.get("time", "")), key)
    elif source == emit.SOURCE and kind == alarms.RESYNC_COMPLETED:
        pass  # a heartbeat (its rule's invocations are counted by the resync alarm): read no further
    elif source == emit.SOURCE and kind in PIPEWARDEN_KINDS:
        _read_own(kind, detail)
    else:
        raise InvalidEvent(f"not an event the notifier reports: {shown(source)} / {shown(kind)}")
    key = event_id
    fingerprint = detail.get("fingerprint")
    if kind == emit.ENROLLMENT_REJECTED and isinstance(fingerprint, str) and _FINGERPRINT.match(fingerprint):
        # The same bad tag arrives once per trigger that saw it; the fingerprint names the tag change.
        key = f"rejected:{fingerprint}"
    elif kind == emit.ENROLLMENT_FAILED and problem(detail, kind):
        key = f"failed:{fingerprint}"  # an AWS error that stopped the reconcile, met again and again
    elif kind in _DECISIONS and detail.get("execution-id") and detail.get("stage"):
        # A duplicated FAILED event makes the retry function decide twice; the decision is one thing.
        step = detail.get("attempt", detail.get("retries-done", 0))
        key = f"{kind}:{detail['execution-id']}:{detail['stage']}:{step if isinstance(step, int) else 0}"
    return Happening(
        key=key,
        once=event_id if standing(detail, kind) else key,
        kind=kind,
        source=source,
        detail=detail,
        region=region,
        account=account,
        time=str(event.get("time", "")),
    )


def problem(detail: Mapping[str, Any], kind: str) -> str:
    """The fingerprint of an enrollment problem ('' for other events): a rejected tag, or an AWS
    error that stopped the reconcile before any stack operation."""
    fingerprint = detail.get("fingerprint")
    if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
        return ""
    if kind == emit.ENROLLMENT_REJECTED or (
        kind == emit.ENROLLMENT_FAILED and detail.get("status") == "NOT_STARTED"
    ):
        return fingerprint
    return ""


def standing(detail: Mapping[str, Any], kind: str) -> str:
    """The fingerprint of a problem the scheduled resync met again ('' otherwise): told only if it
    differs from the one last told for the repository (pipewarden.standing). A problem a tag change
    shows is news, told once per change (its key is the fingerprint)."""
    return problem(detail, kind) if detail.get("standing") is True else ""


def audience(tags: Mapping[str, str], prefix: str) -> Audience | None:
    """The audience a pipeline's (or repository's) tags ask for; None if it never opted in."""
    settings = PipelineSettings.from_tags(tags, prefix)
    if settings.notify is None:
        return None
    return Audience(level=settings.notify, slack_channel=settings.slack_channel, retrying=settings.retries)


def audience_from_detail(detail: Mapping[str, Any]) -> Audience | None:
    """Enrollment outcomes carry the stack's notify settings (its pipeline may be gone already)."""
    level = detail.get("notify")
    if level is None and isinstance(detail.get("settings"), Mapping):
        level = detail["settings"].get("notify")
    if not isinstance(level, str) or level not in NOTIFY_MODES:
        return None
    channel = detail.get("slack-channel", "")
    return Audience(
        level=level,
        slack_channel=channel if isinstance(channel, str) and SLACK_CHANNEL.match(channel) else "",
    )


def importance(happening: Happening, audience: Audience, retries: int = 0) -> str | None:
    """The least notify level that hears this event (None: nobody). `retries`: stage retries so far."""
    kind, detail = happening.kind, happening.detail
    if kind == alarms.STATE_CHANGE:
        return FAILURES if alarm_change(happening).worth_telling() else None
    if kind == alarms.RESYNC_COMPLETED:
        return None
    if kind == PIPELINE_EXECUTION:
        state = happening.text("state")
        if state == "FAILED":
            return None if audience.retrying else FAILURES
        if state == "SUCCEEDED":
            return FAILURES if retries else ALL
        return ALL if state in ENDED else None
    if kind == retry_policy.SKIPPED:
        # Only a retry that was announced and then could not start closes a story a reader saw begin.
        return FAILURES if detail.get("attempt") else None
    if kind == prune.PRUNED:
        if detail.get("errors") or detail.get("complete") is False:
            return FAILURES
        deleted = detail.get("objects-deleted")
        return ALL if isinstance(deleted, int) and deleted > 0 and not detail.get("dry-run") else None
    return PIPEWARDEN_KINDS.get(kind)


@dataclass(frozen=True, kw_only=True)
class Facts(Story):
    """What AWS says about an execution (everything optional: a message goes out with what is known)."""

    error: str = ""
    retries: int = 0


def _plural(count: int, word: str) -> str:
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("y") else f"{count} {word}s"


def _wait(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "shortly"
    return f"{round(seconds / 60)} min" if seconds >= 90 else f"{int(seconds)} s"


def _failed_where(facts: Facts, happening: Happening) -> str:
    where = "/".join(p for p in (facts.stage or happening.text("stage"), facts.action) if p)
    error = facts.error or "no error summary"
    return f"{where} failed: {error}" if where else error


def compose(happening: Happening, facts: Facts) -> Notice:
    """The message for one event."""
    kind, detail = happening.kind, happening.detail
    if kind == alarms.STATE_CHANGE:
        return _alarm_notice(happening)
    title, severity, summary, decision = _wording(kind, happening, facts)
    state = happening.text("state") if kind == PIPELINE_EXECUTION else kind
    return Notice(
        title=title,
        severity=severity,
        summary=summary,
        event=kind,
        repository=facts.repository or happening.text("repository"),
        # A rejected repository may have no pipeline: the name would point nowhere.
        pipeline="" if kind == emit.ENROLLMENT_REJECTED else happening.pipeline,
        execution_id=happening.execution_id,
        state=state,
        branch=facts.branch,
        commit_id=facts.commit_id,
        commit_message=facts.commit_message,
        author=facts.author,
        stage=facts.stage or happening.text("stage"),
        action=facts.action,
        decision=decision,
        duration_seconds=facts.duration_seconds,
        log_lines=(facts.log_lines or _stopped_reasons(detail)) if severity != "info" else (),
        links=facts.links or _pipeline_link(happening),
        key=happening.key,
        detail={k: v for k, v in detail.items() if isinstance(v, str | int | float | bool)},
    )


def alarm_change(happening: Happening) -> alarms.AlarmChange:
    """The alarm state change a `CloudWatch Alarm State Change` happening tells."""
    return alarms.read(happening.detail, happening.region, happening.account)


def _alarm_notice(happening: Happening) -> Notice:
    """An alarm of pipewarden's own: what is wrong, how many wait, the command that fixes it; or resolved."""
    change = alarm_change(happening)
    title, summary, fix = alarms.wording(change)
    facts: dict[str, str | int] = {
        "alarm": change.alarm,
        "state": change.state,
        "previous-state": change.previous,
    }
    if change.waiting is not None:
        facts["waiting"] = change.waiting
    if change.queue:
        facts["queue"] = change.queue
    if fix:
        facts["fix"] = fix
    links = (("Alarm", change.console_url()),) if change.region else ()
    return Notice(
        title=title,
        severity="error" if change.state == "ALARM" else "info",
        summary=summary,
        event=happening.kind,
        state=change.state,
        decision=fix,
        links=links,
        key=happening.key,
        detail=facts,
    )


def _stopped_reasons(detail: Mapping[str, Any]) -> tuple[str, ...]:
    """An ECS deploy has no build log: the retry function's decision carries why its tasks stopped."""
    evidence = detail.get("evidence")
    reasons = evidence.get("stopped-reasons") if isinstance(evidence, Mapping) else None
    if not isinstance(reasons, list):
        return ()
    return tuple(str(reason) for reason in reasons[:5] if isinstance(reason, str))


def _wording(kind: str, happening: Happening, facts: Facts) -> tuple[str, Severity, str, str]:
    """(title, severity, summary, what pipewarden decided)."""
    detail, reason = happening.detail, happening.text("reason")
    attempt, cap = detail.get("attempt"), detail.get("max-retries")
    if kind == PIPELINE_EXECUTION:
        state = happening.text("state")
        if state == "FAILED":
            return "Pipeline failed", "error", _failed_where(facts, happening), "not retried: retries are off"
        if state == "SUCCEEDED" and facts.retries:
            return (
                f"Pipeline recovered after {_plural(facts.retries, 'retry')}",
                "info",
                "The execution succeeded after its failed stage was retried.",
                f"retried {_plural(facts.retries, 'time')}; no action needed",
            )
        if state == "SUCCEEDED":
            return "Pipeline succeeded", "info", "The execution succeeded.", ""
        return f"Pipeline execution {state.lower()}", "warning", f"The execution ended {state}.", ""
    if kind == retry_policy.SCHEDULED:
        return (
            "Pipeline failed, retrying",
            "warning",
            _failed_where(facts, happening),
            f"retrying in {_wait(detail.get('delay-seconds'))}, attempt {attempt} of {cap} "
            f"({happening.text('classification') or 'transient'} failure)",
        )
    if kind == retry.STARTED:
        return "Retry started", "info", reason or f"attempt {attempt} started", ""
    if kind == retry_policy.EXHAUSTED:
        done = detail.get("retries-done")
        return (
            f"Pipeline failed, gave up after {_plural(done if isinstance(done, int) else 0, 'retry')}",
            "error",
            _failed_where(facts, happening),
            reason,
        )
    if kind == retry_policy.NOT_RETRIED:
        return "Pipeline failed, not retried", "error", _failed_where(facts, happening), reason
    if kind == retry_policy.SKIPPED:
        return (
            "Retry not started",
            "warning",
            _failed_where(facts, happening),
            f"retry {attempt} skipped: {reason}",
        )
    if kind == emit.ENROLLED and happening.text("status") == "UPDATE_COMPLETE":
        return (
            "Pipeline updated",
            "info",
            f"{happening.pipeline} of {happening.text('repository')} matches the repository's tags again.",
            "",
        )
    if kind == emit.ENROLLED:
        return (
            "Repository enrolled",
            "info",
            f"{happening.text('repository')} has its pipeline {happening.pipeline}.",
            "",
        )
    if kind == emit.ENROLLMENT_FAILED:
        return (
            "Enrollment failed",
            "error",
            reason or "the pipeline stack failed",
            "the next tag change or resync tries again",
        )
    if kind == emit.ENROLLMENT_REJECTED:
        return "Enrollment tags rejected", "error", reason, "fix the tag; nothing was changed"
    if kind == emit.UNENROLLED:
        return (
            "Repository unenrolled",
            "info",
            f"{happening.text('repository')}: pipeline {happening.pipeline} and its roles were removed.",
            "",
        )
    if kind == prune.PRUNED:
        return _pruned(detail)
    return kind, "info", reason, ""


def _pruned(detail: Mapping[str, Any]) -> tuple[str, Severity, str, str]:
    def number(name: str) -> int:
        value = detail.get(name)
        return value if isinstance(value, int) else 0

    mib = number("bytes-deleted") / 2**20
    summary = (
        f"{_plural(number('objects-deleted'), 'object')} ({mib:.1f} MiB) deleted, "
        f"{_plural(number('objects-kept'), 'object')} kept in {detail.get('bucket', '?')}"
        f" (scope {detail.get('scope', 'all')})."
    )
    errors = detail.get("errors")
    if errors or detail.get("complete") is False:
        first = errors[0] if isinstance(errors, list) and errors else "the run stopped early"
        return "Artifact pruning incomplete", "warning", summary, f"the next run continues: {first}"
    return "Artifacts pruned", "info", summary, ""


def _pipeline_link(happening: Happening) -> tuple[tuple[str, str], ...]:
    """A link to the pipeline, unless there may be none (rejected, removed)."""
    gone = happening.kind in (emit.ENROLLMENT_REJECTED, emit.UNENROLLED, emit.ENROLLMENT_FAILED)
    if gone or not happening.pipeline or not happening.region:
        return ()
    return (("Pipeline", console_url(happening.region, happening.pipeline)),)


def console_url(region: str, pipeline: str, execution_id: str = "") -> str:
    base = f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{pipeline}"
    if execution_id:
        return f"{base}/executions/{execution_id}/timeline?region={region}"
    return f"{base}/view?region={region}"


_TELLING = re.compile(
    r"error|fail|denied|exception|toomanyrequests|timed? ?out|refused|reset|not found|exit status", re.I
)


def telling_lines(lines: list[str], count: int = 8) -> tuple[str, ...]:
    """The few log lines that show a failure: the last ones that say so, else the log's end."""
    telling = [line for line in lines if _TELLING.search(line) and "State: SUCCEEDED" not in line]
    return tuple((telling or lines)[-count:])
