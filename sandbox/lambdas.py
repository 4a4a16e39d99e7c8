"""Run the controller's functions in-process, as Lambda would: handler by name, a context, fresh module."""

from __future__ import annotations

import importlib.util
import itertools
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from botocore.credentials import ReadOnlyCredentials

from sandbox.iam.credentials import acting_as

_counter = itertools.count()


@dataclass
class Context:
    """The attributes of Lambda's context object that Powertools and handlers read."""

    function_name: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "sandbox"
    timeout_seconds: int = 120

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


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
    _module: ModuleType | None = None

    def load(self) -> ModuleType:
        if self._module is None:
            module_file, _ = self.handler.rsplit(".", 1)
            path = self.code_dir / f"{module_file}.py"
            spec = importlib.util.spec_from_file_location(f"pipewarden_fn_{self.name}_{next(_counter)}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._module = module
        return self._module

    @property
    def arn(self) -> str:
        """The function's ARN as the controller stack names it (`pipewarden-<logical id>`)."""
        return f"arn:aws:lambda:{self.region}:{self.account}:function:pipewarden-{self.name}"

    def invoke(self, event: dict[str, Any]) -> Any:
        self.invocations += 1
        handler = getattr(self.load(), self.handler.rsplit(".", 1)[1])
        with acting_as(self.credentials):
            return handler(
                event,
                Context(
                    function_name=self.name,
                    invoked_function_arn=self.arn,
                    log_group_name=f"/aws/lambda/{self.name}",
                ),
            )
