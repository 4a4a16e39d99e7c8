"""Stack/pipeline names derived from repository names."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipewarden.naming import repository_from_arn, stack_name


@pytest.mark.parametrize(
    ("repo", "name"),
    [
        ("storefront", "pipewarden-storefront"),
        ("my.repo_v2", "pipewarden-my-repo-v2"),
        ("A-b", "pipewarden-A-b"),
    ],
)
def test_unsafe_characters_become_dashes(repo: str, name: str) -> None:
    assert stack_name(repo) == name


def test_long_names_are_cut_to_100_with_a_hash_that_keeps_them_apart() -> None:
    a, b = "x" * 95 + "alpha", "x" * 95 + "beta"
    assert len(stack_name(a)) == 100
    assert stack_name(a) != stack_name(b)
    assert stack_name(a).startswith("pipewarden-xxxx")


@given(st.from_regex(r"[\w.-]{1,100}", fullmatch=True))
def test_every_repository_name_gives_a_valid_stack_and_pipeline_name(repo: str) -> None:
    name = stack_name(repo)
    assert re.fullmatch(r"[A-Za-z0-9-]{1,100}", name)
    assert name.startswith("pipewarden-")


def test_repository_from_arn() -> None:
    assert repository_from_arn("arn:aws:codecommit:eu-west-1:123456789012:shop") == "shop"
    with pytest.raises(ValueError, match="not a CodeCommit"):
        repository_from_arn("arn:aws:s3:::bucket")
