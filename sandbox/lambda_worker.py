"""One function's execution environment, as Lambda's Python runtime runs it: its own interpreter.

Run by path (`python sandbox/lambda_worker.py <fd>`), never imported: it imports nothing of the sandbox,
so the function sees only its code (`LAMBDA_TASK_ROOT`), its layer (`PYTHONPATH`) and its environment,
which Lambda sets per function (the function's variables, its role's session credentials, `_HANDLER`).
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime

The sandbox writes one invocation per line on stdin ({"event", "request_id", "deadline_ms"}) and reads
the answer from file descriptor <fd>; stdout and stderr are the function's log stream.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import pickle
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any


class Context:
    """Lambda's context object: what Powertools and handlers read, with a real deadline."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.invoked_function_arn = os.environ.get("SANDBOX_FUNCTION_ARN", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.aws_request_id = request_id
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _scale_sdk_backoff() -> None:
    """The sandbox compresses time: the SDK's retry waits at a fraction of their length, if asked."""
    scale = float(os.environ.get("SANDBOX_SDK_BACKOFF_SCALE", "1"))
    if scale == 1:
        return
    from botocore.retries import standard

    original = standard.ExponentialBackoff.delay_amount

    def scaled(self: Any, context: Any) -> float:
        return float(original(self, context)) * scale

    standard.ExponentialBackoff.delay_amount = scaled  # type: ignore[method-assign]


def _load_handler() -> Any:
    module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
    root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path.insert(0, root)
    spec = importlib.util.spec_from_file_location(module_name, Path(root) / f"{module_name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {module_name} from {root}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return getattr(module, function_name)


def _error(error: BaseException) -> dict[str, Any]:
    """Lambda's error answer ({errorType, errorMessage, stackTrace}), plus the exception itself when
    it survives pickling, so an in-process caller of the sandbox can catch it by its type."""
    answer: dict[str, Any] = {
        "errorType": type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_exception(error)[-3:],
    }
    try:
        pickled = pickle.dumps(error)
        pickle.loads(pickled)  # noqa: S301 - our own bytes, checked to round-trip
        answer["pickled"] = base64.b64encode(pickled).decode()
    except Exception:  # noqa: S110 - an exception that cannot travel is told by type and message
        pass
    return answer


def main() -> None:
    answers = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    # Powertools warns on an invocation without application metrics; Lambda shows it, nobody reads it.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    _scale_sdk_backoff()
    try:
        handler = _load_handler()
    except Exception as error:  # an init error fails every invocation, as in Lambda
        handler, init_error = None, _error(error)
    # Init is done: the invocation's timeout counts from here, as Lambda's does.
    answers.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        if handler is None:
            answers.write(json.dumps({"error": init_error}) + "\n")
            continue
        try:
            result = handler(request["event"], Context(request["request_id"], request["deadline_ms"]))
            answer: dict[str, Any] = {"result": json.loads(json.dumps(result, default=str))}
        except Exception as error:
            answer = {"error": _error(error)}
        sys.stderr.flush()
        print(f"END RequestId: {request['request_id']}", flush=True)  # as Lambda closes an invocation's log
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
