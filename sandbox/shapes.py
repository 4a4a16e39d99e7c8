"""Responses held against botocore's service models: what AWS could answer an operation with, and its errors.

A botocore model is AWS's own published description of an API (the SDKs are generated from it), so a
response that breaks it is one AWS never sends, however leniently botocore's parsers read it. The checks
are on the *parsed* response (what an SDK hands the caller) except `unknown_members`, which reads the raw
JSON document for members the model does not have (a parser silently drops those).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from botocore.model import OperationModel, Shape, StructureShape

# Errors any operation may answer with besides its modelled `errors`, by the protocol it speaks.
# The services' "Common Errors" pages, e.g. https://docs.aws.amazon.com/codepipeline/latest/APIReference/CommonErrors.html
# and https://docs.aws.amazon.com/codebuild/latest/APIReference/CommonErrors.html (JSON services),
# https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html and
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/CommonErrors.html (query services).
_COMMON = frozenset(
    {
        "AccessDeniedException",
        "IncompleteSignature",
        "InternalFailure",
        "InvalidAction",
        "InvalidClientTokenId",
        "NotAuthorized",
        "OptInRequired",
        "RequestExpired",
        "ServiceUnavailable",
        "ThrottlingException",
        "ValidationError",
    }
)
_QUERY_COMMON = _COMMON | {
    "InvalidParameterCombination",
    "InvalidParameterValue",
    "InvalidQueryParameter",
    "MalformedQueryString",
    "MissingAction",
    "MissingAuthenticationToken",
    "MissingParameter",
    # IAM's and STS's denial on the query protocol, as the sandbox's IAM enforcement answers it
    # (sandbox/iam/enforce.py); no CommonErrors page lists it (unverified beyond SDK error messages).
    "AccessDenied",
    # CloudFormation, IAM and STS throttle with `Throttling` (botocore's retry table,
    # botocore/data/_retry.json "throttling", lists it next to ThrottlingException).
    "Throttling",
}
# S3 names its errors in one table: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList
# (only the codes a request pipewarden makes could meet; extend from that table as needed).
_S3_COMMON = frozenset(
    {
        "AccessDenied",
        "InternalError",
        "InvalidArgument",
        "InvalidRequest",
        "MalformedXML",
        "NoSuchBucket",
        "NoSuchKey",
        "NoSuchBucketPolicy",
        "NoSuchLifecycleConfiguration",
        "NoSuchVersion",
        "PreconditionFailed",
        "ServiceUnavailable",
        "SlowDown",
    }
)
COMMON_ERRORS: Mapping[str, frozenset[str]] = {
    "json": _COMMON,
    "rest-json": _COMMON,
    "query": _QUERY_COMMON,
    "rest-xml": _S3_COMMON,
}

_NUMBERS = (int, float)


def documented_errors(operation: OperationModel) -> frozenset[str]:
    """The codes the operation's model names: each error shape's name and, where it differs, its wire
    code (`NoSuchEntityException` is `NoSuchEntity` on IAM's query protocol)."""
    codes = set()
    for shape in operation.error_shapes:
        codes.add(shape.name)
        code = shape.metadata.get("error", {}).get("code")
        if code:
            codes.add(str(code))
    return frozenset(codes)


def error_problems(operation: OperationModel, protocol: str, code: str) -> list[str]:
    """[] when AWS documents `code` for the operation (modelled, or common to the protocol's services)."""
    if code in documented_errors(operation) or code in COMMON_ERRORS.get(protocol, frozenset()):
        return []
    modelled = ", ".join(sorted(documented_errors(operation))) or "none"
    return [f"error code {code!r} is neither modelled for {operation.name} ({modelled}) nor a common error"]


def output_problems(operation: OperationModel, parsed: Mapping[str, Any]) -> list[str]:
    """What in a parsed (successful) response the operation's output shape does not allow.

    Required members missing (at any depth), values of the wrong type, strings outside the `enum`,
    strings, lists and maps shorter or longer than `min`/`max`, numbers outside `min`/`max`.
    """
    shape = operation.output_shape
    if shape is None:
        return []
    document = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
    problems: list[str] = []
    _check(shape, document, operation.name, problems)
    return problems


def unknown_members(shape: Shape | None, document: Any, path: str = "") -> list[str]:
    """Members of a raw JSON document the shape has no place for, by their JSON names (any depth)."""
    if shape is None:
        return []
    problems: list[str] = []
    _unknown(shape, document, path or shape.name, problems)
    return problems


def _unknown(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if shape.type_name == "structure" and isinstance(value, dict):
        if shape.metadata.get("document"):
            return
        members = cast("StructureShape", shape).members
        by_wire = {m.serialization.get("name", name): m for name, m in members.items()}
        for key, item in value.items():
            member = by_wire.get(key)
            if member is None:
                problems.append(f"{path}.{key}: no such member in {shape.name}")
            else:
                _unknown(member, item, f"{path}.{key}", problems)
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            _unknown(shape.member, item, f"{path}[{index}]", problems)  # type: ignore[attr-defined]
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            _unknown(shape.value, item, f"{path}[{key!r}]", problems)  # type: ignore[attr-defined]


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        _check_structure(shape, value, path, problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: {_kind(value)} where {shape.name} is a list")
            return
        _check_size(shape, len(value), path, problems)
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}[{index}]", problems)  # type: ignore[attr-defined]
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: {_kind(value)} where {shape.name} is a map")
            return
        _check_size(shape, len(value), path, problems)
        for key, item in value.items():
            _check(shape.key, key, f"{path} key {key!r}", problems)  # type: ignore[attr-defined]
            _check(shape.value, item, f"{path}[{key!r}]", problems)  # type: ignore[attr-defined]
    else:
        _check_scalar(shape, value, path, problems)


def _check_structure(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path}: {_kind(value)} where {shape.name} is a structure")
        return
    if shape.metadata.get("document"):
        return  # a free-form document: any JSON value
    for name in shape.required_members:
        if value.get(name) is None:
            problems.append(f"{path}.{name}: required by {shape.name}, missing")
    for name, member in cast("StructureShape", shape).members.items():
        if value.get(name) is not None:
            _check(member, value[name], f"{path}.{name}", problems)


def _check_scalar(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: {_kind(value)} where {shape.name} is a string")
            return
        enum = shape.enum  # type: ignore[attr-defined]
        if enum and value not in enum:
            problems.append(f"{path}: {value!r} is not one of {shape.name}'s values {sorted(enum)}")
        _check_size(shape, len(value), path, problems)
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: {_kind(value)} where {shape.name} is an {kind}")
            return
        _check_size(shape, value, path, problems, what="value")
    elif kind in ("float", "double"):
        if not isinstance(value, _NUMBERS) or isinstance(value, bool):
            problems.append(f"{path}: {_kind(value)} where {shape.name} is a {kind}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: {_kind(value)} where {shape.name} is a boolean")
    elif kind == "timestamp":
        if not isinstance(value, datetime.datetime):
            problems.append(f"{path}: {_kind(value)} where {shape.name} is a timestamp")
    elif kind == "blob":
        streaming = shape.serialization.get("streaming") or shape.metadata.get("streaming")
        if not streaming and not isinstance(value, (bytes, bytearray)):
            problems.append(f"{path}: {_kind(value)} where {shape.name} is a blob")


def _check_size(shape: Shape, size: int, path: str, problems: list[str], what: str = "length") -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        problems.append(f"{path}: {what} {size} is below {shape.name}'s min {low}")
    if high is not None and size > high:
        problems.append(f"{path}: {what} {size} is above {shape.name}'s max {high}")


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:120]
