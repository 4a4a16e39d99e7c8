"""The AWS edge is typed with the mypy-boto3 stubs, and the stubs the lock pins are the ones the code uses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.stub import Stubber

from pipewarden import aws, pipelines

if TYPE_CHECKING:
    from mypy_boto3_codepipeline import CodePipelineClient

ROOT = Path(__file__).resolve().parents[2]
TYPE_CHECKED = ("layers/pipewarden/pipewarden", "functions", "sandbox", "cli", "bench", "tests")


def _locked_stubs() -> set[str]:
    lock = (ROOT / "requirements" / "dev.lock").read_text().splitlines()
    return {
        line.split("==")[0].removeprefix("mypy-boto3-") for line in lock if line.startswith("mypy-boto3-")
    }


def test_the_stub_extras_asked_for_are_the_stubs_locked() -> None:
    wanted = re.search(r"^boto3-stubs\[([^\]]*)\]", (ROOT / "requirements" / "dev.in").read_text(), re.M)
    assert wanted is not None
    assert set(wanted.group(1).split(",")) == _locked_stubs()


def test_every_locked_stub_package_is_imported_by_type_checked_code() -> None:
    here = Path(__file__).resolve()
    sources = [p for folder in TYPE_CHECKED for p in (ROOT / folder).rglob("*.py") if p != here]
    imported = {name for p in sources for name in re.findall(r"\bmypy_boto3_(\w+)", p.read_text())}
    assert {stub.replace("-", "_") for stub in _locked_stubs()} - imported == set()


def _stubbed_codepipeline() -> tuple[CodePipelineClient, Stubber]:
    client = boto3.client(
        "codepipeline", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def test_pages_are_read_one_at_a_time_and_a_reader_that_stops_reads_no_further() -> None:
    client, stub = _stubbed_codepipeline()
    stub.add_response("list_pipelines", {"pipelines": [{"name": "a"}], "nextToken": "t"}, {})
    stub.add_response("list_pipelines", {"pipelines": [{"name": "b"}]}, {"nextToken": "t"})
    with stub:
        names = pipelines.names(client)
        assert next(names) == "a"
        with pytest.raises(AssertionError):
            stub.assert_no_pending_responses()  # the second page was not asked for
        assert list(names) == ["b"]
        stub.assert_no_pending_responses()


def test_a_page_that_fails_raises_the_domain_error() -> None:
    client, stub = _stubbed_codepipeline()
    stub.add_client_error("list_pipelines", "ThrottlingException", "Rate exceeded", 400)
    with stub, pytest.raises(aws.Throttled) as raised:
        list(aws.pages(client.get_paginator("list_pipelines").paginate))
    assert raised.value.operation == "ListPipelines"


def test_a_typed_call_names_the_operation_botocore_called() -> None:
    client, stub = _stubbed_codepipeline()
    stub.add_client_error("get_pipeline", "PipelineNotFoundException", "gone", 400)
    with stub, pytest.raises(aws.NotFound) as raised:
        aws.call(client.get_pipeline, name="p")
    assert (raised.value.code, raised.value.operation) == ("PipelineNotFoundException", "GetPipeline")
