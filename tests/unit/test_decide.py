"""The reconciler's decision table: desired (tags) x actual (stack) -> action."""

from __future__ import annotations

import pytest

from pipewarden import blueprint
from pipewarden.config import ControllerConfig
from pipewarden.contract import RepositorySettings
from pipewarden.reconcile import Action, decide, desired_state
from pipewarden.stacks import StackView

CONFIG = ControllerConfig(
    tag_prefix="pipewarden",
    allowed_targets=("apps-*",),
    artifact_bucket="artifacts",
    permissions_boundary_arn="arn:aws:iam::1:policy/b",
    cloudformation_role_arn="arn:aws:iam::1:role/cfn",
)
TAGS = {"pipewarden:enabled": "true", "pipewarden:ecs-cluster": "apps-prod", "pipewarden:ecs-service": "web"}
SETTINGS = RepositorySettings("shop", "apps-prod", "web", "shop", "shop")


def stack(status: str = "CREATE_COMPLETE", owner: str = "shop", **param_changes: str) -> StackView:
    params = {
        **blueprint.parameters(SETTINGS, CONFIG),
        "PassRoleArns": "arn:aws:iam::1:role/x",
        **param_changes,
    }
    return StackView(
        name="pipewarden-shop",
        stack_id="arn:aws:cloudformation:us-east-1:1:stack/pipewarden-shop/1",
        status=status,
        parameters=params,
        tags=blueprint.stack_tags(owner, "pipewarden"),
    )


def action(tags: dict[str, str] | None, actual: StackView | None) -> Action:
    return decide(desired_state("shop", tags, CONFIG), actual, CONFIG).action


def test_enrolled_without_stack_is_created() -> None:
    assert action(TAGS, None) is Action.CREATE


def test_unchanged_stack_needs_nothing() -> None:
    assert action(TAGS, stack()) is Action.NOTHING


def test_changed_tag_updates_and_names_the_parameter() -> None:
    decision = decide(desired_state("shop", {**TAGS, "pipewarden:branch": "dev"}, CONFIG), stack(), CONFIG)
    assert decision.action is Action.UPDATE
    assert decision.changed == ("BranchName",)


def test_new_blueprint_version_updates() -> None:
    old = stack()
    outdated = StackView(
        old.name,
        old.stack_id,
        old.status,
        old.parameters,
        {**old.tags, "pipewarden:blueprint": "ecs-rolling@0"},
    )
    decision = decide(desired_state("shop", TAGS, CONFIG), outdated, CONFIG)
    assert decision.action is Action.UPDATE
    assert decision.changed == ("blueprint",)


def test_pass_role_lookup_result_alone_does_not_update() -> None:
    assert action(TAGS, stack(PassRoleArns="arn:aws:iam::1:role/other")) is Action.NOTHING


@pytest.mark.parametrize("tags", [None, {}, {**TAGS, "pipewarden:enabled": "false"}])
def test_not_enrolled_or_missing_repository_deletes_the_stack(tags: dict[str, str] | None) -> None:
    assert action(tags, stack()) is Action.DELETE


@pytest.mark.parametrize("tags", [None, {}])
def test_not_enrolled_without_stack_is_nothing(tags: dict[str, str] | None) -> None:
    assert action(tags, None) is Action.NOTHING


@pytest.mark.parametrize(
    "status",
    ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"],
)
def test_stack_in_progress_is_left_for_the_next_pass(status: str) -> None:
    assert action(TAGS, stack(status)) is Action.WAIT
    assert action(None, stack(status)) is Action.WAIT


@pytest.mark.parametrize(
    "status",
    ["ROLLBACK_COMPLETE", "CREATE_FAILED", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"],
)
def test_broken_stack_of_an_enrolled_repository_is_repaired(status: str) -> None:
    assert action(TAGS, stack(status)) is Action.REPAIR


def test_update_rolled_back_stack_is_updated_again_when_tags_differ() -> None:
    assert action({**TAGS, "pipewarden:branch": "dev"}, stack("UPDATE_ROLLBACK_COMPLETE")) is Action.UPDATE


def test_deleted_stack_counts_as_no_stack() -> None:
    assert action(TAGS, stack("DELETE_COMPLETE")) is Action.CREATE


def test_invalid_tags_without_stack_are_rejected_with_the_violation() -> None:
    decision = decide(desired_state("shop", {**TAGS, "pipewarden:max-retries": "9"}, CONFIG), None, CONFIG)
    assert decision.action is Action.REJECT
    assert decision.violation is not None and decision.violation.key == "pipewarden:max-retries"


def test_invalid_tags_with_stack_reject_and_leave_it() -> None:
    decision = decide(desired_state("shop", {**TAGS, "pipewarden:retry": "x"}, CONFIG), stack(), CONFIG)
    assert decision.action is Action.REJECT
    assert "left unchanged" in decision.reason


def test_cluster_outside_allow_list_is_rejected() -> None:
    decision = decide(
        desired_state("shop", {**TAGS, "pipewarden:ecs-cluster": "payments"}, CONFIG), None, CONFIG
    )
    assert decision.action is Action.REJECT
    assert decision.violation is not None and decision.violation.key == "pipewarden:ecs-cluster"


def test_stack_of_another_repository_with_the_same_name_is_never_touched() -> None:
    # "sh-op" and "sh.op" both map to pipewarden-sh-op; here the stack belongs to the other one.
    other = stack(owner="sh.op")
    assert action(TAGS, other) is Action.REJECT
    assert action(None, other) is Action.NOTHING


def test_stack_waiting_for_its_ecs_service_is_looked_at_again() -> None:
    waiting = stack()
    waiting = StackView(
        waiting.name,
        waiting.stack_id,
        waiting.status,
        waiting.parameters,
        {**waiting.tags, "pipewarden:awaiting-service": "true"},
    )
    decision = decide(desired_state("shop", TAGS, CONFIG), waiting, CONFIG)
    assert decision.action is Action.UPDATE
    assert decision.changed == ("awaiting-service",)
