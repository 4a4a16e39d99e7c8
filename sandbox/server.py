"""The sandbox's HTTP server: moto's, plus a small sandbox-only API under /_sandbox/.

POST /_sandbox/scripts  {"pipeline": P, "action": A, "outcomes": [{"fail": true, "phase": "BUILD",
"code": "COMMAND_EXECUTION_ERROR", "log": ["..."], "message": "..."}, ...]} queues how the next runs of
that action end.
POST /_sandbox/faults  {"seed": 7, "rules": [{"rate": 0.2, "service": "*", "operation": "*",
"kinds": ["throttle", "error500", "error503", "reset", "slow"]}]} makes that share of the controller's
AWS calls fail (an empty rule list turns it off); it answers with what was injected so far.
Only the sandbox answers these paths; AWS has no such thing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from sandbox.faults import Faults
from sandbox.iam.enforce import Enforcer
from sandbox.moto_ext import state_lock
from sandbox.shape_recorder import ShapeRecorder

PREFIX = "/_sandbox/"
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def request_kind(environ: dict[str, Any]) -> str:
    """A request as `METHOD first-path-segment ?query-keys`.

    For path-style S3: `DELETE bucket ?` is DeleteObject, `POST bucket ?delete` is DeleteObjects.
    """
    keys = sorted({part.split("=", 1)[0] for part in environ.get("QUERY_STRING", "").split("&") if part})
    segment = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0] or "/"
    return f"{environ.get('REQUEST_METHOD', '')} {segment} ?{'&'.join(keys)}"


def with_sandbox_api(
    app: Any, handlers: dict[str, Handler], requests: Counter[str] | None = None
) -> Callable[..., Iterable[bytes]]:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if requests is not None:
            requests[request_kind(environ)] += 1
        if not path.startswith(PREFIX):
            return app(environ, start_response)
        handler = handlers.get(path[len(PREFIX) :].strip("/"))
        status, body = "404 Not Found", {"error": f"no sandbox API at {path}"}
        if handler is not None and environ.get("REQUEST_METHOD") == "POST":
            try:
                size = int(environ.get("CONTENT_LENGTH") or 0)
                request = json.loads(environ["wsgi.input"].read(size) or b"{}")
                status, body = "200 OK", handler(request)
            except (ValueError, KeyError, TypeError) as error:
                status, body = "400 Bad Request", {"error": str(error)}
        payload = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    return wsgi


_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
Invoker = Callable[[str, bytes, str], tuple[int, bytes]]


def with_lambda_invoke(app: Any, invoker: Invoker) -> Callable[..., Iterable[bytes]]:
    """Lambda's Invoke for the controller's functions, which run in the sandbox's process (moto would
    want Docker to run them). Answers as Lambda does: 202 for an asynchronous invocation."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        found = _INVOKE.match(environ.get("PATH_INFO", ""))
        if not found or environ.get("REQUEST_METHOD") != "POST":
            with state_lock:  # moto's state, one change at a time (not around Invoke: it calls back)
                return app(environ, start_response)
        payload = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        kind = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        status, body = invoker(unquote(found.group(1)), payload, kind)
        reason = {200: "OK", 202: "Accepted", 404: "Not Found"}.get(status, "Error")
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if status == 404:
            headers.append(("x-amzn-ErrorType", "ResourceNotFoundException"))
        start_response(f"{status} {reason}", headers)
        return [body]

    return wsgi


class SandboxServer(ThreadedMotoServer):
    """ThreadedMotoServer whose app also answers the sandbox API."""

    def __init__(
        self, ip_address: str, port: int, handlers: dict[str, Handler], invoker: Invoker | None = None
    ) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self._handlers = handlers
        self._invoker = invoker
        self.requests: Counter[str] = Counter()  # every request served, by kind (benchmarks read it)
        self.faults = Faults()  # off until rules are set
        self.iam = Enforcer()  # assumed roles' calls are authorized as AWS would; other keys pass
        self.shapes = ShapeRecorder()  # off until switched on: responses checked against botocore's models

    def _server_entry(self) -> None:
        moto_app: Any = DomainDispatcherApplication(create_backend_app)
        if self._invoker is not None:
            moto_app = with_lambda_invoke(moto_app, self._invoker)
        # Outermost of the AWS-facing layers: what IAM denies and faults inject is checked too.
        aws = self.shapes.wrap(self.faults.wrap(self.iam.wrap(moto_app)))
        app = with_sandbox_api(aws, self._handlers, self.requests)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()
