"""A blueprint stack's real outcome, from CloudFormation's stack status events, as pipewarden events."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pipewarden import stacks
from pipewarden.aws import AwsError
from pipewarden.contract import is_enabled
from pipewarden.emit import ENROLLED, ENROLLMENT_FAILED, UNENROLLED
from pipewarden.reconcile import Action, Decision, Reconciler


@dataclass(frozen=True)
class StackOutcome:
    """What a status event meant for the repository behind the stack."""

    repository: str
    status: str
    event: str
    follow_up: Decision | None = None


def on_stack_status(
    reconciler: Reconciler, stack_id: str, status: str, reason: str, token: str = ""
) -> StackOutcome | None:
    """Emit Enrolled / Enrollment Failed / Unenrolled for a terminal status, and converge again.

    - Created: told (the repository has its pipeline), then converged: tags that changed while the
      stack was being created apply now.
    - Updated by pipewarden (its token): converged first; told only if the stack then stands as the
      tags say, never while a correction starts (the correction's outcome is told instead).
    - Updated by anyone else: neither told nor corrected here; the resync puts back what differs from
      the tags, once an hour at most, so two writers never fight at CloudFormation's speed.
    - Failed: told, and left to the next tag change or resync (a blueprint that cannot be deployed is
      tried once per resync, not in a loop), unless the repository is no longer enrolled: then the
      stack is deleted now (a failed delete is not tried again here).
    - Deleted: converged (a repair creates again), then Unenrolled told unless a create started.
    - Created while the repository was untagged: not told as Enrolled; its delete's outcome is.
    Every follow-up runs under the one error policy, before the outcome is told: a transient error is
    raised first, so Lambda's retry of the event tells it once.
    """
    prefix = reconciler.config.tag_prefix
    stack = stacks.describe(reconciler.clients.cloudformation, stack_id)
    if stack is None or stack.tags.get(f"{prefix}:managed-by") != "pipewarden":
        return None
    repository = stack.tags.get(f"{prefix}:repository", "")
    if not repository:
        return None
    detail = {
        "repository": repository,
        "stack": stack.name,
        "stack-id": stack.stack_id,
        # Stacks of an earlier blueprint have no PipelineName: their pipeline had the stack's name.
        "pipeline": stack.parameters.get("PipelineName") or stack.name,
        "status": status,
        # What the notifier needs once the pipeline (and its tags) may be gone.
        "notify": stack.parameters.get("NotifyMode", ""),
        "slack-channel": stack.parameters.get("SlackChannel", ""),
    }
    resources = [stack.stack_id]
    if status == "CREATE_COMPLETE":
        follow_up = _converge(reconciler, repository)
        if follow_up is not None and follow_up.action is Action.DELETE:
            # Untagged while it was created: the pipeline is going away, Unenrolled is what to tell.
            return StackOutcome(repository, status, "", follow_up)
        reconciler.emitter.emit(ENROLLED, detail, resources)
        return StackOutcome(repository, status, ENROLLED, follow_up)
    if status in stacks.SUCCEEDED_OUTCOMES:
        if not stacks.is_own(token):
            return StackOutcome(repository, status, "")
        follow_up = _converge(reconciler, repository)
        if follow_up is None or follow_up.action is not Action.NOTHING:
            return StackOutcome(repository, status, "", follow_up)
        reconciler.emitter.emit(ENROLLED, detail, resources)
        return StackOutcome(repository, status, ENROLLED, follow_up)
    if status in stacks.FAILED_OUTCOMES:
        # A delete that failed is not started again here (it would fail the same way, in a loop).
        follow_up = (
            None
            if status == "DELETE_FAILED" or _enrolled(reconciler, repository)
            else (_converge(reconciler, repository))
        )
        cause = stacks.first_failure_reason(reconciler.clients.cloudformation, stack.stack_id, reason)
        reconciler.emitter.emit(ENROLLMENT_FAILED, dict(detail, reason=cause), resources)
        return StackOutcome(repository, status, ENROLLMENT_FAILED, follow_up)
    if status == "DELETE_COMPLETE":
        follow_up = _converge(reconciler, repository)
        if follow_up is None or follow_up.action is Action.CREATE:
            # A repair creates again (or could not: the policy reported why): not unenrolled.
            return StackOutcome(repository, status, "", follow_up)
        reconciler.emitter.emit(UNENROLLED, detail, resources)
        return StackOutcome(repository, status, UNENROLLED, follow_up)
    return None


def _enrolled(reconciler: Reconciler, repository: str) -> bool:
    """Whether the repository still asks to be enrolled; when that cannot be read for good (access
    denied), assume so and leave the stack to the resync. A transient error is raised."""
    try:
        _, tags = reconciler.repository_tags(repository)
    except AwsError as error:
        if error.transient:
            raise
        return True
    return tags is not None and is_enabled(tags, reconciler.config.tag_prefix)


def _converge(reconciler: Reconciler, repository: str) -> Decision | None:
    """Reconcile the repository under the one error policy: its decision, or None when it failed
    permanently (reported by the policy). A transient error is raised, for Lambda to retry."""
    before = len(reconciler.decisions)
    error = reconciler.converge(repository, functools.partial(reconciler.reconcile, repository))
    if error is not None:
        raise error
    return reconciler.decisions[-1] if len(reconciler.decisions) > before else None
