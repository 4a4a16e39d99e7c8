"""What pipewarden needs and moto 5.2.5 lacks, written in moto's own backend/response style.

The extensions reach into moto's internals, which change between releases without notice: they are
written for one moto version (`MOTO_VERSION`, the one requirements/dev.lock pins), and every internal
name they replace, wrap or subclass is listed below (`INTERNALS`). `install()` refuses another moto
version, or a moto that lacks one of these names, with a message that says what to do.
"""

from __future__ import annotations

import importlib
import threading

MOTO_VERSION = "5.2.5"
# Each moto module, class, function or attribute the extensions import, replace, wrap or subclass
# (tests/sandbox/test_moto_version.py checks every `from moto...` import in sandbox/ is listed).
INTERNALS = (
    "moto.cloudformation.exceptions.AlreadyExistsException",
    "moto.cloudformation.exceptions.ValidationError",
    "moto.cloudformation.models.CloudFormationBackend",
    "moto.cloudformation.models.Event",
    "moto.cloudformation.models.Stack",
    "moto.cloudformation.models.Stack._add_stack_event",
    "moto.cloudformation.models.Stack._create_output_map",
    "moto.cloudformation.models.Stack._parse_template",
    "moto.cloudformation.models.Stack.create_resources",
    "moto.cloudformation.models.Stack.update",
    "moto.cloudformation.models.CloudFormationBackend._resolve_update_parameters",
    "moto.cloudformation.models.CloudFormationBackend._validate_export_uniqueness",
    "moto.cloudformation.models.cloudformation_backends",
    "moto.cloudformation.parsing.ResourceMap._delete_resource",
    "moto.cloudformation.parsing.UnformattedGetAttTemplateException",
    "moto.cloudformation.parsing.clean_json",
    "moto.cloudformation.parsing.get_model_list",
    "moto.cloudformation.parsing.get_model_map",
    "moto.cloudformation.parsing.get_name_type_map",
    "moto.cloudformation.parsing.parse_and_create_resource",
    "moto.cloudformation.parsing.parse_and_update_resource",
    "moto.cloudformation.parsing.parse_resource_and_generate_name",
    "moto.cloudformation.responses.CloudFormationResponse.create_stack",
    "moto.cloudformation.responses.CloudFormationResponse.delete_stack",
    "moto.cloudformation.responses.CloudFormationResponse.describe_stacks",
    "moto.cloudformation.responses.CloudFormationResponse.list_stacks",
    "moto.cloudformation.responses.CloudFormationResponse.update_stack",
    "moto.cloudformation.utils.generate_stack_id",
    "moto.cloudtrail.models.Trail",
    "moto.cloudwatch.models.Alarm",
    "moto.cloudtrail.models.Trail.put_event_selectors",
    "moto.codebuild.models.codebuild_backends",
    "moto.codecommit.exceptions.RepositoryDoesNotExistException",
    "moto.codedeploy.models.AlarmConfiguration",
    "moto.codedeploy.models.DeploymentInfo",
    "moto.codedeploy.models.codedeploy_backends",
    "moto.codedeploy.responses._deployment_info",
    "moto.codecommit.models.codecommit_backends",
    "moto.codecommit.responses.CodeCommitResponse",
    "moto.codepipeline.exceptions.PipelineNotFoundException",
    "moto.codepipeline.models.codepipeline_backends",
    "moto.codepipeline.responses.CodePipelineResponse",
    "moto.core.base_backend.BackendDict",
    "moto.core.common_models.CloudFormationModel",
    "moto.core.exceptions.JsonRESTError",
    "moto.core.resource_tagging.TaggableResourcesMixin",
    "moto.core.resource_tagging.TaggedResource",
    "moto.core.resource_tagging.iter_taggable_backends",
    "moto.core.responses.ActionResult",
    "moto.ecr.exceptions.ImageAlreadyExistsException",
    "moto.ecr.models.Repository",
    "moto.ecr.models.ecr_backends",
    "moto.ecs.models.EC2ContainerServiceBackend",
    "moto.ecs.models.EC2ContainerServiceBackend._get_cluster",
    "moto.ecs.models.Task",
    "moto.ecs.models.ecs_backends",
    "moto.elbv2.models.elbv2_backends",
    "moto.events.models.EventPattern",
    "moto.events.models.EventPatternParser",
    "moto.events.models.EventsBackend.put_events",
    "moto.events.models.events_backends",
    "moto.iam.access_control.PermissionResult",
    "moto.iam.aws_managed_policies.aws_managed_policies_data",
    "moto.iam.exceptions.NotFoundException",
    "moto.iam.models.Role",
    "moto.iam.models.iam_backends",
    "moto.iam.policy_validation",
    "moto.iam.responses.IamResponse",
    "moto.logs.models.LogGroup",
    "moto.moto_api._internal.mock_random",
    "moto.moto_server.threaded_moto_server.ThreadedMotoServer",
    "moto.moto_server.werkzeug_app.DomainDispatcherApplication",
    "moto.moto_server.werkzeug_app.MotoRequestHandler",
    "moto.moto_server.werkzeug_app.create_backend_app",
    "moto.resourcegroupstaggingapi.models",
    "moto.resourcegroupstaggingapi.responses.ResourceGroupsTaggingAPIResponse.get_resources",
    "moto.s3.exceptions.InvalidArgumentError",
    "moto.s3.models.FakeBucket.get_permission",
    "moto.s3.models.S3Backend.list_object_versions",
    "moto.s3.models.s3_backends",
    "moto.secretsmanager.models.secretsmanager_backends",
    "moto.sts.models.sts_backends",
    "moto.utilities.utils.get_partition",
)

_installed = False
# moto keeps each service's state in plain dicts and is not thread-safe. The server answers requests on
# many threads, and stack operations finish on the sandbox's bus thread: every moto dispatch and every
# finishing stack step holds this lock, so no one walks a dict another thread is changing.
state_lock = threading.RLock()


class UnsupportedMoto(RuntimeError):
    """The installed moto is not the one the sandbox's extensions were written for."""


def resolve(name: str) -> object:
    """The object a dotted internal name stands for (module, then attributes); raises if it is gone."""
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(name)


def check_moto(version: str | None = None) -> None:
    """Refuse a moto other than MOTO_VERSION, or one that lacks an internal the extensions touch."""
    import moto

    installed = version or str(getattr(moto, "__version__", "unknown"))
    if installed != MOTO_VERSION:
        raise UnsupportedMoto(
            f"the sandbox's moto extensions are written for moto {MOTO_VERSION}, found moto {installed}: "
            f"run `make install` (it installs requirements/dev.lock), or port sandbox/moto_ext to "
            f"{installed} (INTERNALS in sandbox/moto_ext/__init__.py lists what they touch)"
        )
    missing = []
    for name in INTERNALS:
        try:
            resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    if missing:
        raise UnsupportedMoto(
            f"moto {installed} lacks what the sandbox's extensions touch: {', '.join(missing)}"
        )


def install() -> None:
    """Patch moto once, before the first backend of an extended service is created."""
    global _installed  # noqa: PLW0603 - moto's registries are process-wide; so is this switch
    if _installed:
        return
    check_moto()
    from sandbox.moto_ext import (
        cloudformation,
        cloudtrail,
        cloudwatch,
        codebuild,
        codecommit,
        codedeploy,
        codepipeline,
        ecr,
        ecs,
        events,
        iam,
        logs,
        s3,
        stack_pages,
        tagging,
    )

    for module in (
        codecommit,
        codepipeline,
        codebuild,
        cloudformation,
        cloudtrail,
        cloudwatch,
        codedeploy,
        stack_pages,
        tagging,
        events,
        s3,
        ecr,
        ecs,
        iam,
        logs,
    ):
        module.install()
    _installed = True
