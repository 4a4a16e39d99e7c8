"""Each function's AWS calls signed with its own role's credentials, as Lambda gives them.

On AWS every function runs in its own environment, with its execution role's session credentials
in AWS_ACCESS_KEY_ID & co. The sandbox runs all functions in one process, and the library caches its
clients across invocations (as it should), so the credentials are chosen at each signature instead:
the invocation sets the role's credentials in a context variable, and every botocore session the
process makes resolves to credentials that read it. A thread the function starts (prune deletes on
a second thread) carries them too. Outside an invocation, the environment's credentials apply (the
sandbox's own calls and tests, unenforced). The library knows nothing of this: only the endpoint and
the credentials differ from AWS, as on AWS.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import botocore.credentials
from botocore.credentials import CredentialProvider, Credentials, EnvProvider, ReadOnlyCredentials

_current: contextvars.ContextVar[ReadOnlyCredentials | None] = contextvars.ContextVar(
    "sandbox_function_credentials", default=None
)
_installed = False


class InvocationCredentials(Credentials):
    """Credentials that are, at each signature, the invoked function's (the fallback's otherwise)."""

    def __init__(self, fallback: Credentials) -> None:
        self._fallback = fallback
        self.method = "sandbox-function-role"

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        current = _current.get()
        return current if current is not None else self._fallback.get_frozen_credentials()

    # botocore's own code reads these attributes of a Credentials object as well.
    access_key = property(lambda self: str(self.get_frozen_credentials().access_key))
    secret_key = property(lambda self: str(self.get_frozen_credentials().secret_key))
    token = property(lambda self: self.get_frozen_credentials().token)


class InvocationProvider(CredentialProvider):
    """First in every credential chain of the process: the invocation's role, else the environment's."""

    METHOD = "sandbox-function-role"
    CANONICAL_NAME = "custom-sandbox-function-role"

    def load(self) -> Credentials | None:
        fallback = EnvProvider().load()
        return InvocationCredentials(fallback) if fallback is not None else None


@contextlib.contextmanager
def acting_as(credentials: ReadOnlyCredentials | None) -> Iterator[None]:
    """Sign every call made in this block (and threads it starts) with `credentials`."""
    token = _current.set(credentials)
    try:
        yield
    finally:
        _current.reset(token)


def from_sts(response: dict[str, Any]) -> ReadOnlyCredentials:
    """The credentials of an STS AssumeRole answer."""
    issued = response["Credentials"]
    return ReadOnlyCredentials(issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"])


def install() -> None:
    """Put the invocation's credentials first in every botocore credential chain, and into threads."""
    global _installed  # noqa: PLW0603 - botocore's and the executor's hooks are process-wide
    if _installed:
        return
    original_resolver = botocore.credentials.create_credential_resolver

    @functools.wraps(original_resolver)
    def resolver(*args: Any, **kwargs: Any) -> Any:
        chain = original_resolver(*args, **kwargs)
        chain.providers.insert(0, InvocationProvider())
        return chain

    botocore.credentials.create_credential_resolver = resolver
    original_submit = ThreadPoolExecutor.submit

    def submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return original_submit(self, contextvars.copy_context().run, fn, *args, **kwargs)

    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign,assignment]
    import boto3

    boto3.DEFAULT_SESSION = None  # the next default session is made with the chain above
    _installed = True
