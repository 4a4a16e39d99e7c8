"""A local EventBridge bus: matches events against rule patterns and invokes targets asynchronously.

Events are queued by the API call that caused them and delivered later by one worker thread, so a
handler never runs inside the request that triggered it. A target that raises is retried like a
Lambda asynchronous invocation (twice), then the event goes to the rule's dead letters (and to
`on_dead_letter`, which the sandbox points at the on-failure queue).

`disorder(seed, duplicate)` makes delivery as loose as EventBridge and Lambda allow: the next event is
picked at random from those waiting, and a share of deliveries to a function happens twice (the
sandbox's SQS pollers draw from the same share: a queue's messages reach the function again).
"""

from __future__ import annotations

import json
import random
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
    destination: str = ""  # the function's ARN when the target is a Lambda function
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
    destination: str = ""
    attempts: int = 0


class EventBus:
    """Routes events to rules; `wait_idle()` returns once every queued event has been handled."""

    def __init__(self, retry_delay: float = 0.05) -> None:
        self.rules: list[Rule] = []
        # Rules that live elsewhere (EventBridge rules created by stacks), read at each event.
        self.rule_sources: list[Callable[[], list[Rule]]] = []
        self.dead_letters: list[DeadLetter] = []
        self.on_dead_letter: Callable[[DeadLetter], None] | None = None
        self.delivered = 0
        self.duplicated = 0
        self.failed_attempts = 0
        self._retry_delay = retry_delay
        self._items: list[tuple[Event, Rule | None]] = []
        self._stopping = False
        self._pending = 0
        self._lock = threading.Condition()
        self._worker: threading.Thread | None = None
        self._rand: random.Random | None = None
        self._duplicate = 0.0

    def disorder(self, seed: int, duplicate: float) -> None:
        """Deliver in a seeded random order, and `duplicate` of the deliveries to functions twice."""
        with self._lock:
            self._rand = random.Random(seed)
            self._duplicate = duplicate

    def add_rule(
        self,
        name: str,
        pattern: dict[str, Any],
        target: Callable[[Event], Any],
        retries: int = 2,
        destination: str = "",
    ) -> Rule:
        rule = Rule(name, pattern, target, retries, destination)
        self.rules.append(rule)
        return rule

    def put(self, event: Event) -> None:
        """Queue an event for every rule whose pattern matches it."""
        self._enqueue(event, None)

    def send(
        self,
        event: Event,
        target: Callable[[Event], Any],
        name: str,
        retries: int = 2,
        destination: str = "",
    ) -> None:
        """Queue an event for one target, whatever its content (how a schedule invokes its target)."""
        self._enqueue(event, Rule(name, {"source": [event.get("source", "")]}, target, retries, destination))

    def _enqueue(self, event: Event, rule: Rule | None) -> None:
        with self._lock:
            self._pending += 1
            self._items.append((event, rule))
            self._lock.notify_all()

    def _next(self) -> tuple[Event, Rule | None] | None:
        with self._lock:
            while not self._items and not self._stopping:
                self._lock.wait()
            if self._stopping:
                return None
            index = self._rand.randrange(len(self._items)) if self._rand else 0
            return self._items.pop(index)

    def start(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="sandbox-event-bus", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            with self._lock:
                self._stopping = True
                self._lock.notify_all()
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
            item = self._next()
            if item is None:
                return
            event, direct = item
            try:
                rules = [direct] if direct else [r for r in self._all_rules() if r.matches(event)]
                for rule in rules:
                    self._deliver(rule, event)
                    if rule.destination and self.twice():
                        self._deliver(rule, event)  # delivered again, as EventBridge and Lambda may
            finally:
                with self._lock:
                    self._pending -= 1
                    self._lock.notify_all()

    def twice(self) -> bool:
        """Whether this delivery happens a second time (a seeded draw, as `disorder` set it)."""
        if self._rand and self._rand.random() < self._duplicate:
            self.duplicated += 1
            return True
        return False

    def call_soon(self, step: Callable[[], Any], name: str) -> None:
        """Run `step` on the bus's thread after what is queued already (how the simulator advances)."""
        self.send({"source": "sandbox"}, lambda _: step(), name, retries=0)

    def call_later(self, step: Callable[[], Any], seconds: float, name: str = "later") -> None:
        """Run `step` on the bus's thread `seconds` from now; `wait_idle` waits for it from now on."""
        with self._lock:
            self._pending += 1  # counted now, so nobody sees the bus idle while the step waits

        def due() -> None:
            self.call_soon(step, name)
            with self._lock:
                self._pending -= 1
                self._lock.notify_all()

        timer = threading.Timer(seconds, due)
        timer.daemon = True
        timer.start()

    def _all_rules(self) -> list[Rule]:
        return self.rules + [rule for source in self.rule_sources for rule in source()]

    def _deliver(self, rule: Rule, event: Event) -> None:
        for attempt in range(rule.retries + 1):
            try:
                rule.target(event)
            except Exception:
                self.failed_attempts += 1
                if attempt == rule.retries:
                    letter = DeadLetter(
                        rule.name, event, traceback.format_exc(limit=3), rule.destination, attempt + 1
                    )
                    self.dead_letters.append(letter)
                    if self.on_dead_letter is not None and rule.destination:
                        self.on_dead_letter(letter)
                    return
                time.sleep(self._retry_delay * 2**attempt)
            else:
                self.delivered += 1
                return
