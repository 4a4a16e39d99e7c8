"""The retry flow: stage failed -> classify -> decide -> queue; decision due -> check again -> retry."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pipewarden import buildlogs, classify, pipelines
from pipewarden.aws import AwsError, Clients, NotFound, call
from pipewarden.classify import Classification
from pipewarden.config import RetryConfig
from pipewarden.contract import PipelineSettings
from pipewarden.decisions import DecisionLog
from pipewarden.emit import Emitter
from pipewarden.envelope import InvalidEvent
from pipewarden.naming import STACK_PREFIX
from pipewarden.pipeline_events import StageFailure, execution_id, name
from pipewarden.retry_policy import SCHEDULED, SKIPPED, RetryDecision, decide

if TYPE_CHECKING:
    from mypy_boto3_codebuild.type_defs import BuildTypeDef
    from mypy_boto3_codepipeline.type_defs import ActionExecutionDetailTypeDef

STARTED = "Stage Retry Started"
# Not an event: what a second delivery of a decided failure, or a second copy of a due retry, comes to.
DUPLICATE = "Duplicate"
REQUEUED = "Requeued"  # not an event either: the pipeline was busy, the decision is queued again
MAX_REQUEUES = 5
STOPPED_TASKS = 10  # reasons kept from a failed ECS deployment's newest stopped tasks


# One error for anything unreadable: a queued decision is refused like an event (pipewarden.envelope).
InvalidMessage = InvalidEvent


@dataclass(frozen=True)
class DueRetry:
    """A queued decision: retry this stage as attempt `attempt`, unless things changed meanwhile."""

    pipeline: str
    execution_id: str
    stage: str
    attempt: int
    classification: str
    requeues: int = 0
    # ALL_ACTIONS when a CloudFormation change set's execution failed: an executed change set cannot be
    # executed again (its status is EXECUTE_FAILED), so the stage makes it anew before executing it.
    retry_mode: str = "FAILED_ACTIONS"

    @classmethod
    def from_body(cls, body: str) -> DueRetry:
        """Read a queued decision (the JSON the retry function queued); `InvalidMessage` if it is not one."""
        try:
            data = json.loads(body)
            if not isinstance(data, Mapping):
                raise InvalidMessage(f"the body is a {type(data).__name__}, not an object")
            return cls(
                pipeline=name(data, "pipeline"),
                execution_id=execution_id(data, "execution_id"),
                stage=name(data, "stage"),
                attempt=int(data["attempt"]),
                classification=str(data.get("classification", "")),
                requeues=int(data.get("requeues", 0)),
                retry_mode=_retry_mode(data.get("retry_mode", "FAILED_ACTIONS")),
            )
        except (ValueError, KeyError, TypeError, OverflowError) as error:
            raise InvalidMessage(f"queued retry is malformed: {error}") from error


RETRY_MODES = ("FAILED_ACTIONS", "ALL_ACTIONS")


def _retry_mode(value: object) -> str:
    if value not in RETRY_MODES:
        raise ValueError(f"retry_mode {str(value)[:40]!r} is not one of {', '.join(RETRY_MODES)}")
    return str(value)


def _stage_retry_mode(failed: Iterable[Mapping[str, Any]]) -> str:
    """ALL_ACTIONS when a failed action executed a CloudFormation change set, else FAILED_ACTIONS."""
    for detail in failed:
        declared = detail.get("input", {})
        if (
            declared.get("actionTypeId", {}).get("provider") == "CloudFormation"
            and declared.get("configuration", {}).get("ActionMode") == "CHANGE_SET_EXECUTE"
        ):
            return "ALL_ACTIONS"
    return "FAILED_ACTIONS"


@dataclass
class Retrier:
    config: RetryConfig
    clients: Clients
    emitter: Emitter
    rand: Callable[[], float] = random.random

    # -- a stage failed ----------------------------------------------------------------------------
    def on_failure(self, failure: StageFailure) -> RetryDecision | None:
        """Classify the failed actions and schedule a retry or say why not. None: not opted in."""
        try:
            settings = self.pipeline_settings(failure.pipeline)
        except NotFound:
            return self._report(failure, RetryDecision(False, SKIPPED, "the pipeline no longer exists"), None)
        if settings.retry is None:
            return None
        if settings.retry_problem:
            return self._report(failure, RetryDecision(False, SKIPPED, settings.retry_problem), None)
        mode, max_retries = settings.retry, settings.max_retries
        stale = self.stale_reason(failure)
        if stale:
            return self._report(failure, RetryDecision(False, SKIPPED, stale), None)
        runs = self.stage_runs(failure)
        retries_done = max((len(attempts) - 1 for attempts in runs.values()), default=0)
        # Claimed before the slow reads (builds, logs, tasks), so a claim is never held long.
        where = (failure.pipeline, failure.execution_id, failure.stage, retries_done)
        if self.log.claim(*where) is None:
            reason = f"decided already for this failure after {retries_done} retries (a duplicate delivery)"
            return RetryDecision(False, DUPLICATE, reason, retries_done + 1)
        try:
            failed = {name: attempts for name, attempts in runs.items() if attempts[-1]["status"] == "Failed"}
            # Only pipewarden's own pipelines (named by it, made by the controller from an allow-listed
            # target) have their ECS tasks read: a pipeline a team opted in could point anywhere.
            own = settings.managed and failure.pipeline.startswith(STACK_PREFIX)
            verdict = classify.combine([self.classify(attempts[-1], own) for attempts in failed.values()])
            decision = decide(verdict, mode, retries_done, max_retries, self.config.backoff, self.rand)
            if decision.retry:
                self._queue(
                    DueRetry(
                        failure.pipeline,
                        failure.execution_id,
                        failure.stage,
                        decision.attempt,
                        verdict.kind,
                        retry_mode=_stage_retry_mode(attempts[-1] for attempts in failed.values()),
                    ),
                    decision.delay,
                )
            reported = self._report(
                failure, decision, verdict, retries_done=retries_done, max_retries=max_retries
            )
        except Exception:
            self.log.settle(*where, decided=False)  # the next delivery decides again
            raise
        self.log.settle(*where, decided=True)
        return reported

    # -- a queued decision is due ------------------------------------------------------------------
    def on_due(self, due: DueRetry) -> RetryDecision:
        """Retry the stage if it is still this execution's failure and not retried already."""
        failure = StageFailure(due.pipeline, due.execution_id, due.stage)
        try:
            retries_done = max((len(a) - 1 for a in self.stage_runs(failure).values()), default=0)
        except NotFound:
            retries_done = 0  # the pipeline is gone: said below
        if retries_done >= due.attempt:
            # A second copy of one queued decision (SQS delivers at least once), or a person retried
            # the stage first: the stage was retried, and the story people read holds. Checked before
            # staleness: the first copy's retry running makes the stage look "InProgress now".
            reason = f"attempt {due.attempt} was made already"
            return RetryDecision(False, DUPLICATE, reason, due.attempt)
        # Two copies delivered together both see the attempt not made yet (AWS lists a retried
        # action a moment after RetryStageExecution answers): one of them decides.
        where = (due.pipeline, due.execution_id, due.stage, f"attempt-{due.attempt}")
        if self.log.claim(*where) is None:
            return RetryDecision(False, DUPLICATE, f"attempt {due.attempt} is being started", due.attempt)
        try:
            stale = self.stale_reason(failure)
            decision = RetryDecision(False, SKIPPED, stale, due.attempt) if stale else self._start(due)
        except Exception:
            self.log.settle(*where, decided=False)
            raise
        if decision.event == REQUEUED:
            self.log.settle(*where, decided=False)  # the requeued copy starts it later
            return decision
        if decision.event == STARTED:
            # Settled before it is reported: once the stage is retried, no copy may say it was not
            # (if the report fails, the copy SQS delivers again finds the attempt done, tells nothing).
            self.log.settle(*where, decided=True)
            return self._report(failure, decision, None)
        try:
            reported = self._report(failure, decision, None)
        except Exception:
            self.log.settle(*where, decided=False)  # nothing was done: the next copy says it
            raise
        self.log.settle(*where, decided=True)
        return reported

    def on_given_up(self, due: DueRetry, error: Exception) -> RetryDecision | None:
        """The retry queue's last receive of this decision failed with `error`: SQS moves it to the retry
        dead-letter queue next, and tells nobody (an SQS event source has no on-failure destination).
        People were told this retry is scheduled: tell them it could not be started, and why (AWS's
        error code). None when the attempt was made after all (its report failed): nothing to call off.
        """
        if not isinstance(error, AwsError) or error.operation != "RetryStageExecution":
            # It failed before or after the start call (a read, the decision's record, its event):
            # the retry may well have started, in this receive or an earlier one. Only AWS refusing
            # the start itself says it did not; anything else would risk a false "not started".
            return None
        failure = StageFailure(due.pipeline, due.execution_id, due.stage)
        try:
            made = max((len(a) - 1 for a in self.stage_runs(failure).values()), default=0) >= due.attempt
        except AwsError:
            return None  # what happened cannot be read: nothing is told rather than something false
        if made:
            return None
        if isinstance(error, AwsError):
            cause = f"{error.operation or 'AWS'} answered {error.code}: {error.message[:200]}"
        else:
            cause = f"{type(error).__name__} in pipewarden"  # a bug: its text may be anything, the log has it
        reason = (
            f"the retry could not be started ({cause}); "
            "the queued decision is kept in the retry dead-letter queue"
        )
        return self._report(failure, RetryDecision(False, SKIPPED, reason, due.attempt), None)

    def _start(self, due: DueRetry) -> RetryDecision:
        """Call RetryStageExecution: the decision to report, or a requeue when the pipeline is busy."""
        try:
            call(
                self.clients.codepipeline.retry_stage_execution,
                pipelineName=due.pipeline,
                stageName=due.stage,
                pipelineExecutionId=due.execution_id,
                retryMode=due.retry_mode,  # type: ignore[arg-type]
            )
        except AwsError as error:
            if error.code == "ConflictException" and due.requeues < MAX_REQUEUES:
                delay = self.config.backoff.delay(due.requeues, False, self.rand)
                self._queue(DueRetry(**{**asdict(due), "requeues": due.requeues + 1}), delay)
                return RetryDecision(
                    False, REQUEUED, f"pipeline busy, trying again in {delay} s", due.attempt, delay
                )
            if error.code in (
                "NotLatestPipelineExecutionException",
                "StageNotRetryableException",
                "ConflictException",
            ) or isinstance(error, NotFound):
                return RetryDecision(False, SKIPPED, f"{error.code}: {error.message}", due.attempt)
            raise
        return RetryDecision(
            True, STARTED, f"retry {due.attempt} started ({due.classification} failure)", due.attempt
        )

    # -- reading AWS's record --------------------------------------------------------------------------
    def pipeline_settings(self, pipeline: str) -> PipelineSettings:
        """The pipeline's settings from its tags. Raises NotFound when it does not exist (any more)."""
        tags = pipelines.read(self.clients.codepipeline, pipeline).tags
        return PipelineSettings.from_tags(tags, self.config.tag_prefix)

    def stale_reason(self, failure: StageFailure) -> str:
        """Why this failure is no longer the stage's current one ('' if it still is)."""
        try:
            states = pipelines.stage_states(self.clients.codepipeline, failure.pipeline)
        except NotFound:
            return "the pipeline no longer exists"
        stage = next((s for s in states if s.get("stageName") == failure.stage), None)
        if stage is None:
            return f"the pipeline has no stage {failure.stage} any more"
        latest: Mapping[str, object] = stage.get("latestExecution") or {}
        if latest.get("pipelineExecutionId") != failure.execution_id:
            return f"a newer execution ({latest.get('pipelineExecutionId', 'none')}) ran the stage since"
        if latest.get("status") != "Failed":
            return f"the stage is {latest.get('status', 'unknown')} now"
        return ""

    def stage_runs(self, failure: StageFailure) -> dict[str, list[ActionExecutionDetailTypeDef]]:
        """Every attempt of every action of the stage in this execution, oldest first, by action name."""
        runs: dict[str, list[ActionExecutionDetailTypeDef]] = {}
        codepipeline = self.clients.codepipeline
        for detail in pipelines.action_executions(codepipeline, failure.pipeline, failure.execution_id):
            if detail.get("stageName") == failure.stage:
                runs.setdefault(detail["actionName"], []).append(detail)
        for attempts in runs.values():
            attempts.sort(key=lambda d: str(d.get("startTime", "")))
        return runs

    def classify(self, detail: Mapping[str, Any], read_tasks: bool = True) -> Classification:
        provider = detail.get("input", {}).get("actionTypeId", {}).get("provider", "")
        result = detail.get("output", {}).get("executionResult", {})
        if provider == "ECS":
            reasons = self.stopped_reasons(detail) if read_tasks else []
            return classify.classify_error(provider, result.get("errorDetails"), reasons)
        if provider == "CodeDeployToECS":
            deployment_id = result.get("externalExecutionId")
            deployment = self.deployment(deployment_id) if read_tasks and deployment_id else None
            return classify.classify_deployment(deployment, result.get("errorDetails"))
        if provider != "CodeBuild":
            return classify.classify_error(provider, result.get("errorDetails"))
        build_id = result.get("externalExecutionId")
        if not build_id:
            return classify.classify_error(provider, result.get("errorDetails"))
        build = pipelines.build(self.clients.codebuild, build_id)
        verdict = classify.classify_build(build)
        if build and not (verdict.kind == classify.DETERMINISTIC and verdict.evidence.get("pattern")):
            # Unless the phase's own message shows a deterministic cause, the log's end says more.
            verdict = classify.classify_build(build, self.log_tail(build))
        return verdict

    def deployment(self, deployment_id: str) -> dict[str, Any] | None:
        """The CodeDeploy deployment a CodeDeployToECS action ran (GetDeployment's deploymentInfo);
        None when it cannot be read (gone, or not allowed): the action's error details decide then."""
        try:
            info = call(self.clients.codedeploy.get_deployment, deploymentId=deployment_id)
        except AwsError as error:
            if error.transient:
                raise
            return None
        return dict(info.get("deploymentInfo") or {})

    def stopped_reasons(self, detail: Mapping[str, Any]) -> list[str]:
        """Why the tasks of an ECS deployment stopped, newest first: up to 100 of the service's STOPPED
        tasks (ListTasks' largest page, in no documented order; ECS shows recently stopped tasks, for
        about an hour but without a promise) that stopped since the action started, sorted by
        DescribeTasks' `stoppedAt`, with their `stoppedReason` and each container's `reason`. Tasks
        the deployment replaced on purpose ("Scaling activity initiated by ...") are not failures.
        https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html
        https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-errors.html
        """
        config = detail.get("input", {}).get("configuration", {})
        cluster, service = config.get("ClusterName"), config.get("ServiceName")
        if not cluster or not service:
            return []
        try:
            arns = call(
                self.clients.ecs.list_tasks,
                cluster=cluster,
                serviceName=service,
                desiredStatus="STOPPED",
                maxResults=100,
            ).get("taskArns", [])
            tasks = (
                call(self.clients.ecs.describe_tasks, cluster=cluster, tasks=arns)["tasks"] if arns else []
            )
        except AwsError as error:
            if error.transient:
                raise
            return []  # the cluster is gone, or reading it is not allowed: the error details decide
        started = detail.get("startTime")
        reasons: list[str] = []
        stopped_tasks = [t for t in tasks if t.get("stoppedAt") is not None]
        for task in sorted(stopped_tasks, key=lambda t: t["stoppedAt"], reverse=True):
            if started is not None and task["stoppedAt"] < started:
                continue
            for reason in [
                task.get("stoppedReason", ""),
                *(c.get("reason", "") for c in task.get("containers", [])),
            ]:
                if (
                    reason
                    and not reason.startswith("Scaling activity initiated by")
                    and reason not in reasons
                ):
                    reasons.append(str(reason))
        return reasons[:STOPPED_TASKS]

    def log_tail(self, build: BuildTypeDef) -> list[str]:
        return buildlogs.tail(self.clients.logs, build)

    # -- acting and reporting ----------------------------------------------------------------------------
    def _queue(self, due: DueRetry, delay: int) -> None:
        call(
            self.clients.sqs.send_message,
            QueueUrl=self.config.queue_url,
            MessageBody=json.dumps(asdict(due)),
            DelaySeconds=max(0, min(delay, 900)),
        )

    def _report(
        self,
        failure: StageFailure,
        decision: RetryDecision,
        verdict: Classification | None,
        retries_done: int | None = None,
        max_retries: int | None = None,
    ) -> RetryDecision:
        detail: dict[str, Any] = {
            "pipeline": failure.pipeline,
            "execution-id": failure.execution_id,
            "stage": failure.stage,
            "reason": decision.reason,
        }
        if decision.attempt:
            detail["attempt"] = decision.attempt
        if decision.event == SCHEDULED:
            detail["delay-seconds"] = decision.delay
        if max_retries is not None:
            detail["max-retries"] = max_retries
            detail["retries-done"] = retries_done
        if verdict is not None:
            detail["classification"] = verdict.kind
            detail["evidence"] = dict(verdict.evidence)
        self.emitter.emit(decision.event, detail)
        self._record(failure, decision, verdict)
        return decision

    def _record(self, failure: StageFailure, decision: RetryDecision, verdict: Classification | None) -> None:
        fields = {
            "event": decision.event,
            "reason": decision.reason[:1000],
            "attempt": str(decision.attempt),
            "classification": verdict.kind if verdict else "",
        }
        self.log.record(failure.pipeline, failure.execution_id, failure.stage, fields)

    @property
    def log(self) -> DecisionLog:
        return DecisionLog(self.clients, self.config.decisions_table)
