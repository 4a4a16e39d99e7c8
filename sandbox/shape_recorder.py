"""Every response the sandbox serves, read back with botocore's own parser and held against the model.

Server side, so it sees each call whichever process or thread made it. Off by default: when off, a
request costs one attribute check; when on, the whole response is buffered, parsed and checked.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox import shapes
from sandbox.iam import requests
from sandbox.iam.requests import UnmappedRequest

if TYPE_CHECKING:
    from botocore.model import OperationModel

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """Something in one response AWS's model of the operation does not allow."""

    service: str  # botocore's service name
    operation: str
    status: int
    problem: str

    def __str__(self) -> str:
        return f"{self.service}:{self.operation} ({self.status}): {self.problem}"


@dataclass(frozen=True)
class Response:
    """An HTTP response as botocore's parsers take it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class ShapeRecorder:
    """The WSGI middleware: `wrap(app)` checks each response of `app` while `enabled`."""

    enabled: bool = False
    _problems: list[Problem] = field(default_factory=list)
    _checked: Counter[str] = field(default_factory=Counter)
    _unmapped: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if not self.enabled:
                return app(environ, start_response)
            return self._checked_call(app, environ, start_response)

        return wsgi

    def _checked_call(
        self, app: WsgiApp, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        try:
            call: requests.Call | None = requests.parse(environ)  # buffers the body for the app behind
        except UnmappedRequest as error:
            call = None
            with self._lock:
                self._unmapped.append(f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}: {error}")
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, *args)

        try:
            result = app(environ, capture)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception as error:
            # The server turns it into an HTML 500 page, which no AWS protocol is: the call's answer
            # is no AWS answer (moto raises NotImplementedError for an operation it lacks).
            if call is not None:
                self._keep(call, 500, [f"raised {error!r}"])
            raise
        if call is not None and "status" in seen:
            response = Response(int(str(seen["status"]).split()[0]), list(seen["headers"]), body)
            method = str(environ.get("REQUEST_METHOD", "")).upper()
            try:
                found = check(call, response, method)
            except Exception as error:  # a response botocore cannot parse at all is a problem too
                found = [f"botocore could not parse it: {error!r}"]
            self._keep(call, response.status, found)
        return [body]

    def _keep(self, call: requests.Call, status: int, found: list[str]) -> None:
        with self._lock:
            self._checked[f"{call.service}:{call.operation}"] += 1
            self._problems.extend(Problem(call.service, call.operation, status, p) for p in found)

    def problems(self, operations: Iterable[str] | None = None) -> list[Problem]:
        """Problems found so far; only those of `operations` ("service:Operation") when given."""
        wanted = None if operations is None else set(operations)
        with self._lock:
            return [p for p in self._problems if wanted is None or f"{p.service}:{p.operation}" in wanted]

    def checked(self) -> Counter[str]:
        """How many responses were checked, per "service:Operation"."""
        with self._lock:
            return Counter(self._checked)

    def unmapped(self) -> list[str]:
        """Requests no botocore operation answers to (their responses went unchecked)."""
        with self._lock:
            return list(self._unmapped)

    def reset(self) -> None:
        with self._lock:
            self._problems.clear()
            self._checked.clear()
            self._unmapped.clear()


def check(call: requests.Call, response: Response, method: str = "POST") -> list[str]:
    """What in the response to `call` AWS's model of the operation does not allow."""
    operation = _operation(call.service, call.operation)
    from botocore.awsrequest import HeadersDict
    from botocore.parsers import create_parser
    from botocore.response import StreamingBody

    body: Any = response.body
    if response.status < 300 and operation.has_streaming_output:
        # as botocore's endpoint hands it over: the payload unread (S3 GetObject's Body)
        body = StreamingBody(io.BytesIO(response.body), len(response.body))
    parsed = create_parser(call.protocol).parse(
        {
            "status_code": response.status,
            "headers": HeadersDict(response.headers),
            "body": body,
            "context": {"operation_name": call.operation},
        },
        operation.output_shape,  # type: ignore[arg-type]  # None for no output, as botocore passes it
    )
    if response.status >= 300:
        if method == "HEAD":
            return []  # a HEAD answer has no body: its status is all there is to say (S3 HeadObject)
        code = str(parsed.get("Error", {}).get("Code", ""))
        return shapes.error_problems(operation, call.protocol, code)
    found = shapes.output_problems(operation, parsed)
    if call.protocol in ("json", "rest-json") and response.body.strip() and _body_is_document(operation):
        found += shapes.unknown_members(operation.output_shape, json.loads(response.body))
    return found


def _body_is_document(operation: OperationModel) -> bool:
    """The body is the output structure itself (no member is the payload, none comes from a header)."""
    shape = operation.output_shape
    return shape is not None and "payload" not in shape.serialization


@functools.cache
def _operation(service: str, operation: str) -> OperationModel:
    with requests._models_lock:  # botocore's loader is not made for several threads at once
        model = requests._session().get_service_model(service)
        return model.operation_model(operation)  # type: ignore[no-any-return]
