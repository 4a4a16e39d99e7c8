"""The built Lambda layer holds the runtime library and its dependencies, nothing of the tooling."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

LAYER = ROOT / ".aws-sam/build/PipewardenLayer/python"
RUNTIME = {"pipewarden", "aws_lambda_powertools", "jmespath", "typing_extensions"}
NEVER = {
    "sandbox",
    "cli",
    "tests",
    "bench",
    "moto",
    "boto3",
    "botocore",
    "yaml",
    "pytest",
    "hypothesis",
    "functions",
    "rich",  # the command line's progress
}


@pytest.fixture(scope="module")
def entries() -> set[str]:
    if not LAYER.is_dir():
        pytest.skip("no sam build output: `make build` needs python3.13 (make test runs it when present)")
    return {p.name for p in LAYER.iterdir()}


def test_layer_holds_only_runtime_packages(entries: set[str]) -> None:
    packages = {re.sub(r"(-[\w.]+)?\.(dist-info|data)$", "", e) for e in entries} - {
        "requirements.txt",
        "__pycache__",
    }
    packages = {p.removesuffix(".py") for p in packages}
    assert packages <= RUNTIME, f"unexpected in the layer: {packages - RUNTIME}"
    assert "pipewarden" in packages


def test_layer_holds_none_of_the_tooling(entries: set[str]) -> None:
    assert not entries & NEVER


def test_layer_ships_the_blueprint(entries: set[str]) -> None:
    assert (LAYER / "pipewarden/blueprints/ecs-rolling.yaml").is_file()
    shipped = {p.name for p in (LAYER / "pipewarden").glob("*.py")}
    assert {"reconcile.py", "contract.py", "aws.py"} <= shipped
