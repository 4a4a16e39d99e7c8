"""CodePipeline: executions that really run (stages, actions, retries), and pipelines in the tagging API.

moto 5.2.5 marks every execution Succeeded at once and lacks GetPipelineState, ListActionExecutions
and RetryStageExecution. Here an execution is a record the sandbox's simulator (sandbox/executions.py)
advances stage by stage; these operations read and change it with AWS's semantics and errors.
ListActionExecutions and ListPipelineExecutions answer AWS's pages (moto's ListPipelineExecutions
never returns a nextToken), with tokens sealed by sandbox.moto_ext.paging.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.codepipeline import models as cp_models
from moto.codepipeline import responses as cp_responses
from moto.codepipeline.exceptions import PipelineNotFoundException
from moto.core.exceptions import JsonRESTError
from moto.core.resource_tagging import TaggableResourcesMixin, TaggedResource

from sandbox.moto_ext import paging
from sandbox.moto_ext.urls import ServedLikeMoto

# The simulator registers itself here: called with (backend, execution, first stage) to run it.
runner: Callable[[Any, Execution, int], None] | None = None


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class ActionRun:
    """One attempt of one action, as ListActionExecutions reports it."""

    stage: str
    action: str
    action_type: dict[str, str]
    configuration: dict[str, Any]
    input_artifacts: list[dict[str, Any]]
    status: str = "InProgress"
    output_artifacts: list[dict[str, Any]] = field(default_factory=list)
    external_id: str = ""
    summary: str = ""
    error: dict[str, str] | None = None
    started: datetime.datetime = field(default_factory=now)
    updated: datetime.datetime = field(default_factory=now)
    action_execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class StageRun:
    name: str
    status: str = "InProgress"
    native_retries: int = 0


class Execution(cp_models.PipelineExecution):
    """moto's execution record plus the progress the simulator makes."""

    def __init__(
        self, pipeline_name: str, pipeline_version: int, trigger: dict[str, str], revision: dict[str, Any]
    ):
        super().__init__(pipeline_name, pipeline_version, None)
        self.status = "InProgress"
        self.trigger = trigger
        self.revision = revision
        self.stages: dict[str, StageRun] = {}
        self.actions: list[ActionRun] = []
        self.artifacts: dict[str, dict[str, str]] = {}  # artifact name -> s3location
        self.attempt = 1
        self.retry_mode = "FAILED_ACTIONS"

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["trigger"] = self.trigger
        out["executionMode"] = "SUPERSEDED"
        out["artifactRevisions"] = [self.revision] if self.revision else []
        return out

    def to_summary_dict(self) -> dict[str, Any]:
        out = super().to_summary_dict()
        out["trigger"] = self.trigger
        out["lastUpdateTime"] = self.last_update_time.isoformat()
        out["executionMode"] = "SUPERSEDED"
        return out


class CodePipelineBackend(ServedLikeMoto, cp_models.CodePipelineBackend, TaggableResourcesMixin):
    SERVICE_NAMESPACE = "codepipeline"

    def iter_tagged_resources(self) -> Any:
        for pipeline in self.pipelines.values():
            yield TaggedResource(
                arn=pipeline.metadata["pipelineArn"],
                tags=dict(pipeline.tags),
                resource_type="codepipeline:pipeline",
            )

    def _pipeline(self, name: str) -> Any:
        pipeline = self.pipelines.get(name)
        if pipeline is None:
            raise PipelineNotFoundException(
                f"Account '{self.account_id}' does not have a pipeline with name '{name}'"
            )
        return pipeline

    def start_pipeline_execution(
        self,
        name: str,
        variables: list[dict[str, str]] | None,
        trigger: dict[str, str] | None = None,
        revision: dict[str, Any] | None = None,
    ) -> str:
        pipeline = self._pipeline(name)
        execution = Execution(
            name,
            pipeline.pipeline["version"],
            trigger
            or {
                "triggerType": "StartPipelineExecution",
                "triggerDetail": f"arn:aws:iam::{self.account_id}:user/sandbox",
            },
            revision or {},
        )
        pipeline.executions[execution.pipeline_execution_id] = execution
        if runner is not None:
            runner(self, execution, 0)
        return execution.pipeline_execution_id

    def get_pipeline_state(self, name: str) -> dict[str, Any]:
        pipeline = self._pipeline(name)
        executions = list(pipeline.executions.values())
        states = []
        for stage in pipeline.pipeline["stages"]:
            latest = next(
                (e for e in reversed(executions) if stage["name"] in getattr(e, "stages", {})), None
            )
            state: dict[str, Any] = {"stageName": stage["name"], "inboundTransitionState": {"enabled": True}}
            actions = []
            for action in stage["actions"]:
                runs = (
                    [a for a in latest.actions if a.stage == stage["name"] and a.action == action["name"]]
                    if latest
                    else []
                )
                entry: dict[str, Any] = {"actionName": action["name"]}
                if runs:
                    entry["latestExecution"] = _action_state(runs[-1])
                actions.append(entry)
            state["actionStates"] = actions
            if latest is not None:
                state["latestExecution"] = {
                    "pipelineExecutionId": latest.pipeline_execution_id,
                    "status": latest.stages[stage["name"]].status,
                }
            states.append(state)
        return {
            "pipelineName": name,
            "pipelineVersion": pipeline.pipeline["version"],
            "stageStates": states,
            "created": pipeline.metadata["created"],
            "updated": pipeline.metadata["updated"],
        }

    def succeeded_in_stage(self, name: str, stage: str) -> set[str]:
        """Ids of the executions whose run of `stage` succeeded."""
        pipeline = self._pipeline(name)
        return {
            e.pipeline_execution_id
            for e in pipeline.executions.values()
            if getattr(e, "stages", {}).get(stage) is not None and e.stages[stage].status == "Succeeded"
        }

    def list_action_executions(self, name: str, execution_id: str | None) -> list[dict[str, Any]]:
        pipeline = self._pipeline(name)
        details = []
        for execution in reversed(list(pipeline.executions.values())):
            if execution_id and execution.pipeline_execution_id != execution_id:
                continue
            for run in reversed(getattr(execution, "actions", [])):
                details.append(_action_detail(execution, run))
        return details

    def retry_stage_execution(self, name: str, stage_name: str, execution_id: str, mode: str) -> str:
        pipeline = self._pipeline(name)
        stage_names = [s["name"] for s in pipeline.pipeline["stages"]]
        if stage_name not in stage_names:
            raise JsonRESTError("StageNotFoundException", f"The stage {stage_name} was not found.")
        if mode not in ("FAILED_ACTIONS", "ALL_ACTIONS"):
            raise JsonRESTError("ValidationException", f"Invalid retryMode {mode}")
        execution = pipeline.executions.get(execution_id)
        if execution is None or stage_name not in getattr(execution, "stages", {}):
            raise JsonRESTError(
                "StageNotRetryableException", f"Stage {stage_name} of execution {execution_id} has not run."
            )
        latest = next(
            e for e in reversed(list(pipeline.executions.values())) if stage_name in getattr(e, "stages", {})
        )
        if latest is not execution:
            raise JsonRESTError(
                "NotLatestPipelineExecutionException",
                f"Stage {stage_name} was run by a later execution {latest.pipeline_execution_id}.",
            )
        stage = execution.stages[stage_name]
        if stage.status == "InProgress":
            raise JsonRESTError("ConflictException", f"Stage {stage_name} is in progress; try again later.")
        if stage.status != "Failed":
            raise JsonRESTError(
                "StageNotRetryableException", f"Stage {stage_name} has no failed actions to retry."
            )
        stage.status = "InProgress"
        execution.status = "InProgress"
        execution.attempt += 1
        execution.retry_mode = mode
        if runner is not None:
            runner(self, execution, stage_names.index(stage_name))
        return execution_id


def _timestamp(moment: datetime.datetime) -> float:
    return moment.timestamp()


def _action_state(run: ActionRun) -> dict[str, Any]:
    state: dict[str, Any] = {
        "actionExecutionId": run.action_execution_id,
        "status": run.status,
        "lastStatusChange": _timestamp(run.updated),
    }
    # An action with no external run (an ECS deploy) has no id or summary: AWS leaves them out, since
    # the model allows no empty one (botocore codepipeline ActionExecution: ExecutionId and
    # ExecutionSummary have min 1).
    if run.summary:
        state["summary"] = run.summary
    if run.external_id:
        state["externalExecutionId"] = run.external_id
    if run.error:
        state["errorDetails"] = run.error
    return state


def _action_detail(execution: Execution, run: ActionRun) -> dict[str, Any]:
    result: dict[str, Any] = {"externalExecutionId": run.external_id, "externalExecutionSummary": run.summary}
    if run.error:
        result["errorDetails"] = run.error
    return {
        "pipelineExecutionId": execution.pipeline_execution_id,
        "actionExecutionId": run.action_execution_id,
        "pipelineVersion": execution.pipeline_version,
        "stageName": run.stage,
        "actionName": run.action,
        "startTime": _timestamp(run.started),
        "lastUpdateTime": _timestamp(run.updated),
        "status": run.status,
        "input": {
            "actionTypeId": run.action_type,
            "configuration": run.configuration,
            "resolvedConfiguration": run.configuration,
            "inputArtifacts": run.input_artifacts,
        },
        "output": {"outputArtifacts": run.output_artifacts, "executionResult": result},
    }


class CodePipelineResponse:
    """Operations added to moto's CodePipelineResponse."""

    codepipeline_backend: CodePipelineBackend
    _get_param: Any

    def get_pipeline_state(self) -> str:
        return json.dumps(self.codepipeline_backend.get_pipeline_state(self._get_param("name")))

    def list_action_executions(self) -> str:
        flt = self._get_param("filter") or {}
        name = self._get_param("pipelineName")
        details = self.codepipeline_backend.list_action_executions(name, flt.get("pipelineExecutionId"))
        page, token = _page("ListActionExecutions", [name, flt], details, self._get_param)
        return json.dumps({"actionExecutionDetails": page, **({"nextToken": token} if token else {})})

    def list_pipeline_executions(self) -> str:
        name = self._get_param("pipelineName")
        flt = self._get_param("filter") or {}
        summaries = self.codepipeline_backend.list_pipeline_executions(name, None)  # newest first
        stage = (flt.get("succeededInStage") or {}).get("stageName")
        if stage is not None:
            # "Filter for pipeline executions where the stage was successful in the current pipeline
            # version." https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_SucceededInStageFilter.html
            succeeded = self.codepipeline_backend.succeeded_in_stage(name, stage)
            summaries = [s for s in summaries if s["pipelineExecutionId"] in succeeded]
        page, token = _page("ListPipelineExecutions", [name, flt], summaries, self._get_param)
        return json.dumps({"pipelineExecutionSummaries": page, **({"nextToken": token} if token else {})})

    def retry_stage_execution(self) -> str:
        execution_id = self.codepipeline_backend.retry_stage_execution(
            self._get_param("pipelineName"),
            self._get_param("stageName"),
            self._get_param("pipelineExecutionId"),
            self._get_param("retryMode"),
        )
        return json.dumps({"pipelineExecutionId": execution_id})


# ListActionExecutions and ListPipelineExecutions: maxResults from 1 to 100, default 100 (botocore
# codepipeline/2015-07-09 shape MaxResults; "Default value is 100." in both operations' references:
# https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ListActionExecutions.html
# https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ListPipelineExecutions.html).
# botocore checks only the minimum on the client; a larger value reaches the service, which refuses
# it with ValidationException (declared by both operations; the message is AWS's constraint wording).
MAX_RESULTS = 100


def _page(
    operation: str, query: list[Any], items: list[dict[str, Any]], param: Callable[..., Any]
) -> tuple[list[dict[str, Any]], str | None]:
    asked = param("maxResults")
    if asked is not None and not 1 <= int(asked) <= MAX_RESULTS:
        raise JsonRESTError(
            "ValidationException",
            f"1 validation error detected: Value '{asked}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value less than or equal to {MAX_RESULTS}",
        )
    return paging.offset_page(
        operation,
        query,
        items,
        int(asked or MAX_RESULTS),
        param("nextToken"),
        # "The next token was specified in an invalid format. Make sure that the next token you
        # provide is the token returned by a previous call." (botocore InvalidNextTokenException)
        lambda: JsonRESTError("InvalidNextTokenException", "The next token is invalid."),
    )


def install() -> None:
    cp_models.codepipeline_backends.backend = CodePipelineBackend
    for name in (
        "get_pipeline_state",
        "list_action_executions",
        "list_pipeline_executions",
        "retry_stage_execution",
    ):
        setattr(cp_responses.CodePipelineResponse, name, getattr(CodePipelineResponse, name))
