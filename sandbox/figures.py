"""One line per headline figure, which `bench/table.py` gathers into the report's table."""

from __future__ import annotations

MARK = "FIGURE\t"


def figure(name: str, value: str, comparison: str = "", goal: str = "") -> None:
    """Print a figure: what it is, its value, how it compares to its baseline, and the goal."""
    print(f"{MARK}{name}\t{value}\t{comparison}\t{goal}", flush=True)
