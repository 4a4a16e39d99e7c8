"""What must hold after any storm of events and faults, checked against the sandbox's final state.

1. Every enrolled repository has exactly one stack, complete, whose build project and pipeline hold
   its current tags; a repository that is not enrolled has none, and one whose tags are invalid has
   none or the one its earlier valid tags built (a rejected change keeps it).

What should exist is the oracle's (`sandbox/oracle.py`: the README's contract and the workload's
tags), never pipewarden's own reading; AWS's state is read through its API.
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

import contextlib
import functools
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sandbox import oracle
from sandbox.oracle import Expected, Target, Verdict

if TYPE_CHECKING:
    from sandbox.iam.enforce import Recorder
    from sandbox.runtime import Sandbox

TOLD = ("Stage Retry Scheduled", "Failure Not Retried", "Retries Exhausted")
# What makes a retry decision one thing: its execution, stage and attempt (README "What gets told, and when").
DECISION = ("execution-id", "stage", "attempt", "retries-done")
ROLE_PARTS = ("-BuildRole-", "-PipelineRole-", "-SourceRuleRole-")
# The settings the blueprint copies onto the pipeline as tags (README "The tag contract (v1)"; DESIGN.md: "The
# blueprint copies the retry/notify/keep settings onto the pipeline as tags").
PIPELINE_TAGS = ("retry", "max-retries", "notify", "keep-executions")


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(key, [])]


def _action_executions(pipelines: Any, pipeline: str, execution: str) -> list[Any]:
    """Every action execution of one pipeline execution, all pages (AWS's record of its attempts)."""
    return _pages(
        pipelines,
        "list_action_executions",
        "actionExecutionDetails",
        pipelineName=pipeline,
        filter={"pipelineExecutionId": execution},
    )


def check(
    sandbox: Sandbox,
    tags: Mapping[str, Mapping[str, str]],
    iam: bool = True,
    history: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
) -> list[str]:
    """Every violation found, as a line each (none: all invariants hold).

    `tags` are the repositories' current tags, `history` the earlier tag sets the controller settled
    on in turn (a rejected change keeps what an earlier one built). `iam` checks the sandbox's every
    IAM decision: leave it out on a sandbox shared with tests that play attackers on purpose.
    """
    live = {
        stack["StackName"]: stack
        for stack in _pages(sandbox.client("cloudformation"), "describe_stacks", "Stacks")
        if stack["StackName"].startswith("pipewarden-chaos-") and stack["StackStatus"] != "DELETE_COMPLETE"
    }
    expected = expectations(sandbox, tags, history or {})
    names = {p["name"] for p in _pages(sandbox.client("codepipeline"), "list_pipelines", "pipelines")}
    violations: list[str] = []
    enrolled = _stacks_match_tags(sandbox, expected, live, names, violations)
    _no_orphans(sandbox, live, names, violations)
    _retries_and_artifacts(sandbox, enrolled, names, violations)
    _told_once(sandbox, enrolled, violations)
    _told_rightly(sandbox, violations)
    if iam:
        never_denied(sandbox._server.iam.recorder, violations)
    return violations


def expectations(
    sandbox: Sandbox,
    tags: Mapping[str, Mapping[str, str]],
    history: Mapping[str, Sequence[Mapping[str, str]]],
) -> dict[str, Expected]:
    """What should stand for each repository, by the documents, after its tag sets in turn."""
    prefix = sandbox.parameters.get("TagPrefix", oracle.PREFIX)
    allowed = oracle.allow_list(sandbox.parameters.get("AllowedEcsTargets", ""))
    targets = functools.cache(functools.partial(read_target, sandbox, prefix))
    return {
        name: oracle.settled(
            [oracle.expect(name, t, targets, allowed, prefix) for t in [*history.get(name, ()), current]]
        )
        for name, current in tags.items()
    }


def read_target(sandbox: Sandbox, prefix: str, cluster: str, service: str) -> Target:
    """What AWS holds about an ECS service: its owner tag and its task definition's role paths."""
    ecs = sandbox.client("ecs")
    try:
        found = ecs.describe_services(cluster=cluster, services=[service], include=["TAGS"])["services"]
    except ecs.exceptions.ClusterNotFoundException:
        return Target(exists=False)
    live = [s for s in found if s.get("status") == "ACTIVE"]
    if not live:
        return Target(exists=False)
    owner = next((t["value"] for t in live[0].get("tags", []) if t["key"] == f"{prefix}:repository"), None)
    definition = ecs.describe_task_definition(taskDefinition=live[0]["taskDefinition"])["taskDefinition"]
    roles = [definition.get(k) for k in ("taskRoleArn", "executionRoleArn") if definition.get(k)]
    return Target(exists=True, owner=owner, role_paths=tuple(oracle.role_path(arn) for arn in roles))


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
    sandbox: Sandbox,
    expected: Mapping[str, Expected],
    live: Mapping[str, Any],
    names: set[str],
    violations: list[str],
) -> dict[str, Expected]:
    """1. One stack per enrolled repository, from its current tags; none for the others.

    Returns what the enrolled repositories should have, by the name of their pipeline.
    """
    enrolled: dict[str, Expected] = {}
    for name, wanted in expected.items():
        if wanted.verdict is Verdict.UNDETERMINED:
            continue  # the documents do not say what the tags ask for: no claim
        stack_name = oracle.stack_name(name)
        stack = live.get(stack_name)
        if wanted.verdict is not Verdict.ENROLLED:
            if stack is not None:
                violations.append(f"{name}: not enrolled ({wanted.reason}) but has {stack_name}")
            continue
        if stack is None:
            violations.append(f"{name}: enrolled but has no stack")
            continue
        if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            violations.append(f"{name}: stack is {stack['StackStatus']}")
        pipelines = oracle.pipeline_of(name, names)
        if len(pipelines) > 1:
            violations.append(f"{name}: {len(pipelines)} pipelines: {', '.join(sorted(pipelines))}")
        if pipelines:  # else a stack without its pipeline: half-built (2.)
            enrolled[pipelines[0]] = wanted
        stale = _differences(sandbox, name, stack_name, next(iter(pipelines), None), wanted)
        if stale:
            violations.append(f"{name}: stack's resources differ from the tags: {', '.join(stale)}")
    return enrolled


def _differences(
    sandbox: Sandbox, repository: str, stack_name: str, pipeline: str | None, wanted: Expected
) -> list[str]:
    """The contract keys whose value AWS's resources do not hold: the build project's compute type,
    the pipeline's source, deploy target and tags."""
    assert wanted.settings is not None
    settings = wanted.settings
    have: dict[str, str | None] = {}
    projects = sandbox.client("codebuild").batch_get_projects(names=[stack_name])["projects"]
    if projects:
        have["compute"] = projects[0]["environment"]["computeType"]
    codepipeline = sandbox.client("codepipeline")
    found = None
    with contextlib.suppress(codepipeline.exceptions.PipelineNotFoundException):
        found = pipeline and codepipeline.get_pipeline(name=pipeline)
    if found:
        actions = [a for stage in found["pipeline"]["stages"] for a in stage["actions"]]
        source = _action(actions, "Source", "CodeCommit")
        deploy = _action(actions, "Deploy", "ECS")
        have["repository"] = source.get("RepositoryName")
        have["branch"] = source.get("BranchName")
        have["ecs-cluster"] = deploy.get("ClusterName")
        have["ecs-service"] = deploy.get("ServiceName")
        arn = found["metadata"]["pipelineArn"]
        tags = {t["key"]: t["value"] for t in codepipeline.list_tags_for_resource(resourceArn=arn)["tags"]}
        prefix = sandbox.parameters.get("TagPrefix", oracle.PREFIX)
        have.update({key: tags.get(f"{prefix}:{key}") for key in PIPELINE_TAGS})
    want = {
        **{key: settings[key] for key in (*PIPELINE_TAGS, "branch", "ecs-cluster", "ecs-service")},
        "compute": oracle.COMPUTE_TYPES[settings["compute"]],
        "repository": repository,
    }
    return [key for key, value in want.items() if key in have and have[key] != value]


def _action(actions: list[Any], category: str, provider: str) -> dict[str, str]:
    """The configuration of the pipeline's action of that kind (CodePipeline's action reference:
    https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-CodeCommit.html,
    https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-ECS.html)."""
    for action in actions:
        kind = action["actionTypeId"]
        if kind["category"] == category and kind["provider"] == provider:
            return dict(action.get("configuration", {}))
    return {}


def _no_orphans(sandbox: Sandbox, live: Mapping[str, Any], names: set[str], violations: list[str]) -> None:
    """2. Nothing without a live stack, no live stack without its pipeline and project, and no two
    pipelines sharing an artifact prefix.

    A stack is `pipewarden-<repository>` and its build project has its name (README "Known limitations"); its
    roles carry its name (CloudFormation names them `<stack>-<logical id>-<random>`:
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-name.html); its
    pipeline has the name the README gives the repository's pipeline (oracle.is_pipeline_of).
    """
    projects = set(_pages(sandbox.client("codebuild"), "list_projects", "projects"))
    roles = {
        r["RoleName"] for r in _pages(sandbox.client("iam"), "list_roles", "Roles", PathPrefix="/pipewarden/")
    }
    scenario = sorted(n for n in names if "-chaos-" in n)
    pipeline_of = {
        stack: oracle.pipeline_of(stack.removeprefix(oracle.STACK_PREFIX), scenario) for stack in live
    }
    owned = {p for pipelines in pipeline_of.values() for p in pipelines}
    violations.extend(f"orphaned pipeline {orphan}" for orphan in scenario if orphan not in owned)
    for orphan in sorted(n for n in projects if n.startswith("pipewarden-chaos-") and n not in live):
        violations.append(f"orphaned build project {orphan}")
    for role in sorted(r for r in roles if r.startswith("pipewarden-chaos-")):
        owner = next((role.split(part)[0] for part in ROLE_PARTS if part in role), role)
        if owner not in live:
            violations.append(f"orphaned role {role}")
    for stack_name, stack in live.items():
        if stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE") and (
            not pipeline_of[stack_name] or stack_name not in projects
        ):
            violations.append(f"{stack_name}: stack without its pipeline or build project (half-built)")
    # README "Security model": each pipeline's first 20 characters are its own.
    shared = Counter(name[: oracle.ARTIFACT_PREFIX_LENGTH] for name in scenario)
    violations.extend(
        f"{n} pipelines share the artifact prefix {p}" for p, n in sorted(shared.items()) if n > 1
    )


def _retries_and_artifacts(
    sandbox: Sandbox, enrolled: Mapping[str, Expected], names: set[str], violations: list[str]
) -> None:
    """3. Retries within the cap, and 5. the kept and running executions' artifacts still stored."""
    pipelines = sandbox.client("codepipeline")
    bucket = sandbox.outputs["ArtifactBucketName"]
    stored = {o["Key"] for o in _pages(sandbox.client("s3"), "list_objects_v2", "Contents", Bucket=bucket)}
    for pipeline, wanted in sorted(enrolled.items()):
        if pipeline not in names or wanted.settings is None:
            continue
        cap = wanted.retry_cap
        keep = int(wanted.settings["keep-executions"])
        runs = _pages(
            pipelines, "list_pipeline_executions", "pipelineExecutionSummaries", pipelineName=pipeline
        )
        runs.sort(key=lambda r: r["startTime"], reverse=True)
        for index, run in enumerate(runs):
            execution = run["pipelineExecutionId"]
            details = _action_executions(pipelines, pipeline, execution)
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


def _decision(kind: object, pipeline: object, detail: Mapping[str, Any]) -> tuple[Any, ...]:
    """What names one retry decision: its kind, pipeline, execution, stage and attempt."""
    return (kind, pipeline, *(detail.get(k) for k in DECISION))


def _told_once(sandbox: Sandbox, enrolled: Mapping[str, Expected], violations: list[str]) -> None:
    """4. No key told twice on SNS, no decision told twice, and every decision its pipeline's
    notify level hears was told (README "What gets told, and when": at `failures` and `all`, each
    decision)."""
    messages = [json.loads(m["Message"]) for m in sandbox.sns_messages()]
    keys = Counter(m.get("key") for m in messages if _scenarios(m))
    violations.extend(f"told {n} times: {key}" for key, n in keys.items() if n > 1)
    told = Counter(
        _decision(m.get("event"), m.get("pipeline"), m.get("detail") or {})
        for m in messages
        if m.get("event") in TOLD and _scenarios(m)
    )
    violations.extend(
        f"decision told {n} times: {' '.join(str(part) for part in where if part is not None)}"
        for where, n in told.items()
        if n > 1
    )
    for event in sandbox.events:
        pipeline = event["detail"].get("pipeline", "")
        if event["detail-type"] not in TOLD or pipeline not in enrolled:
            continue
        settings = enrolled[pipeline].settings
        if settings is None or settings["notify"] == "off":
            continue
        if _decision(event["detail-type"], pipeline, event["detail"]) not in told:
            execution = str(event["detail"].get("execution-id", ""))
            violations.append(f"never told: {event['detail-type']} {pipeline} {execution[:8]}")


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
                details = _action_executions(pipelines, pipeline, execution)
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
