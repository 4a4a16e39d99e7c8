"""The blueprint registry and the `<prefix>:blueprint` tag: parsed, allowed, and each template's parameters."""

from __future__ import annotations

import dataclasses

import pytest

from pipewarden import blueprint
from pipewarden.config import ConfigError, ControllerConfig
from pipewarden.contract import (
    BLUEPRINTS,
    DEFAULT_ALLOWED_BLUEPRINTS,
    ContractViolation,
    RepositorySettings,
    check_allowed,
    parse_settings,
)
from pipewarden.naming import application_name
from pipewarden.reconcile import Action, Desired, decide, desired_state
from pipewarden.stacks import StackView
from sandbox import template

CONFIG = ControllerConfig(
    tag_prefix="pipewarden",
    allowed_targets=("apps-*",),
    artifact_bucket="artifacts",
    permissions_boundary_arn="arn:aws:iam::111111111111:policy/pipewarden/boundary",
    cloudformation_role_arn="arn:aws:iam::111111111111:role/pipewarden-controller/cfn",
    allowed_blueprints=BLUEPRINTS,
    application_boundary_arn="arn:aws:iam::111111111111:policy/pipewarden/application-boundary",
    application_deploy_boundary_arn="arn:aws:iam::111111111111:policy/pipewarden/application-deploy-boundary",
)


def tags(**extra: str) -> dict[str, str]:
    return {
        "pipewarden:enabled": "true",
        **{f"pipewarden:{k.replace('_', '-')}": v for k, v in extra.items()},
    }


def test_every_blueprint_the_contract_names_ships_a_template_whose_parameters_it_fills() -> None:
    assert set(blueprint.BLUEPRINTS) <= set(BLUEPRINTS)
    for name, chosen in blueprint.BLUEPRINTS.items():
        declared = set(template.loads(chosen.template_body(), chosen.file)["Parameters"])
        # CloudFormation refuses a parameter the template does not declare, and a declared one
        # without a default that is not given: the enroll function passes exactly these.
        assert set(chosen.tag_derived) | set(chosen.looked_up) == declared, name
        settings = parse_settings(
            "shop",
            tags(blueprint=name, ecs_cluster="apps-prod", ecs_service="web", test_target_group="web-green"),
            "pipewarden",
        )
        assert settings is not None and settings.blueprint == name
        assert set(blueprint.parameters(settings, CONFIG)) == set(chosen.tag_derived)


def test_no_blueprint_tag_is_ecs_rolling_as_before() -> None:
    settings = parse_settings("shop", tags(ecs_cluster="apps-prod", ecs_service="web"), "pipewarden")
    assert settings is not None and settings.blueprint == "ecs-rolling"
    assert blueprint.name_of(None) == "ecs-rolling"
    assert blueprint.name_of("build-only@0123456789ab") == "build-only"


def test_an_unknown_blueprint_is_rejected_naming_the_choices() -> None:
    with pytest.raises(ContractViolation) as raised:
        parse_settings(
            "shop", tags(blueprint="k8s", ecs_cluster="apps-prod", ecs_service="web"), "pipewarden"
        )
    assert raised.value.key == "pipewarden:blueprint"
    assert ", ".join(BLUEPRINTS) in str(raised.value)


@pytest.mark.parametrize("name", ["build-only"])
def test_a_blueprint_that_deploys_nowhere_on_ecs_needs_no_cluster_or_service(name: str) -> None:
    settings = parse_settings("shop", tags(blueprint=name), "pipewarden")
    assert settings is not None
    assert (settings.ecs_cluster, settings.ecs_service) == ("", "")
    # and an allow-list with no ECS target does not stop it
    check_allowed(settings, (), "pipewarden", BLUEPRINTS)


@pytest.mark.parametrize("name", ["ecs-rolling", "ecs-blue-green"])
def test_an_ecs_blueprint_still_needs_its_cluster_and_an_allowed_target(name: str) -> None:
    with pytest.raises(ContractViolation, match="ecs-cluster=\\(missing\\): is required"):
        parse_settings("shop", tags(blueprint=name), "pipewarden")
    settings = parse_settings(
        "shop",
        tags(blueprint=name, ecs_cluster="db", ecs_service="web", test_target_group="tg"),
        "pipewarden",
    )
    assert settings is not None
    with pytest.raises(ContractViolation, match="not allowed"):
        check_allowed(settings, ("apps-*",), "pipewarden", BLUEPRINTS)


def test_a_blueprint_the_controller_does_not_list_is_rejected_naming_the_parameter() -> None:
    settings = parse_settings("shop", tags(blueprint="build-only"), "pipewarden")
    assert settings is not None
    with pytest.raises(ContractViolation) as raised:
        check_allowed(settings, ("*",), "pipewarden", ("ecs-rolling",))
    assert raised.value.key == "pipewarden:blueprint"
    assert "AllowedBlueprints" in raised.value.reason


def test_allowed_blueprints_are_read_from_the_environment() -> None:
    env = {
        "ARTIFACT_BUCKET": "artifacts",
        "PERMISSIONS_BOUNDARY_ARN": CONFIG.permissions_boundary_arn,
        "CLOUDFORMATION_ROLE_ARN": CONFIG.cloudformation_role_arn,
    }
    assert ControllerConfig.from_env(env).allowed_blueprints == DEFAULT_ALLOWED_BLUEPRINTS
    chosen = ControllerConfig.from_env({**env, "ALLOWED_BLUEPRINTS": " build-only , ecs-rolling "})
    assert chosen.allowed_blueprints == ("build-only", "ecs-rolling")
    assert ControllerConfig.from_env({**env, "ALLOWED_BLUEPRINTS": ""}).allowed_blueprints == ()
    with pytest.raises(ConfigError, match="ALLOWED_BLUEPRINTS='ecs-rolling,k8s'"):
        ControllerConfig.from_env({**env, "ALLOWED_BLUEPRINTS": "ecs-rolling,k8s"})


def _stack(settings: RepositorySettings, label: str) -> StackView:
    chosen = blueprint.get(blueprint.name_of(label))
    return StackView(
        name="pipewarden-shop",
        stack_id="arn:aws:cloudformation:eu-west-1:111111111111:stack/pipewarden-shop/1",
        status="UPDATE_COMPLETE",
        parameters=chosen.parameters(dataclasses.replace(settings, blueprint=chosen.name), CONFIG),
        tags={**blueprint.stack_tags("shop", "pipewarden", chosen.name), "pipewarden:blueprint": label},
    )


def test_a_changed_blueprint_updates_the_same_stack_and_says_from_what_to_what() -> None:
    settings = parse_settings("shop", tags(blueprint="build-only"), "pipewarden")
    assert settings is not None
    rolling = blueprint.get("ecs-rolling").label
    decision = decide(Desired("shop", settings), _stack(settings, rolling), CONFIG)
    assert decision.action is Action.UPDATE
    assert decision.changed[-1] == "blueprint ecs-rolling -> build-only"
    # A stack of the same blueprint but an older template is updated too, without the arrow
    decision = decide(Desired("shop", settings), _stack(settings, "build-only@000000000000"), CONFIG)
    assert decision.changed == ("blueprint",)
    decision = decide(Desired("shop", settings), _stack(settings, blueprint.get("build-only").label), CONFIG)
    assert decision.action is Action.NOTHING


def _application_stack(repository: str) -> StackView:
    """A lambda application's stack, as its pipeline's change sets make it: no pipewarden tags."""
    name = application_name(repository)
    return StackView(
        name=name,
        stack_id=f"arn:aws:cloudformation:eu-west-1:111111111111:stack/{name}/1",
        status="UPDATE_COMPLETE",
        parameters={"PipewardenApplicationName": name},
    )


@pytest.mark.parametrize("enrolled", [True, False])
def test_a_repository_named_after_an_application_stack_can_neither_take_nor_delete_it(enrolled: bool) -> None:
    # Another team's lambda application runs in pipewarden-app-<id>, the id computable from its name;
    # a repository named app-<id> (or app.<id>, app_<id>) makes the same stack name.
    victim = application_name("payments")
    for attacker in (victim.removeprefix("pipewarden-"), "app." + victim.removeprefix("pipewarden-app-")):
        tags = {"pipewarden:enabled": "true", "pipewarden:blueprint": "build-only"} if enrolled else {}
        desired = desired_state(attacker, tags, CONFIG)
        decision = decide(desired, _application_stack("payments"), CONFIG)
        # Enrolled: rejected, naming why; not enrolled: nothing (before, the stack was deleted)
        assert decision.action is (Action.REJECT if enrolled else Action.NOTHING), attacker
        if enrolled:
            assert desired.violation is not None and "pipewarden-app-*" in desired.violation.reason
        # and with no stack yet, such a repository gets none that could later collide
        assert decide(desired, None, CONFIG).action is (Action.REJECT if enrolled else Action.NOTHING)
