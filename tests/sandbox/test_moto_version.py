"""The sandbox's moto extensions name the moto they were written for and every internal they touch."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sandbox import moto_ext
from sandbox.moto_ext import INTERNALS, MOTO_VERSION, UnsupportedMoto, check_moto, resolve

ROOT = Path(__file__).resolve().parents[2]


def moto_imports() -> set[str]:
    """Every `from moto... import name` (and `import moto...`) in the sandbox, as dotted names."""
    found: set[str] = set()
    for path in (ROOT / "sandbox").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("moto"):
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("moto."))
    return found


def test_the_pinned_moto_is_the_one_the_extensions_name() -> None:
    lock = (ROOT / "requirements" / "dev.lock").read_text().splitlines()
    assert f"moto=={MOTO_VERSION}" in [line.split(";")[0].strip() for line in lock]
    check_moto()  # the installed one passes


def test_another_moto_version_is_refused_with_what_to_do() -> None:
    with pytest.raises(
        UnsupportedMoto, match=r"written for moto 5\.2\.5, found moto 5\.3\.0: run `make install`"
    ):
        check_moto("5.3.0")


def test_a_moto_without_one_of_the_internals_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_ext, "INTERNALS", (*INTERNALS, "moto.cloudformation.parsing.no_such_function"))
    with pytest.raises(UnsupportedMoto, match=r"lacks .*moto\.cloudformation\.parsing\.no_such_function"):
        check_moto()


def test_every_moto_name_the_sandbox_imports_is_listed_and_exists() -> None:
    imported = {name for name in moto_imports() if name != "moto.__version__"}
    listed = set(INTERNALS)
    # A module imported whole (`from moto.cloudformation import models`) is listed by what is used
    # of it; the module itself must then be a prefix of a listed name.
    unlisted = {
        name for name in imported if name not in listed and not any(n.startswith(name + ".") for n in listed)
    }
    assert not unlisted, f"add to sandbox/moto_ext/__init__.py INTERNALS: {sorted(unlisted)}"
    for name in INTERNALS:
        assert resolve(name) is not None
