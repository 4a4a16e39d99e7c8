"""An HTTP request to the sandbox -> the IAM authorization requests (action, resource, context) AWS makes."""

from __future__ import annotations

import datetime
import functools
import io
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, unquote
from xml.etree import ElementTree

from sandbox.iam import catalog

if TYPE_CHECKING:
    from botocore.model import OperationModel, ServiceModel, Shape

ContextValue = str | tuple[str, ...]
Context = Mapping[str, ContextValue]
PARTITION = "aws"

# Signing names (the credential scope's service) that are not the botocore service's name, and IAM
# prefixes that are not the signing name. Everything else signs with its own name and prefix.
_SERVICES_BY_SIGNING_NAME: dict[str, tuple[str, ...]] = {
    "tagging": ("resourcegroupstaggingapi",),
    "monitoring": ("cloudwatch",),
    "email": ("ses", "sesv2"),
    "states": ("stepfunctions",),
    "dynamodb": ("dynamodb", "dynamodbstreams"),
    "execute-api": ("apigateway", "apigatewaymanagementapi"),
    # Elastic Load Balancing v2 and Classic sign alike; v2 first (the operations pipewarden calls).
    "elasticloadbalancing": ("elbv2", "elb"),
}
_IAM_PREFIX_BY_SIGNING_NAME = {"tagging": "tag", "monitoring": "cloudwatch", "email": "ses"}


class UnmappedRequest(Exception):
    """The sandbox cannot tell which IAM action a request is: an error to see, never a silent allow."""


@dataclass(frozen=True)
class Signature:
    """What SigV4 says about a request: who signed it, for which region and service (signing name)."""

    access_key: str
    region: str
    service: str


@dataclass(frozen=True)
class Call:
    """A request read with botocore's model of its service: the operation and its parameters."""

    signature: Signature
    service: str  # botocore's service name, e.g. "resourcegroupstaggingapi"
    operation: str  # e.g. "GetResources"
    protocol: str  # how it came over the wire: json, query, rest-json or rest-xml
    params: Mapping[str, Any]

    @property
    def prefix(self) -> str:
        """The service's IAM prefix (`tag` for the tagging API, else the signing name)."""
        return _IAM_PREFIX_BY_SIGNING_NAME.get(self.signature.service, self.signature.service)


@dataclass(frozen=True)
class Principal:
    """The identity behind an assumed role's session, as the request context describes it."""

    arn: str  # arn:aws:sts::<account>:assumed-role/<role name>/<session>
    role_arn: str  # arn:aws:iam::<account>:role/<path><role name>
    account: str
    tags: Mapping[str, str] = field(default_factory=dict)
    user_id: str = ""  # <role id>:<session>


@dataclass(frozen=True)
class AuthorizationRequest:
    """One (action, resource, context) AWS authorizes for a call; a call may need several."""

    action: str
    resource: str
    context: Context


class State(Protocol):
    """What the ARNs and context of a request need from the sandbox's AWS state."""

    def stack_arn(self, name_or_id: str) -> str | None:
        """The ARN (stack id) of the live stack with this name, or of the stack with this id."""
        ...

    def secret_arn(self, name_or_arn: str) -> str | None:
        """The full ARN (with its random suffix) of the secret."""
        ...

    def role_arn(self, name: str) -> str | None:
        """The ARN, path included, of the IAM role with this name."""
        ...

    def tags(self, arn: str) -> Mapping[str, str]:
        """The tags of the resource (empty when it has none or does not exist)."""
        ...

    def next_task_definition_revision(self, family: str) -> int:
        """The revision RegisterTaskDefinition will give the family's next task definition."""
        ...


class NoState:
    """A state with nothing in it: no stack, secret or role exists, nothing is tagged."""

    def stack_arn(self, name_or_id: str) -> str | None:
        """No stack exists."""
        return name_or_id if name_or_id.startswith("arn:") else None

    def secret_arn(self, name_or_arn: str) -> str | None:
        """No secret exists."""
        return None

    def role_arn(self, name: str) -> str | None:
        """No role exists."""
        return None

    def tags(self, arn: str) -> Mapping[str, str]:
        """Nothing is tagged."""
        return {}

    def next_task_definition_revision(self, family: str) -> int:
        """Every family is new."""
        return 1


# -- reading the request ------------------------------------------------------------------------


def signature(environ: Mapping[str, Any]) -> Signature | None:
    """The SigV4 credential scope of the request (Authorization header, or a presigned URL's query)."""
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    credential = ""
    if "Credential=" in auth:
        credential = auth.split("Credential=", 1)[1].split(",", 1)[0].strip()
    else:
        query = dict(parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True))
        credential = query.get("X-Amz-Credential", "")
    scope = credential.split("/")
    if len(scope) < 5:
        return None
    return Signature(access_key=scope[0], region=scope[2], service=scope[3])


def body(environ: dict[str, Any]) -> bytes:
    """The request body, read once and put back so the application behind still reads all of it."""
    if "sandbox.iam.body" not in environ:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(size) if size > 0 else b""
        environ["wsgi.input"] = io.BytesIO(data)
        environ["sandbox.iam.body"] = data
    return environ["sandbox.iam.body"]  # type: ignore[no-any-return]


def parse(environ: dict[str, Any]) -> Call:
    """Identify the operation and read its parameters with botocore's model of the service.

    JSON (X-Amz-Target), query (Action=) and the REST protocols (method, path and query markers such as
    S3's `?versions` or `?delete`, matched against every operation's request URI) are read as the SDKs
    write them. Raises UnmappedRequest when the request is no AWS operation botocore knows.
    """
    sig = signature(environ)
    if sig is None:
        raise UnmappedRequest("the request carries no SigV4 credential scope")
    models = _service_models(sig.service)
    if not models:
        raise UnmappedRequest(f"no botocore service signs as {sig.service!r}")
    headers = _headers(environ)
    target = headers.get("x-amz-target", "")
    if target:
        prefix, _, name = target.rpartition(".")
        for model in models:
            if model.metadata.get("targetPrefix") == prefix and name in model.operation_names:
                payload = body(environ)
                document = json.loads(payload) if payload.strip() else {}
                params = _from_json(model.operation_model(name).input_shape, document)
                return Call(sig, model.service_name, name, "json", params)
        raise UnmappedRequest(f"no {sig.service} operation answers X-Amz-Target {target}")
    query = parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    form: list[tuple[str, str]] = []
    if str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
        form = parse_qsl(body(environ).decode("utf-8", "replace"), keep_blank_values=True)
    values = dict(query + form)
    if "Action" in values:
        name = values["Action"]
        for model in models:
            if name in model.operation_names:
                params = _from_query(model.operation_model(name).input_shape, values)
                return Call(sig, model.service_name, name, "query", params)
        raise UnmappedRequest(f"no {sig.service} operation is called {name}")
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    path = str(environ.get("PATH_INFO", "/")) or "/"
    for model in models:
        if model.protocol not in ("rest-json", "rest-xml"):
            continue
        found = _route(model, method, path, query, headers)
        if found is not None:
            operation, labels = found
            params = _rest_params(model, operation, labels, query, headers, environ)
            return Call(sig, model.service_name, operation.name, model.protocol, params)
    raise UnmappedRequest(f"no {sig.service} operation answers {method} {path}")


@functools.cache
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()


_models_lock = threading.Lock()


@functools.cache
def _service_models(signing_name: str) -> tuple[ServiceModel, ...]:
    with _models_lock:  # botocore's loader caches as it goes, and moto serves on several threads
        session = _session()
        available = set(session.get_available_services())
        names = [n for n in _SERVICES_BY_SIGNING_NAME.get(signing_name, (signing_name,)) if n in available]
        return tuple(session.get_service_model(name) for name in names)


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    path: re.Pattern[str]
    labels: tuple[str, ...]  # member names of the path's labels, in order
    markers: tuple[tuple[str, str | None], ...]  # literal query keys (and values) of the request URI
    literal_length: int


@functools.cache
def _routes(model: ServiceModel) -> tuple[_Route, ...]:
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = str(http.get("requestUri", "/"))
        path_part, _, query_part = uri.partition("?")
        labels: list[str] = []
        regex = ""
        for piece in re.split(r"(\{[^}]+\})", path_part):
            if piece.startswith("{"):
                label = piece[1:-1]
                greedy = label.endswith("+")
                labels.append(label.rstrip("+"))
                regex += f"(?P<l{len(labels)}>{'.+' if greedy else '[^/]+'})"
            else:
                regex += re.escape(piece)
        # Clients differ on a trailing slash after a bucket or other last label.
        regex = regex.rstrip("/") + "/?"
        markers = tuple(
            (key, value if sep else None)
            for key, sep, value in (m.partition("=") for m in query_part.split("&") if m)
        )
        literal = len(re.sub(r"\{[^}]+\}", "", path_part))
        routes.append(
            _Route(
                name,
                str(http.get("method", "POST")).upper(),
                re.compile(regex),
                tuple(labels),
                markers,
                literal,
            )
        )
    return tuple(routes)


def _route(
    model: ServiceModel, method: str, path: str, query: list[tuple[str, str]], headers: Mapping[str, str]
) -> tuple[OperationModel, dict[str, str]] | None:
    """The operation whose method, path and query markers fit, the most specific when several do.

    S3 serves many operations at one path (`GET /{Bucket}` lists objects, `GET /{Bucket}?versions` lists
    versions, `PUT /{Bucket}/{Key+}` with `x-amz-copy-source` copies): required query parameters and
    headers of an operation count towards it, markers it lacks rule it out.
    """
    present = dict(query)
    best: tuple[tuple[int, ...], OperationModel, dict[str, str]] | None = None
    for route in _routes(model):
        if route.method != method:
            continue
        found = route.path.fullmatch(path)
        if found is None:
            continue
        score = [0, 0, 0, route.literal_length]
        fits = True
        for key, value in route.markers:
            if key == "x-id":
                # botocore adds x-id=<Operation> to some URIs; other SDKs may leave it out.
                if key in present:
                    fits = fits and present[key] == value
                    score[0] += 1
                continue
            fits = fits and key in present and (value is None or present[key] == value)
            score[1] += 1
        operation = model.operation_model(route.operation)
        for member in _required_located(operation):
            location, wire_name = member
            if (location == "querystring" and wire_name not in present) or (
                location == "header" and wire_name.lower() not in headers
            ):
                fits = False
            score[2] += 1
        if fits and (best is None or tuple(score) > best[0]):
            labels = {name: unquote(found.group(f"l{i + 1}")) for i, name in enumerate(route.labels)}
            best = (tuple(score), operation, labels)
    return None if best is None else (best[1], best[2])


@functools.cache
def _required_located(operation: OperationModel) -> tuple[tuple[str, str], ...]:
    shape = operation.input_shape
    if shape is None:
        return ()
    required = set(shape.metadata.get("required", []))
    located = []
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        if name in required and location in ("querystring", "header"):
            located.append((location, member.serialization.get("name", name)))
    return tuple(located)


def _rest_params(
    model: ServiceModel,
    operation: OperationModel,
    labels: Mapping[str, str],
    query: list[tuple[str, str]],
    headers: Mapping[str, str],
    environ: dict[str, Any],
) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    members: Mapping[str, Shape] = shape.members
    params: dict[str, Any] = {}
    multi: dict[str, list[str]] = {}
    for key, value in query:
        multi.setdefault(key, []).append(value)
    for name, member in members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri" and wire in labels:
            params[name] = _scalar(member, labels[wire])
        elif location == "querystring" and wire in multi:
            params[name] = (
                [_scalar(member.member, v) for v in multi[wire]]  # type: ignore[attr-defined]
                if member.type_name == "list"
                else _scalar(member, multi[wire][0])
            )
        elif location == "header" and wire.lower() in headers:
            params[name] = _scalar(member, headers[wire.lower()])
    payload_name = shape.serialization.get("payload")
    if payload_name:
        payload_shape = members[payload_name]
        if payload_shape.type_name != "structure":
            return params  # a blob or stream (an object's content): nothing the authorization needs
        data = body(environ)
        if data.strip():
            if model.protocol == "rest-xml":
                params[payload_name] = _from_xml(payload_shape, _xml(data))
            else:
                params[payload_name] = _from_json(payload_shape, json.loads(data))
        return params
    body_members = [n for n, m in members.items() if "location" not in m.serialization]
    if body_members:
        data = body(environ)
        if data.strip():
            if model.protocol == "rest-xml":
                params.update(_from_xml(shape, _xml(data)))
            else:
                params.update(_from_json(shape, json.loads(data)))
    return params


def _xml(data: bytes) -> ElementTree.Element:
    """Parse a request's XML body; documents with a DTD (entity tricks) are no AWS request."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnmappedRequest("an XML body with a DTD is no AWS request")
    return ElementTree.fromstring(data)  # noqa: S314 - no DTD, so no entity expansion


def _scalar(shape: Shape, text: str) -> Any:
    if shape.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text
    if shape.type_name == "boolean":
        return text.lower() == "true"
    return text


def _from_json(shape: Shape | None, value: Any) -> Any:
    """A JSON document as botocore's member names (JSON protocols may rename members on the wire)."""
    if shape is None:
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        members: Mapping[str, Shape] = shape.members  # type: ignore[attr-defined]
        out = {}
        for name, member in members.items():
            wire = member.serialization.get("name", name)
            if wire in value and "location" not in member.serialization:
                out[name] = _from_json(member, value[wire])
        return out
    if shape.type_name == "list" and isinstance(value, list):
        return [_from_json(shape.member, v) for v in value]  # type: ignore[attr-defined]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _from_json(shape.value, v) for k, v in value.items()}  # type: ignore[attr-defined]
    return value


def _from_query(shape: Shape | None, values: Mapping[str, str], key: str = "") -> Any:
    """Query-protocol parameters (`Tags.member.1.Key=...`) as botocore's structure."""
    if shape is None:
        return {}
    if shape.type_name == "structure":
        out = {}
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            wire = member.serialization.get("name", name)
            member_key = f"{key}.{wire}" if key else wire
            if _present(values, member_key):
                out[name] = _from_query(member, values, member_key)
        return out
    if shape.type_name == "list":
        member_shape = shape.member  # type: ignore[attr-defined]
        flattened = shape.serialization.get("flattened")
        step = "" if flattened else f".{member_shape.serialization.get('name', 'member')}"
        items = []
        index = 1
        while _present(values, f"{key}{step}.{index}"):
            items.append(_from_query(member_shape, values, f"{key}{step}.{index}"))
            index += 1
        return items
    if shape.type_name == "map":
        step = "" if shape.serialization.get("flattened") else ".entry"
        key_name = shape.key.serialization.get("name", "key")  # type: ignore[attr-defined]
        value_name = shape.value.serialization.get("name", "value")  # type: ignore[attr-defined]
        entries: dict[str, Any] = {}
        index = 1
        while f"{key}{step}.{index}.{key_name}" in values:
            entry = f"{key}{step}.{index}"
            value_shape = shape.value  # type: ignore[attr-defined]
            entries[values[f"{entry}.{key_name}"]] = _from_query(value_shape, values, f"{entry}.{value_name}")
            index += 1
        return entries
    return _scalar(shape, values.get(key, ""))


def _present(values: Mapping[str, str], key: str) -> bool:
    return key in values or any(k.startswith(f"{key}.") for k in values)


def _from_xml(shape: Shape, element: ElementTree.Element) -> Any:
    """A REST-XML body element as botocore's structure (S3's `<Delete><Object><Key>` and the like)."""
    if shape.type_name == "structure":
        children: dict[str, list[ElementTree.Element]] = {}
        for child in element:
            children.setdefault(child.tag.rsplit("}", 1)[-1], []).append(child)
        out: dict[str, Any] = {}
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            if "location" in member.serialization:
                continue
            if member.type_name == "list" and member.serialization.get("flattened"):
                wire = member.member.serialization.get("name") or member.serialization.get("name", name)
                if wire in children:
                    out[name] = [_from_xml(member.member, c) for c in children[wire]]
                continue
            wire = member.serialization.get("name", name)
            if wire in children:
                out[name] = _from_xml(member, children[wire][0])
        return out
    if shape.type_name == "list":
        member_shape = shape.member  # type: ignore[attr-defined]
        wire = member_shape.serialization.get("name", "member")
        return [_from_xml(member_shape, c) for c in element if c.tag.rsplit("}", 1)[-1] == wire]
    return _scalar(shape, element.text or "")


# -- from the call to the authorization requests ----------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """What one authorization is about: placeholder values for ARN formats, or ARNs the request names."""

    values: Mapping[str, str] = field(default_factory=dict)
    arns: tuple[str, ...] = ()
    action: str | None = None  # when this target needs another action than the call's (S3 versions)
    context: Mapping[str, ContextValue] = field(default_factory=dict)


# Operations whose IAM action is not `prefix:Operation`. None: the operation needs no permission.
_ACTIONS: dict[tuple[str, str], str | None] = {
    # "No permissions are required to perform this operation." (botocore's sts model, GetCallerIdentity)
    ("sts", "GetCallerIdentity"): None,
    # https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("lambda", "InvokeWithResponseStream"): "lambda:InvokeFunction",
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    # https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html: "the same as Publish"
    ("sns", "PublishBatch"): "sns:Publish",
    # https://docs.aws.amazon.com/AmazonS3/latest/API/ (each operation's "Permissions" section) and
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "CopyObject"): "s3:PutObject",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "UploadPartCopy"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "ListMultipartUploads"): "s3:ListBucketMultipartUploads",
    ("s3", "ListParts"): "s3:ListMultipartUploadParts",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "DeleteBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "DeletePublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "DeleteBucketLifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "PutBucketNotificationConfiguration"): "s3:PutBucketNotification",
    ("s3", "GetBucketNotificationConfiguration"): "s3:GetBucketNotification",
    ("s3", "DeleteBucketTagging"): "s3:PutBucketTagging",
    ("s3", "PutBucketCors"): "s3:PutBucketCORS",
    ("s3", "GetBucketCors"): "s3:GetBucketCORS",
    ("s3", "DeleteBucketCors"): "s3:PutBucketCORS",
    ("s3", "GetBucketLifecycle"): "s3:GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "GetBucketReplication"): "s3:GetReplicationConfiguration",
    ("s3", "PutBucketReplication"): "s3:PutReplicationConfiguration",
    ("s3", "DeleteBucketReplication"): "s3:PutReplicationConfiguration",
    ("s3", "DeleteBucketOwnershipControls"): "s3:PutBucketOwnershipControls",
    ("s3", "GetObjectLockConfiguration"): "s3:GetBucketObjectLockConfiguration",
    ("s3", "PutObjectLockConfiguration"): "s3:PutBucketObjectLockConfiguration",
    ("s3", "GetBucketAccelerateConfiguration"): "s3:GetAccelerateConfiguration",
    ("s3", "PutBucketAccelerateConfiguration"): "s3:PutAccelerateConfiguration",
    ("s3", "GetBucketAnalyticsConfiguration"): "s3:GetAnalyticsConfiguration",
    ("s3", "PutBucketAnalyticsConfiguration"): "s3:PutAnalyticsConfiguration",
    ("s3", "DeleteBucketAnalyticsConfiguration"): "s3:PutAnalyticsConfiguration",
    ("s3", "ListBucketAnalyticsConfigurations"): "s3:GetAnalyticsConfiguration",
    ("s3", "GetBucketInventoryConfiguration"): "s3:GetInventoryConfiguration",
    ("s3", "PutBucketInventoryConfiguration"): "s3:PutInventoryConfiguration",
    ("s3", "DeleteBucketInventoryConfiguration"): "s3:PutInventoryConfiguration",
    ("s3", "ListBucketInventoryConfigurations"): "s3:GetInventoryConfiguration",
    ("s3", "GetBucketMetricsConfiguration"): "s3:GetMetricsConfiguration",
    ("s3", "PutBucketMetricsConfiguration"): "s3:PutMetricsConfiguration",
    ("s3", "DeleteBucketMetricsConfiguration"): "s3:PutMetricsConfiguration",
    ("s3", "ListBucketMetricsConfigurations"): "s3:GetMetricsConfiguration",
    ("s3", "GetBucketIntelligentTieringConfiguration"): "s3:GetIntelligentTieringConfiguration",
    ("s3", "PutBucketIntelligentTieringConfiguration"): "s3:PutIntelligentTieringConfiguration",
    ("s3", "DeleteBucketIntelligentTieringConfiguration"): "s3:PutIntelligentTieringConfiguration",
    ("s3", "ListBucketIntelligentTieringConfigurations"): "s3:GetIntelligentTieringConfiguration",
    ("s3", "SelectObjectContent"): "s3:GetObject",
}
# A versionId makes these the *Version actions (same sources as above).
_S3_VERSIONED = {
    "s3:GetObject": "s3:GetObjectVersion",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
    "s3:GetObjectAcl": "s3:GetObjectVersionAcl",
    "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
    "s3:GetObjectAttributes": "s3:GetObjectVersionAttributes",
}
# The service a role is passed to, per (prefix, operation), and where the request names the role.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html
_PASSED_ROLES: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("cloudformation", "CreateStack"): ("cloudformation.amazonaws.com", ("RoleARN",)),
    ("cloudformation", "UpdateStack"): ("cloudformation.amazonaws.com", ("RoleARN",)),
    ("cloudformation", "CreateChangeSet"): ("cloudformation.amazonaws.com", ("RoleARN",)),
    ("codebuild", "CreateProject"): ("codebuild.amazonaws.com", ("serviceRole",)),
    ("codebuild", "UpdateProject"): ("codebuild.amazonaws.com", ("serviceRole",)),
    ("codepipeline", "CreatePipeline"): (
        "codepipeline.amazonaws.com",
        ("pipeline.roleArn", "pipeline.stages[].actions[].roleArn"),
    ),
    ("codepipeline", "UpdatePipeline"): (
        "codepipeline.amazonaws.com",
        ("pipeline.roleArn", "pipeline.stages[].actions[].roleArn"),
    ),
    ("events", "PutTargets"): ("events.amazonaws.com", ("Targets[].RoleArn",)),
    ("ecs", "RegisterTaskDefinition"): ("ecs-tasks.amazonaws.com", ("taskRoleArn", "executionRoleArn")),
    ("ecs", "RunTask"): ("ecs-tasks.amazonaws.com", ("overrides.taskRoleArn", "overrides.executionRoleArn")),
    ("ecs", "StartTask"): (
        "ecs-tasks.amazonaws.com",
        ("overrides.taskRoleArn", "overrides.executionRoleArn"),
    ),
    ("lambda", "CreateFunction"): ("lambda.amazonaws.com", ("Role",)),
    ("lambda", "UpdateFunctionConfiguration"): ("lambda.amazonaws.com", ("Role",)),
}
# The service's own tagging action that the tagging API's TagResources/UntagResources also need
# ("you must also have the ... tags permission defined by the service that created the resource",
# botocore's resourcegroupstaggingapi model). Services not listed use TagResource/UntagResource.
_SERVICE_TAG_ACTIONS = {
    "ec2": ("ec2:CreateTags", "ec2:DeleteTags"),
    "s3": ("s3:PutBucketTagging", "s3:PutBucketTagging"),
    "iam": ("iam:TagRole", "iam:UntagRole"),
    "logs": ("logs:TagResource", "logs:UntagResource"),
}


def iam_action(call: Call) -> str | None:
    """The call's IAM action (None: it needs no permission); UnmappedRequest if AWS has no such action."""
    name = _ACTIONS.get((call.prefix, call.operation), f"{call.prefix}:{call.operation}")
    if name is None:
        return None
    known = catalog.action(name)
    if known is None:
        raise UnmappedRequest(f"{call.service} {call.operation}: AWS defines no IAM action {name}")
    return known.full_name


def authorization_requests(
    call: Call, principal: Principal, state: State | None = None, now: datetime.datetime | None = None
) -> list[AuthorizationRequest]:
    """Every (action, resource, context) AWS authorizes for the call, implied ones (iam:PassRole) included.

    A resource whose ARN cannot be built from the request is "*", so that a policy scoped to resources
    does not allow it, as AWS would not allow a resource it cannot match.
    """
    state = state or NoState()
    action = iam_action(call)
    if action is None:
        return []
    base = principal_context(principal, call.signature.region, now)
    request_context = {**base, **_request_tag_context(call.params), **_call_context(call, principal, state)}
    requests = []
    for target in _targets(call, principal, state):
        target_action = target.action or action
        resource, resource_type = _resource(target_action, target, call, principal)
        context = {**request_context, **target.context}
        context.update(_resource_context(target_action, resource, resource_type, state, principal, call))
        requests.append(AuthorizationRequest(target_action, resource, context))
    requests += _implied(call, principal, state, base)
    return requests


def principal_context(
    principal: Principal, region: str, now: datetime.datetime | None = None
) -> dict[str, ContextValue]:
    """The keys AWS puts in every request of an assumed role's session (principal, region, TLS, time)."""
    now = now or datetime.datetime.now(datetime.UTC)
    context: dict[str, ContextValue] = {
        "aws:PrincipalArn": principal.role_arn,
        "aws:PrincipalAccount": principal.account,
        "aws:PrincipalType": "AssumedRole",
        "aws:RequestedRegion": region,
        # SDKs reach AWS over TLS. The sandbox answers plain HTTP on 127.0.0.1, which stands in for
        # AWS's HTTPS endpoint: a policy requiring TLS must see the request the SDK would have sent.
        "aws:SecureTransport": "true",
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
    }
    if principal.user_id:
        context["aws:userid"] = principal.user_id
    for key, value in principal.tags.items():
        context[f"aws:PrincipalTag/{key}"] = value
    return context


def _request_tag_context(params: Mapping[str, Any]) -> dict[str, ContextValue]:
    """aws:RequestTag/<k> and aws:TagKeys for the tags a call adds (or, for an untag call, removes)."""
    tags = _tags_in(params)
    context: dict[str, ContextValue] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    removed = next((params[k] for k in ("tagKeys", "TagKeys") if isinstance(params.get(k), list)), None)
    keys = list(tags) if tags else [str(k) for k in removed or []]
    if keys:
        context["aws:TagKeys"] = tuple(keys)
    return context


def _tags_in(params: Mapping[str, Any]) -> dict[str, str]:
    """Tags as services spell them: a map, or a list of Key/Value (or key/value) pairs; S3's TagSet."""
    for name in ("tags", "Tags", "TagList", "tagList"):
        found = params.get(name)
        if isinstance(found, dict):
            return {str(k): str(v) for k, v in found.items()}
        if isinstance(found, list):
            return _pairs(found)
    tagging = params.get("Tagging")
    if isinstance(tagging, dict) and isinstance(tagging.get("TagSet"), list):
        return _pairs(tagging["TagSet"])
    return {}


def _pairs(items: Iterable[Any]) -> dict[str, str]:
    out = {}
    for item in items:
        if isinstance(item, dict):
            key = item.get("Key", item.get("key"))
            if key is not None:
                out[str(key)] = str(item.get("Value", item.get("value", "")))
    return out


def _call_context(call: Call, principal: Principal, state: State) -> dict[str, ContextValue]:
    """Service keys that come from the request's parameters."""
    p, context = call.params, dict[str, ContextValue]()
    creates = ("CreateRole", "PutRolePermissionsBoundary", "CreateUser", "PutUserPermissionsBoundary")
    if call.prefix == "iam" and call.operation in creates and p.get("PermissionsBoundary"):
        context["iam:PermissionsBoundary"] = str(p["PermissionsBoundary"])
    if call.prefix == "iam" and p.get("PolicyArn") and call.operation.startswith(("Attach", "Detach")):
        context["iam:PolicyARN"] = str(p["PolicyArn"])
    if call.prefix == "s3":
        for param, key in (
            ("Prefix", "s3:prefix"),
            ("Delimiter", "s3:delimiter"),
            ("MaxKeys", "s3:max-keys"),
        ):
            if p.get(param) not in (None, ""):
                context[key] = str(p[param])
    if call.prefix == "secretsmanager" and p.get("SecretId"):
        context["secretsmanager:SecretId"] = state.secret_arn(str(p["SecretId"])) or str(p["SecretId"])
    return context


def _resource(target_action: str, target: _Target, call: Call, principal: Principal) -> tuple[str, Any]:
    """The resource ARN: one the request names, else the action's ARN format filled in; "*" if neither."""
    known = catalog.action(target_action)
    types = known.resource_types() if known else ()
    if not types:
        return "*", None
    for arn in target.arns:
        matching = catalog.resource_type_of(arn, types)
        if matching is not None:
            return arn, matching
    values = {"Partition": PARTITION, "Region": call.signature.region, "Account": principal.account}
    values.update(target.values)
    filled = [(t, t.fill(values)) for t in types]
    # The most specific format that the request fills (a rule on a custom bus over one on the default).
    best = max(
        ((t, arn) for t, arn in filled if arn is not None),
        key=lambda pair: len(pair[0].placeholders),
        default=None,
    )
    if best is not None:
        return best[1], best[0]
    if target.arns:
        return target.arns[0], catalog.resource_type_of(target.arns[0])
    return "*", None


def _resource_context(
    action: str, resource: str, resource_type: Any, state: State, principal: Principal, call: Call
) -> dict[str, ContextValue]:
    """aws:ResourceTag/<k> and the service's own alias (ecs:, iam:, ecr:ResourceTag/<k>); ecs:cluster."""
    context: dict[str, ContextValue] = {}
    known = catalog.action(action)
    if known is not None and known.service == "ecs" and known.supports("ecs:cluster"):
        # A request-level key as well: ListTasks names no resource but its cluster (the Service
        # Authorization Reference lists ecs:cluster for the action's "*" row).
        cluster = _ecs_cluster_arn(call, principal, resource)
        if cluster:
            context["ecs:cluster"] = cluster
    if resource == "*" or resource_type is None:
        return context
    prefixes = resource_type.resource_tag_keys()
    if prefixes:
        for key, value in state.tags(resource).items():
            for prefix in prefixes:
                context[f"{prefix}{key}"] = value
    return context


def _implied(call: Call, principal: Principal, state: State, base: Context) -> list[AuthorizationRequest]:
    """Authorizations AWS checks besides the call's own: passing a role, the service's own tagging."""
    requests = []
    passed = _PASSED_ROLES.get((call.prefix, call.operation))
    if passed is not None:
        service, paths = passed
        for path in paths:
            for role in _values_at(call.params, path):
                arn = role if role.startswith("arn:") else state.role_arn(role) or _role_arn(principal, role)
                context = dict(base)
                context["iam:PassedToService"] = service
                # No iam:ResourceTag: AWS documents tag conditions on PassRole as unreliable
                # (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html), so a
                # policy that relies on them must not pass here either.
                requests.append(AuthorizationRequest("iam:PassRole", arn, context))
    if call.prefix == "tag" and call.operation in ("TagResources", "UntagResources"):
        untag = call.operation == "UntagResources"
        tag_context = _request_tag_context(call.params)
        for arn in call.params.get("ResourceARNList", []):
            service = str(arn).split(":")[2] if str(arn).count(":") >= 5 else ""
            name = _SERVICE_TAG_ACTIONS.get(service, (f"{service}:TagResource", f"{service}:UntagResource"))[
                untag
            ]
            if not catalog.has_action(name):
                raise UnmappedRequest(f"tag:{call.operation} of {arn}: no known tagging action of {service}")
            resource_type = catalog.resource_type_of(str(arn))
            context = {**base, **tag_context}
            context.update(_resource_context(name, str(arn), resource_type, state, principal, call))
            requests.append(AuthorizationRequest(name, str(arn), context))
    return requests


def _values_at(params: Mapping[str, Any], path: str) -> Iterator[str]:
    """Strings at a dotted path; `Targets[].RoleArn` walks a list."""
    nodes: list[Any] = [params]
    for step in path.split("."):
        name = step.removesuffix("[]")
        nodes = [n.get(name) for n in nodes if isinstance(n, dict)]
        many = step.endswith("[]")
        if many:
            nodes = [item for n in nodes if isinstance(n, list) for item in n]
    yield from (n for n in nodes if isinstance(n, str) and n)


# -- targets per service -----------------------------------------------------------------------------

Resolver = Callable[[Call, Principal, State], list[_Target]]
_RESOLVERS: dict[str, Resolver] = {}


def _resolver(*prefixes: str) -> Callable[[Resolver], Resolver]:
    def register(function: Resolver) -> Resolver:
        for prefix in prefixes:
            _RESOLVERS[prefix] = function
        return function

    return register


def _targets(call: Call, principal: Principal, state: State) -> list[_Target]:
    resolver = _RESOLVERS.get(call.prefix, _generic)
    return resolver(call, principal, state) or [_Target()]


def _generic(call: Call, principal: Principal, state: State) -> list[_Target]:
    """A service without its own resolver: ARNs the request names (resourceArn and the like)."""
    arns = tuple(str(v) for k, v in call.params.items() if k.lower().endswith("arn") and isinstance(v, str))
    return [_Target(arns=arns)]


def _listed(params: Mapping[str, Any], many: str, *single: str) -> list[Any]:
    """The list parameter `many` (BatchGet-style), else the first `single` parameter that is set."""
    if isinstance(params.get(many), list):
        return list(params[many])
    return [next((params[name] for name in single if params.get(name)), None)]


def _arns(params: Mapping[str, Any], *names: str) -> tuple[str, ...]:
    return tuple(
        str(params[n]) for n in names if isinstance(params.get(n), str) and params[n].startswith("arn:")
    )


@_resolver("s3")
def _s3(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    bucket = str(p.get("Bucket", ""))
    if call.operation == "DeleteObjects":
        # One s3:DeleteObject (or DeleteObjectVersion) per key: "you must have s3:DeleteObject permission
        # for each object" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html).
        objects = p.get("Delete", {}).get("Objects", [])
        return [
            _s3_object(bucket, str(o.get("Key", "")), o.get("VersionId"), "s3:DeleteObject") for o in objects
        ]
    key, version = p.get("Key"), p.get("VersionId")
    targets = []
    if key is not None:
        base = _ACTIONS.get(("s3", call.operation)) or f"s3:{call.operation}"
        targets.append(_s3_object(bucket, str(key), version, base))
    else:
        targets.append(_Target({"BucketName": bucket} if bucket else {}))
    if call.operation in ("CopyObject", "UploadPartCopy") and p.get("CopySource"):
        # The source is read: s3:GetObject (GetObjectVersion with ?versionId=) on it.
        source, _, query = unquote(str(p["CopySource"])).lstrip("/").partition("?")
        source_bucket, _, source_key = source.partition("/")
        source_version = dict(parse_qsl(query)).get("versionId")
        targets.append(_s3_object(source_bucket, source_key, source_version, "s3:GetObject"))
    return targets


def _s3_object(bucket: str, key: str, version: Any, action: str) -> _Target:
    context: dict[str, ContextValue] = {}
    if version:
        action = _S3_VERSIONED.get(action, action)
        context["s3:versionid"] = str(version)
    return _Target({"BucketName": bucket, "ObjectName": key}, action=action, context=context)


@_resolver("codecommit")
def _codecommit(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    names = _listed(p, "repositoryNames", "repositoryName")
    arns = _arns(p, "resourceArn")
    return [_Target({"RepositoryName": str(n)}, arns) for n in names if n] or [_Target(arns=arns)]


@_resolver("codepipeline")
def _codepipeline(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    pipeline: Mapping[str, Any] = p["pipeline"] if isinstance(p.get("pipeline"), dict) else {}
    name = p.get("pipelineName") or p.get("name") or pipeline.get("name")
    values = {"PipelineName": str(name)} if name else {}
    if p.get("stageName"):
        values["StageName"] = str(p["stageName"])
    if p.get("actionName"):
        values["ActionName"] = str(p["actionName"])
    return [_Target(values, _arns(p, "resourceArn"))]


@_resolver("codedeploy")
def _codedeploy(call: Call, principal: Principal, state: State) -> list[_Target]:
    """An application or deployment group by name; a deployment by its group (GetDeployment is
    authorized on the deployment group, per the Service Authorization Reference)."""
    p = call.params
    values: dict[str, str] = {}
    if p.get("applicationName"):
        values["ApplicationName"] = str(p["applicationName"])
    if p.get("deploymentGroupName"):
        values["DeploymentGroupName"] = str(p["deploymentGroupName"])
    if p.get("deploymentId") and not values:
        values.update(_deployment_group(str(p["deploymentId"]), principal.account, call.signature.region))
    return [_Target(values, _arns(p, "resourceArn"))]


def _deployment_group(deployment_id: str, account: str, region: str) -> dict[str, str]:
    from moto.codedeploy.models import codedeploy_backends

    found = codedeploy_backends[account][region].deployments.get(deployment_id)
    if found is None:
        return {}
    return {"ApplicationName": found.application_name, "DeploymentGroupName": found.deployment_group_name}


@_resolver("codebuild")
def _codebuild(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    projects: list[str] = []
    if call.operation in ("StartBuild", "StartBuildBatch") and p.get("projectName"):
        projects.append(str(p["projectName"]))
    elif isinstance(p.get("names"), list):
        projects += [str(n) for n in p["names"]]
    elif p.get("name"):
        projects.append(str(p["name"]))
    # A build id is "<project>:<uuid>" (or its ARN, ".../build/<project>:<uuid>"): the project is what
    # BatchGetBuilds and StopBuild are authorized on.
    for build in [b for b in _listed(p, "ids", "id") if b]:
        projects.append(str(build).rsplit("/", 1)[-1].split(":", 1)[0])
    unique = list(dict.fromkeys(projects))
    return [_Target({"ProjectName": name}) for name in unique]


@_resolver("ecs")
def _ecs(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    arns = _arns(p, "resourceArn")
    cluster = _name_of(str(p.get("cluster") or "default"))
    if call.operation == "RegisterTaskDefinition" and p.get("family"):
        family = str(p["family"])
        revision = str(state.next_task_definition_revision(family))
        return [_Target({"TaskDefinitionFamilyName": family, "TaskDefinitionRevisionNumber": revision})]
    if call.operation in ("DescribeTasks", "StopTask"):
        # task/<cluster>/<id>: a task's ARN, or its id in the request's cluster.
        tasks = [str(t) for t in _listed(p, "tasks", "task") if t]
        return [
            _Target(
                {
                    "ClusterName": t.split("/")[-2] if t.startswith("arn:") else cluster,
                    "TaskId": t.split("/")[-1],
                }
            )
            for t in tasks
        ] or [_Target()]
    services = _listed(p, "services", "service", "serviceName")
    targets = []
    for service in [s for s in services if s]:
        text = str(service)
        if text.startswith("arn:"):
            parts = text.split(":", 5)[5].split("/")
            # Long ARNs are service/<cluster>/<name>; the old short form, service/<name>.
            cluster_name, name = (parts[1], parts[2]) if len(parts) == 3 else (cluster, parts[-1])
        else:
            cluster_name, name = cluster, text
        targets.append(_Target({"ClusterName": cluster_name, "ServiceName": name}, arns))
    if targets:
        return targets
    clusters = _listed(p, "clusters", "cluster", "clusterName")
    values = [{"ClusterName": _name_of(str(c))} for c in clusters if c]
    task_definition = p.get("taskDefinition")
    if task_definition and ":" in str(task_definition).rsplit("/", 1)[-1]:
        family, _, revision = str(task_definition).rsplit("/", 1)[-1].partition(":")
        values = [
            {**v, "TaskDefinitionFamilyName": family, "TaskDefinitionRevisionNumber": revision}
            for v in values or [{}]
        ]
    return [_Target(v, arns) for v in values] or [_Target(arns=arns)]


def _ecs_cluster_arn(call: Call, principal: Principal, resource: str) -> str:
    """The cluster's ARN for the ecs:cluster key: from a service's ARN, else the request's cluster."""
    if ":service/" in resource and resource.count("/") == 2:
        return resource.replace(":service/", ":cluster/").rsplit("/", 1)[0]
    cluster = call.params.get("cluster") or "default"
    if str(cluster).startswith("arn:"):
        return str(cluster)
    return f"arn:{PARTITION}:ecs:{call.signature.region}:{principal.account}:cluster/{cluster}"


def _name_of(name_or_arn: str) -> str:
    return name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


@_resolver("ecr")
def _ecr(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    names = _listed(p, "repositoryNames", "repositoryName")
    account = {"Account": str(p["registryId"])} if p.get("registryId") else {}
    arns = _arns(p, "resourceArn")
    return [_Target({"RepositoryName": str(n), **account}, arns) for n in names if n] or [_Target(arns=arns)]


@_resolver("logs")
def _logs(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    group = str(p.get("logGroupName") or p.get("logGroupIdentifier") or "")
    if group.startswith("arn:"):
        group = group.split(":log-group:", 1)[-1].removesuffix(":*")
    values = {"LogGroupName": group} if group else {}
    if p.get("logStreamName"):
        values["LogStreamName"] = str(p["logStreamName"])
    return [_Target(values, _arns(p, "resourceArn"))]


@_resolver("cloudformation")
def _cloudformation(call: Call, principal: Principal, state: State) -> list[_Target]:
    name = call.params.get("StackName")
    if not name:
        return [_Target()]
    found = state.stack_arn(str(name))
    if found:
        return [_Target(arns=(found,))]
    if str(name).startswith("arn:"):
        return [_Target(arns=(str(name),))]
    # A stack that does not exist yet (CreateStack) has no id: policies name such stacks stack/<name>/*.
    return [_Target({"StackName": str(name), "Id": "*"})]


@_resolver("iam")
def _iam(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    values: dict[str, str] = {}
    if p.get("RoleName"):
        role = str(p["RoleName"])
        arn = state.role_arn(role)
        if call.operation == "CreateRole" or arn is None:
            path = str(p.get("Path") or "/")
            values["RoleNameWithPath"] = f"{path}{role}".lstrip("/")
        else:
            values["RoleNameWithPath"] = arn.split(":role/", 1)[1]
    source = str(p.get("PolicySourceArn") or "")  # SimulatePrincipalPolicy names a role or user by ARN
    if ":role/" in source:
        values["RoleNameWithPath"] = source.split(":role/", 1)[1]
    elif ":user/" in source:
        values["UserNameWithPath"] = source.split(":user/", 1)[1]
    if p.get("UserName"):
        values["UserNameWithPath"] = f"{p.get('Path') or '/'}{p['UserName']}".lstrip("/")
    if p.get("PolicyArn"):
        values["PolicyNameWithPath"] = str(p["PolicyArn"]).split(":policy/", 1)[-1]
    elif p.get("PolicyName") and call.operation == "CreatePolicy":
        values["PolicyNameWithPath"] = f"{p.get('Path') or '/'}{p['PolicyName']}".lstrip("/")
    if p.get("InstanceProfileName"):
        values["InstanceProfileNameWithPath"] = str(p["InstanceProfileName"])
    if p.get("GroupName"):
        values["GroupNameWithPath"] = str(p["GroupName"])
    return [_Target(values)]


def _role_arn(principal: Principal, name: str) -> str:
    return f"arn:{PARTITION}:iam::{principal.account}:role/{name}"


@_resolver("sts")
def _sts(call: Call, principal: Principal, state: State) -> list[_Target]:
    return [_Target(arns=_arns(call.params, "RoleArn"))]


@_resolver("secretsmanager")
def _secretsmanager(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    secret = p.get("SecretId") or (p.get("Name") if call.operation == "CreateSecret" else None)
    if not secret:
        return [_Target()]
    found = state.secret_arn(str(secret))
    if found:
        return [_Target(arns=(found,))]
    if str(secret).startswith("arn:"):
        return [_Target(arns=(str(secret),))]
    # No such secret: its name is all there is to match (a policy on pipewarden/slack/* still applies).
    return [_Target({"SecretId": str(secret)})]


@_resolver("sqs")
def _sqs(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    if p.get("QueueUrl"):
        # https://sqs.<region>.amazonaws.com/<account>/<name> (the sandbox's URLs have the same path).
        parts = str(p["QueueUrl"]).rstrip("/").split("/")
        return [_Target({"Account": parts[-2], "QueueName": parts[-1]})]
    if p.get("QueueName"):
        owner = {"Account": str(p["QueueOwnerAWSAccountId"])} if p.get("QueueOwnerAWSAccountId") else {}
        return [_Target({"QueueName": str(p["QueueName"]), **owner})]
    return [_Target()]


@_resolver("sns")
def _sns(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    arns = _arns(p, "TopicArn", "TargetArn", "ResourceArn")
    if not arns and p.get("SubscriptionArn"):
        arns = (str(p["SubscriptionArn"]).rsplit(":", 1)[0],)
    values = {"TopicName": str(p["Name"])} if call.operation == "CreateTopic" and p.get("Name") else {}
    return [_Target(values, arns)]


@_resolver("dynamodb")
def _dynamodb(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    tables = list(p["RequestItems"]) if isinstance(p.get("RequestItems"), dict) else [p.get("TableName")]
    targets = []
    for table in [t for t in tables if t]:
        text = str(table)
        if text.startswith("arn:"):
            targets.append(_Target(arns=(text,)))
            continue
        values = {"TableName": text}
        if p.get("IndexName"):
            # Query and Scan of an index are authorized on the index's ARN.
            values["IndexName"] = str(p["IndexName"])
        targets.append(_Target(values))
    return targets or [_Target(arns=_arns(p, "ResourceArn"))]


@_resolver("events")
def _events(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    if call.operation == "PutEvents":
        buses = {str(e.get("EventBusName") or "default") for e in p.get("Entries", []) if isinstance(e, dict)}
        return [
            _Target(arns=(bus,)) if bus.startswith("arn:") else _Target({"EventBusName": bus})
            for bus in sorted(buses or {"default"})
        ]
    rule = p.get("Rule") or (p.get("Name") if "Rule" in call.operation else None)
    bus = _name_of(str(p.get("EventBusName") or "default"))
    values: dict[str, str] = {}
    if rule:
        values["RuleName"] = str(rule)
        if bus != "default":
            values["EventBusName"] = bus  # rules on the default bus have ARNs without the bus
    elif call.operation.endswith("EventBus") and p.get("Name"):
        values["EventBusName"] = str(p["Name"])
    return [_Target(values, _arns(p, "ResourceARN"))]


@_resolver("lambda")
def _lambda(call: Call, principal: Principal, state: State) -> list[_Target]:
    p = call.params
    name = str(p.get("FunctionName") or "")
    if not name:
        return [_Target(arns=_arns(p, "Resource"))]
    # A name, a partial ARN (<account>:function:<name>) or a full ARN, maybe with a qualifier.
    if name.startswith("arn:"):
        parts = name.split(":")
        account, bare, qualifier = parts[4], parts[6], parts[7] if len(parts) > 7 else ""
    elif ":function:" in name:
        account, _, rest = name.partition(":function:")
        bare, _, qualifier = rest.partition(":")
    else:
        account, (bare, _, qualifier) = principal.account, name.partition(":")
    qualifier = str(p.get("Qualifier") or qualifier)
    arn = f"arn:{PARTITION}:lambda:{call.signature.region}:{account}:function:{bare}"
    return [_Target(arns=(f"{arn}:{qualifier}" if qualifier else arn,))]


@_resolver("tag")
def _tagging(call: Call, principal: Principal, state: State) -> list[_Target]:
    return [_Target()]  # the tagging API's actions take no resource: "*"


# -- the sandbox's state, from moto's backends ---------------------------------------------------------


class MotoState:
    """The State of moto's in-process backends for one account and region."""

    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region

    def stack_arn(self, name_or_id: str) -> str | None:
        """The live stack with this name (or the stack with this id, deleted or not)."""
        from moto.cloudformation.models import cloudformation_backends

        backend = cloudformation_backends[self.account][self.region]
        stacks = list(backend.stacks.values()) + list(getattr(backend, "deleted_stacks", {}).values())
        for stack in stacks:
            if stack.stack_id == name_or_id:
                return str(stack.stack_id)
        for stack in stacks:
            if stack.name == name_or_id and stack.status != "DELETE_COMPLETE":
                return str(stack.stack_id)
        return None

    def secret_arn(self, name_or_arn: str) -> str | None:
        """The secret's full ARN."""
        from moto.secretsmanager.models import secretsmanager_backends

        secret = secretsmanager_backends[self.account][self.region].secrets.get(name_or_arn)
        return None if secret is None else str(secret.arn)

    def role_arn(self, name: str) -> str | None:
        """The role's ARN, path included."""
        role = self._role(name)
        return None if role is None else str(role.arn)

    def role_boundary(self, arn: str) -> str:
        """The permissions boundary ARN of the role with this ARN ("" if none, or no such role)."""
        role = self._role(arn.rsplit("/", 1)[-1])
        if role is None or role.arn != arn:
            return ""
        return str(
            getattr(role, "permissions_boundary_arn", None)
            or getattr(role, "permissions_boundary", None)
            or ""
        )

    def _role(self, name: str) -> Any:
        from moto.iam.models import iam_backends

        for role in list(iam_backends[self.account][PARTITION].roles.values()):
            if role.name == name:
                return role
        return None

    def tags(self, arn: str) -> Mapping[str, str]:
        """The resource's tags from the backend that keeps them."""
        for _ in range(3):
            try:
                return self._tags(arn)
            except RuntimeError:
                continue  # a backend's dict changed while it was read (moto serves on several threads)
            except (LookupError, AttributeError, ValueError):
                return {}
        return {}

    def _tags(self, arn: str) -> Mapping[str, str]:
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        if service == "iam" and ":role/" in arn:
            role = self._role(arn.rsplit("/", 1)[-1])
            return {t["Key"]: t["Value"] for t in role.tags} if role is not None and role.arn == arn else {}
        if service == "ecr":
            from moto.ecr.models import ecr_backends

            backend = ecr_backends[self.account][self.region]
            repository = backend.repositories.get(arn.split(":repository/", 1)[-1])
            if repository is None:
                return {}
            listed = backend.tagger.list_tags_for_resource(repository.arn)
            tags = listed.get("tags", listed.get("Tags", []))  # moto's ECR tagger keys them "tags"
            return {t["Key"]: t["Value"] for t in tags}
        if service == "codebuild" and ":project/" in arn:
            from moto.codebuild.models import codebuild_backends

            backend = codebuild_backends[self.account][self.region]
            project = backend.codebuild_projects.get(arn.rsplit("/", 1)[-1])
            tags = (project.project_metadata.get("tags") if project is not None else None) or []
            return {t["key"]: t["value"] for t in tags}
        from moto.core.resource_tagging import iter_taggable_backends

        for backend in iter_taggable_backends(self.account, self.region):
            if backend.owns_arn(arn):
                for resource in list(backend.iter_tagged_resources()):
                    if resource.arn == arn:
                        return dict(resource.tags)
                # Some backends list only part of what they tag (EventBridge: its buses, not its rules)
                # and keep the rest in their TaggingService, by ARN.
                tagger = getattr(backend, "tagger", None) or getattr(backend, "tagging_service", None)
                if tagger is not None and hasattr(tagger, "get_tag_dict_for_resource"):
                    return dict(tagger.get_tag_dict_for_resource(arn))
        return {}

    def next_task_definition_revision(self, family: str) -> int:
        """One more than the family's last revision."""
        from moto.ecs.models import ecs_backends

        revisions = ecs_backends[self.account][self.region].task_definitions.get(family, {})
        return max(list(revisions), default=0) + 1
