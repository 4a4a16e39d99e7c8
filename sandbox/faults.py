"""Fault injection: a chosen share of AWS calls fails the way AWS fails, seeded so a run repeats.

Throttling (400 ThrottlingException / Throttling, S3's 503 SlowDown), 500 InternalFailure, 503
ServiceUnavailable, a connection reset before any answer, and slow answers. Each in the error shape of
the call's protocol (JSON, query/XML, REST-XML), so SDKs parse it as they would AWS's. Rules pick a
service and operation (`*` for any). The sandbox's own calls (its simulator, tests setting things up)
sign with the access key `sandbox` and are never touched: only the controller's calls are.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import random
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

KINDS = ("throttle", "error500", "error503", "reset", "slow")
EXEMPT_KEY = "sandbox"


@dataclass(frozen=True)
class Rule:
    """Fail `rate` of the matching calls, with one of `kinds` chosen at random."""

    rate: float
    kinds: tuple[str, ...] = KINDS
    service: str = "*"
    operation: str = "*"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rule:
        rate = float(data["rate"])
        kinds = tuple(data.get("kinds", KINDS))
        if not 0 <= rate <= 1 or not kinds or not set(kinds) <= set(KINDS):
            raise ValueError(f"a rule needs 0 <= rate <= 1 and kinds from {', '.join(KINDS)}")
        return cls(rate, kinds, str(data.get("service", "*")), str(data.get("operation", "*")))


@dataclass(frozen=True)
class Call:
    """What a request is: who signed it, for which service, which operation, in which protocol."""

    access_key: str
    service: str
    operation: str
    protocol: str  # json, query, rest-xml, rest-json


def identify(environ: dict[str, Any]) -> Call:
    """Read the call from the request (the body of a query-protocol POST is put back for moto)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/") if "Credential=" in auth else []
    access_key, service = (scope[0], scope[3]) if len(scope) >= 4 else ("", "")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return Call(access_key, service, target.rsplit(".", 1)[-1], "json")
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action", [""])[0]
    if not action and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size)
        environ["wsgi.input"] = io.BytesIO(body)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    if action:
        return Call(access_key, service, action, "query")
    segment = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
    protocol = "rest-xml" if service == "s3" else "rest-json"
    return Call(access_key, service, f"{environ.get('REQUEST_METHOD', '')} {segment}".strip(), protocol)


@dataclass
class Faults:
    """The switch: rules, a seeded random source, and counts of what was injected."""

    rules: list[Rule] = field(default_factory=list)
    seed: int = 0
    slow_seconds: float = 0.3
    injected: Counter[str] = field(default_factory=Counter)  # by kind
    operations: Counter[str] = field(default_factory=Counter)  # by service:operation
    calls: int = 0  # calls the rules looked at (the controller's)
    counting: bool = False  # count every controller call by service:operation, faults or not
    seen: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rand = random.Random(self.seed)
        self._lock = threading.Lock()

    def configure(self, rules: list[Rule], seed: int) -> None:
        with self._lock:
            self.rules = list(rules)
            self.seed = seed
            self._rand = random.Random(seed)
            self.injected.clear()
            self.operations.clear()
            self.calls = 0

    def choose(self, call: Call) -> str | None:
        """The fault for this call, or None."""
        if call.access_key == EXEMPT_KEY or not call.service:
            return None
        with self._lock:
            self.calls += 1
            for rule in self.rules:
                if fnmatch.fnmatchcase(call.service, rule.service) and fnmatch.fnmatchcase(
                    call.operation, rule.operation
                ):
                    if self._rand.random() < rule.rate:
                        kind = self._rand.choice(rule.kinds)
                        self.injected[kind] += 1
                        self.operations[f"{call.service}:{call.operation}"] += 1
                        return kind
                    return None
        return None

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if not self.rules and not self.counting:
                return app(environ, start_response)
            call = identify(environ)
            if self.counting and call.access_key != EXEMPT_KEY and call.service:
                with self._lock:
                    self.seen[f"{call.service}:{call.operation}"] += 1
            kind = self.choose(call)
            if kind is None:
                return app(environ, start_response)
            if kind == "slow":
                time.sleep(self.slow_seconds)
                return app(environ, start_response)
            if kind == "reset":
                return _reset(environ, start_response)
            return _error(call, kind, start_response)

        return wsgi


def _reset(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Drop the connection before answering, as a network or a load balancer sometimes does."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    start_response("500 Internal Server Error", [("Content-Length", "0")])
    return [b""]


_STATUS = {"throttle": 400, "error500": 500, "error503": 503}
_REASON = {
    400: "Bad Request",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _error(call: Call, kind: str, start_response: Callable[..., Any]) -> Iterable[bytes]:
    status = _STATUS[kind]
    code = {
        "throttle": "ThrottlingException",
        "error500": "InternalFailure",
        "error503": "ServiceUnavailable",
    }[kind]
    message = {
        "throttle": "Rate exceeded",
        "error500": "An internal error occurred",
        "error503": "Service unavailable",
    }[kind]
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    if call.protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    elif call.protocol == "rest-json":
        if kind == "throttle":
            status, code = 429, "TooManyRequestsException"
        body = json.dumps({"message": message}).encode()
        headers += [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    elif call.protocol == "rest-xml":
        if kind == "throttle":
            status, code, message = 503, "SlowDown", "Please reduce your request rate."
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers.append(("Content-Type", "application/xml"))
    else:
        if kind == "throttle":
            code = "Throttling"
        side = "Sender" if status < 500 else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{side}</Type><Code>{code}</Code><Message>{message}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    headers.append(("Content-Length", str(len(body))))
    start_response(f"{status} {_REASON[status]}", headers)
    return [body]
