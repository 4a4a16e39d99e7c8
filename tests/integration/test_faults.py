"""Fault injection: the controller's calls fail as AWS's do, the sandbox's own never, and a seed repeats a run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from pipewarden.aws import AwsError, Throttled, call
from sandbox.faults import Rule
from sandbox.runtime import REGION, Sandbox

pytestmark = pytest.mark.integration


@pytest.fixture
def faulty(sandbox: Sandbox) -> Iterator[Sandbox]:
    yield sandbox
    sandbox.faults.configure([], 0)


def controller(sandbox: Sandbox, service: str) -> Any:
    """A client signed like the deployed functions' (not the sandbox's exempt key)."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=sandbox.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.mark.parametrize(
    ("service", "operation", "kwargs", "kind", "code"),
    [
        ("codepipeline", "list_pipelines", {}, "throttle", "ThrottlingException"),  # JSON protocol
        ("cloudformation", "list_stacks", {}, "throttle", "Throttling"),  # query protocol
        ("s3", "list_buckets", {}, "throttle", "SlowDown"),  # REST-XML
        ("sqs", "list_queues", {}, "error503", "ServiceUnavailable"),
        ("codecommit", "list_repositories", {}, "error500", "InternalFailure"),
        ("codebuild", "list_projects", {}, "reset", "ConnectionError"),
    ],
)
def test_each_fault_arrives_as_aws_would_send_it_and_reads_as_transient(
    faulty: Sandbox, service: str, operation: str, kwargs: dict[str, Any], kind: str, code: str
) -> None:
    faulty.faults.configure([Rule(1.0, (kind,), service=service)], seed=1)
    with pytest.raises(AwsError) as raised:
        call(getattr(controller(faulty, service), operation), **kwargs)
    assert isinstance(raised.value, Throttled) and raised.value.transient
    assert raised.value.code == code
    assert faulty.faults.injected[kind] == 1
    getattr(faulty.client(service), operation)(**kwargs)  # the sandbox's own call is never touched


def test_rules_pick_an_operation_and_slow_answers_still_answer(faulty: Sandbox) -> None:
    faulty.faults.configure([Rule(1.0, ("throttle",), "codepipeline", "GetPipeline")], seed=1)
    pipelines = controller(faulty, "codepipeline")
    call(pipelines.list_pipelines)  # another operation of the service
    with pytest.raises(Throttled):
        call(pipelines.get_pipeline, name="none")
    faulty.faults.configure([Rule(1.0, ("slow",))], seed=1)
    faulty.faults.slow_seconds = 0.05
    assert "pipelines" in call(pipelines.list_pipelines)
    assert faulty.faults.injected == {"slow": 1}


def test_a_seed_repeats_the_same_faults(faulty: Sandbox) -> None:
    def run(seed: int) -> list[str]:
        faulty.faults.configure([Rule(0.5)], seed=seed)
        client, seen = controller(faulty, "codepipeline"), []
        for _ in range(30):
            try:
                call(client.list_pipelines)
                seen.append("ok")
            except AwsError as error:
                seen.append(error.code)
        return seen

    first, again, other = run(3), run(3), run(4)
    assert first == again and first != other
    assert 5 < sum(1 for s in first if s != "ok") < 25


def test_the_switch_is_an_http_api_of_the_sandbox(faulty: Sandbox) -> None:
    import json
    import urllib.request

    def post(body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - the local sandbox
            f"{faulty.url}/_sandbox/faults", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request) as response:  # noqa: S310 - the local sandbox
            return json.loads(response.read())  # type: ignore[no-any-return]

    assert post({"seed": 9, "rules": [{"rate": 1, "kinds": ["error500"], "service": "sqs"}]})["rules"] == 1
    with pytest.raises(Throttled):
        call(controller(faulty, "sqs").list_queues)
    assert post({})["injected"] == {"error500": 1}
    assert post({"rules": []})["rules"] == 0
    with pytest.raises(urllib.error.HTTPError):
        post({"rules": [{"rate": 2}]})
