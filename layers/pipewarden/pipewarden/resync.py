"""The scheduled resync: converge every enrolled repository and every managed stack in bulk."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pipewarden import stacks
from pipewarden.aws import AwsError, tagged_resources
from pipewarden.naming import repository_from_arn
from pipewarden.reconcile import Action, Desired, Reconciler, desired_state
from pipewarden.stacks import StackView


@dataclass
class ResyncReport:
    """Counts of what one resync pass saw and did."""

    repositories: int = 0
    stacks: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    transient: list[AwsError] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """What the enroll function logs of the pass (its `resync done` line)."""
        return {
            "repositories": self.repositories,
            "stacks": self.stacks,
            "actions": self.actions,
            "errors": self.errors,
            "rejected": self.rejected,
        }


def tagged_repositories(reconciler: Reconciler) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(name, ARN, tags) of every repository carrying the `enabled` key, 100 per tagging-API call."""
    key = f"{reconciler.config.tag_prefix}:enabled"
    for arn, tags in tagged_resources(reconciler.clients.tagging, "codecommit:repository", key):
        yield repository_from_arn(arn), arn, tags


def resync(reconciler: Reconciler) -> ResyncReport:
    """One pass over everything: no per-repository reads, writes only where something differs.

    A stack whose repository lost its `enabled` tag, or no longer exists, is not in the tagging
    result and is deleted. One repository's failure does not stop the pass; transient failures
    are collected so the caller can raise after the rest has been converged.
    """
    prefix = reconciler.config.tag_prefix
    reconciler.resyncing = True
    report = ResyncReport()
    by_repository: dict[str, StackView] = {}
    for stack in stacks.managed(reconciler.clients.cloudformation, prefix):
        owner = stack.tags.get(f"{prefix}:repository")
        if owner:
            by_repository[owner] = stack
    report.stacks = len(by_repository)

    work: list[tuple[str, str, dict[str, str] | None]] = [
        (name, arn, tags) for name, arn, tags in tagged_repositories(reconciler)
    ]
    report.repositories = len(work)
    seen = {name for name, _, _ in work}
    work.extend((name, "", None) for name in sorted(by_repository) if name not in seen)

    for name, arn, tags in work:
        desired = desired_state(name, tags, reconciler.config)
        step = functools.partial(_converge_one, reconciler, desired, by_repository.get(name), arn)
        before = len(reconciler.decisions)
        error = reconciler.converge(name, step)
        if error is not None:
            report.transient.append(error)
        for applied in reconciler.decisions[before:]:
            report.actions[applied.action.value] = report.actions.get(applied.action.value, 0) + 1
    report.errors = list(reconciler.failures)
    return report


def _converge_one(reconciler: Reconciler, desired: Desired, stack: StackView | None, arn: str) -> None:
    reconciler.apply(reconciler.decide(desired, stack), arn)


__all__ = ["Action", "ResyncReport", "resync", "tagged_repositories"]
