"""`make bench`: every benchmark, its own output as it runs, then one table of the headline figures.

Each benchmark prints its figures with `sandbox.figures.figure`; this script runs them one after the
other in fresh interpreters, passes their output through and gathers the figures into the table.
Run: make bench   (or .venv/bin/python bench/table.py [classify enroll retry prune notify cost])
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sandbox.figures import MARK

BENCH = Path(__file__).resolve().parent
ALL = ("classify", "enroll", "retry", "prune", "notify", "cost")


def run(name: str) -> tuple[list[list[str]], int]:
    rows: list[list[str]] = []
    process = subprocess.Popen(
        [sys.executable, str(BENCH / f"{name}.py")], stdout=subprocess.PIPE, text=True, cwd=BENCH.parent
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(MARK):
            rows.append([name, *line.rstrip("\n").split("\t")[1:]])
        else:
            print(line, end="", flush=True)
    return rows, process.wait()


def main(argv: list[str]) -> int:
    started = time.monotonic()
    rows: list[list[str]] = []
    failed = []
    for name in argv or ALL:
        print(f"\n=== bench/{name}.py", flush=True)
        found, status = run(name)
        rows.extend(found)
        if status:
            failed.append(name)
    header = ["bench", "figure", "value", "compared with", "goal"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n=== Figures ({time.monotonic() - started:.0f} s, this machine, sandbox on 127.0.0.1)")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
