"""What CodePipeline and CodeBuild say of a pipeline, its executions and their builds: one read each,
shared by retry, notify, enroll and prune."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, NamedTuple

from pipewarden.aws import Invalid, NotFound, call, pages

if TYPE_CHECKING:
    from mypy_boto3_codebuild import CodeBuildClient
    from mypy_boto3_codebuild.type_defs import BuildTypeDef
    from mypy_boto3_codepipeline import CodePipelineClient
    from mypy_boto3_codepipeline.type_defs import (
        ActionExecutionDetailTypeDef,
        PipelineDeclarationOutputTypeDef,
        PipelineExecutionSummaryTypeDef,
        StageStateTypeDef,
    )

PAGE = 100  # the most ListActionExecutions and ListPipelineExecutions answer at once (their default too)


class Pipeline(NamedTuple):
    """A pipeline's declaration and its tags."""

    name: str
    arn: str
    declaration: PipelineDeclarationOutputTypeDef
    tags: Mapping[str, str]


def read(codepipeline: CodePipelineClient, name: str) -> Pipeline:
    """GetPipeline, then the tags of the pipeline's ARN. Raises `NotFound` when it does not exist, and
    `Invalid` when the ARN made for a pipeline GetPipeline found (no metadata) names no pipeline."""
    found = call(codepipeline.get_pipeline, name=name)
    declaration = found["pipeline"]
    given = found.get("metadata", {}).get("pipelineArn")
    arn = given or _arn(codepipeline, declaration)
    try:
        tags = call(codepipeline.list_tags_for_resource, resourceArn=arn).get("tags", [])
    except NotFound as error:
        if given:
            raise  # AWS's own ARN: the pipeline was deleted since GetPipeline answered
        # GetPipeline has just found the pipeline, so the ARN made for it is wrong: reading this as "the
        # pipeline is gone" would call off its retries and messages in silence. Reported instead.
        message = f"{arn}, made from the pipeline's service role, names no pipeline ({error.message})"
        raise Invalid(error.code, message, error.operation) from error
    return Pipeline(name, arn, declaration, {t["key"]: t["value"] for t in tags})


def _arn(codepipeline: CodePipelineClient, declaration: PipelineDeclarationOutputTypeDef) -> str:
    """The pipeline's ARN when GetPipeline leaves out its metadata (optional in the API's model, absent from
    AWS's documented example). The pipeline's service role is passed to CodePipeline in the pipeline's
    own account (iam:PassRole), so the role's ARN names the pipeline's partition and account.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html
    """
    _, partition, _, _, account, *_ = declaration["roleArn"].split(":")
    return f"arn:{partition}:codepipeline:{codepipeline.meta.region_name}:{account}:{declaration['name']}"


def names(codepipeline: CodePipelineClient) -> Iterator[str]:
    """The name of every pipeline in the account and region, page by page."""
    for page in pages(codepipeline.get_paginator("list_pipelines").paginate):
        for pipeline in page.get("pipelines", []):
            yield pipeline["name"]


def executions(codepipeline: CodePipelineClient, pipeline: str) -> Iterator[PipelineExecutionSummaryTypeDef]:
    """The pipeline's executions, newest first, as CodePipeline still lists them."""
    paginate = codepipeline.get_paginator("list_pipeline_executions").paginate
    for page in pages(paginate, pipelineName=pipeline, PaginationConfig={"PageSize": PAGE}):
        yield from page.get("pipelineExecutionSummaries", [])


def latest_success(codepipeline: CodePipelineClient, pipeline: str, stage: str) -> str:
    """The newest execution that succeeded in `stage` of the current pipeline version ('' if none):
    ListPipelineExecutions' `succeededInStage` filter, one summary."""
    found = call(
        codepipeline.list_pipeline_executions,
        pipelineName=pipeline,
        filter={"succeededInStage": {"stageName": stage}},
        maxResults=1,
    ).get("pipelineExecutionSummaries", [])
    return found[0]["pipelineExecutionId"] if found else ""


def action_executions(
    codepipeline: CodePipelineClient, pipeline: str, execution_id: str = ""
) -> Iterator[ActionExecutionDetailTypeDef]:
    """Every action run of the pipeline, or of one of its executions (a retried action runs again)."""
    paginate = codepipeline.get_paginator("list_action_executions").paginate
    found = (
        pages(
            paginate,
            pipelineName=pipeline,
            filter={"pipelineExecutionId": execution_id},
            PaginationConfig={"PageSize": PAGE},
        )
        if execution_id
        else pages(paginate, pipelineName=pipeline, PaginationConfig={"PageSize": PAGE})
    )
    for page in found:
        yield from page.get("actionExecutionDetails", [])


def stage_states(codepipeline: CodePipelineClient, pipeline: str) -> list[StageStateTypeDef]:
    """Each stage's latest execution (GetPipelineState). Raises `NotFound` when the pipeline is gone."""
    return call(codepipeline.get_pipeline_state, name=pipeline).get("stageStates", [])


def build(codebuild: CodeBuildClient, build_id: str) -> BuildTypeDef | None:
    """The build (BatchGetBuilds); None when CodeBuild no longer knows it."""
    builds = call(codebuild.batch_get_builds, ids=[build_id]).get("builds", [])
    return builds[0] if builds else None
