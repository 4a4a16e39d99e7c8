"""The lambda blueprint's contract: opt-in, its sam-template tag, its application's name, and the
blueprint switch that would strand the application stack (rejected with a reason)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipewarden import blueprint
from pipewarden.contract import (
    BLUEPRINTS,
    DEFAULT_ALLOWED_BLUEPRINTS,
    KNOWN_KEYS,
    ContractViolation,
    check_allowed,
    parse_settings,
)
from pipewarden.naming import application_name
from pipewarden.reconcile import Action, Desired, decide, needs_application_stack
from pipewarden.stacks import StackView
from sandbox import template
from tests.conftest import ROOT
from tests.unit.test_blueprints import CONFIG, tags


def test_lambda_comes_between_the_ecs_blueprints_and_build_only() -> None:
    assert BLUEPRINTS.index("ecs-rolling") < BLUEPRINTS.index("lambda") < BLUEPRINTS.index("build-only")


def test_lambda_is_not_allowed_by_default_and_the_rejection_says_how_to_opt_in() -> None:
    settings = parse_settings("api", tags(blueprint="lambda"), "pipewarden")
    assert settings is not None and settings.deploys_application
    assert "lambda" not in DEFAULT_ALLOWED_BLUEPRINTS
    with pytest.raises(ContractViolation) as rejected:
        check_allowed(settings, ("apps-*",), "pipewarden")
    assert rejected.value.key == "pipewarden:blueprint"
    assert "AllowedBlueprints" in rejected.value.reason
    assert "never allowed by default" in rejected.value.reason
    # Once the platform team lists it, no ECS target is needed
    check_allowed(settings, (), "pipewarden", ("ecs-rolling", "lambda"))


def test_the_controller_template_allows_lambda_only_when_listed() -> None:
    parameter = template.load(ROOT / "template.yaml")["Parameters"]["AllowedBlueprints"]
    assert "lambda" not in parameter["Default"].split(",")
    assert "lambda" in parameter["AllowedPattern"]


def test_lambda_reads_sam_template_and_no_image_or_service_tag() -> None:
    settings = parse_settings(
        "api",
        tags(blueprint="lambda", ecs_cluster="x", container="c", sam_template="app/sam.yml"),
        "pipewarden",
    )
    assert settings is not None
    assert settings.sam_template == "app/sam.yml"
    assert (settings.ecs_cluster, settings.container, settings.ecr_repository) == ("", "", "")
    assert "sam-template" in KNOWN_KEYS
    default = parse_settings("api", tags(blueprint="lambda"), "pipewarden")
    assert default is not None and default.sam_template == "template.yaml"
    # Another blueprint does not read it
    other = parse_settings("api", tags(blueprint="build-only", sam_template="x.yaml"), "pipewarden")
    assert other is not None and other.sam_template == ""


@pytest.mark.parametrize("value", ["../secrets.yaml", "/etc/template.yaml", "template.json", "a b.yaml"])
def test_a_sam_template_outside_the_repository_or_not_yaml_is_rejected(value: str) -> None:
    with pytest.raises(ContractViolation) as rejected:
        parse_settings("api", tags(blueprint="lambda", sam_template=value), "pipewarden")
    assert rejected.value.key == "pipewarden:sam-template"


def test_the_blueprint_fills_its_template_parameters() -> None:
    settings = parse_settings("api", tags(blueprint="lambda"), "pipewarden")
    assert settings is not None
    values = blueprint.parameters(settings, CONFIG)
    chosen = blueprint.get("lambda")
    declared = set(template.loads(chosen.template_body(), chosen.file)["Parameters"])
    assert set(values) == declared
    assert values["ApplicationName"] == application_name("api")
    assert values["ApplicationBoundaryArn"] == CONFIG.application_boundary_arn
    assert values["SamTemplate"] == "template.yaml"


@given(
    st.from_regex(r"[A-Za-z0-9._-]{1,100}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9._-]{1,100}", fullmatch=True),
)
def test_no_application_name_is_the_prefix_of_another(first: str, second: str) -> None:
    """The deploy role may touch `<ApplicationName>-*`: one repository's names never match another's."""
    a, b = application_name(first), application_name(second)
    assert len(a) == len(b) == len("pipewarden-app-") + 12
    if first != second:
        assert a != b  # 60 bits: a collision here would be a finding
    assert not (b.startswith(f"{a}-") or a.startswith(f"{b}-"))


def _lambda_stack(settings_blueprint: str = "lambda") -> StackView:
    settings = parse_settings("api", tags(blueprint=settings_blueprint), "pipewarden")
    assert settings is not None
    chosen = blueprint.get("lambda")
    lambda_settings = dataclasses.replace(settings, blueprint="lambda", sam_template="template.yaml")
    return StackView(
        name="pipewarden-api",
        stack_id="arn:aws:cloudformation:eu-west-1:111111111111:stack/pipewarden-api/1",
        status="UPDATE_COMPLETE",
        parameters=chosen.parameters(lambda_settings, CONFIG),
        tags=blueprint.stack_tags("api", "pipewarden", "lambda"),
    )


def _application(status: str) -> StackView:
    name = application_name("api")
    return StackView(name, f"arn:aws:cloudformation:eu-west-1:111111111111:stack/{name}/1", status)


def test_switching_away_from_lambda_while_the_application_stack_exists_is_rejected_with_a_reason() -> None:
    """The application stack acts with the blueprint's DeployRole: a switch that deletes it would leave
    a stack nobody could update or delete through CloudFormation (AWS-FACTS "IAM", the service role)."""
    settings = parse_settings("api", tags(blueprint="build-only"), "pipewarden")
    assert settings is not None
    desired = Desired("api", settings)
    stack = _lambda_stack()
    assert needs_application_stack(desired, stack, "pipewarden")
    decision = decide(desired, stack, CONFIG, _application("UPDATE_COMPLETE"))
    assert decision.action is Action.REJECT
    assert decision.violation is not None and decision.violation.key == "pipewarden:blueprint"
    assert application_name("api") in decision.reason
    assert "delete that stack first" in decision.reason
    assert "left unchanged" in decision.reason


def test_switching_away_from_lambda_once_the_application_stack_is_gone_updates() -> None:
    settings = parse_settings("api", tags(blueprint="build-only"), "pipewarden")
    assert settings is not None
    for application in (None, _application("DELETE_COMPLETE")):
        decision = decide(Desired("api", settings), _lambda_stack(), CONFIG, application)
        assert decision.action is Action.UPDATE
        assert "blueprint lambda -> build-only" in decision.changed


def test_the_application_stack_is_read_only_for_a_switch_away_from_lambda() -> None:
    stack = _lambda_stack()
    same = parse_settings("api", tags(blueprint="lambda"), "pipewarden")
    assert same is not None
    assert not needs_application_stack(Desired("api", same), stack, "pipewarden")
    assert not needs_application_stack(
        Desired("api"), stack, "pipewarden"
    )  # unenrolled: DeployRole is retained
    assert decide(Desired("api", same), stack, CONFIG).action is Action.NOTHING
