"""Lazily built AWS clients, and the translation of ClientError into the few outcomes handlers act on."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.config import _RetryDict
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_codebuild import CodeBuildClient
    from mypy_boto3_codecommit import CodeCommitClient
    from mypy_boto3_codepipeline import CodePipelineClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient


class AwsError(Exception):
    """An AWS call failed; `code` is AWS's error code, `operation` the API operation."""

    transient = False

    def __init__(self, code: str, message: str, operation: str = "") -> None:
        super().__init__(f"{operation}: {code}: {message}" if operation else f"{code}: {message}")
        self.code = code
        self.message = message
        self.operation = operation

    def __reduce__(self) -> tuple[type[AwsError], tuple[str, str, str]]:
        # Pickled as it was made (an exception pickles its formatted text by default).
        return (type(self), (self.code, self.message, self.operation))


class NotFound(AwsError):
    """The named resource does not exist (any more)."""


class Conflict(AwsError):
    """The resource exists already or is busy with another operation."""


class Throttled(AwsError):
    """AWS asked us to slow down, or failed on its side: retry later."""

    transient = True


class AccessDenied(AwsError):
    """The function's role may not do this: a deployment problem, not worth retrying."""


class Invalid(AwsError):
    """AWS rejected the request as malformed or not allowed in the current state."""


# How CloudFormation words a request on a stack that is busy (ValidationError, HTTP 400), as reported
# verbatim: "Stack:<arn> is in UPDATE_IN_PROGRESS state and can not be updated." and "Stack [<arn>]
# cannot be deleted while in status UPDATE_IN_PROGRESS" (see sandbox/moto_ext/cloudformation.py).
# The same words name a stack that is not busy but broken ("is in ROLLBACK_COMPLETE state"): no event
# will follow that one, so only a status *_IN_PROGRESS makes the stack busy.
_BUSY = re.compile(r"(?:is in|while in status) ([A-Z_]+_IN_PROGRESS)\b")
_THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "InternalServiceException",
    "RequestTimeout",
    "RequestTimeoutException",
}
_NOT_FOUND = {
    "RepositoryDoesNotExistException",
    "PipelineNotFoundException",
    "ResourceNotFoundException",
    "ClusterNotFoundException",
    "ServiceNotFoundException",
    "NoSuchEntity",
    "NoSuchBucket",
    "StackNotFound",
    "TargetGroupNotFound",
    "ListenerNotFound",
    "DeploymentDoesNotExistException",
    "NotFound",
}
_CONFLICT = {"AlreadyExistsException", "ConflictException", "ConcurrentModificationException"}
_ACCESS = {
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
}


def translate(error: Exception) -> Exception:
    """Turn a botocore error into an `AwsError` subclass; anything else is returned unchanged.

    CloudFormation reports a missing stack, a stack that is busy and an update with nothing to
    change all as `ValidationError`; the message tells them apart.
    """
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

    if isinstance(error, ConnectionError | HTTPClientError | ReadTimeoutError):
        return Throttled("ConnectionError", str(error))
    if not isinstance(error, ClientError):
        return error
    details: Any = error.response.get("Error", {})
    code = str(details.get("Code", "Unknown"))
    message = str(details.get("Message", ""))
    operation = error.operation_name
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in _THROTTLING or status >= 500:
        return Throttled(code, message, operation)
    if code in _NOT_FOUND or "does not exist" in message:
        return NotFound(code, message, operation)
    if code in _CONFLICT or _BUSY.search(message):
        return Conflict(code, message, operation)
    if code in _ACCESS:
        return AccessDenied(code, message, operation)
    return Invalid(code, message, operation)


_P = ParamSpec("_P")
_R = TypeVar("_R")
_C = TypeVar("_C")


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        translated = translate(error)
        if translated is error:
            raise
        raise translated from error


def call(method: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Call a client's method (`call(client.get_pipeline, name=...)`), raising `AwsError` subclasses
    instead of botocore errors; the operation they name is botocore's (`ClientError.operation_name`)."""
    with _translated():
        return method(*args, **kwargs)


def pages(paginate: Callable[_P, Iterable[_R]], /, *args: _P.args, **kwargs: _P.kwargs) -> Iterator[_R]:
    """The pages of a boto3 paginator (`pages(client.get_paginator("op").paginate, ...)`), each read
    when the caller asks for it (stop iterating to stop reading), with botocore errors translated."""
    with _translated():
        yield from paginate(*args, **kwargs)


class _Client(Generic[_C]):
    """One service's client on `Clients`: built by the factory on first use, then reused."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __get__(self, clients: Clients, owner: object = None) -> _C:
        built = clients.built
        if self.service not in built:
            built[self.service] = clients.factory(self.service)
        return cast(_C, built[self.service])


class Clients:
    """The AWS clients a flow uses, each built on first use (from `factory`, `client` by default)."""

    codecommit: _Client[CodeCommitClient] = _Client("codecommit")
    cloudformation: _Client[CloudFormationClient] = _Client("cloudformation")
    ecs: _Client[ECSClient] = _Client("ecs")
    ecr: _Client[ECRClient] = _Client("ecr")
    tagging: _Client[ResourceGroupsTaggingAPIClient] = _Client("resourcegroupstaggingapi")
    events: _Client[EventBridgeClient] = _Client("events")
    codepipeline: _Client[CodePipelineClient] = _Client("codepipeline")
    codebuild: _Client[CodeBuildClient] = _Client("codebuild")
    logs: _Client[CloudWatchLogsClient] = _Client("logs")
    sqs: _Client[SQSClient] = _Client("sqs")
    dynamodb: _Client[DynamoDBClient] = _Client("dynamodb")
    s3: _Client[S3Client] = _Client("s3")
    sns: _Client[SNSClient] = _Client("sns")
    secretsmanager: _Client[SecretsManagerClient] = _Client("secretsmanager")
    # No mypy-boto3 stubs for these two in requirements/dev.lock yet: typed as Any.
    elbv2: _Client[Any] = _Client("elbv2")
    codedeploy: _Client[Any] = _Client("codedeploy")

    def __init__(self, factory: Callable[[str], object] | None = None, attempts: int | None = None) -> None:
        """`attempts` gives the clients more tries than the SDK's default (or the environment's) allow."""
        self.factory: Callable[[str], object] = factory or functools.partial(_build, attempts=attempts)
        self.built: dict[str, object] = {}


def tagged_resources(
    tagging: ResourceGroupsTaggingAPIClient, resource_type: str, tag_key: str
) -> Iterator[tuple[str, dict[str, str]]]:
    """(ARN, tags) of every resource of the type carrying the tag key, 100 per GetResources call."""
    paginator = tagging.get_paginator("get_resources")
    for page in pages(
        paginator.paginate,
        ResourceTypeFilters=[resource_type],
        TagFilters=[{"Key": tag_key}],
        PaginationConfig={"PageSize": 100},
    ):
        for item in page.get("ResourceTagMappingList", []):
            yield item["ResourceARN"], {t["Key"]: t["Value"] for t in item.get("Tags", [])}


def forget_clients() -> None:
    """Drop the clients built so far: the next use builds them again from the environment."""
    _build.cache_clear()


@functools.cache
def _build(service: str, attempts: int | None = None) -> BaseClient:
    """A client for `service`, built on first use and reused across warm invocations.

    The endpoint, region and credentials come from the environment (AWS_ENDPOINT_URL included),
    so the same code talks to AWS or to any AWS-compatible endpoint without knowing which.
    """
    import boto3
    from botocore.config import Config

    retries: _RetryDict = {"mode": "standard"}
    if attempts is not None:
        retries["total_max_attempts"] = attempts
    config = Config(retries=retries, connect_timeout=5, read_timeout=30)
    # `service` is any name here: the typed attributes of `Clients` say which client it is.
    return boto3.client(service, config=config)  # type: ignore[call-overload,no-any-return]
