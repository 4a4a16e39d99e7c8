"""Progress of long commands: plain lines when not on a terminal, a live bar when it is one."""

from __future__ import annotations

import io

import pytest

from cli.progress import Progress
from tests.unit.test_prune_errors import KEYS, FakeAws, pruner

FORCED = {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}  # rich's variables for "this is a terminal"


@pytest.fixture(autouse=True)
def _no_forcing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*FORCED, "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)


def test_not_a_terminal_prints_plain_lines_and_a_last_one() -> None:
    out = io.StringIO()
    with Progress("replay-dlq", stream=out, every=0) as progress:
        assert not progress.live
        progress.update(0, 3, "events")
        progress.advance()
    assert out.getvalue().splitlines() == [
        "replay-dlq: events: 0 of 3",
        "replay-dlq: events: 1 of 3",
    ]
    out = io.StringIO()
    with Progress("status", stream=out, every=0) as progress:
        progress.update(1200, None, "objects listed")
        progress.done = 1500  # moved on without a line: the last one says where it ended
    assert out.getvalue().splitlines() == ["status: objects listed: 1,200", "status: objects listed: 1,500"]
    assert "\x1b" not in out.getvalue()


def test_an_operation_shorter_than_the_interval_prints_nothing() -> None:
    out = io.StringIO()
    with Progress("status", stream=out) as progress:  # every 5 s
        for done in range(100):
            progress.update(done, 100, "last executions")
    assert out.getvalue() == ""


def test_a_terminal_shows_a_live_bar_and_no_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FORCED.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    with Progress("replay-dlq", stream=out, every=0) as progress:
        assert progress.live
        progress.update(2, 4, "events")
    shown = out.getvalue()
    assert "\x1b[" in shown  # drawn with control sequences, then erased (transient)
    assert "replay-dlq: events" in shown and "2/4" in shown
    assert "replay-dlq: events: 2 of 4" not in shown


def test_prune_tells_its_progress_reading_pipelines_then_listing() -> None:
    out = io.StringIO()
    with Progress("prune", stream=out, every=0) as progress:
        pruner(FakeAws(KEYS), progress=progress.update).run()
    assert out.getvalue().splitlines() == [
        "prune: reading pipelines: 0 of 1",
        "prune: reading pipelines: 1 of 1",
        "prune: objects listed: 2",  # pages of two
        "prune: objects listed: 4",
    ]
