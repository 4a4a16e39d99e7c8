"""A local Slack incoming-webhook sink: records what it receives, and can answer 429s or 500s on request."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SlackSink:
    """`url` takes webhook posts like hooks.slack.com would; `received` keeps every accepted payload."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: deque[tuple[int, dict[str, str]]] = deque()  # scripted failures, used first
        self.listeners: list[Callable[[dict[str, Any]], None]] = []  # told of each accepted payload
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers = sink.answers.popleft() if sink.answers else (200, {})
                if status == 200:
                    payload = json.loads(body)
                    sink.received.append(payload)
                    for listener in sink.listeners:
                        listener(payload)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

            def log_message(self, *_: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/services/T000/B000/sandbox"
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-sink", daemon=True)

    def start(self) -> SlackSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def fail(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.answers.extend([(status, headers)] * times)
