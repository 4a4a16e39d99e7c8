"""CodeDeploy: CloudFormation's AWS::CodeDeploy::Application and ::DeploymentGroup, a deployment's outcome.

moto 5.2.5 has a CodeDeploy backend (applications, deployment groups, deployments) but no
CloudFormation model for either type, no DeleteApplication or DeleteDeploymentGroup, and answers
GetDeployment with an empty `errorInformation` and `rollbackInfo` ("TODO" in its responses). This
module adds the two models in moto's CloudFormationModel style (the stack's role authorizes each
handler call, sandbox/moto_ext/cloudformation.py) and a deployment's error and rollback, which the
simulated CodeDeployToECS action (sandbox/codedeploy_ecs.py) records as CodeDeploy reports them:
https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_DeploymentInfo.html
https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ErrorInformation.html
https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_RollbackInfo.html
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.exceptions import ValidationError
from moto.codedeploy import responses as cd_responses
from moto.codedeploy.models import AlarmConfiguration, codedeploy_backends
from moto.core.common_models import CloudFormationModel

from sandbox.moto_ext.cloudformation import api_shape

_deployment_info = cd_responses._deployment_info
# (account, region, deployment group) -> its application, as the stacks made them: a group's delete
# is authorized on its ARN, which names the application, when moto may have removed that already.
APPLICATION_OF_GROUP: dict[tuple[str, str, str], str] = {}


def _tags(properties: dict[str, Any]) -> list[dict[str, str]]:
    return [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in properties.get("Tags") or []]


class DeploymentApplication(CloudFormationModel):
    """AWS::CodeDeploy::Application backed by moto's CodeDeploy backend (Ref: the application's name)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeDeploy::Application"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ApplicationName"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    def get_cfn_attribute(self, attribute_name: str) -> str:
        raise cfn_parsing.UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> DeploymentApplication:
        properties = cloudformation_json["Properties"]
        backend = codedeploy_backends[account_id][region_name]
        if resource_name in backend.applications:
            message = (
                f"Resource of type 'AWS::CodeDeploy::Application' with identifier '{resource_name}' exists."
            )
            raise ValidationError(resource_name, message)
        backend.create_application(
            resource_name, properties.get("ComputePlatform", "Server"), _tags(properties)
        )
        return cls(resource_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: DeploymentApplication,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> DeploymentApplication:
        backend = codedeploy_backends[account_id][region_name]
        tags = _tags(cloudformation_json["Properties"])
        backend.applications[original_resource.name].tags = tags
        arn = backend._application_arn(original_resource.name)
        backend.tagger.delete_all_tags_for_resource(arn)
        backend.tagger.tag_resource(arn, tags)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        remove_application(account_id, region_name, resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        remove_application(account_id, region_name, self.name)


def remove_application(account_id: str, region_name: str, name: str) -> None:
    """DeleteApplication: the application and its deployment groups."""
    backend = codedeploy_backends[account_id][region_name]
    backend.applications.pop(name, None)
    backend.deployment_groups.pop(name, None)
    backend.tagger.delete_all_tags_for_resource(backend._application_arn(name))


class DeploymentGroupResource(CloudFormationModel):
    """AWS::CodeDeploy::DeploymentGroup backed by moto's CodeDeploy backend (Ref: the group's name)."""

    def __init__(self, application: str, name: str) -> None:
        self.application = application
        self.name = name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeDeploy::DeploymentGroup"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DeploymentGroupName"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    def get_cfn_attribute(self, attribute_name: str) -> str:
        raise cfn_parsing.UnformattedGetAttTemplateException()

    @staticmethod
    def settings(properties: dict[str, Any]) -> dict[str, Any]:
        """The properties as CreateDeploymentGroup's request names them."""
        alarms = properties.get("AlarmConfiguration")
        return {
            "deployment_config_name": properties.get("DeploymentConfigName"),
            "service_role_arn": properties["ServiceRoleArn"],
            "alarm_configuration": AlarmConfiguration(
                alarms=[{"name": a["Name"]} for a in alarms.get("Alarms") or []],
                enabled=bool(alarms.get("Enabled")),
                ignore_poll_alarm_failure=bool(alarms.get("IgnorePollAlarmFailure")),
            )
            if alarms
            else None,
            "auto_rollback_configuration": api_shape(properties.get("AutoRollbackConfiguration")),
            "deployment_style": api_shape(properties.get("DeploymentStyle")),
            "blue_green_deployment_configuration": api_shape(
                properties.get("BlueGreenDeploymentConfiguration")
            ),
            "load_balancer_info": api_shape(properties.get("LoadBalancerInfo")),
            "ecs_services": [
                {"serviceName": s["ServiceName"], "clusterName": s["ClusterName"]}
                for s in properties.get("ECSServices") or []
            ],
        }

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> DeploymentGroupResource:
        properties = cloudformation_json["Properties"]
        application = str(properties["ApplicationName"])
        codedeploy_backends[account_id][region_name].create_deployment_group(
            application_name=application,
            deployment_group_name=resource_name,
            ec2_tag_filters=None,
            on_premises_instance_tag_filters=None,
            auto_scaling_groups=None,
            tags=_tags(properties),
            **cls.settings(properties),
        )
        APPLICATION_OF_GROUP[(account_id, region_name, resource_name)] = application
        return cls(application, resource_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: DeploymentGroupResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> DeploymentGroupResource:
        properties = cloudformation_json["Properties"]
        backend = codedeploy_backends[account_id][region_name]
        group = backend.deployment_groups[original_resource.application][original_resource.name]
        for name, value in cls.settings(properties).items():
            setattr(group, name, value if value is not None or name == "alarm_configuration" else {})
        group.tags = _tags(properties)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        application = str(cloudformation_json.get("Properties", {}).get("ApplicationName", ""))
        codedeploy_backends[account_id][region_name].deployment_groups.get(application, {}).pop(
            resource_name, None
        )

    def delete(self, account_id: str, region_name: str) -> None:
        codedeploy_backends[account_id][region_name].deployment_groups.get(self.application, {}).pop(
            self.name, None
        )


def _deployment_info_with_outcome(deployment: Any) -> dict[str, Any]:
    """GetDeployment's DeploymentInfo with what moto leaves out: the error, the rollback, the alarms."""
    info = _deployment_info(deployment)
    info["errorInformation"] = dict(getattr(deployment, "error_information", {}) or {})
    info["rollbackInfo"] = dict(getattr(deployment, "rollback_info", {}) or {})
    alarms = getattr(deployment.deployment_group, "alarm_configuration", None)
    if alarms is not None:
        info["alarmConfiguration"] = {
            "enabled": bool(alarms.enabled),
            "alarms": list(alarms.alarms),
            "ignorePollAlarmFailure": bool(alarms.ignore_poll_alarm_failure),
        }
    return info


def install() -> None:
    cd_responses._deployment_info = _deployment_info_with_outcome


__all__ = [
    "APPLICATION_OF_GROUP",
    "DeploymentApplication",
    "DeploymentGroupResource",
    "install",
    "remove_application",
]
