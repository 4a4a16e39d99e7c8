"""The tag contract: defaults, every validation, the allow-list, and arbitrary input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipewarden.contract import (
    ContractViolation,
    RepositorySettings,
    check_allowed,
    is_enabled,
    parse_settings,
    unknown_keys,
)

REQUIRED = {"pw:enabled": "true", "pw:ecs-cluster": "apps", "pw:ecs-service": "web"}


def parse(extra: dict[str, str] | None = None, repo: str = "Shop.Front") -> RepositorySettings | None:
    return parse_settings(repo, {**REQUIRED, **(extra or {})}, "pw")


def test_required_tags_alone_give_the_documented_defaults() -> None:
    assert parse() == RepositorySettings(
        repository="Shop.Front",
        ecs_cluster="apps",
        ecs_service="web",
        container="Shop-Front",
        ecr_repository="shop.front",
        branch="main",
        buildspec="",
        compute="small",
        retry="transient",
        max_retries=2,
        notify="failures",
        keep_executions=10,
    )


@pytest.mark.parametrize("value", ["false", "yes", "", "1", "enabled"])
def test_any_enabled_value_but_true_means_not_enrolled(value: str) -> None:
    assert parse({"pw:enabled": value}) is None


def test_enabled_is_case_and_space_insensitive() -> None:
    assert is_enabled({"pw:enabled": " True "}, "pw")


def test_tags_of_another_prefix_are_not_read() -> None:
    assert parse_settings("r", {"pipewarden:enabled": "true"}, "pw") is None


def test_every_optional_key_is_honoured() -> None:
    settings = parse(
        {
            "pw:container": "app",
            "pw:ecr-repository": "team/shop",
            "pw:branch": "release/2026.11",
            "pw:buildspec": "ci/build.yaml",
            "pw:compute": "LARGE",
            "pw:retry": "all",
            "pw:max-retries": "5",
            "pw:notify": "off",
            "pw:keep-executions": "30",
        }
    )
    assert settings is not None
    assert (settings.container, settings.ecr_repository, settings.branch) == (
        "app",
        "team/shop",
        "release/2026.11",
    )
    assert (settings.buildspec, settings.compute, settings.retry) == ("ci/build.yaml", "large", "all")
    assert (settings.max_retries, settings.notify, settings.keep_executions) == (5, "off", 30)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("ecs-cluster", None, "is required"),
        ("ecs-service", "", "is required"),
        ("ecs-cluster", "has space", "letters, digits"),
        ("container", "a/b", "letters, digits"),
        ("ecr-repository", "UPPER", "ECR repository"),
        ("ecr-repository", "x", "ECR repository"),
        ("branch", "a..b", "git branch"),
        ("branch", "feature/", "git branch"),
        ("branch", "x.lock", "git branch"),
        ("branch", "-x", "git branch"),
        ("branch", "a b", "git branch"),
        ("buildspec", "../etc/buildspec.yml", "relative path"),
        ("buildspec", "/abs/buildspec.yml", "relative path"),
        ("buildspec", "buildspec.json", "relative path"),
        ("compute", "xl", "one of small, medium, large"),
        ("retry", "maybe", "one of transient, all, off"),
        ("max-retries", "6", "0 to 5"),
        ("max-retries", "-1", "0 to 5"),
        ("max-retries", "two", "0 to 5"),
        ("notify", "loud", "one of all, failures, off"),
        ("keep-executions", "0", "1 to 1000"),
    ],
)
def test_bad_values_name_the_key_the_value_and_the_rule(key: str, value: str | None, reason: str) -> None:
    tags = (
        {**REQUIRED, f"pw:{key}": value}
        if value is not None
        else {k: v for k, v in REQUIRED.items() if k != f"pw:{key}"}
    )
    with pytest.raises(ContractViolation) as error:
        parse_settings("shop", {k: v for k, v in tags.items() if v is not None}, "pw")
    assert error.value.key == f"pw:{key}"
    assert error.value.value == value
    assert reason in error.value.reason
    assert f"pw:{key}=" in str(error.value)


@pytest.mark.parametrize(
    ("allowed", "cluster", "service", "ok"),
    [
        (("*",), "anything", "at-all", True),
        (("apps-*",), "apps-prod", "web", True),
        (("apps-*",), "payments", "web", False),
        (("shared/web-*",), "shared", "web-frontend", True),
        (("shared/web-*",), "shared", "admin", False),
        (("apps-prod", "shared/web-*"), "apps-prod", "anything", True),
        (("Apps-*",), "apps-prod", "web", False),
    ],
)
def test_allow_list(allowed: tuple[str, ...], cluster: str, service: str, ok: bool) -> None:
    settings = RepositorySettings("r", cluster, service, "r", "r")
    if ok:
        check_allowed(settings, allowed, "pw")
    else:
        with pytest.raises(ContractViolation, match="not allowed") as error:
            check_allowed(settings, allowed, "pw")
        assert error.value.key == "pw:ecs-cluster"


def test_repository_name_that_is_no_valid_ecr_name_asks_for_the_tag() -> None:
    with pytest.raises(ContractViolation, match="set the tag") as error:
        parse(repo="a..b")
    assert error.value.key == "pw:ecr-repository"


def test_unknown_keys_are_listed() -> None:
    assert unknown_keys({**REQUIRED, "pw:colour": "blue", "other:x": "1"}, "pw") == ["pw:colour"]


tag_values = st.one_of(
    st.text(max_size=300), st.sampled_from(["true", "", "5", "small", "all", "main", "a..b"])
)
tag_keys = st.one_of(
    st.sampled_from(
        [f"pw:{k}" for k in ("enabled", "ecs-cluster", "ecs-service", "branch", "max-retries", "compute")]
    ),
    st.text(max_size=40),
)


@given(st.dictionaries(tag_keys, tag_values, max_size=15), st.text(min_size=1, max_size=100))
def test_any_tags_give_settings_none_or_a_violation_never_another_error(
    tags: dict[str, str], repo: str
) -> None:
    try:
        result = parse_settings(repo, tags, "pw")
    except ContractViolation as violation:
        assert violation.key.startswith("pw:")
        return
    if result is not None:
        assert 0 <= result.max_retries <= 5
        assert result.compute in ("small", "medium", "large")
