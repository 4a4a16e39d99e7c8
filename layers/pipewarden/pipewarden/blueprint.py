"""The ecs-rolling blueprint: its template body, and the stack parameters and tags for one repository."""

from __future__ import annotations

import functools
import hashlib
from importlib import resources

from pipewarden.config import ControllerConfig
from pipewarden.contract import COMPUTE_TYPES, RepositorySettings
from pipewarden.naming import artifact_prefix, pipeline_name

BLUEPRINT = "ecs-rolling.yaml"

# Parameters that follow from tags and the controller's settings: a difference in any of them
# is a reason to update the stack. PassRoleArns (from ECS) and CreateEcrRepository (from ECR) are
# looked up only when we write.
TAG_DERIVED = (
    "RepositoryName",
    "PipelineName",
    "BranchName",
    "EcsCluster",
    "EcsService",
    "ContainerName",
    "EcrRepositoryName",
    "Buildspec",
    "ComputeType",
    "ArtifactBucket",
    "ArtifactPrefix",
    "PermissionsBoundaryArn",
    "TagPrefix",
    "RetryMode",
    "MaxRetries",
    "NotifyMode",
    "KeepExecutions",
    "SlackChannel",
    "LogRetentionDays",
)


@functools.cache
def template_body() -> str:
    """The blueprint's CloudFormation template, as shipped inside the library."""
    return resources.files("pipewarden").joinpath("blueprints", BLUEPRINT).read_text(encoding="utf-8")


@functools.cache
def version() -> str:
    """A short content hash of the blueprint: a stack built from another version gets updated."""
    return hashlib.sha256(template_body().encode()).hexdigest()[:12]


def parameters(settings: RepositorySettings, config: ControllerConfig) -> dict[str, str]:
    """The stack parameters that the repository's tags and the controller's settings determine."""
    pipeline = pipeline_name(settings.repository)
    return {
        "RepositoryName": settings.repository,
        "PipelineName": pipeline,
        "BranchName": settings.branch,
        "EcsCluster": settings.ecs_cluster,
        "EcsService": settings.ecs_service,
        "ContainerName": settings.container,
        "EcrRepositoryName": settings.ecr_repository,
        "Buildspec": settings.buildspec,
        "ComputeType": COMPUTE_TYPES[settings.compute],
        "ArtifactBucket": config.artifact_bucket,
        "ArtifactPrefix": artifact_prefix(pipeline),
        "PermissionsBoundaryArn": config.permissions_boundary_arn,
        "TagPrefix": config.tag_prefix,
        # Written onto the pipeline's tags, where retry, notify and prune read them (PipelineSettings).
        "RetryMode": str(settings.pipeline.retry),
        "MaxRetries": str(settings.pipeline.max_retries),
        "NotifyMode": str(settings.pipeline.notify),
        "KeepExecutions": str(settings.pipeline.keep_executions),
        "SlackChannel": settings.pipeline.slack_channel,
        "LogRetentionDays": str(config.log_retention_days),
    }


def stack_tags(repository: str, prefix: str) -> dict[str, str]:
    """Tags that mark a stack as pipewarden's and say which repository and blueprint it is for."""
    return {
        f"{prefix}:managed-by": "pipewarden",
        f"{prefix}:repository": repository,
        f"{prefix}:blueprint": f"ecs-rolling@{version()}",
    }
