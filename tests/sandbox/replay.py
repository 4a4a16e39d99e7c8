"""Replays documented AWS responses through real botocore clients, as AWS would answer them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import yaml
from botocore import xform_name
from botocore.parsers import create_parser
from botocore.stub import Stubber

from pipewarden.aws import Clients

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "aws-samples"


@cache
def sources() -> dict[str, dict[str, str]]:
    """SOURCES.yaml: "<service>.<Operation>" -> origin, url, changes."""
    return yaml.safe_load((SAMPLES / "SOURCES.yaml").read_text())  # type: ignore[no-any-return]


def raw(service: str, operation: str) -> Any:
    """The sample as stored: the documented JSON."""
    return json.loads((SAMPLES / service / f"{operation}.json").read_text())


def parsed(service: str, operation: str, body: Any = None) -> dict[str, Any]:
    """The sample (or `body`) through botocore's JSON response parser for the operation's output shape:
    timestamps become datetimes, nulls and unknown keys are dropped, as for a real response."""
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).output_shape
    if model.protocol == "rest-xml":
        # S3's samples are the SDK's parsed form, keyed by member names, not the XML's element names.
        return _by_member(raw(service, operation) if body is None else body, shape)  # type: ignore[no-any-return]
    text = json.dumps(raw(service, operation) if body is None else body).encode()
    response = {"body": text, "headers": {}, "status_code": 200}
    result: dict[str, Any] = create_parser("json").parse(response, shape) if shape else {}
    result.pop("ResponseMetadata", None)
    return result


def _by_member(value: Any, shape: Any) -> Any:
    """A parsed-form sample with its timestamps read the way botocore's parsers read them."""
    from botocore.parsers import DEFAULT_TIMESTAMP_PARSER

    if value is None or shape is None:
        return value
    if shape.type_name == "structure":
        return {k: _by_member(v, shape.members.get(k)) for k, v in value.items() if v is not None}
    if shape.type_name == "list":
        return [_by_member(v, shape.member) for v in value]
    if shape.type_name == "timestamp":
        return DEFAULT_TIMESTAMP_PARSER(value)
    return value


class _Stubber(Stubber):
    """A Stubber that hands responses on unvalidated, as botocore does with real ones: the model's length
    and range limits bind requests, and AWS's own examples break them (an empty `buildsNotFound`)."""

    def _validate_operation_response(self, operation_name: str, service_response: Any) -> None:
        return None


def model_errors(service: str, operation: str) -> list[tuple[Any, ...]]:
    """Where the parsed sample breaks the output shape's types (lengths and ranges aside: see _Stubber)."""
    from botocore.validate import ParamValidator

    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).output_shape
    if shape is None:
        return []
    report = ParamValidator().validate(parsed(service, operation), shape)
    return [e for e in report._errors if e[0] not in ("invalid length", "invalid range")]


class Replay:
    """Real botocore clients whose responses are the samples (Stubber checks requests and responses
    against the service model; responses went through botocore's parser). Hand `clients()` to the product code under test."""

    def __init__(self) -> None:
        self._stubbers: dict[str, _Stubber] = {}
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            made = boto3.client(
                service,  # type: ignore[call-overload]
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            self._stubbers[service] = _Stubber(made)
            self._stubbers[service].activate()
            self._clients[service] = made
        return self._clients[service]

    def clients(self) -> Clients:
        return Clients(self.client)

    def answer(
        self,
        service: str,
        operation: str,
        expected: dict[str, Any] | None = None,
        body: Any = None,
    ) -> None:
        """Queue the sample (or `body`) as the answer to the next `operation` call."""
        self.client(service)
        self._stubbers[service].add_response(
            xform_name(operation), parsed(service, operation, body), expected
        )

    def fail(
        self,
        service: str,
        operation: str,
        code: str,
        message: str = "",
        expected: dict[str, Any] | None = None,
    ) -> None:
        """Queue AWS's error `code` (HTTP 400) as the answer to the next `operation` call."""
        self.client(service)
        self._stubbers[service].add_client_error(
            xform_name(operation), code, message, 400, expected_params=expected
        )

    def assert_all_read(self) -> None:
        for stubber in self._stubbers.values():
            stubber.assert_no_pending_responses()
