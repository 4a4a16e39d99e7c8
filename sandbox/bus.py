"""A local EventBridge bus: matches events against rule patterns and invokes targets asynchronously.

Events are queued by the API call that caused them and delivered later by one worker thread, so a
handler never runs inside the request that triggered it. A target that raises is retried like a
Lambda asynchronous invocation (twice), then the event goes to the rule's dead letters.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.events.models import EventPattern, EventPatternParser

Event = dict[str, Any]


@dataclass
class Rule:
    name: str
    pattern: dict[str, Any]
    target: Callable[[Event], Any]
    retries: int = 2
    matcher: EventPattern = field(init=False)

    def __post_init__(self) -> None:
        raw = json.dumps(self.pattern)
        self.matcher = EventPattern(raw, EventPatternParser(raw).parse())

    def matches(self, event: Event) -> bool:
        return bool(self.matcher.matches_event(event))


@dataclass
class DeadLetter:
    rule: str
    event: Event
    error: str


class EventBus:
    """Routes events to rules; `wait_idle()` returns once every queued event has been handled."""

    def __init__(self, retry_delay: float = 0.05) -> None:
        self.rules: list[Rule] = []
        # Rules that live elsewhere (EventBridge rules created by stacks), read at each event.
        self.rule_sources: list[Callable[[], list[Rule]]] = []
        self.dead_letters: list[DeadLetter] = []
        self.delivered = 0
        self.failed_attempts = 0
        self._retry_delay = retry_delay
        self._queue: queue.Queue[tuple[Event, Rule | None] | None] = queue.Queue()
        self._pending = 0
        self._lock = threading.Condition()
        self._worker: threading.Thread | None = None

    def add_rule(
        self, name: str, pattern: dict[str, Any], target: Callable[[Event], Any], retries: int = 2
    ) -> Rule:
        rule = Rule(name, pattern, target, retries)
        self.rules.append(rule)
        return rule

    def put(self, event: Event) -> None:
        """Queue an event for every rule whose pattern matches it."""
        with self._lock:
            self._pending += 1
        self._queue.put((event, None))

    def send(self, event: Event, target: Callable[[Event], Any], name: str, retries: int = 2) -> None:
        """Queue an event for one target, whatever its content (how a schedule invokes its target)."""
        rule = Rule(name, {"source": [event.get("source", "")]}, target, retries)
        with self._lock:
            self._pending += 1
        self._queue.put((event, rule))

    def start(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="sandbox-event-bus", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=10)
            self._worker = None

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no event is queued or being handled (including events handlers emit)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            event, direct = item
            try:
                rules = [direct] if direct else [r for r in self._all_rules() if r.matches(event)]
                for rule in rules:
                    self._deliver(rule, event)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._lock.notify_all()

    def call_soon(self, step: Callable[[], Any], name: str) -> None:
        """Run `step` on the bus's thread after what is queued already (how the simulator advances)."""
        self.send({"source": "sandbox"}, lambda _: step(), name, retries=0)

    def _all_rules(self) -> list[Rule]:
        return self.rules + [rule for source in self.rule_sources for rule in source()]

    def _deliver(self, rule: Rule, event: Event) -> None:
        for attempt in range(rule.retries + 1):
            try:
                rule.target(event)
            except Exception:
                self.failed_attempts += 1
                if attempt == rule.retries:
                    self.dead_letters.append(DeadLetter(rule.name, event, traceback.format_exc(limit=3)))
                    return
                time.sleep(self._retry_delay * 2**attempt)
            else:
                self.delivered += 1
                return
