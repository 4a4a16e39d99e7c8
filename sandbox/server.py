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
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from sandbox.faults import Faults

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


class SandboxServer(ThreadedMotoServer):
    """ThreadedMotoServer whose app also answers the sandbox API."""

    def __init__(self, ip_address: str, port: int, handlers: dict[str, Handler]) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self._handlers = handlers
        self.requests: Counter[str] = Counter()  # every request served, by kind (benchmarks read it)
        self.faults = Faults()  # off until rules are set

    def _server_entry(self) -> None:
        moto_app = DomainDispatcherApplication(create_backend_app)
        app = with_sandbox_api(self.faults.wrap(moto_app), self._handlers, self.requests)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()
