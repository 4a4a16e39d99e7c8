"""What must hold after any storm of events and faults, checked against the sandbox's final state.

1. Every enrolled repository has exactly one stack, complete and built from its current tags; a
   repository that is not enrolled (or whose tags are invalid) has none.
2. No orphan: every pipeline, build project and role of the scenario belongs to a live stack.
3. No execution was retried beyond its pipeline's cap.
4. Exactly one notification per reported event: no key twice on SNS, and every decision that its
   pipeline's notify level hears was told.
5. No artifact of a kept or running execution was pruned.
6. IAM refused none of pipewarden's calls (its functions', its CloudFormation role's, its pipelines'),
   and every call could be authorized: a permission missing from a template is a violation.
7. Nothing told that should not be, judged against AWS's record, not pipewarden's: no "retry not
   started" for a retry the stage made (a duplicate's message), every announced retry either made or
   said not to be (no stale promise), and a repository's enrollment problem told once while it
   stands (at most once more per enrollment or unenrollment of that repository).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

from pipewarden import blueprint, naming
from pipewarden.config import ControllerConfig
from pipewarden.contract import PipelineSettings
from pipewarden.notify_rules import InvalidEvent, parse
from pipewarden.reconcile import desired_state
from sandbox.iam.enforce import Recorder
from sandbox.runtime import Sandbox

PREFIX = "pipewarden"
TOLD = ("Stage Retry Scheduled", "Failure Not Retried", "Retries Exhausted")
ROLE_PARTS = ("-BuildRole-", "-PipelineRole-", "-SourceRuleRole-")


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(key, [])]


def check(sandbox: Sandbox, tags: Mapping[str, Mapping[str, str]], iam: bool = True) -> list[str]:
    """Every violation found, as a line each (none: all invariants hold).

    `iam` checks the sandbox's every IAM decision: leave it out on a sandbox shared with tests that
    play attackers on purpose.
    """
    live = {
        stack["StackName"]: stack
        for stack in _pages(sandbox.client("cloudformation"), "describe_stacks", "Stacks")
        if stack["StackName"].startswith("pipewarden-chaos-") and stack["StackStatus"] != "DELETE_COMPLETE"
    }
    violations: list[str] = []
    enrolled = _stacks_match_tags(tags, live, violations)
    names = _no_orphans(sandbox, live, violations)
    _retries_and_artifacts(sandbox, enrolled, names, violations)
    _told_once(sandbox, enrolled, violations)
    _told_rightly(sandbox, violations)
    if iam:
        never_denied(sandbox._server.iam.recorder, violations)
    return violations


def never_denied(recorder: Recorder, violations: list[str]) -> None:
    """6. No call of pipewarden's roles denied (the scenario plays no attacker), none unmapped."""
    denied = Counter(
        f"{role.rsplit('/', 1)[-1]}: {record.action}"
        for role in recorder.roles()
        for record in recorder.decisions(role)
        if not record.allowed
    )
    violations.extend(f"IAM denied {n} time(s): {what}" for what, n in sorted(denied.items()))
    violations.extend(f"IAM could not authorize: {what}" for what in recorder.unmapped())


def _stacks_match_tags(
    tags: Mapping[str, Mapping[str, str]], live: Mapping[str, Any], violations: list[str]
) -> dict[str, Mapping[str, str]]:
    """1. One stack per enrolled repository, from its current tags; none for the others.

    Returns the enrolled repositories' tags by the name of their pipeline.
    """
    config = ControllerConfig.from_env(os.environ)
    enrolled: dict[str, Mapping[str, str]] = {}
    for name, current in tags.items():
        stack_name = naming.stack_name(name)
        desired = desired_state(name, current, config)
        stack = live.get(stack_name)
        if desired.settings is None:
            if stack is not None:
                violations.append(
                    f"{name}: not enrolled ({desired.violation or 'no tag'}) but has {stack_name}"
                )
            continue
        enrolled[naming.pipeline_name(name)] = current
        if stack is None:
            violations.append(f"{name}: enrolled but has no stack")
            continue
        if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            violations.append(f"{name}: stack is {stack['StackStatus']}")
        parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
        wanted = blueprint.parameters(desired.settings, config)
        stale = [k for k in blueprint.TAG_DERIVED if parameters.get(k) != wanted[k]]
        if stale:
            violations.append(f"{name}: stack parameters differ from the tags: {', '.join(stale)}")
    return enrolled


def _no_orphans(sandbox: Sandbox, live: Mapping[str, Any], violations: list[str]) -> set[str]:
    """2. Nothing without a live stack, and no live stack without its pipeline and project.

    A stack's build project and roles carry its name; its pipeline, the repository's pipeline name.
    """
    pipeline_of = {name: naming.pipeline_name(_repository(stack)) for name, stack in live.items()}
    names = {p["name"] for p in _pages(sandbox.client("codepipeline"), "list_pipelines", "pipelines")}
    projects = set(_pages(sandbox.client("codebuild"), "list_projects", "projects"))
    roles = {
        r["RoleName"] for r in _pages(sandbox.client("iam"), "list_roles", "Roles", PathPrefix="/pipewarden/")
    }
    live_pipelines = set(pipeline_of.values())
    for orphan in sorted(n for n in names if "-chaos-" in n and n not in live_pipelines):
        violations.append(f"orphaned pipeline {orphan}")
    for orphan in sorted(n for n in projects if n.startswith("pipewarden-chaos-") and n not in live):
        violations.append(f"orphaned build project {orphan}")
    for role in sorted(r for r in roles if r.startswith("pipewarden-chaos-")):
        owner = next((role.split(part)[0] for part in ROLE_PARTS if part in role), role)
        if owner not in live:
            violations.append(f"orphaned role {role}")
    for stack_name, stack in live.items():
        if stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE") and (
            pipeline_of[stack_name] not in names or stack_name not in projects
        ):
            violations.append(f"{stack_name}: stack without its pipeline or build project (half-built)")
    return names


def _repository(stack: Mapping[str, Any]) -> str:
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    return parameters.get("RepositoryName") or str(stack["StackName"]).removeprefix("pipewarden-")


def _retries_and_artifacts(
    sandbox: Sandbox, enrolled: Mapping[str, Mapping[str, str]], names: set[str], violations: list[str]
) -> None:
    """3. Retries within the cap, and 5. the kept and running executions' artifacts still stored."""
    pipelines = sandbox.client("codepipeline")
    bucket = sandbox.outputs["ArtifactBucketName"]
    stored = {o["Key"] for o in _pages(sandbox.client("s3"), "list_objects_v2", "Contents", Bucket=bucket)}
    for pipeline, current in sorted(enrolled.items()):
        if pipeline not in names:
            continue
        settings = PipelineSettings.from_tags(current, PREFIX)
        cap = settings.max_retries if settings.retries else 0
        keep = settings.keep_executions or 0
        runs = _pages(
            pipelines, "list_pipeline_executions", "pipelineExecutionSummaries", pipelineName=pipeline
        )
        runs.sort(key=lambda r: r["startTime"], reverse=True)
        for index, run in enumerate(runs):
            execution = run["pipelineExecutionId"]
            details = _pages(
                pipelines,
                "list_action_executions",
                "actionExecutionDetails",
                pipelineName=pipeline,
                filter={"pipelineExecutionId": execution},
            )
            attempts = Counter((d["stageName"], d["actionName"]) for d in details)
            worst = max(attempts.values(), default=1) - 1
            if worst > cap:
                violations.append(f"{pipeline} {execution[:8]}: {worst} retries, cap {cap}")
            if index < keep or run["status"] == "InProgress":
                needed = {
                    a["s3location"]["key"]
                    for d in details
                    for a in d["input"]["inputArtifacts"] + d["output"]["outputArtifacts"]
                    if a.get("s3location")
                }
                violations.extend(
                    f"{pipeline} {execution[:8]}: kept artifact {key} deleted"
                    for key in sorted(needed - stored)
                )


def _told_once(sandbox: Sandbox, enrolled: Mapping[str, Mapping[str, str]], violations: list[str]) -> None:
    """4. No key told twice on SNS, and every decision its pipeline's notify level hears was told."""
    messages = [json.loads(m["Message"]) for m in sandbox.sns_messages()]
    keys = Counter(m.get("key") for m in messages if _scenarios(m))
    violations.extend(f"told {n} times: {key}" for key, n in keys.items() if n > 1)
    for event in sandbox.events:
        pipeline = event["detail"].get("pipeline", "")
        if event["detail-type"] not in TOLD or pipeline not in enrolled:
            continue
        if PipelineSettings.from_tags(enrolled[pipeline], PREFIX).notify in (None, "off"):
            continue
        try:
            key = parse(event).key
        except InvalidEvent as error:
            violations.append(f"unreadable event {event['id']}: {error}")
            continue
        if key not in keys:
            violations.append(f"never told: {event['detail-type']} {key}")


def _scenarios(message: Mapping[str, Any]) -> bool:
    """A message about the scenario's repositories (the sandbox may hold other tests' too)."""
    return "-chaos-" in str(message.get("pipeline", "")) or "chaos-" in str(message.get("repository", ""))


def _told_rightly(sandbox: Sandbox, violations: list[str]) -> None:
    """7. Every message about a retry agrees with the stage's action executions; no problem told twice."""
    told = [json.loads(m["Message"]) for m in sandbox.sns_messages()]
    pipelines = sandbox.client("codepipeline")
    retried: dict[tuple[str, str], int] = {}

    def retries(pipeline: str, execution: str, stage: str) -> int | None:
        """How often AWS's record shows the stage retried in the execution (None: pipeline gone)."""
        if (execution, stage) not in retried:
            try:
                details = _pages(
                    pipelines,
                    "list_action_executions",
                    "actionExecutionDetails",
                    pipelineName=pipeline,
                    filter={"pipelineExecutionId": execution},
                )
            except pipelines.exceptions.PipelineNotFoundException:
                return None
            runs = Counter(d["actionName"] for d in details if d["stageName"] == stage)
            retried[(execution, stage)] = max(runs.values(), default=1) - 1
        return retried[(execution, stage)]

    announced: set[tuple[str, str, str, int]] = set()
    closed: set[tuple[str, str, str, int]] = set()
    for message in told:
        detail = message.get("detail") or {}
        pipeline, execution, stage = message.get("pipeline"), detail.get("execution-id"), detail.get("stage")
        attempt = detail.get("attempt")
        if not (_scenarios(message) and execution and stage and attempt):
            continue
        where = (pipeline, execution, stage, attempt)
        if message.get("event") == "Stage Retry Scheduled":
            announced.add(where)
        elif message.get("event") == "Stage Retry Skipped":
            closed.add(where)
            made = retries(*where[:3])
            if made is not None and made >= attempt:
                violations.append(
                    f"told retry {attempt} not started, yet it ran: {pipeline} {execution[:8]} {stage}"
                    f" ({str(detail.get('reason', ''))[:120]})"
                )
    for where in sorted(announced - closed):
        made = retries(*where[:3])
        if made is not None and made < where[3]:
            violations.append(
                f"announced retry {where[3]} never made nor called off: {where[0]} {where[1][:8]}"
            )

    changes = Counter(
        e["detail"].get("repository")
        for e in sandbox.events
        if e["detail-type"] in ("Repository Enrolled", "Repository Unenrolled")
    )
    problems = Counter(
        (m.get("repository"), (m.get("detail") or {}).get("fingerprint"))
        for m in told
        if m.get("event") in ("Repository Enrollment Rejected", "Repository Enrollment Failed")
        and (m.get("detail") or {}).get("fingerprint")
        and _scenarios(m)
    )
    violations.extend(
        f"told {n} times while it stood: {repository} {fingerprint}"
        for (repository, fingerprint), n in sorted(problems.items())
        if n > 1 + changes[repository]
    )
