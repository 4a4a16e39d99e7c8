"""Count the AWS calls code makes, per operation, by hooking the clients it is given."""

from __future__ import annotations

from collections import Counter
from typing import Any

READ_PREFIXES = ("Describe", "Get", "List", "BatchGet")


class CallCounter:
    """A client factory for `pipewarden.reconcile.Clients` that counts every API call made."""

    def __init__(self, sandbox: Any) -> None:
        self._sandbox = sandbox
        self.calls: Counter[str] = Counter()

    def __call__(self, service: str) -> Any:
        client = self._sandbox.client(service)
        client.meta.events.register("before-call.*.*", self._count)
        return client

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    @property
    def reads(self) -> int:
        return sum(n for op, n in self.calls.items() if op.split(":", 1)[1].startswith(READ_PREFIXES))

    @property
    def writes(self) -> int:
        return sum(self.calls.values()) - self.reads

    def reset(self) -> None:
        self.calls.clear()
