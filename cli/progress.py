"""Progress of a long command (prune of a large bucket, replay of many events, status of a large fleet):
a live bar on a terminal, plain lines otherwise (CI logs, files, pipes).

Progress goes to stderr, so what a command prints on stdout (tables, --json) stays what scripts read.
Whether stderr is a terminal is rich's call, so its variables apply: TTY_INTERACTIVE=0 asks for plain
lines on a terminal, TTY_INTERACTIVE=1 (with TTY_COMPATIBLE=1) for the live bar anywhere
(https://rich.readthedocs.io/en/latest/console.html#environment-variables).
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

EVERY = 5.0  # seconds between plain lines: a log shows a long operation moving, not every step of it


class Progress:
    """`with Progress("prune") as progress: ... progress.update(done, total, "listing the bucket")`.

    Plain lines: at most one per `every` seconds, and a last one at the end if any was printed (an
    operation shorter than `every` prints none).
    """

    def __init__(self, title: str, *, stream: TextIO | None = None, every: float | None = None) -> None:
        from rich.console import Console

        self.title = title
        self.stream = stream if stream is not None else sys.stderr
        self.every = EVERY if every is None else every
        self.console = Console(file=self.stream)
        self.live = self.console.is_interactive
        self.done, self.step = 0, ""
        self.total: int | None = None
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        self._printed = ""
        self._last = time.monotonic()

    def __enter__(self) -> Progress:
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import (
                Progress as RichProgress,
            )

            self._bar = RichProgress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,  # gone once done: the command's own report follows
            )
            self._bar.start()
            self._task = self._bar.add_task(self.title, total=None)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self._printed and self._printed != self.line():
            self._print()

    def line(self) -> str:
        step = f": {self.step}" if self.step else ""
        of = f" of {self.total:,}" if self.total is not None else ""
        return f"{self.title}{step}: {self.done:,}{of}"

    def update(self, done: int, total: int | None = None, step: str | None = None) -> None:
        """`done` of `total` (None: not known) in the current step."""
        self.done = done
        if total is not None:
            self.total = total
        new_step = step is not None and step != self.step
        if new_step:
            self.step, self.total = step or "", total
        if self._bar is not None and self._task is not None:
            if new_step:  # a task of its own: rich keeps a task's total once it has one
                self._bar.remove_task(self._task)
                self._task = self._bar.add_task(f"{self.title}: {self.step}", total=self.total)
            self._bar.update(self._task, completed=done, total=self.total)
            return
        if time.monotonic() - self._last >= self.every:
            self._print()

    def advance(self, by: int = 1) -> None:
        self.update(self.done + by)

    def _print(self) -> None:
        self._printed = self.line()
        self._last = time.monotonic()
        print(self._printed, file=self.stream, flush=True)
