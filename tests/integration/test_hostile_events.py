"""Hostile input to every handler: malformed, truncated, oversized and unicode events get a documented
outcome (a result, an `Invalid Event Received`), never an exception that Lambda would retry forever."""

from __future__ import annotations

import copy
import json
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.runtime import Sandbox
from tests.conftest import EVENTS

pytestmark = pytest.mark.integration

SAMPLES = {p.name: json.loads(p.read_text()) for p in sorted(EVENTS.glob("*.json"))}
HANDLES = {
    "EnrollFunction": [
        n for n in SAMPLES if n.startswith(("tag-change", "cloudtrail", "stack-status", "scheduled"))
    ],
    "RetryFunction": ["codepipeline-stage-failed.json", "retry-due-sqs.json"],
    "PruneFunction": ["codepipeline-execution-succeeded.json", "scheduled-resync.json"],
    "NotifyFunction": [
        "codepipeline-execution-succeeded.json",
        "pipewarden-retry-scheduled.json",
        "pipewarden-enrollment-rejected.json",
    ],
}

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=50),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=300, max_size=3000),
    st.sampled_from(["", " ", "\u202e\u0000", "<!channel>", "../../etc", "a" * 70_000, "💥" * 500]),
    st.lists(st.text(max_size=10), max_size=3),
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a JSON document."""
    found: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*prefix, key))
            found.extend(paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((*prefix, index))
            found.extend(paths(value, (*prefix, index)))
    return found


@st.composite
def hostile(draw: st.DrawFn, samples: list[str]) -> dict[str, Any]:
    """A real sample event with some fields replaced by junk, removed, or the whole thing cut short."""
    event: dict[str, Any] = copy.deepcopy(SAMPLES[draw(st.sampled_from(samples))])
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        candidates = paths(event)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = event
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(junk)
    if draw(st.integers(min_value=0, max_value=9)) == 0:  # a truncated delivery: whatever JSON is left
        text = json.dumps(event)
        cut = text[: draw(st.integers(min_value=0, max_value=len(text)))]
        loaded: Any
        try:
            loaded = json.loads(cut)
        except ValueError:
            loaded = cut
        return cast(dict[str, Any], loaded) if isinstance(loaded, dict) else {"raw": loaded}
    return event


@pytest.mark.parametrize("function", sorted(HANDLES))
def test_no_event_makes_a_handler_raise(sandbox: Sandbox, function: str) -> None:
    handler = sandbox.functions[function]

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(hostile(HANDLES[function]))
    def check(event: dict[str, Any]) -> None:
        result = handler.invoke(event)
        assert isinstance(result, dict)

    check()
    sandbox.wait_idle(30)
