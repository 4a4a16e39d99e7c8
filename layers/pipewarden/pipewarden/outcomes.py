"""A blueprint stack's real outcome, from CloudFormation's stack status events, as pipewarden events."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pipewarden import stacks
from pipewarden.emit import ENROLLED, ENROLLMENT_FAILED, UNENROLLED
from pipewarden.reconcile import Action, Decision, Reconciler

# Follow-ups after which the stack stands as it is: it matches the tags, or a change was rejected.
SETTLED = frozenset({Action.NOTHING, Action.REJECT})


@dataclass(frozen=True)
class StackOutcome:
    """What a status event meant for the repository behind the stack."""

    repository: str
    status: str
    event: str
    follow_up: Decision | None = None


def on_stack_status(reconciler: Reconciler, stack_id: str, status: str, reason: str) -> StackOutcome | None:
    """Emit Enrolled / Enrollment Failed / Unenrolled for a terminal status and converge again.

    A created, updated or deleted stack is reconciled right away: tags that changed while it was busy
    apply now (and a repair deletes before it creates again); Enrolled is told only of a stack that
    then stands as it is, never of one whose next update is starting. A failed create or update is reported
    and left to the next tag change or resync, so a
    blueprint that cannot be deployed is tried once per resync, not in a tight loop.
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
    if status in stacks.SUCCEEDED_OUTCOMES:
        # Tags that changed while the stack was busy were waited on (WAIT), and a stack someone
        # updated by hand may not match them: converge now, under the one error policy (a transient
        # error is left to the next event or resync).
        reconciler.converge(repository, functools.partial(reconciler.reconcile, repository))
        follow_up = reconciler.decisions[-1] if reconciler.decisions else None
        if follow_up is not None and follow_up.action not in SETTLED:
            # The pipeline does not match the tags (yet): its next outcome is the one to tell.
            return StackOutcome(repository, status, "", follow_up)
        reconciler.emitter.emit(ENROLLED, detail, [stack.stack_id])
        return StackOutcome(repository, status, ENROLLED, follow_up)
    if status in stacks.FAILED_OUTCOMES:
        cause = stacks.first_failure_reason(reconciler.clients.cloudformation, stack.stack_id, reason)
        reconciler.emitter.emit(ENROLLMENT_FAILED, dict(detail, reason=cause), [stack.stack_id])
        return StackOutcome(repository, status, ENROLLMENT_FAILED)
    if status == "DELETE_COMPLETE":
        follow_up = reconciler.reconcile(repository)
        if follow_up.action is Action.CREATE:
            return StackOutcome(repository, status, "", follow_up)
        reconciler.emitter.emit(UNENROLLED, detail, [stack.stack_id])
        return StackOutcome(repository, status, UNENROLLED, follow_up)
    return None
