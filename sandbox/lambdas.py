"""Run the controller's functions as Lambda does: each in its own interpreter, with its own environment.

A function's execution environment is a process running `sandbox/lambda_worker.py`, started on its
first invocation (a cold start) and kept for the next ones; a second invocation while one runs gets a
second environment, as Lambda scales out. Each has the function's variables, its role's session
credentials and Lambda's runtime variables, and a deadline from the function's timeout: an invocation
that outlives it is stopped with Lambda's "Task timed out" error and its environment discarded.
What a function prints is its log stream: kept per function (`logs`), and echoed to the sandbox's
stdout except the metric records Powertools flushes at the end of each invocation.
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import pickle
import select
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from botocore.credentials import ReadOnlyCredentials

WORKER = Path(__file__).resolve().parent / "lambda_worker.py"
LAYER = Path(__file__).resolve().parent.parent / "layers" / "pipewarden"
# What a sandbox function's process takes from the sandbox's own environment: how to reach AWS (the
# endpoint, the SDK's retry settings) and what any process needs. Nothing else leaks in.
INHERITED = (
    "AWS_ENDPOINT_URL",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "SANDBOX_SDK_BACKOFF_SCALE",
    "PATH",
    "HOME",
    "LANG",
    "TZ",
)
_streams = itertools.count(1)
INIT_SECONDS = 60.0
END = "END RequestId: "


class FunctionError(Exception):
    """An invocation failed: Lambda's errorType and errorMessage (an exception that could not travel)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class _Environment:
    """One execution environment: a worker process, the pipe it answers on, and its log reader."""

    def __init__(self, function: Function) -> None:
        read, write = os.pipe()
        self.process = subprocess.Popen(  # noqa: S603 - our own worker, by path
            [sys.executable, str(WORKER), str(write)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=function.environment(),
            cwd=function.code_dir,
            pass_fds=(write,),
        )
        os.close(write)
        self.answers: IO[bytes] = os.fdopen(read, "rb")
        self._reader = threading.Thread(target=function.read_logs, args=(self.process,), daemon=True)
        self._reader.start()
        # The cold start: imports and the handler module's own code, before the first invocation
        # (Lambda gives init 10 seconds; a loaded machine gets more here).
        ready, _, _ = select.select([self.answers], [], [], INIT_SECONDS)
        if not ready or not self.answers.readline():
            self.stop()
            raise FunctionError("Runtime.InitError", f"{function.name} did not start in {INIT_SECONDS} s")

    def invoke(self, event: Any, timeout: float, request_id: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        deadline = time.time() + timeout
        request = {"event": event, "request_id": request_id, "deadline_ms": int(deadline * 1000)}
        self.process.stdin.write(json.dumps(request, default=str).encode() + b"\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.answers], [], [], timeout + 1.0)
        line = self.answers.readline() if ready else b""
        if not line:
            self.stop()
            timed_out = not ready
            message = f"Task timed out after {timeout:.2f} seconds" if timed_out else "Runtime exited"
            return {
                "error": {
                    "errorType": "Sandbox.Timedout" if timed_out else "Runtime.ExitError",
                    "errorMessage": message,
                }
            }
        return json.loads(line)  # type: ignore[no-any-return]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait(timeout=10)
        self.answers.close()


@dataclass
class Function:
    """One AWS::Serverless::Function of template.yaml, loaded from its CodeUri."""

    name: str
    code_dir: Path
    handler: str
    account: str
    region: str
    invocations: int = 0
    credentials: ReadOnlyCredentials | None = None  # its execution role's session (None: the environment's)
    role_arn: str = ""  # its execution role
    variables: dict[str, str] = field(default_factory=dict)  # its Environment.Variables
    timeout_seconds: float = 3.0
    memory_mb: int = 128
    echo: bool = True  # print its log lines (not its metrics) on the sandbox's stdout
    logs: list[str] = field(default_factory=list)
    cold_starts: int = 0
    _idle: list[_Environment] = field(default_factory=list)
    _all: list[_Environment] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ended: threading.Condition = field(default_factory=threading.Condition)
    _ended_ids: set[str] = field(default_factory=set)

    @property
    def arn(self) -> str:
        """The function's ARN as the controller stack names it (`pipewarden-<logical id>`)."""
        return f"arn:aws:lambda:{self.region}:{self.account}:function:pipewarden-{self.name}"

    def environment(self) -> dict[str, str]:
        """What Lambda sets in the function's process, and the function's own variables."""
        env = {k: os.environ[k] for k in INHERITED if k in os.environ}
        env.update(
            {
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_LAMBDA_FUNCTION_NAME": f"pipewarden-{self.name}",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/pipewarden-{self.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"sandbox/[$LATEST]{next(_streams):032x}",
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
                "LAMBDA_TASK_ROOT": str(self.code_dir),
                "_HANDLER": self.handler,
                "PYTHONPATH": str(LAYER),  # the layer, as /opt/python
                "PYTHONDONTWRITEBYTECODE": "1",
                "SANDBOX_FUNCTION_ARN": self.arn,
            }
        )
        if self.credentials is not None:
            env["AWS_ACCESS_KEY_ID"] = self.credentials.access_key or ""
            env["AWS_SECRET_ACCESS_KEY"] = self.credentials.secret_key or ""
            env["AWS_SESSION_TOKEN"] = self.credentials.token or ""
        env.update(self.variables)
        return env

    def read_logs(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.logs.append(line)
            if line.startswith(END):
                with self._ended:
                    self._ended_ids.add(line.removeprefix(END))
                    self._ended.notify_all()
            elif self.echo and '"_aws"' not in line:
                print(line, flush=True)

    def _logged(self, request_id: str, timeout: float = 10.0) -> None:
        """Until the invocation's log is complete (its END line read): callers read `logs` after it."""
        with self._ended:
            self._ended.wait_for(lambda: request_id in self._ended_ids, timeout)
            self._ended_ids.discard(request_id)

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            self.invocations += 1
            environment = self._idle.pop() if self._idle else None
            if environment is None:
                environment = _Environment(self)
                self.cold_starts += 1
                self._all.append(environment)
        request_id = str(uuid.uuid4())
        answer = environment.invoke(event, self.timeout_seconds, request_id)
        if environment.alive:
            self._logged(request_id)
        with self._lock:
            if environment.alive:
                self._idle.append(environment)
            else:
                self._all.remove(environment)
        if "error" in answer:
            raise _raised(answer["error"])
        return answer["result"]

    def process_ids(self) -> list[int]:
        """The process of each execution environment the function has now."""
        with self._lock:
            return [environment.process.pid for environment in self._all]

    def stop(self) -> None:
        with self._lock:
            environments, self._all, self._idle = list(self._all), [], []
        for environment in environments:
            environment.stop()


def _raised(error: dict[str, Any]) -> BaseException:
    if "pickled" in error:
        try:
            raised = pickle.loads(base64.b64decode(error["pickled"]))  # noqa: S301 - our worker's bytes
            if isinstance(raised, BaseException):
                return raised
        except Exception:  # noqa: S110 - a type this process cannot import: told by name below
            pass
    return FunctionError(str(error.get("errorType", "Unknown")), str(error.get("errorMessage", "")))
