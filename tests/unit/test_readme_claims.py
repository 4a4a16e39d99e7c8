"""Every behaviour the README's retry, notification and operating sections claim names the test that shows it.

Each paragraph and each table row of those sections cites at least one test
(`tests/<path>.py::<name>` or a whole `tests/<path>.py`), and every cited test exists.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

SECTIONS = (
    "### How retries decide",
    "### What gets told, and when",
    "### pipewarden's own alarms",
    "### The dashboard",
    "### pipewarden doctor",
    "### Health in pipewarden status",
    "### Progress of long commands",
)
CITED = re.compile(r"tests/[\w/]+\.py(?:::\w+)?")


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(title)
    end = text.find("\n#", start + len(title))
    return text[start + len(title) : end if end > 0 else None]


def claims(text: str) -> list[str]:
    """Paragraphs and table rows (not a table's header or rule, not a code block or an intro line)."""
    found: list[str] = []
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for block in re.split(r"\n\s*\n", prose.strip()):
        if not block.strip():
            continue
        lines = block.splitlines()
        if lines[0].startswith("|"):
            found.extend(line for line in lines[2:] if line.startswith("|"))
        elif not block.rstrip().endswith(":"):
            found.append(block)
    return found


@pytest.mark.parametrize("title", SECTIONS)
def test_every_claim_cites_a_test(title: str) -> None:
    uncited = [claim[:100] for claim in claims(section(title)) if not CITED.search(claim)]
    assert uncited == []


@pytest.mark.parametrize("title", SECTIONS)
def test_every_cited_test_exists(title: str) -> None:
    missing = []
    for cited in sorted(set(CITED.findall(section(title)))):
        path, _, name = cited.partition("::")
        source = ROOT / path
        if not source.is_file() or (name and not re.search(rf"^def {name}\(", source.read_text(), re.M)):
            missing.append(cited)
    assert missing == []
