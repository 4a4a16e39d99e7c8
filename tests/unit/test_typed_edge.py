"""The AWS edge is typed with the mypy-boto3 stubs, and the stubs the lock pins are the ones the code uses."""

from __future__ import annotations

import ast
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


def _stub_imports(source: str) -> set[str]:
    """The mypy-boto3 stub packages a module's import statements name (`codepipeline` for
    `from mypy_boto3_codepipeline.type_defs import ...`): a mention in a comment or a string is no import."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        names |= {m.split(".")[0].removeprefix("mypy_boto3_") for m in modules if m.startswith("mypy_boto3_")}
    return names


def test_only_import_statements_count_as_importing_a_stub() -> None:
    mentioned = (
        '# from mypy_boto3_s3 import S3Client\nNOTE = \'mypy_boto3_sqs\'\n"""import mypy_boto3_sns"""\n'
    )
    assert _stub_imports(mentioned) == set()
    imported = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from mypy_boto3_s3.type_defs import ObjectTypeDef\n"
        "    import mypy_boto3_sqs, mypy_boto3_sns.client as sns\n"
        "from . import mypy_boto3_events\n"  # a relative import is a module of this project, not the stub
    )
    assert _stub_imports(imported) == {"s3", "sqs", "sns"}


def test_every_locked_stub_package_is_imported_by_type_checked_code() -> None:
    here = Path(__file__).resolve()
    sources = [p for folder in TYPE_CHECKED for p in (ROOT / folder).rglob("*.py") if p != here]
    imported = {name for p in sources for name in _stub_imports(p.read_text())}
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
