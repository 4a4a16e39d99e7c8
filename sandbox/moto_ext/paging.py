"""Pages as AWS cuts them: its page sizes (smaller only when a test asks) and opaque tokens.

A token here is the page's position sealed with an HMAC under a secret of the sandbox server's
process, bound to the operation and to the query it continues (pipeline, filter, ...). A token the
sandbox did not issue for that query is refused, so a forged or misused token fails as AWS's do;
each service module raises its own service's error for it.

`overrides` lets a test cut pages of a few items without creating a thousand: it lives in the
sandbox server's process (the test process, for the threaded server), never in the functions'.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# Operation name (as AWS spells it) -> page size that caps whatever the caller asked for.
overrides: dict[str, int] = {}

_SECRET = secrets.token_bytes(32)
_MAC_BYTES = 16


@contextlib.contextmanager
def page_sizes(**sizes: int) -> Iterator[None]:
    """Within the block, the named operations answer at most this many items a page."""
    saved = dict(overrides)
    overrides.update(sizes)
    try:
        yield
    finally:
        overrides.clear()
        overrides.update(saved)


def page_size(operation: str, asked: int) -> int:
    """The size of the page the service cuts: what the caller asked (or AWS's default), unless a
    test made pages smaller."""
    return min(asked, overrides.get(operation, asked))


def _scope(query: Any) -> str:
    return json.dumps(query, sort_keys=True, separators=(",", ":"), default=str)


def issue(operation: str, query: Any, position: Any) -> str:
    """An opaque token for the page that starts at `position` of this operation's `query`."""
    body = json.dumps([operation, _scope(query), position, time.time()], separators=(",", ":")).encode()
    mac = hmac.new(_SECRET, body, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(mac + body).decode().rstrip("=")


@dataclass(frozen=True)
class Redeemed:
    position: Any
    issued: float  # time.time() when the token was issued


def redeem(token: str, operation: str, query: Any) -> Redeemed | None:
    """The position a token issued for this operation and query stands for; None if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    if not hmac.compare_digest(mac, hmac.new(_SECRET, body, hashlib.sha256).digest()[:_MAC_BYTES]):
        return None
    name, scope, position, issued = json.loads(body)
    if name != operation or scope != _scope(query):
        return None
    return Redeemed(position, float(issued))


def offset_page(
    operation: str,
    query: Any,
    items: list[Any],
    size: int,
    token: str | None,
    refused: Callable[[], Exception],
) -> tuple[list[Any], str | None]:
    """One page of `items` (in the service's order) and the token for the next, None after the last.

    `size` is the page AWS would cut; `refused()` is the service's error for a token it did not issue.
    """
    start = 0
    if token:
        redeemed = redeem(token, operation, query)
        if redeemed is None or not isinstance(redeemed.position, int):
            raise refused()
        start = redeemed.position
    end = start + page_size(operation, size)
    return items[start:end], issue(operation, query, end) if end < len(items) else None
