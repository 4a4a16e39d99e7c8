"""Desired (tags) vs actual (stack) -> create, update, delete, repair, reject, wait or nothing; then do it."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from pipewarden import blueprint, ownership, pipelines, repositories, stacks
from pipewarden.aws import AwsError, Clients, Conflict, NotFound
from pipewarden.config import ControllerConfig
from pipewarden.contract import (
    APPLICATION_BLUEPRINTS,
    ContractViolation,
    RepositorySettings,
    check_allowed,
    parse_settings,
)
from pipewarden.emit import (
    ENROLLMENT_FAILED,
    ENROLLMENT_REJECTED,
    ENROLLMENT_STARTED,
    UNENROLLMENT_STARTED,
    Emitter,
)
from pipewarden.naming import APPLICATION_PREFIX, application_name, artifact_prefix, pipeline_name, stack_name
from pipewarden.observability import logger, metrics
from pipewarden.stacks import StackView


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPAIR = "repair"
    REJECT = "reject"
    WAIT = "wait"
    NOTHING = "nothing"


WRITES = frozenset({Action.CREATE, Action.UPDATE, Action.DELETE, Action.REPAIR})
# Stack tag (under the prefix) of a pipeline created before its ECS service existed: every
# reconcile looks the service up again until its roles are known.
AWAITING_SERVICE = "awaiting-service"
# Why a write waits: CloudFormation refused it because the stack is busy (or was just created).
BUSY = "the stack is busy with another operation; its outcome (or the next resync) converges again"


@dataclass(frozen=True)
class Desired:
    """What the repository's tags ask for: settings, nothing (not enrolled), or a rejection."""

    repository: str
    settings: RepositorySettings | None = None
    violation: ContractViolation | None = None


@dataclass(frozen=True)
class Decision:
    """What to do for one repository, and why (the reason is what logs and events say)."""

    action: Action
    repository: str
    stack: str
    reason: str
    settings: RepositorySettings | None = None
    violation: ContractViolation | None = None
    changed: tuple[str, ...] = ()
    stack_id: str = ""
    stack_parameters: Mapping[str, str] = field(default_factory=dict)


def desired_state(repository: str, tags: Mapping[str, str] | None, config: ControllerConfig) -> Desired:
    """Validate the tags (None: the repository does not exist) against the contract and allow-list."""
    if tags is None:
        return Desired(repository)
    try:
        settings = parse_settings(repository, tags, config.tag_prefix)
        if settings is not None:
            check_allowed(settings, config.allowed_targets, config.tag_prefix, config.allowed_blueprints)
    except ContractViolation as violation:
        return Desired(repository, violation=violation)
    if settings is not None and stack_name(repository).startswith(APPLICATION_PREFIX):
        # `app-<id>` would name its stack as the lambda blueprint names an application's.
        taken = ContractViolation(
            f"{config.tag_prefix}:enabled",
            "true",
            f"the repository's stack would be {stack_name(repository)}, a name pipewarden keeps for "
            "lambda applications (pipewarden-app-*); rename the repository",
        )
        return Desired(repository, violation=taken)
    return Desired(repository, settings=settings)


def decide(
    desired: Desired,
    stack: StackView | None,
    config: ControllerConfig,
    application: StackView | None = None,
) -> Decision:
    """The one place that turns desired and actual state into an action. Pure: no AWS calls.

    `application`: the lambda blueprint's application stack (`pipewarden-app-<id>`), read only when a
    lambda pipeline is asked to become another blueprint (`needs_application_stack`).
    """
    repo = desired.repository
    name = stack_name(repo)
    prefix = config.tag_prefix
    decision = functools.partial(
        Decision, repository=repo, stack=name, settings=desired.settings, violation=desired.violation
    )
    if stack is not None and stack.status == "DELETE_COMPLETE":
        stack = None
    owner = stack.tags.get(f"{prefix}:repository") if stack else None
    if stack is not None and owner is None and name.startswith(APPLICATION_PREFIX):
        # A lambda blueprint's application stack (the team's, not a pipeline's): never written or deleted
        # on behalf of a repository whose name happens to make the same stack name.
        if desired.violation is not None:
            return decision(action=Action.REJECT, reason=str(desired.violation))
        return decision(
            action=Action.NOTHING, reason=f"stack {name} is a lambda application's, not a pipeline's"
        )
    if stack is not None and owner is not None and owner != repo:
        # Two repository names that differ only in characters outside [A-Za-z0-9-] map to one stack.
        if desired.settings is None:
            return decision(action=Action.NOTHING, reason=f"stack {name} belongs to repository {owner}")
        clash = ContractViolation(
            f"{prefix}:enabled", "true", f"the stack name {name} is taken by repository {owner}; rename one"
        )
        return decision(action=Action.REJECT, reason=str(clash), violation=clash)
    if stack is None:
        if desired.violation is not None:
            return decision(action=Action.REJECT, reason=str(desired.violation))
        if desired.settings is not None:
            return decision(action=Action.CREATE, reason="enrolled repository has no pipeline")
        return decision(action=Action.NOTHING, reason="not enrolled and no pipeline")
    decision = functools.partial(decision, stack_id=stack.stack_id, stack_parameters=stack.parameters)
    if stack.in_progress:
        return decision(action=Action.WAIT, reason=f"stack is {stack.status}; next event or resync converges")
    if desired.violation is not None:
        return decision(
            action=Action.REJECT, reason=f"{desired.violation}; the existing pipeline is left unchanged"
        )
    if desired.settings is None:
        return decision(action=Action.DELETE, reason="repository is not enrolled (or no longer exists)")
    if stack.status in stacks.BROKEN:
        return decision(action=Action.REPAIR, reason=f"stack is {stack.status}: delete, then create again")
    chosen = blueprint.of(desired.settings)
    wanted = chosen.parameters(desired.settings, config)
    changed = [k for k in chosen.tag_derived if stack.parameters.get(k) != wanted[k]]
    label = stack.tags.get(f"{prefix}:blueprint")
    if (
        _leaves_application(stack, desired.settings, prefix)
        and application is not None
        and application.status != "DELETE_COMPLETE"
    ):
        # The switch would delete the deploy role the application stack acts with: CloudFormation
        # uses a stack's role for every later update and delete, so nobody could change or remove
        # the application through CloudFormation any more (AWS-FACTS "IAM", using-iam-servicerole).
        clash = ContractViolation(
            f"{prefix}:blueprint",
            desired.settings.blueprint,
            f"switching from lambda to {desired.settings.blueprint} would delete the deploy role of the "
            f"application stack {application.name} ({application.status}), which could then be "
            "neither updated nor deleted; delete that stack first, then change the tag",
        )
        return decision(
            action=Action.REJECT,
            reason=f"{clash}; the existing pipeline is left unchanged",
            violation=clash,
        )
    if blueprint.name_of(label) != chosen.name:
        # The same stack, updated to the other template: CloudFormation removes what the old one made
        # and the new one lacks (an ECR repository is retained), and the pipeline keeps its history.
        changed.append(f"blueprint {blueprint.name_of(label)} -> {chosen.name}")
    elif label != chosen.label:
        changed.append("blueprint")
    if stack.tags.get(f"{prefix}:{AWAITING_SERVICE}") == "true":
        changed.append(AWAITING_SERVICE)
    if changed:
        return decision(action=Action.UPDATE, reason=f"changed: {', '.join(changed)}", changed=tuple(changed))
    return decision(action=Action.NOTHING, reason="pipeline matches the tags")


def _leaves_application(stack: StackView, settings: RepositorySettings, prefix: str) -> bool:
    """True when a lambda pipeline's tags now ask for another blueprint."""
    was = blueprint.name_of(stack.tags.get(f"{prefix}:blueprint"))
    return was in APPLICATION_BLUEPRINTS and settings.blueprint != was


def needs_application_stack(desired: Desired, stack: StackView | None, prefix: str) -> bool:
    """Whether `decide` needs the application stack: only when a live lambda pipeline would switch."""
    return (
        stack is not None
        and desired.settings is not None
        and stack.status != "DELETE_COMPLETE"
        and _leaves_application(stack, desired.settings, prefix)
    )


@dataclass
class Reconciler:
    """Reads state, decides and converges; every outcome is emitted through `emitter`."""

    config: ControllerConfig
    clients: Clients
    emitter: Emitter
    decisions: list[Decision] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "<repository>: <AWS error>", in this invocation
    # Set by the scheduled resync: a problem it meets is reported as standing (told once while it stands).
    resyncing: bool = False

    def converge(self, repository: str, work: Callable[[], object]) -> AwsError | None:
        """Run one repository's convergence under the one error policy of every path (events, resync).

        A transient AWS error (throttling, 5xx) is handed back: the caller converges the
        other repositories, then raises it so Lambda retries the invocation. A permanent one (access
        denied, a limit, an invalid request) would fail a retry the same way: it is reported as
        `Repository Enrollment Failed` (status NOT_STARTED) with a fingerprint of the repository and
        the error, so people are told once while it stands, and the pass goes on.
        """
        try:
            work()
        except AwsError as error:
            self.failures.append(f"{repository}: {error}")
            logger.error(
                "reconcile failed", repository=repository, error=str(error), transient=error.transient
            )
            if error.transient:
                return error
            metrics.add_metric(name="EnrollmentsFailed", unit=MetricUnit.Count, value=1)
            # The code and operation, not the message: a message may carry a request's own text.
            basis = f"{repository}\0{error.code}\0{error.operation}"
            detail = {
                "repository": repository,
                "stack": stack_name(repository),
                "reason": str(error),
                "status": "NOT_STARTED",
                "fingerprint": hashlib.sha256(basis.encode()).hexdigest()[:16],
                "standing": self.resyncing,
            }
            self.emitter.emit(ENROLLMENT_FAILED, detail)
        return None

    def repository_tags(self, repository: str) -> tuple[str, Mapping[str, str] | None]:
        """The repository's ARN and tags; tags None when the repository does not exist."""
        try:
            return repositories.read_tags(self.clients.codecommit, repository)
        except NotFound:
            return "", None

    def reconcile(self, repository: str) -> Decision:
        """Converge one repository: at most three reads when nothing has to change."""
        arn, tags = self.repository_tags(repository)
        stack = stacks.describe(self.clients.cloudformation, stack_name(repository))
        return self.apply(self.decide(desired_state(repository, tags, self.config), stack), arn)

    def decide(self, desired: Desired, stack: StackView | None) -> Decision:
        """`decide`, after reading the application stack when a lambda pipeline would switch away."""
        application = None
        if needs_application_stack(desired, stack, self.config.tag_prefix):
            application = stacks.describe(self.clients.cloudformation, application_name(desired.repository))
        return decide(desired, stack, self.config, application)

    def apply(self, decision: Decision, repository_arn: str = "") -> Decision:
        """Carry out a decision: start the stack operation, or report why nothing is done."""
        detail: dict[str, Any] = {
            "repository": decision.repository,
            "stack": decision.stack,
            "pipeline": pipeline_name(decision.repository),
            "action": decision.action.value,
            "reason": decision.reason,
        }
        resources = [repository_arn]
        if decision.action in (Action.CREATE, Action.UPDATE) and decision.settings is not None:
            return self._write(decision, decision.settings, detail, resources)
        if decision.action in (Action.DELETE, Action.REPAIR):
            try:
                stacks.delete(
                    self.clients.cloudformation,
                    decision.stack_id or decision.stack,
                    self.config.cloudformation_role_arn,
                )
            except Conflict:
                return self._record(replace(decision, action=Action.WAIT, reason=BUSY))
            kind = UNENROLLMENT_STARTED if decision.action is Action.DELETE else ENROLLMENT_STARTED
            self.emitter.emit(kind, detail, resources)
        elif decision.action is Action.REJECT:
            return self._reject(decision, detail, resources)
        return self._record(decision)

    def _write(
        self, decision: Decision, settings: RepositorySettings, detail: dict[str, Any], resources: list[str]
    ) -> Decision:
        """Create or update the stack, once the ECS service, its roles and the ECR repository are the
        repository's own (a rejection otherwise) and, for a new pipeline, its artifact prefix is free."""
        cfn, role, prefix = (
            self.clients.cloudformation,
            self.config.cloudformation_role_arn,
            self.config.tag_prefix,
        )
        try:
            if decision.action is Action.CREATE:
                self._check_artifact_prefix(settings)
            targets = ownership.check(
                self.clients, settings, prefix, ecr_created_by_stack=self._stack_owns_ecr(decision, settings)
            )
        except ContractViolation as violation:
            kept = "; the existing pipeline is left unchanged" if decision.action is Action.UPDATE else ""
            refused = replace(
                decision, action=Action.REJECT, reason=f"{violation}{kept}", violation=violation
            )
            return self._reject(refused, detail, resources)
        if targets.warning and decision.changed == (AWAITING_SERVICE,):
            return self._record(
                replace(decision, action=Action.NOTHING, reason=f"still waiting: {targets.warning}")
            )
        chosen = blueprint.of(settings)
        looked_up = {
            "PassRoleArns": ",".join(targets.pass_roles),
            "CreateEcrRepository": str(targets.create_ecr_repository).lower(),
            "TargetGroupNames": ",".join(targets.target_groups),
            "ProductionListenerArn": targets.listener_arn,
            "ContainerPort": targets.container_port,
        }
        parameters = chosen.parameters(settings, self.config) | {
            name: looked_up[name] for name in chosen.looked_up
        }
        tags = blueprint.stack_tags(decision.repository, prefix, chosen.name)
        if targets.warning:
            tags[f"{prefix}:{AWAITING_SERVICE}"] = "true"
            detail["warnings"] = [targets.warning]
        spec = stacks.StackSpec(decision.stack, chosen.template_body(), parameters, tags, role)
        try:
            if decision.action is Action.CREATE:
                stacks.create(cfn, spec)
            elif not stacks.update(cfn, spec):
                return self._record(replace(decision, action=Action.NOTHING, reason="no changes to apply"))
        except Conflict:
            # Another run created the stack, or started an operation on it since we read it: its
            # status event converges this repository again once the stack settles.
            return self._record(replace(decision, action=Action.WAIT, reason=BUSY))
        detail["changed"] = list(decision.changed)
        detail["settings"] = _settings_detail(settings)
        self.emitter.emit(ENROLLMENT_STARTED, detail, resources)
        return self._record(decision)

    @staticmethod
    def _stack_owns_ecr(decision: Decision, settings: RepositorySettings) -> bool:
        """The stack created the ECR repository it pushes to (and keeps owning it)."""
        current = decision.stack_parameters
        return (
            current.get("CreateEcrRepository") == "true"
            and current.get("EcrRepositoryName") == settings.ecr_repository
        )

    def _check_artifact_prefix(self, settings: RepositorySettings) -> None:
        """Refuse a pipeline whose artifact prefix another pipeline has: they would share artifacts."""
        pipeline = pipeline_name(settings.repository)
        prefix = artifact_prefix(pipeline)
        if prefix != pipeline:  # a name shorter than the prefix length is its own prefix
            for other in pipelines.names(self.clients.codepipeline):
                if other != pipeline and artifact_prefix(other) == prefix:
                    raise ContractViolation(
                        f"{self.config.tag_prefix}:enabled",
                        "true",
                        f"pipeline {other} already keeps its artifacts under {prefix}/, where "
                        f"{pipeline} would keep its own; rename the repository",
                    )

    def _reject(self, decision: Decision, detail: dict[str, Any], resources: list[str]) -> Decision:
        violation = decision.violation
        assert violation is not None
        # The same bad tag is seen once per event that points at the repository (CloudTrail and
        # the tag-change event both do); the fingerprint lets subscribers report it once.
        basis = f"{decision.repository}\0{violation.key}\0{violation.value}\0{violation.reason}"
        detail.update(
            action="reject",
            reason=decision.reason,
            key=violation.key,
            value=violation.value,
            fingerprint=hashlib.sha256(basis.encode()).hexdigest()[:16],
            standing=self.resyncing,
        )
        self.emitter.emit(ENROLLMENT_REJECTED, detail, resources)
        return self._record(decision)

    def _record(self, decision: Decision) -> Decision:
        self.decisions.append(decision)
        return decision


def _settings_detail(settings: RepositorySettings) -> dict[str, Any]:
    detail = {
        "blueprint": settings.blueprint,
        "branch": settings.branch,
        "ecs-cluster": settings.ecs_cluster,
        "ecs-service": settings.ecs_service,
        "container": settings.container,
        "ecr-repository": settings.ecr_repository,
        "compute": settings.compute,
        "retry": settings.retry,
        "max-retries": settings.max_retries,
        "notify": settings.notify,
        "keep-executions": settings.keep_executions,
        "slack-channel": settings.slack_channel,
    }
    if settings.deploys_with_codedeploy:
        detail["test-target-group"] = settings.test_target_group
        detail["rollback-alarms"] = ",".join(settings.rollback_alarms)
    return detail
