"""The chaos scenario, reduced: faults, duplicates and shuffled events, then every invariant holds.

`make chaos` runs it at full scale (200 repositories, 500 executions) on three seeds. Here it runs in
a process of its own: it needs a sandbox of its own, with faults on from the start.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_a_reduced_storm_leaves_no_invariant_violated() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox.chaos",
            "--seed",
            "5",
            "--repos",
            "10",
            "--executions",
            "20",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    mark = "CHAOS-FIGURES "
    figures = json.loads(
        next(line for line in done.stdout.splitlines() if line.startswith(mark))[len(mark) :]
    )
    assert figures["violations"] == [], done.stdout[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    assert figures["executions"] == 20 and figures["events"] > 300
    assert sum(figures["faults"].values()) > 0.1 * figures["calls"]  # about a fifth of the controller's calls
    assert figures["duplicated"] > 0
