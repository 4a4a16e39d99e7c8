"""What AWS knows about an execution that its events do not say: commit, author, failing action, log lines.

Every lookup is optional: a fact that cannot be read (gone, not allowed, malformed) is left out and
the message goes out with the rest. Only a transient error is raised, so the invocation is retried.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pipewarden import buildlogs, pipelines, repositories, stacks
from pipewarden.aws import AccessDenied, Clients, Invalid, NotFound, call
from pipewarden.notify_rules import Facts, console_url, telling_lines
from pipewarden.observability import logger

T = TypeVar("T")


def _soft(what: str, read: Callable[[], T], default: T) -> T:
    try:
        return read()
    except (NotFound, AccessDenied, Invalid) as error:
        logger.warning("left out of the message", fact=what, error=str(error))
        return default


def _seconds(value: Any) -> float | None:
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


@dataclass
class Enricher:
    """Reads one pipeline's tags and one execution's story; remembers what it read for this event."""

    clients: Clients
    region: str = ""
    _pipelines: dict[str, pipelines.Pipeline | None] = field(default_factory=dict)

    # -- whose pipeline -------------------------------------------------------------------------------
    def pipeline(self, name: str) -> tuple[Mapping[str, Any], Mapping[str, str]] | None:
        """(declaration, tags) of the pipeline; None when it does not exist (any more)."""
        if name not in self._pipelines:
            try:
                self._pipelines[name] = pipelines.read(self.clients.codepipeline, name)
            except NotFound:
                self._pipelines[name] = None
        found = self._pipelines[name]
        return None if found is None else (found.declaration, found.tags)

    def repository_tags(self, name: str) -> dict[str, str] | None:
        def read() -> dict[str, str]:
            return repositories.read_tags(self.clients.codecommit, name)[1]

        return _soft("repository tags", read, None)

    # -- what happened in an execution ------------------------------------------------------------------
    def facts(self, pipeline: str, execution_id: str, stage: str = "", with_log: bool = True) -> Facts:
        found = self.pipeline(pipeline)
        repository, branch = _source(found[0] if found else {})
        commit_id, commit_message = _soft(
            "revision", lambda: self._revision(pipeline, execution_id), ("", "")
        )
        author = ""
        if repository and commit_id:
            commit: dict[str, Any] = _soft("commit", lambda: self._commit(repository, commit_id), {})
            author = str(commit.get("author", {}).get("name", ""))
            commit_message = str(commit.get("message", "")) or commit_message
        none: list[dict[str, Any]] = []
        actions = _soft("action executions", lambda: self._actions(pipeline, execution_id), none)
        failed = _latest_failure(actions, stage)
        links = [("Execution", console_url(self.region, pipeline, execution_id))] if self.region else []
        log_lines: tuple[str, ...] = ()
        error = ""
        if failed is not None:
            result = failed.get("output", {}).get("executionResult", {})
            error = str(
                result.get("externalExecutionSummary")
                or failed.get("output", {}).get("errorDetails", {}).get("message", "")
            )
            if isinstance(result.get("externalExecutionUrl"), str):
                links.append((str(failed.get("actionName", "Action")), result["externalExecutionUrl"]))
            if failed.get("input", {}).get("actionTypeId", {}).get("provider") == "CloudFormation":
                error = self._stack_failure(failed, error)
            build_id = result.get("externalExecutionId")
            is_build = failed.get("input", {}).get("actionTypeId", {}).get("provider") == "CodeBuild"
            if with_log and is_build and build_id:
                no_log: tuple[str, list[str]] = ("", [])
                deep_link, lines = _soft("build log", lambda: self._build_log(str(build_id)), no_log)
                log_lines = telling_lines(lines)
                if deep_link:
                    links.append(("Build logs", deep_link))
        return Facts(
            repository=repository,
            branch=branch,
            commit_id=commit_id,
            commit_message=commit_message,
            author=author,
            stage=str(failed.get("stageName", "")) if failed else stage,
            action=str(failed.get("actionName", "")) if failed else "",
            error=error,
            log_lines=log_lines,
            links=tuple(links),
            retries=_retries(actions),
            duration_seconds=_duration(actions),
        )

    def _stack_failure(self, failed: Mapping[str, Any], error: str) -> str:
        """A CloudFormation action's failure, naming its stack and, for a stack that rolled back, its
        first failed resource as the stack's events tell it (DescribeStackEvents): CodePipeline's
        summary may give no reason ("Status reason is not available ...", aws/aws-cdk#29534)."""
        stack = str(failed.get("input", {}).get("configuration", {}).get("StackName", ""))
        if not stack:
            return error
        if "Current stack status" in error:
            reason = _soft(
                "stack events", lambda: stacks.first_failure(self.clients.cloudformation, stack), ""
            )
            if reason and reason not in error:
                kept = error.split(" Status reason is not available", 1)[0]
                error = f"{kept} First failed resource: {reason}"
        return f"stack {stack}: {error}"

    def retries(self, pipeline: str, execution_id: str) -> int:
        """Stage retries in the execution; AWS errors are raised (the caller decides)."""
        return _retries(self._actions(pipeline, execution_id))

    def _revision(self, pipeline: str, execution_id: str) -> tuple[str, str]:
        execution = call(
            self.clients.codepipeline.get_pipeline_execution,
            pipelineName=pipeline,
            pipelineExecutionId=execution_id,
        )["pipelineExecution"]
        revisions = execution.get("artifactRevisions") or [{}]
        summary = str(revisions[0].get("revisionSummary", ""))
        try:
            parsed = json.loads(summary)  # CodeCommit's summary is JSON with the commit message
            if isinstance(parsed, Mapping):
                summary = str(parsed.get("CommitMessage", summary))
        except ValueError:
            pass
        return str(revisions[0].get("revisionId", "")), summary

    def _commit(self, repository: str, commit_id: str) -> dict[str, Any]:
        return dict(
            call(self.clients.codecommit.get_commit, repositoryName=repository, commitId=commit_id)["commit"]
        )

    def _actions(self, pipeline: str, execution_id: str) -> list[dict[str, Any]]:
        return [
            dict(a) for a in pipelines.action_executions(self.clients.codepipeline, pipeline, execution_id)
        ]

    def _build_log(self, build_id: str) -> tuple[str, list[str]]:
        build = pipelines.build(self.clients.codebuild, build_id)
        if build is None:
            return "", []
        return build.get("logs", {}).get("deepLink", ""), buildlogs.tail(self.clients.logs, build)


def _source(declaration: Mapping[str, Any]) -> tuple[str, str]:
    """Repository and branch of the pipeline's CodeCommit source action."""
    for stage in declaration.get("stages", []):
        for action in stage.get("actions", []):
            if action.get("actionTypeId", {}).get("provider") == "CodeCommit":
                config = action.get("configuration", {})
                return str(config.get("RepositoryName", "")), str(config.get("BranchName", ""))
    return "", ""


def _latest_failure(actions: list[dict[str, Any]], stage: str) -> dict[str, Any] | None:
    failed = [
        a for a in actions if a.get("status") == "Failed" and (not stage or a.get("stageName") == stage)
    ]
    return max(failed, key=lambda a: _seconds(a.get("startTime")) or 0.0, default=None)


def _retries(actions: list[dict[str, Any]]) -> int:
    """Stage retries in the execution: per stage, the most attempts any of its actions made, minus one."""
    attempts: dict[tuple[str, str], int] = {}
    for action in actions:
        key = (str(action.get("stageName")), str(action.get("actionName")))
        attempts[key] = attempts.get(key, 0) + 1
    per_stage: dict[str, int] = {}
    for (stage, _), count in attempts.items():
        per_stage[stage] = max(per_stage.get(stage, 0), count - 1)
    return sum(per_stage.values())


def _duration(actions: list[dict[str, Any]]) -> float | None:
    starts = [s for s in (_seconds(a.get("startTime")) for a in actions) if s is not None]
    ends = [s for s in (_seconds(a.get("lastUpdateTime")) for a in actions) if s is not None]
    if not starts or not ends:
        return None
    return max(0.0, max(ends) - min(starts))
