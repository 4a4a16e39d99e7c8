"""The chaos scenario, reduced: faults, duplicates and shuffled events, then every invariant holds.

`make chaos` runs it at full scale (200 repositories, 500 executions) on three seeds. Here it runs in
a process of its own: it needs a sandbox of its own, with faults on from the start.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from typing import IO

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


STORM = ["--seed", "5", "--repos", "10", "--executions", "20", "--json"]
# The running storm and the files it writes to (files, not pipes: a pipe left unread would stall it).
_storm: tuple[subprocess.Popen[bytes], IO[str], IO[str]] | None = None


def start_storm() -> tuple[subprocess.Popen[bytes], IO[str], IO[str]]:
    """Start the reduced storm in its own process (once): tests/conftest.py starts it as soon as the
    session collects this test, so it runs on the machine's other core beside the rest of the suite."""
    global _storm  # noqa: PLW0603 - one storm per test session
    if _storm is None:
        # Kept open for the session: the test reads them once the storm ends.
        out = tempfile.TemporaryFile("w+")  # noqa: SIM115
        err = tempfile.TemporaryFile("w+")  # noqa: SIM115
        process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "sandbox.chaos", *STORM], cwd=ROOT, stdout=out, stderr=err
        )
        _storm = (process, out, err)
    return _storm


def test_a_reduced_storm_leaves_no_invariant_violated() -> None:
    storm, out, err = start_storm()
    storm.wait(timeout=540)
    out.seek(0)
    err.seek(0)
    done = subprocess.CompletedProcess(storm.args, storm.returncode, out.read(), err.read())
    mark = "CHAOS-FIGURES "
    figures = json.loads(
        next(line for line in done.stdout.splitlines() if line.startswith(mark))[len(mark) :]
    )
    assert figures["violations"] == [], done.stdout[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    assert figures["executions"] == 20 and figures["events"] > 300
    assert sum(figures["faults"].values()) > 0.1 * figures["calls"]  # about a fifth of the controller's calls
    assert figures["duplicated"] > 0
