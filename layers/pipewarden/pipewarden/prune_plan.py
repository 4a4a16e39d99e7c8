"""Executions + the bucket's listing -> which artifact objects to keep and which to delete (pure)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ACTIVE = frozenset({"InProgress", "Stopping"})
# A stage whose latest execution failed or was stopped can be retried (RetryStageExecution):
# https://docs.aws.amazon.com/codepipeline/latest/userguide/pipelines-stop.html
RETRYABLE = frozenset({"Failed", "Stopped"})
PREFIX_LENGTH = 20  # CodePipeline's artifact keys start with the pipeline name's first 20 characters


@dataclass(frozen=True)
class ExecutionArtifacts:
    """One execution's artifact keys, per stage, from its action records (never guessed)."""

    execution_id: str
    status: str
    stage_keys: Mapping[str, frozenset[str]] = field(default_factory=dict)
    stage_status: Mapping[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> frozenset[str]:
        return frozenset().union(*self.stage_keys.values()) if self.stage_keys else frozenset()


@dataclass(frozen=True)
class PipelineArtifacts:
    """What pruning needs to know of one pipeline; executions newest first."""

    name: str
    keep_executions: int
    executions: tuple[ExecutionArtifacts, ...]
    retryable: frozenset[str] = frozenset()
    # Each stage's latest successful execution as CodePipeline reports it (ListPipelineExecutions'
    # succeededInStage); None: inferred from the executions' action records, newest first.
    latest_success: Mapping[str, str] | None = None

    @property
    def prefix(self) -> str:
        return self.name[:PREFIX_LENGTH]


@dataclass(frozen=True)
class StoredObject:
    """One entry of ListObjectVersions: a version or a delete marker."""

    key: str
    version_id: str
    last_modified: datetime.datetime
    size: int = 0
    is_latest: bool = True
    delete_marker: bool = False


def kept_keys(pipeline: PipelineArtifacts) -> dict[str, str]:
    """The keys this pipeline still needs, each with the reason it is kept; a kept execution's code
    uploads (`code_prefix`) are kept by their prefix."""
    keep = _kept_artifacts(pipeline)
    _keep_code(pipeline, keep)
    return keep


def _kept_artifacts(pipeline: PipelineArtifacts) -> dict[str, str]:
    keep: dict[str, str] = {}

    def add(keys: Iterable[str], why: str) -> None:
        for key in keys:
            keep.setdefault(key, why)

    for index, execution in enumerate(pipeline.executions):
        if index < pipeline.keep_executions:
            add(execution.keys, f"one of the last {pipeline.keep_executions} executions of {pipeline.name}")
        if execution.status in ACTIVE:
            add(execution.keys, f"execution {execution.execution_id} of {pipeline.name} is running")
        if execution.execution_id in pipeline.retryable:
            add(execution.keys, f"execution {execution.execution_id} of {pipeline.name} can still be retried")
    if pipeline.latest_success is not None:
        by_id = {e.execution_id: e for e in pipeline.executions}
        for stage, execution_id in pipeline.latest_success.items():
            if execution_id in by_id:
                add(
                    by_id[execution_id].stage_keys.get(stage, frozenset()),
                    f"latest success of {pipeline.name}/{stage} (rollback)",
                )
        return keep
    rollback_done: set[str] = set()
    for execution in pipeline.executions:
        for stage, status in execution.stage_status.items():
            if status == "Succeeded" and stage not in rollback_done:
                rollback_done.add(stage)
                add(
                    execution.stage_keys.get(stage, frozenset()),
                    f"latest success of {pipeline.name}/{stage} (rollback)",
                )
    return keep


# Where the lambda blueprint's build has `sam package` upload each function's code:
# <prefix>/sam/<execution id>/<md5>. The application stack's template names those objects; CloudFormation
# reads them again when it rolls an update back to the previous code or a retried deploy replaces its
# change set (Lambda itself keeps a copy of the code it runs: docs, "Self-managed S3 code storage").
# So an execution's uploads live as long as the execution's own artifacts are kept.
CODE_DIRECTORY = "sam"


def code_prefix(prefix: str, execution_id: str) -> str:
    """The key prefix of one execution's `sam package` uploads."""
    return f"{prefix}/{CODE_DIRECTORY}/{execution_id}/"


def _code_prefix_of(key: str) -> str:
    parts = key.split("/")
    if len(parts) >= 4 and parts[1] == CODE_DIRECTORY:
        return f"{parts[0]}/{CODE_DIRECTORY}/{parts[2]}/"
    return ""


def _keep_code(pipeline: PipelineArtifacts, keep: dict[str, str]) -> None:
    """Each kept execution's code uploads, for the reason its artifacts are kept."""
    for execution in pipeline.executions:
        why = next((keep[k] for k in sorted(execution.keys) if k in keep), "")
        if why:
            keep.setdefault(code_prefix(pipeline.prefix, execution.execution_id), why)


def keep_set(pipelines: Iterable[PipelineArtifacts]) -> dict[str, str]:
    """Keys any of the pipelines needs: a key under a shared prefix is kept if one of them needs it."""
    keep: dict[str, str] = {}
    for pipeline in pipelines:
        for key, why in kept_keys(pipeline).items():
            keep.setdefault(key, why)
    return keep


def should_delete(
    stored: StoredObject, keep: Mapping[str, str], now: datetime.datetime, grace: datetime.timedelta
) -> bool:
    """Delete what no execution needs once it is older than the grace period.

    Within the grace period nothing is touched (an execution may be writing it right now). After it,
    delete markers and noncurrent versions go, and current versions of keys nobody keeps.
    """
    if now - stored.last_modified < grace:
        return False
    if stored.delete_marker or not stored.is_latest:
        return True
    return stored.key not in keep and _code_prefix_of(stored.key) not in keep


def prefix_of(key: str) -> str:
    return key.split("/", 1)[0]
