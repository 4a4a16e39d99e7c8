"""The AWS edge is typed with the mypy-boto3 stubs, and the stubs the lock pins are the ones the code uses."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TYPE_CHECKED = ("layers/pipewarden/pipewarden", "functions", "sandbox", "cli", "bench", "tests")


def _locked_stubs() -> set[str]:
    lock = (ROOT / "requirements" / "dev.lock").read_text().splitlines()
    return {
        line.split("==")[0].removeprefix("mypy-boto3-") for line in lock if line.startswith("mypy-boto3-")
    }


def test_the_stub_extras_asked_for_are_the_stubs_locked() -> None:
    wanted = re.search(r"^boto3-stubs\[([^\]]*)\]", (ROOT / "requirements" / "dev.in").read_text(), re.M)
    assert wanted is not None
    assert set(wanted.group(1).split(",")) == _locked_stubs()


def test_every_locked_stub_package_is_imported_by_type_checked_code() -> None:
    here = Path(__file__).resolve()
    sources = [p for folder in TYPE_CHECKED for p in (ROOT / folder).rglob("*.py") if p != here]
    imported = {name for p in sources for name in re.findall(r"\bmypy_boto3_(\w+)", p.read_text())}
    assert {stub.replace("-", "_") for stub in _locked_stubs()} - imported == set()
