"""`pipewarden status`: the controller's health first, then the enrolled repositories, their stacks and
pipelines, as aligned tables or JSON."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any

from cli.health import Health, alarm_fix
from pipewarden.blueprint import name_of as blueprint_name
from pipewarden.contract import DEFAULT_BLUEPRINT, PipelineSettings

Clients = Callable[[str], Any]
COLUMNS = (
    "repository",
    "enabled",
    "blueprint",
    "stack_status",
    "pipeline",
    "last_execution",
    "retry",
    "notify",
)


def collect_status(
    clients: Clients, prefix: str, progress: Callable[[int, int, str], None] = lambda *_: None
) -> list[dict[str, Any]]:
    """One row per enrolled repository or pipewarden stack: its tags, stack, pipeline and last execution.

    A call per pipeline reads its last execution: `progress(done, of, step)` is told before each."""
    rows: dict[str, dict[str, Any]] = {}
    tagging = clients("resourcegroupstaggingapi")
    for page in tagging.get_paginator("get_resources").paginate(
        ResourceTypeFilters=["codecommit:repository"],
        TagFilters=[{"Key": f"{prefix}:enabled"}],
        ResourcesPerPage=100,
    ):
        for item in page["ResourceTagMappingList"]:
            name = item["ResourceARN"].split(":", 5)[-1]
            tags = {t["Key"]: t["Value"] for t in item["Tags"]}
            rows[name] = {
                "repository": name,
                "enabled": tags.get(f"{prefix}:enabled", ""),
                "blueprint": tags.get(f"{prefix}:blueprint") or DEFAULT_BLUEPRINT,
                "stack_status": "-",
            }
    cfn = clients("cloudformation")
    for page in cfn.get_paginator("describe_stacks").paginate():
        for stack in page["Stacks"]:
            tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
            if tags.get(f"{prefix}:managed-by") != "pipewarden":
                continue
            name = tags.get(f"{prefix}:repository", stack["StackName"])
            row = rows.setdefault(name, {"repository": name, "enabled": ""})
            # What the stack was built from (the tag may ask for another until it converges).
            # The pipeline's own name (PipelineName): it differs from the stack's once that has 20
            # characters or more (naming.pipeline_name); a stack of an early blueprint has none.
            parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
            row.update(
                stack_status=stack["StackStatus"],
                pipeline=parameters.get("PipelineName") or stack["StackName"],
                blueprint=blueprint_name(tags.get(f"{prefix}:blueprint")),
            )
    settings: dict[str, PipelineSettings] = {}
    for page in tagging.get_paginator("get_resources").paginate(
        ResourceTypeFilters=["codepipeline:pipeline"],
        TagFilters=[{"Key": f"{prefix}:managed-by"}],
        ResourcesPerPage=100,
    ):
        for item in page["ResourceTagMappingList"]:
            tags = {t["Key"]: t["Value"] for t in item["Tags"]}
            settings[item["ResourceARN"].split(":", 5)[-1]] = PipelineSettings.from_tags(tags, prefix)
    pipelines = clients("codepipeline")
    for done, row in enumerate(rows.values()):
        progress(done, len(rows), "last executions")
        row.setdefault("pipeline", "")
        found = settings.get(row["pipeline"])
        row["retry"] = "" if found is None else _retry_column(found)
        row["notify"] = "" if found is None else found.notify or "off"
        row["keep_executions"] = None if found is None else found.keep_executions
        row["last_execution"] = ""
        if (
            row["pipeline"]
            and row["stack_status"].endswith("COMPLETE")
            and "DELETE" not in row["stack_status"]
        ):
            try:
                summaries = pipelines.list_pipeline_executions(pipelineName=row["pipeline"], maxResults=1)
            except pipelines.exceptions.PipelineNotFoundException:
                continue
            runs = summaries.get("pipelineExecutionSummaries", [])
            if runs:
                row["last_execution"] = f"{runs[0]['status']} {runs[0]['pipelineExecutionId'][:8]}"
    progress(len(rows), len(rows), "last executions")
    return sorted(rows.values(), key=lambda r: r["repository"])


def _retry_column(settings: PipelineSettings) -> str:
    if settings.retry_problem:
        return "off (bad tag)"
    if not settings.retries:
        return "off"
    return f"{settings.retry} x{settings.max_retries}"


def print_table(rows: list[dict[str, Any]]) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in COLUMNS}
    print("  ".join(c.upper().ljust(widths[c]) for c in COLUMNS))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in COLUMNS))


# -- health ---------------------------------------------------------------------------------------


def _utc(moment: Any, pattern: str = "%Y-%m-%d %H:%M UTC") -> str:
    if isinstance(moment, datetime.datetime):
        return moment.astimezone(datetime.UTC).strftime(pattern)
    return str(moment or "")


def _iso(moment: Any) -> str | None:
    if isinstance(moment, datetime.datetime):
        return moment.astimezone(datetime.UTC).isoformat()
    return None if moment is None else str(moment)


def health_rows(health: Health, now: datetime.datetime) -> list[tuple[str, str, str]]:
    """(what, state, detail) lines: the stack, alarms in ALARM, each queue, the last resync, and what
    could not be read."""
    stack, rows = health.stack, []
    if health.stack_status is not None:
        rows.append(("stack", health.stack_status, f"{stack} in {health.region}"))
    elif not any(line.startswith("stack:") for line in health.unknown):
        rows.append(("stack", "not found", f"{stack} in {health.region}: queues and alarms found by name"))
    if health.alarms is not None:
        firing = health.firing()
        if not health.alarms:
            rows.append(("alarms", "none", f"no alarm named {stack}-* (OperatorAlarms=off?)"))
        elif not firing:
            rows.append(("alarms", "OK", f"none of {len(health.alarms)} alarms named {stack}-* is in ALARM"))
        for alarm in firing:
            name = str(alarm["AlarmName"])
            fix = alarm_fix(name, stack, health.queue_arn("RetryDeadLetterQueue"))
            since = _utc(alarm.get("StateUpdatedTimestamp"))
            rows.append(("alarm", "ALARM", f"{name}{f' since {since}' if since else ''}: {fix}"))
    for queue in health.queues or []:
        if queue.waiting:
            fix = queue.send_back(stack, health.region)
            rows.append((queue.queue, f"{queue.waiting} waiting", f"{queue.name}: once fixed, {fix}"))
        else:
            rows.append((queue.queue, "empty", queue.name))
    resync = health.resync
    if resync is not None:
        if resync.group is None:
            rows.append(("last resync", "unknown", "the stack has no EnrollFunctionName output"))
        elif not resync.logged:
            rows.append(("last resync", "unknown", f"no log group {resync.group}"))
        elif resync.at is None:
            hours = 3 * resync.period / 3600
            rows.append(
                ("last resync", "LATE", f"none in {hours:g} h (ResyncRate {resync.rate}; {resync.group})")
            )
        else:
            age = f"{(resync.age(now) or 0) / 60:.0f} min ago"
            summary = resync.summary()
            detail = f"{_utc(resync.at, '%Y-%m-%d %H:%M:%S UTC')}{f': {summary}' if summary else ''}"
            if resync.late(now):
                rows.append(("last resync", "LATE", f"{age}, {detail}; later ones are missing"))
            else:
                rows.append(("last resync", age, detail))
    for line in health.unknown:
        what, _, why = line.partition(": ")
        rows.append((what, "unknown", why))
    return rows


def health_line(health: Health) -> str:
    """The one line for a controller of which nothing could be found."""
    failed = [line for line in health.unknown if not line.startswith("last resync:")]
    if failed:
        return f"health of {health.stack} in {health.region} unknown: {'; '.join(failed)}"
    return (
        f"health unknown: no stack {health.stack} in {health.region}, and no queue or alarm named "
        f"{health.stack}-* (--stack-name names the controller stack)"
    )


def print_health(health: Health, now: datetime.datetime) -> None:
    if not health.found():
        print(health_line(health))
        return
    print_aligned(("health", "state", "detail"), health_rows(health, now))


def print_aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell; the last one is not padded."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for i, row in enumerate([header, *rows]):
        cells = [c.upper() if i == 0 else str(c) for c in row]
        print("  ".join([*(c.ljust(w) for c, w in zip(cells, widths, strict=False)), cells[-1]]).rstrip())


def health_json(health: Health, now: datetime.datetime) -> dict[str, Any]:
    """The health part of `status --json object` (README "Operating pipewarden")."""
    alarms = None
    retry_queue = health.queue_arn("RetryDeadLetterQueue")
    if health.alarms is not None:
        alarms = {
            "count": len(health.alarms),
            "in_alarm": [
                {
                    "name": str(a["AlarmName"]),
                    "reason": str(a.get("StateReason", "")),
                    "since": _iso(a.get("StateUpdatedTimestamp")),
                    "fix": alarm_fix(str(a["AlarmName"]), health.stack, retry_queue),
                }
                for a in health.firing()
            ],
        }
    queues = None
    if health.queues is not None:
        queues = [
            {
                "queue": q.queue,
                "name": q.name,
                "url": q.url,
                "waiting": q.waiting,
                "fix": q.send_back(health.stack, health.region) if q.waiting else None,
            }
            for q in health.queues
        ]
    resync = None
    if health.resync is not None:
        r = health.resync
        age = r.age(now)
        resync = {
            "at": _iso(r.at),
            "age_seconds": None if age is None else round(age),
            "late": r.late(now),
            "rate": r.rate,
            "log_group": r.group,
            **{k: r.counts.get(k) for k in ("repositories", "stacks", "errors", "rejected")},
        }
    return {
        "stack": health.stack,
        "region": health.region,
        "stack_status": health.stack_status,
        "alarms": alarms,
        "queues": queues,
        "last_resync": resync,
        "unknown": list(health.unknown),
    }
