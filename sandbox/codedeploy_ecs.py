"""CodePipeline's CodeDeployToECS action as AWS runs it: a blue/green deployment of an ECS service.

The action, as the pipeline's role, reads its input artifacts (the task definition template, the
AppSpec template and imageDetail.json), registers the task definition with the image in place of
`<IMAGE1_NAME>`, writes its ARN in place of `<TASK_DEFINITION>` and creates a CodeDeploy deployment
of the AppSpec's content. CodeDeploy, as the deployment group's service role, starts a replacement
task set behind the target group the production listener does not use, shifts the listener to it,
makes it the service's primary task set and removes the original one. A deployment that fails (a
script's Outcome names CodeDeploy's error code) is rolled back: the listener stays with (or returns
to) the original target group and the service keeps its task definition; with automatic rollback on,
CodeDeploy records a rollback deployment. Each step's IAM action is authorized as AWS would, and a
refusal fails the action or the deployment as AWS reports it.

Sources: https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-ECSbluegreen.html
(configuration, artifacts, placeholders), https://docs.aws.amazon.com/codepipeline/latest/userguide/security-iam.html
(the pipeline role's CodeDeploy and ECS permissions), https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSCodeDeployRoleForECS.html
(CodeDeploy's), https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ErrorInformation.html
(error codes), https://docs.aws.amazon.com/codedeploy/latest/userguide/deployments-rollback-and-redeploy.html.
The messages below are CodeDeploy's where its documentation or public reports give them, and marked
(unverified) where the sandbox words them itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from sandbox.moto_ext import codepipeline as cp_ext
from sandbox.moto_ext import ecs as ecs_ext

if TYPE_CHECKING:
    from sandbox.executions import Outcome, Roles, RoleSession
    from sandbox.moto_ext.codepipeline import ActionRun

IMAGE_PLACEHOLDER = "<IMAGE1_NAME>"
TASK_DEFINITION_PLACEHOLDER = "<TASK_DEFINITION>"

# What CodeDeploy says of each failure a script may name (errorInformation.message).
MESSAGES = {
    # CodeDeploy's documented wording for a deployment that failed its health constraints.
    "HEALTH_CONSTRAINTS": (
        "The overall deployment failed because too many individual instances failed deployment, too few "
        "healthy instances are available for deployment, or some instances in your deployment group are "
        "experiencing problems."
    ),
    # (unverified) the console's wording for an alarm that stopped a deployment
    "ALARM_ACTIVE": (
        "One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, "
        "and the affected deployments have been stopped. Activated alarms: {alarms}"
    ),
    "ECS_UPDATE_ERROR": (
        "The ECS service could not be updated: the replacement task set failed to start (unverified)"
    ),
    "TIMEOUT": (
        "The deployment timed out while waiting for the replacement task set to become healthy. This time "
        "out period is 60 minutes."
    ),
    "THROTTLED": (
        "The operation was throttled because the calling account exceeded the throttling limits of one or "
        "more AWS services."
    ),
    "INTERNAL_ERROR": "An internal error occurred.",
}

# A taskdef.json's keys: what RegisterTaskDefinition takes again, containers included.
_TASK_DEFINITION_KEYS = ("containerDefinitions", *ecs_ext.TASK_DEFINITION_INPUTS)


def appspec(container: str, port: str) -> str:
    """The AppSpec the managed buildspec writes (version 0.0, one ECS service resource).
    https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-resources.html"""
    return (
        "version: 0.0\n"
        "Resources:\n"
        "  - TargetService:\n"
        "      Type: AWS::ECS::Service\n"
        "      Properties:\n"
        f'        TaskDefinition: "{TASK_DEFINITION_PLACEHOLDER}"\n'
        "        LoadBalancerInfo:\n"
        f'          ContainerName: "{container}"\n'
        f"          ContainerPort: {port}\n"
    )


class _Failed(Exception):
    """The action fails with this message (CodePipeline's error details)."""


class Deployer:
    """Runs one CodeDeployToECS action; `run` fills the ActionRun's outcome."""

    def __init__(self, roles: Roles, client: Callable[[str], Any], account: str, region: str) -> None:
        self._roles = roles
        self._client = client  # the sandbox's own clients (state the simulator reads, not as a role)
        self._account = account
        self._region = region

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self._region}:{self._account}:{resource}"

    def run(
        self, run: ActionRun, action: Mapping[str, Any], scripted: Outcome | None, session: RoleSession
    ) -> None:
        try:
            deployment = self._deploy(run, action, scripted, session)
        except _Failed as failed:
            run.error = {"code": "JobFailed", "message": str(failed)}
            return
        run.external_id = deployment.deployment_id
        error = getattr(deployment, "error_information", None)
        if deployment.status != "Succeeded" and error:
            # (unverified) how the action sums up the failed deployment: its id, code and message
            said = f"Deployment {deployment.deployment_id} failed"
            run.error = {"code": "JobFailed", "message": f"{said}: {error['code']}: {error['message']}"}
            return
        run.summary = f"Deployment {deployment.deployment_id} succeeded"

    # -- the pipeline's role ---------------------------------------------------------------------------
    def _deploy(
        self, run: ActionRun, action: Mapping[str, Any], scripted: Outcome | None, session: RoleSession
    ) -> Any:
        config = action.get("configuration", {})
        application = str(config.get("ApplicationName", ""))
        group_name = str(config.get("DeploymentGroupName", ""))
        files = self._artifacts(run, session)
        taskdef_text = self._file(
            files, config, "TaskDefinitionTemplateArtifact", "TaskDefinitionTemplatePath", "taskdef.json"
        )
        appspec_text = self._file(
            files, config, "AppSpecTemplateArtifact", "AppSpecTemplatePath", "appspec.yaml"
        )
        image = self._image(files, config)
        codedeploy = self._roles.client("codedeploy", session)
        app_arn = self._arn("codedeploy", f"application:{application}")
        try:
            codedeploy.get_application(applicationName=application)
        except ClientError as error:
            raise _Failed(_sdk(error)) from error
        # Calls moto does not serve: authorized as IAM would, with the resource they act on.
        for permission, resource in (
            (
                "codedeploy:GetDeploymentConfig",
                self._arn("codedeploy", "deploymentconfig:CodeDeployDefault.ECSAllAtOnce"),
            ),
            ("codedeploy:RegisterApplicationRevision", app_arn),
            ("codedeploy:GetApplicationRevision", app_arn),
        ):
            denial = self._roles.denial(session, permission, resource)
            if denial:
                raise _Failed(denial)
        try:
            template = json.loads(taskdef_text.replace(IMAGE_PLACEHOLDER, image))
        except ValueError as error:
            raise _Failed(
                "Exception while trying to parse the task definition artifact file (unverified)"
            ) from error
        registered = self._register(template, session)
        content = appspec_text.replace(TASK_DEFINITION_PLACEHOLDER, registered)
        try:
            created = codedeploy.create_deployment(
                applicationName=application,
                deploymentGroupName=group_name,
                revision={
                    "revisionType": "AppSpecContent",
                    "appSpecContent": {
                        "content": content,
                        "sha256": hashlib.sha256(content.encode()).hexdigest(),
                    },
                },
            )
        except ClientError as error:
            raise _Failed(_sdk(error)) from error
        from moto.codedeploy.models import codedeploy_backends

        backend = codedeploy_backends[self._account][self._region]
        deployment = backend.deployments[created["deploymentId"]]
        self._codedeploy(deployment, registered, scripted)
        try:  # CodePipeline follows the deployment with GetDeployment, as its role
            codedeploy.get_deployment(deploymentId=deployment.deployment_id)
        except ClientError as error:
            raise _Failed(_sdk(error)) from error
        return deployment

    def _artifacts(self, run: ActionRun, session: RoleSession) -> dict[str, dict[str, bytes]]:
        s3 = self._roles.client("s3", session)
        found: dict[str, dict[str, bytes]] = {}
        for artifact in run.input_artifacts:
            location = artifact.get("s3location") or {}
            try:
                body = s3.get_object(Bucket=location["bucket"], Key=location["key"])["Body"].read()
                with zipfile.ZipFile(io.BytesIO(body)) as archive:
                    found[str(artifact["name"])] = {n: archive.read(n) for n in archive.namelist()}
            except ClientError as error:
                raise _Failed(_sdk(error)) from error
            except (KeyError, zipfile.BadZipFile) as error:
                raise _Failed(
                    f"The input artifact {artifact.get('name')} could not be read (unverified)"
                ) from error
        return found

    @staticmethod
    def _file(
        files: Mapping[str, Mapping[str, bytes]],
        config: Mapping[str, Any],
        artifact_key: str,
        path_key: str,
        default: str,
    ) -> str:
        artifact = str(config.get(artifact_key, ""))
        path = str(config.get(path_key) or default)
        body = files.get(artifact, {}).get(path)
        if body is None:
            # (unverified) wording of a missing template file
            raise _Failed(f"Exception while trying to read the file {path} from the artifact: {artifact}.")
        return body.decode()

    @staticmethod
    def _image(files: Mapping[str, Mapping[str, bytes]], config: Mapping[str, Any]) -> str:
        artifact = str(config.get("Image1ArtifactName", ""))
        body = files.get(artifact, {}).get("imageDetail.json")
        try:
            uri = json.loads(body or b"")["ImageURI"]
        except (ValueError, KeyError, TypeError) as error:
            raise _Failed(
                f"Exception while trying to read the image artifact file from the artifact: {artifact}."
            ) from error
        return str(uri)

    def _register(self, template: Mapping[str, Any], session: RoleSession) -> str:
        kept = {k: v for k, v in template.items() if k in _TASK_DEFINITION_KEYS}
        try:
            registered = self._roles.client("ecs", session).register_task_definition(**kept)["taskDefinition"]
        except ClientError as error:
            raise _Failed(f"Error calling registerTaskDefinition: {_sdk(error)}") from error
        return str(registered["taskDefinitionArn"])

    # -- CodeDeploy, as the deployment group's role ---------------------------------------------------
    def _codedeploy(self, deployment: Any, registered: str, scripted: Outcome | None) -> None:
        group = deployment.deployment_group
        deployment.status = "InProgress"
        deployment.start_time = cp_ext.now()
        code, message = self._run_deployment(deployment, group, registered, scripted)
        deployment.complete_time = cp_ext.now()
        if code:
            deployment.status = "Failed"
            deployment.error_information = {"code": code, "message": message}
            deployment.deployment_status_messages = [message]
            self._roll_back(deployment, code)
        else:
            deployment.status = "Succeeded"
        overview = dict.fromkeys(("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready"), 0)
        overview["Failed" if code else "Succeeded"] = 1
        deployment.deployment_overview = overview

    def _run_deployment(
        self, deployment: Any, group: Any, registered: str, scripted: Outcome | None
    ) -> tuple[str, str]:
        """The blue/green steps as the group's role: ('', '') when done, else (error code, message)."""
        from moto.ecs.models import ecs_backends
        from moto.elbv2.models import elbv2_backends

        service_ref = (group.ecs_services or [{}])[0]
        cluster, name = str(service_ref.get("clusterName", "")), str(service_ref.get("serviceName", ""))
        pairs = (group.load_balancer_info or {}).get("targetGroupPairInfoList") or [{}]
        target_groups = [str(t.get("name", "")) for t in pairs[0].get("targetGroups") or []]
        listeners = ((pairs[0].get("prodTrafficRoute") or {}).get("listenerArns")) or []
        listener_arn = str(listeners[0]) if listeners else ""
        ecs = ecs_backends[self._account][self._region]
        elbv2 = elbv2_backends[self._account][self._region]
        try:
            services, _ = ecs.describe_services(cluster, [name])
            listener = elbv2.describe_listeners(None, [listener_arn])[0] if listener_arn else None
        except Exception:  # moto raises its own not-found errors
            services, listener = [], None
        if not services or listener is None:
            return "INVALID_ECS_SERVICE", f"The ECS service {name} or its listener was not found (unverified)"
        service = services[0]
        if (getattr(service, "deployment_controller", None) or {}).get("type") != "CODE_DEPLOY":
            return "INVALID_ECS_SERVICE", (
                f"The ECS service {name} does not use the CODE_DEPLOY deployment controller (unverified)"
            )
        session = self._roles.session(
            str(group.service_role_arn), f"CodeDeploy-{deployment.deployment_id[:8]}"
        )
        alarms = getattr(group, "alarm_configuration", None)
        alarms = alarms if alarms is not None and alarms.enabled else None
        for permission, resource in self._steps(cluster, name, listener_arn, registered, alarms):
            passed = (
                {"iam:PassedToService": "ecs-tasks.amazonaws.com"} if permission == "iam:PassRole" else {}
            )
            denial = self._roles.denial(session, permission, resource, passed)
            if denial:
                return "IAM_ROLE_PERMISSIONS", (
                    f"CodeDeploy does not have the permissions required to perform this operation: {denial}"
                )
        if scripted is not None and scripted.fail:
            # A script names CodeDeploy's error code; Outcome's default (a build's) means unhealthy.
            code = scripted.code if scripted.code != "COMMAND_EXECUTION_ERROR" else "HEALTH_CONSTRAINTS"
            named = ", ".join(a["name"] for a in alarms.alarms) if alarms is not None else "(none)"
            default = MESSAGES.get(code, "The deployment failed (unverified)")
            return code, scripted.message or default.format(alarms=named)
        forwarded = _forwarded(listener)
        found = elbv2.describe_target_groups(None, [], target_groups) if target_groups else []
        replacement = next((tg.arn for tg in found if tg.arn not in forwarded), "")
        if replacement:
            elbv2.modify_listener(listener_arn, actions=[{"Type": "forward", "TargetGroupArn": replacement}])
        # The replacement task set is primary now and the original one is gone: the service runs
        # the new task definition (its own load balancer settings stay as created).
        service.task_definition = registered
        return "", ""

    def _steps(
        self, cluster: str, name: str, listener_arn: str, registered: str, alarms: Any
    ) -> list[tuple[str, str]]:
        """Each IAM action CodeDeploy takes for the deployment, on its resource, in order."""
        from moto.ecs.models import ecs_backends

        definition = ecs_backends[self._account][self._region].describe_task_definition(registered)
        service_arn = self._arn("ecs", f"service/{cluster}/{name}")
        task_set_arn = self._arn("ecs", f"task-set/{cluster}/{name}/ecs-svc/{uuid.uuid4().int % 10**19}")
        roles = [str(a) for a in (definition.task_role_arn, definition.execution_role_arn) if a]
        return [
            ("ecs:DescribeServices", service_arn),
            ("elasticloadbalancing:DescribeTargetGroups", "*"),
            ("elasticloadbalancing:DescribeListeners", "*"),
            ("ecs:CreateTaskSet", task_set_arn),
            *[("iam:PassRole", arn) for arn in roles],
            *[
                ("cloudwatch:DescribeAlarms", self._arn("cloudwatch", f"alarm:{a['name']}"))
                for a in (alarms.alarms if alarms is not None else [])
            ],
            ("elasticloadbalancing:ModifyListener", listener_arn),
            ("ecs:UpdateServicePrimaryTaskSet", service_arn),
            ("ecs:DeleteTaskSet", task_set_arn),
        ]

    def _roll_back(self, deployment: Any, code: str) -> None:
        """With automatic rollback for the event, CodeDeploy redeploys the last good revision: the
        service kept its task set and the listener its target group, so nothing changes but the record."""
        settings = deployment.deployment_group.auto_rollback_configuration or {}
        event = "DEPLOYMENT_STOP_ON_ALARM" if code == "ALARM_ACTIVE" else "DEPLOYMENT_FAILURE"
        if not settings.get("enabled") or event not in (settings.get("events") or []):
            deployment.rollback_info = {
                "rollbackMessage": "Automatic rollback is not configured for this failure (unverified)"
            }
            return
        from moto.codedeploy.models import DeploymentInfo, codedeploy_backends

        backend = codedeploy_backends[self._account][self._region]
        rollback = DeploymentInfo(
            deployment.application,
            deployment.deployment_group,
            deployment.revision,
            deployment.deployment_config_name,
            f"Rollback of {deployment.deployment_id}",
            None,
            None,
            None,
            None,
            None,
            None,
            "codeDeployRollback",
        )
        rollback.status = "Succeeded"
        rollback.start_time = rollback.complete_time = cp_ext.now()
        rollback.rollback_info = {"rollbackTriggeringDeploymentId": deployment.deployment_id}
        backend.deployments[rollback.deployment_id] = rollback
        deployment.rollback_info = {
            "rollbackDeploymentId": rollback.deployment_id,
            # (unverified) wording
            "rollbackMessage": (
                f"Deployment {deployment.deployment_id} was rolled back by {rollback.deployment_id}"
            ),
        }


def _forwarded(listener: Any) -> set[str]:
    """The target groups a listener's default actions forward to (moto's FakeAction keeps its request)."""
    found: set[str] = set()
    for action in getattr(listener, "default_actions", []) or []:
        data = getattr(action, "data", {}) or {}
        if data.get("TargetGroupArn"):
            found.add(str(data["TargetGroupArn"]))
        for group in (data.get("ForwardConfig") or {}).get("TargetGroups") or []:
            if group.get("TargetGroupArn"):
                found.add(str(group["TargetGroupArn"]))
    return found


def _sdk(error: ClientError) -> str:
    """The SDK's words for a refused or failed call."""
    info = error.response.get("Error", {})
    return f"{info.get('Code', 'Error')}: {info.get('Message', '')}"
