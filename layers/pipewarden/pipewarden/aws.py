"""Lazily built AWS clients, and the translation of ClientError into the few outcomes handlers act on."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.client import BaseClient


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


def call(client: Any, operation: str, **kwargs: Any) -> Any:
    """Call `client.<operation>(**kwargs)`, raising `AwsError` subclasses instead of botocore errors."""
    try:
        return getattr(client, operation)(**kwargs)
    except Exception as error:
        translated = translate(error)
        if translated is error:
            raise
        raise translated from error


class Clients:
    """The AWS clients a flow uses, each built on first use (from `factory`, `client` by default)."""

    def __init__(self, factory: Callable[[str], Any] | None = None) -> None:
        self._factory = factory or client

    codecommit = property(lambda self: self._cached("codecommit"))
    cloudformation = property(lambda self: self._cached("cloudformation"))
    ecs = property(lambda self: self._cached("ecs"))
    ecr = property(lambda self: self._cached("ecr"))
    tagging = property(lambda self: self._cached("resourcegroupstaggingapi"))
    events = property(lambda self: self._cached("events"))
    codepipeline = property(lambda self: self._cached("codepipeline"))
    codebuild = property(lambda self: self._cached("codebuild"))
    logs = property(lambda self: self._cached("logs"))
    sqs = property(lambda self: self._cached("sqs"))
    dynamodb = property(lambda self: self._cached("dynamodb"))
    s3 = property(lambda self: self._cached("s3"))
    sns = property(lambda self: self._cached("sns"))
    secretsmanager = property(lambda self: self._cached("secretsmanager"))

    def _cached(self, service: str) -> Any:
        built: dict[str, Any] = self.__dict__.setdefault("_built", {})
        if service not in built:
            built[service] = self._factory(service)
        return built[service]


def tagged_resources(tagging: Any, resource_type: str, tag_key: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(ARN, tags) of every resource of the type carrying the tag key, 100 per GetResources call."""
    token = ""
    while True:
        page = call(
            tagging,
            "get_resources",
            ResourceTypeFilters=[resource_type],
            TagFilters=[{"Key": tag_key}],
            ResourcesPerPage=100,
            PaginationToken=token,
        )
        for item in page.get("ResourceTagMappingList", []):
            yield item["ResourceARN"], {t["Key"]: t["Value"] for t in item.get("Tags", [])}
        token = page.get("PaginationToken", "")
        if not token:
            return


@functools.cache
def client(service: str, attempts: int | None = None) -> BaseClient:
    """A client for `service`, built on first use and reused across warm invocations.

    The endpoint, region and credentials come from the environment (AWS_ENDPOINT_URL included),
    so the same code talks to AWS or to any AWS-compatible endpoint without knowing which.
    `attempts` gives a client more tries than the SDK's default (or the environment's) allow.
    """
    import boto3
    from botocore.config import Config

    retries: dict[str, Any] = {"mode": "standard"}
    if attempts is not None:
        retries["total_max_attempts"] = attempts
    config = Config(retries=retries, connect_timeout=5, read_timeout=30)  # type: ignore[arg-type]
    return boto3.client(service, config=config)  # type: ignore[call-overload,no-any-return]
