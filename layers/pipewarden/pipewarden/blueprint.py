"""The blueprints: what each kind of repository gets, its template body, and its stack parameters and tags.

A repository chooses one with `<prefix>:blueprint` (contract.BLUEPRINTS). Each blueprint is one plain
CloudFormation template under blueprints/, deployed as one stack per repository; every one of them
makes its roles under /pipewarden/ with the controller's permissions boundary, tags them with the
repository and artifact prefix the boundary scopes them to, and writes the pipeline's retry, notify
and prune settings onto the pipeline's tags.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources

from pipewarden.config import ControllerConfig
from pipewarden.contract import COMPUTE_TYPES, DEFAULT_BLUEPRINT, RepositorySettings
from pipewarden.naming import application_name, artifact_prefix, pipeline_name

# Parameters that follow from tags and the controller's settings: a difference in any of them is a
# reason to update the stack. Every blueprint takes these.
_COMMON = (
    "RepositoryName",
    "PipelineName",
    "BranchName",
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
_IMAGE = ("ContainerName", "EcrRepositoryName")
_ECS = ("EcsCluster", "EcsService")


@dataclass(frozen=True)
class Blueprint:
    """One blueprint: its template (blueprints/<name>.yaml) and the parameters it takes.

    `tag_derived`: parameters the tags and the controller's settings determine (compared on every
    reconcile). `looked_up`: parameters the enroll function finds out only when it writes the stack
    (PassRoleArns from ECS, CreateEcrRepository from ECR).
    """

    name: str
    deploys: str
    tag_derived: tuple[str, ...]
    looked_up: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        return f"{self.name}.yaml"

    def template_body(self) -> str:
        """The blueprint's CloudFormation template, as shipped inside the library."""
        return _template_body(self.file)

    def version(self) -> str:
        """A short content hash of the template: a stack built from another version gets updated."""
        return hashlib.sha256(self.template_body().encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """The stack's `<prefix>:blueprint` tag: `<name>@<version>`."""
        return f"{self.name}@{self.version()}"

    def parameters(self, settings: RepositorySettings, config: ControllerConfig) -> dict[str, str]:
        """The stack parameters that the repository's tags and the controller's settings determine."""
        every = _every_parameter(settings, config)
        return {name: every[name] for name in self.tag_derived}


BLUEPRINTS: dict[str, Blueprint] = {
    blueprint.name: blueprint
    for blueprint in (
        Blueprint(
            "ecs-rolling",
            "a container image, rolled out to an ECS service by CodePipeline's ECS action",
            _COMMON + _ECS + _IMAGE,
            ("PassRoleArns", "CreateEcrRepository"),
        ),
        Blueprint(
            "ecs-blue-green",
            "a container image, deployed blue/green to an ECS service behind a load balancer by CodeDeploy "
            "(CodeDeployToECS action), rolled back on failure or alarm",
            (*_COMMON, *_ECS, *_IMAGE, "RollbackAlarms"),
            (
                "PassRoleArns",
                "CreateEcrRepository",
                "TargetGroupNames",
                "ProductionListenerArn",
                "ContainerPort",
            ),
        ),
        Blueprint(
            "lambda",
            "a serverless application: the repository's SAM template, built and packaged by CodeBuild "
            "(sam build, sam package) and deployed by a CloudFormation change set as a deploy role that "
            "may create only the application's functions, log groups and roles under a second boundary",
            (*_COMMON, "SamTemplate", "ApplicationName", "ApplicationBoundaryArn", "DeployBoundaryArn"),
        ),
        Blueprint(
            "build-only",
            "nothing: builds and tests, pushes the image to ECR and keeps the build's output artifact",
            (*_COMMON, "EcrRepositoryName"),
            ("CreateEcrRepository",),
        ),
    )
}


def get(name: str) -> Blueprint:
    """The blueprint of that name (KeyError for one the controller does not ship)."""
    return BLUEPRINTS[name]


def of(settings: RepositorySettings) -> Blueprint:
    return get(settings.blueprint)


@functools.cache
def _template_body(file: str) -> str:
    return resources.files("pipewarden").joinpath("blueprints", file).read_text(encoding="utf-8")


def _every_parameter(settings: RepositorySettings, config: ControllerConfig) -> dict[str, str]:
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
        "RollbackAlarms": ",".join(settings.rollback_alarms),
        "SamTemplate": settings.sam_template,
        "ApplicationName": application_name(settings.repository),
        "ApplicationBoundaryArn": config.application_boundary_arn,
        "DeployBoundaryArn": config.application_deploy_boundary_arn,
    }


def parameters(settings: RepositorySettings, config: ControllerConfig) -> dict[str, str]:
    """The stack parameters of the repository's own blueprint."""
    return of(settings).parameters(settings, config)


def name_of(label: str | None) -> str:
    """The blueprint's name in a stack's `<prefix>:blueprint` tag (`ecs-rolling@<version>`).

    A stack without the tag was made before there was more than one blueprint: ecs-rolling.
    """
    return (label or DEFAULT_BLUEPRINT).split("@", 1)[0]


def stack_tags(repository: str, prefix: str, blueprint: str = DEFAULT_BLUEPRINT) -> dict[str, str]:
    """Tags that mark a stack as pipewarden's and say which repository and blueprint it is for."""
    return {
        f"{prefix}:managed-by": "pipewarden",
        f"{prefix}:repository": repository,
        f"{prefix}:blueprint": get(blueprint).label,
    }
