"""ecs-blue-green: its tags, the ownership of its service's load balancer, and how its failures are classified."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pipewarden import classify, ownership
from pipewarden.aws import Clients
from pipewarden.contract import ContractViolation, RepositorySettings, parse_settings, unknown_keys

PREFIX = "pipewarden"
ACCOUNT = "111111111111"
BLUE = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/web-blue/1111111111111111"
GREEN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/web-green/2222222222222222"
BALANCER = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/web/3333333333333333"
LISTENER = (
    f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener/app/web/3333333333333333/4444444444444444"
)
OWNED = [{"Key": f"{PREFIX}:repository", "Value": "shop"}]


def tags(**extra: str) -> dict[str, str]:
    base = {"enabled": "true", "blueprint": "ecs-blue-green", "ecs-cluster": "apps", "ecs-service": "web"}
    base.update({k.replace("_", "-"): v for k, v in extra.items()})
    return {f"{PREFIX}:{k}": v for k, v in base.items()}


# -- the tags ------------------------------------------------------------------------------------------


def test_blue_green_needs_a_test_target_group_and_reads_up_to_three_rollback_alarms() -> None:
    with pytest.raises(ContractViolation) as raised:
        parse_settings("shop", tags(), PREFIX)
    assert raised.value.key == "pipewarden:test-target-group" and "second target group" in raised.value.reason
    settings = parse_settings("shop", tags(test_target_group="web-green", rollback_alarms="a, b ,c"), PREFIX)
    assert settings is not None
    assert settings.test_target_group == "web-green"
    assert settings.rollback_alarms == ("a", "b", "c")
    assert settings.deploys_to_ecs and settings.deploys_with_codedeploy and settings.pushes_image
    assert unknown_keys(tags(test_target_group="x", rollback_alarms="y"), PREFIX) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("test_target_group", "-web"),
        ("test_target_group", "w" * 33),
        ("test_target_group", "web_green"),
        ("rollback_alarms", "a,b,c,d"),
        ("rollback_alarms", "bad\nname"),
    ],
)
def test_a_bad_blue_green_tag_is_rejected_naming_it(key: str, value: str) -> None:
    values = {"test_target_group": "web-green", key: value}
    with pytest.raises(ContractViolation) as raised:
        parse_settings("shop", tags(**values), PREFIX)
    assert raised.value.key == f"pipewarden:{key.replace('_', '-')}"


def test_the_blue_green_tags_are_not_read_for_another_blueprint() -> None:
    settings = parse_settings("shop", tags(blueprint="ecs-rolling", test_target_group="-bad-"), PREFIX)
    assert settings is not None and settings.test_target_group == "" and not settings.deploys_with_codedeploy


# -- ownership of the load balancer -----------------------------------------------------------------------


class _Ecs:
    def __init__(self, service: dict[str, Any]) -> None:
        self.service = service

    def describe_services(self, **_: Any) -> dict[str, Any]:
        return {"services": [self.service]}

    def describe_task_definition(self, **_: Any) -> dict[str, Any]:
        role = f"arn:aws:iam::{ACCOUNT}:role/pipewarden-tasks/shop/web-task"
        return {"taskDefinition": {"taskRoleArn": role}}


class _Ecr:
    def describe_repositories(self, **_: Any) -> dict[str, Any]:
        return {"repositories": []}


class _Elbv2:
    def __init__(self, tagged: dict[str, list[dict[str, str]]], listeners: list[dict[str, Any]]) -> None:
        self.tagged = tagged
        self.listeners = listeners

    def describe_target_groups(self, **kwargs: Any) -> dict[str, Any]:
        groups = {
            "web-blue": {
                "TargetGroupArn": BLUE,
                "TargetGroupName": "web-blue",
                "LoadBalancerArns": [BALANCER],
            },
            "web-green": {"TargetGroupArn": GREEN, "TargetGroupName": "web-green", "LoadBalancerArns": []},
        }
        if "Names" in kwargs:
            return {"TargetGroups": [groups[n] for n in kwargs["Names"] if n in groups]}
        return {
            "TargetGroups": [g for g in groups.values() if g["TargetGroupArn"] in kwargs["TargetGroupArns"]]
        }

    def describe_listeners(self, **_: Any) -> dict[str, Any]:
        return {"Listeners": self.listeners}

    def describe_tags(self, ResourceArns: list[str]) -> dict[str, Any]:
        return {"TagDescriptions": [{"ResourceArn": a, "Tags": self.tagged.get(a, [])} for a in ResourceArns]}


def _forwarding(target: str = BLUE) -> dict[str, Any]:
    return {"ListenerArn": LISTENER, "DefaultActions": [{"Type": "forward", "TargetGroupArn": target}]}


def _check(
    settings: RepositorySettings,
    controller: str = "CODE_DEPLOY",
    tagged: dict[str, list[dict[str, str]]] | None = None,
    listeners: list[dict[str, Any]] | None = None,
    container: str = "shop",
) -> ownership.Targets:
    service = {
        "status": "ACTIVE",
        "taskDefinition": "web:1",
        "tags": [{"key": f"{PREFIX}:repository", "value": "shop"}],
        "deploymentController": {"type": controller},
        "loadBalancers": [{"targetGroupArn": BLUE, "containerName": container, "containerPort": 8080}],
    }
    found = {
        "ecs": _Ecs(service),
        "ecr": _Ecr(),
        "elbv2": _Elbv2(
            tagged if tagged is not None else {BLUE: OWNED, GREEN: OWNED, LISTENER: OWNED},
            listeners if listeners is not None else [_forwarding()],
        ),
    }
    return ownership.check(Clients(lambda service: found[service]), settings, PREFIX, False)


def _settings(**extra: str) -> RepositorySettings:
    settings = parse_settings("shop", tags(**{"test_target_group": "web-green", **extra}), PREFIX)
    assert settings is not None
    return settings


def test_a_service_whose_load_balancer_names_the_repository_gives_the_deployment_group_its_parts() -> None:
    targets = _check(_settings())
    assert targets.target_groups == ("web-blue", "web-green")
    assert targets.listener_arn == LISTENER
    assert targets.container_port == "8080"
    assert targets.pass_roles == (f"arn:aws:iam::{ACCOUNT}:role/pipewarden-tasks/shop/web-task",)


def test_after_a_deployment_the_listener_forwarding_to_the_test_target_group_is_still_found() -> None:
    assert _check(_settings(), listeners=[_forwarding(GREEN)]).listener_arn == LISTENER


@pytest.mark.parametrize(
    ("unowned", "key", "said"),
    [
        (LISTENER, "pipewarden:ecs-service", "the production listener"),
        (GREEN, "pipewarden:test-target-group", "target group web-green"),
        (BLUE, "pipewarden:ecs-service", "target group web-blue"),
    ],
)
def test_a_target_group_or_listener_that_does_not_name_the_repository_is_rejected(
    unowned: str, key: str, said: str
) -> None:
    tagged = {BLUE: OWNED, GREEN: OWNED, LISTENER: OWNED, unowned: [{"Key": "team", "Value": "other"}]}
    with pytest.raises(ContractViolation) as raised:
        _check(_settings(), tagged=tagged)
    assert raised.value.key == key
    assert said in raised.value.reason and "pipewarden:repository=shop" in raised.value.reason


def test_a_service_ecs_deploys_itself_is_refused_for_blue_green_and_a_codedeploy_one_for_rolling() -> None:
    with pytest.raises(ContractViolation) as raised:
        _check(_settings(), controller="ECS")
    assert raised.value.key == "pipewarden:blueprint" and "CODE_DEPLOY" in raised.value.reason
    rolling = dataclasses.replace(_settings(), blueprint="ecs-rolling")
    with pytest.raises(ContractViolation) as raised:
        _check(rolling)
    assert "ecs-blue-green" in raised.value.reason


def test_a_container_the_load_balancer_does_not_send_traffic_to_is_rejected() -> None:
    with pytest.raises(ContractViolation) as raised:
        _check(_settings(), container="sidecar")
    assert raised.value.key == "pipewarden:container" and "'sidecar'" in raised.value.reason


@pytest.mark.parametrize("listeners", [[], [_forwarding(), _forwarding(GREEN)]])
def test_no_single_production_listener_is_rejected(listeners: list[dict[str, Any]]) -> None:
    with pytest.raises(ContractViolation, match="exactly one listener"):
        _check(_settings(), listeners=listeners)


def test_a_test_target_group_that_is_the_services_own_or_missing_is_rejected() -> None:
    with pytest.raises(ContractViolation, match="already uses"):
        _check(_settings(test_target_group="web-blue"))
    with pytest.raises(ContractViolation, match="not found"):
        _check(_settings(test_target_group="web-purple"))


# -- classifying a failed deployment ----------------------------------------------------------------------


def _deployment(code: str, message: str = "", rolled_back: bool = True) -> dict[str, Any]:
    return {
        "deploymentId": "d-ABCDEFGHI",
        "status": "Failed",
        "errorInformation": {"code": code, "message": message},
        "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK1"} if rolled_back else {},
    }


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("HEALTH_CONSTRAINTS", classify.DETERMINISTIC),
        ("ALARM_ACTIVE", classify.DETERMINISTIC),
        ("IAM_ROLE_PERMISSIONS", classify.DETERMINISTIC),
        ("INVALID_ECS_SERVICE", classify.DETERMINISTIC),
        ("THROTTLED", classify.TRANSIENT),
        ("INTERNAL_ERROR", classify.TRANSIENT),
        ("TIMEOUT", classify.UNKNOWN),
    ],
)
def test_a_failed_deployment_is_classified_by_codedeploys_error_code(code: str, kind: str) -> None:
    verdict = classify.classify_deployment(_deployment(code, "what CodeDeploy said"))
    assert verdict.kind == kind
    assert verdict.evidence["code"] == code and verdict.evidence["deployment-id"] == "d-ABCDEFGHI"
    assert verdict.evidence["rollback-deployment-id"] == "d-ROLLBACK1"
    assert code in verdict.reason


def test_an_unknown_code_lets_the_message_decide() -> None:
    verdict = classify.classify_deployment(
        _deployment("ECS_UPDATE_ERROR", "Rate exceeded (Service: AmazonECS)")
    )
    assert verdict.kind == classify.TRANSIENT and verdict.evidence["code"] == "ECS_UPDATE_ERROR"


def test_without_the_deployment_the_actions_error_details_name_the_code() -> None:
    error = {
        "code": "JobFailed",
        "message": "Deployment d-XYZ failed: ALARM_ACTIVE: Activated alarms: web-5xx",
    }
    verdict = classify.classify_deployment(None, error)
    assert verdict.kind == classify.DETERMINISTIC
    assert (
        verdict.evidence["deployment-id"] == "d-XYZ"
        and verdict.evidence["message"] == "Activated alarms: web-5xx"
    )
    # and details that name no deployment are read as any action's
    other = classify.classify_deployment(None, {"code": "JobFailed", "message": "Access denied"})
    assert other.evidence["provider"] == "CodeDeployToECS"
