"""`pipewarden status`: the enrolled repositories, their stacks and pipelines, as a table or JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def collect_status(clients: Clients, prefix: str) -> list[dict[str, Any]]:
    """One row per enrolled repository or pipewarden stack: its tags, stack, pipeline and last execution."""
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
    for row in rows.values():
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
