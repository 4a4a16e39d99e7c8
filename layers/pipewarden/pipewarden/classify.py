"""Why did an action fail? transient, deterministic or unknown, with the evidence for the verdict.

The verdict rests on what the failure says (its causes, pipewarden.signals), read where AWS keeps
it: for CodeBuild, the failed phase's status code and message (BatchGetBuilds) and the build log's
end; for the ECS deploy action, its error details and the stopped tasks' reasons (DescribeTasks);
for the CodeDeployToECS action, the CodeDeploy deployment's error code and message (GetDeployment);
for any other action, its error details. The phase alone decides nothing: an image that does not
exist fails PROVISIONING as surely as a failing test fails BUILD.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipewarden.signals import (
    CAUSES,
    CONSEQUENCE,
    DETERMINISTIC,
    DOCKER_HUB_RATE_LIMIT,
    ROOT,
    TRANSIENT,
    UNKNOWN,
    Cause,
)

__all__ = [
    "DETERMINISTIC",
    "DOCKER_HUB_RATE_LIMIT",
    "TRANSIENT",
    "UNKNOWN",
    "Classification",
    "classify_build",
    "classify_deployment",
    "classify_error",
    "combine",
]

# CodeBuild's own lines echo the command that failed (which may say "timeout" or "test"), not its output.
_WRAPPER = re.compile(
    r"^\s*\[Container\]|^\s*Phase complete:|^\s*Phase context status code:|"
    r"^\s*(?:Running command|Entering phase|Waiting for agent|Command did not exit successfully)"
)
# A warning ("npm WARN deprecated ... no longer supported", "[WARNING] ...") is not the failure.
_WARNING = re.compile(r"\bWARN(?:ING)?\b|\bDEPRECATION\b|\bdeprecated\b", re.IGNORECASE)
_COMMAND = re.compile(
    r"Error while executing command: (?P<command>.*?)\. Reason: exit status (?P<status>\d+)"
)
# Commands whose failure with nothing transient in the log is the code's: tests, builds, checks.
_CHECKING_COMMAND = re.compile(
    r"\b(?:test|tests|pytest|tox|nox|jest|mocha|vitest|karma|rspec|phpunit|go (?:test|vet|build)|"
    r"cargo (?:test|build|check|clippy)|mvn|gradle\w*|sbt|ctest|make (?:test|check)|"
    r"lint|eslint|flake8|ruff|mypy|pylint|tsc|black|prettier|check|verify|coverage|sonar)\b",
    re.IGNORECASE,
)
# Phase status codes that name a cause in themselves (BatchGetBuilds phase contexts).
_CODE_CAUSES = {
    "YAML_FILE_ERROR": "invalid-configuration",
    "ACCESS_DENIED": "access-denied",
    "INVALID_INPUT": "invalid-configuration",
    "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE": "",  # the message says why (not found, or throttled)
}
# CodeDeploy's error codes (a deployment's errorInformation.code) and what a retry would do against
# them (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ErrorInformation.html). A
# throttled call or CodeDeploy's own internal error passes; new tasks that fail their health checks,
# an alarm that stopped the deployment, a role or a service CodeDeploy cannot use fail the same way
# again; a timeout or an ECS update error may be either, so the message decides or nothing does.
_DEPLOYMENT_TRANSIENT = {
    "THROTTLED": "CodeDeploy was throttled",
    "INTERNAL_ERROR": "CodeDeploy failed internally",
}
_DEPLOYMENT_DETERMINISTIC = {
    "HEALTH_CONSTRAINTS": "the new tasks failed their health checks",
    "HEALTH_CONSTRAINTS_INVALID": "the deployment can never meet its health constraints",
    "ALARM_ACTIVE": "a rollback alarm stopped the deployment",
    "MANUAL_STOP": "someone stopped the deployment",
    "IAM_ROLE_MISSING": "CodeDeploy cannot assume its service role",
    "IAM_ROLE_PERMISSIONS": "CodeDeploy's service role may not do what the deployment needs",
    "INVALID_ECS_SERVICE": "the ECS service cannot be deployed by CodeDeploy",
    "INVALID_REVISION": "the AppSpec or task definition is invalid",
    "REVISION_MISSING": "the revision is missing",
    "APPLICATION_MISSING": "the CodeDeploy application is missing",
    "DEPLOYMENT_GROUP_MISSING": "the deployment group is missing",
    "MISSING_ELB_INFORMATION": "the deployment group has no load balancer information",
    "ELASTIC_LOAD_BALANCING_INVALID": "the load balancer is misconfigured",
    "MISSING_BLUE_GREEN_DEPLOYMENT_CONFIGURATION": "the deployment group has no blue/green configuration",
    "HOOK_EXECUTION_FAILURE": "a lifecycle hook failed",
}
# How the CodeDeployToECS action's error details name the deployment's code (the sandbox's wording,
# "Deployment <id> failed: <CODE>: <message>"), for when the deployment cannot be read.
_DEPLOYMENT_SUMMARY = re.compile(
    r"Deployment (?P<id>\S+) failed: (?P<code>[A-Z][A-Z0-9_]+): (?P<message>.*)", re.S
)
# The CloudFormation deploy action's failures (its summaries, sandbox/cloudformation_action.py): a stack
# that rolled back, or a change set CloudFormation refused (an invalid template or parameter, a stack
# left ROLLBACK_COMPLETE, a template missing from the artifact). Throttling is read as transient first
# (the signals' patterns), so only what names no transient cause lands here.
_ROLLED_BACK = re.compile(r"Current stack status: (?P<status>[A-Z_]*ROLLBACK[A-Z_]*|[A-Z_]*FAILED)")
_CHANGE_SET_REFUSED = re.compile(
    r"Template format error|Template error|ValidationError|do not exist in the template|"
    r"can not be updated|does not exist in artifact|Requires capabilities|Transform .* failed",
    re.IGNORECASE,
)
# CodePipeline's failure types (ActionExecutionResult errorDetails code) that are never transient.
_CONFIGURATION_TYPES = {"ConfigurationError", "PermissionError"}


@dataclass(frozen=True)
class Classification:
    """The verdict and what it rests on (phase, code, matched line, cause name)."""

    kind: str
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rate_limited(self) -> bool:
        return self.evidence.get("pattern") == DOCKER_HUB_RATE_LIMIT


@dataclass(frozen=True)
class Found:
    cause: Cause
    line: str


def read(lines: Iterable[str]) -> Found | None:
    """The cause the text shows: a ROOT deterministic cause anywhere decides; else a transient one;
    else a deterministic consequence; else an unknown one. Within each, the line nearest the end."""
    text = [line.strip() for line in lines if line and line.strip() and not _WRAPPER.search(line)]
    matches: list[Found] = []
    for line in reversed(text):
        warning = _WARNING.search(line) is not None
        for cause in CAUSES:
            if warning and cause.strength == ROOT:
                continue  # a warning may tell of a network trouble, never the failure itself
            if cause.pattern.search(line):
                matches.append(Found(cause, line[:300]))
                break
    for rank in range(4):
        for found in matches:
            if _rank(found.cause) == rank:
                return found
    return None


def _rank(cause: Cause) -> int:
    """Across lines: a root cause, then a transient one, then a consequence, then an unknown one."""
    if cause.strength == ROOT:
        return 0
    if cause.kind == TRANSIENT:
        return 1
    return 2 if cause.strength == CONSEQUENCE else 3


def _verdict(found: Found, where: str, evidence: Mapping[str, Any]) -> Classification:
    """The verdict's reason names the cause as the event's `evidence.pattern` does."""
    name = found.cause.name
    reason = f"{name} in {where}"  # retry_policy.decide says what follows from it
    return Classification(
        found.cause.kind, reason, {**evidence, "pattern": found.cause.name, "line": found.line}
    )


def failed_phase(build: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for phase in build.get("phases", []):
        if phase.get("phaseStatus") in ("FAILED", "FAULT", "TIMED_OUT", "CLIENT_ERROR"):
            return phase  # type: ignore[no-any-return]
    return None


def classify_build(build: Mapping[str, Any] | None, log_tail: Sequence[str] = ()) -> Classification:
    """A failed CodeBuild build, from BatchGetBuilds and its log's end."""
    if not build:
        return Classification(UNKNOWN, "the build record was not found")
    status = build.get("buildStatus", "")
    if status == "STOPPED":
        return Classification(DETERMINISTIC, "the build was stopped by someone", {"build-status": status})
    phase = failed_phase(build) or {}
    phase_type = phase.get("phaseType", "")
    contexts = phase.get("contexts") or [{}]
    code = str(contexts[0].get("statusCode", "") or "")
    message = str(contexts[0].get("message", "") or "")
    evidence: dict[str, Any] = {
        "build-status": status,
        "phase": phase_type,
        "code": code,
        "message": message[:300],
    }
    where = f"the {phase_type} phase" if phase_type else "the build"
    found = read([message, *log_tail])
    if found:
        in_log = found.line != message.strip()[:300]
        return _verdict(found, f"the {phase_type or 'build'} log" if in_log else where, evidence)
    if _CODE_CAUSES.get(code):
        return Classification(DETERMINISTIC, f"{code} in {where}: a configuration error", evidence)
    if status == "FAULT" or phase.get("phaseStatus") == "FAULT":
        return Classification(TRANSIENT, "CodeBuild reported an internal fault", evidence)
    if status == "TIMED_OUT" or phase.get("phaseStatus") == "TIMED_OUT":
        return Classification(UNKNOWN, f"{where} timed out", evidence)
    command = _COMMAND.search(message)
    if command and command["status"] in ("126", "127"):
        return Classification(
            DETERMINISTIC, f"a command could not run in {where} (exit status {command['status']})", evidence
        )
    if command and _CHECKING_COMMAND.search(command["command"]):
        last = next(
            (line.strip() for line in reversed(log_tail) if line.strip() and not _WRAPPER.search(line)), ""
        )
        return Classification(
            DETERMINISTIC,
            f"{command['command'][:80]} failed in {where} with nothing transient in the log "
            "(a test or build failure)",
            {**evidence, "line": last[:300]},
        )
    if code == "CLIENT_ERROR":
        return Classification(DETERMINISTIC, f"CLIENT_ERROR in {where}: a configuration error", evidence)
    return Classification(
        UNKNOWN, f"{where} failed with {code or 'no code'} and nothing telling in the log", evidence
    )


def classify_error(
    provider: str, error: Mapping[str, Any] | None, stopped_reasons: Sequence[str] = ()
) -> Classification:
    """Any other action (ECS deploy, CodeCommit source, a CodeBuild action whose build never started):
    its error details and, for ECS, the reasons its stopped tasks give."""
    code = str((error or {}).get("code", "") or "")
    message = str((error or {}).get("message", "") or "")
    evidence: dict[str, Any] = {"provider": provider, "code": code, "message": message[:300]}
    if stopped_reasons:
        evidence["stopped-reasons"] = [reason[:300] for reason in stopped_reasons[:5]]
    found = read([message, *stopped_reasons])
    if found:
        return _verdict(found, f"the {provider} action", evidence)
    if provider == "CloudFormation":
        rolled = _ROLLED_BACK.search(message)
        if rolled:
            # The stack's own resources failed: the same template fails the same way again.
            return Classification(
                DETERMINISTIC,
                f"the stack's deployment failed and rolled back ({rolled['status']})",
                {**evidence, "stack-status": rolled["status"]},
            )
        if _CHANGE_SET_REFUSED.search(message):
            return Classification(
                DETERMINISTIC, "CloudFormation refused the change set: a template error", evidence
            )
    if code in _CONFIGURATION_TYPES:
        return Classification(DETERMINISTIC, f"{provider} action is misconfigured: {message[:120]}", evidence)
    return Classification(
        UNKNOWN, f"{provider} action failed: {(message or code or 'no detail')[:120]}", evidence
    )


def classify_deployment(
    deployment: Mapping[str, Any] | None, error: Mapping[str, Any] | None = None
) -> Classification:
    """A failed CodeDeployToECS action: its deployment's errorInformation (GetDeployment) and, when the
    deployment cannot be read, the code the action's error details name. Evidence says whether
    CodeDeploy rolled the service back."""
    message = str((error or {}).get("message", "") or "")
    info = dict((deployment or {}).get("errorInformation") or {})
    deployment_id = str((deployment or {}).get("deploymentId", "") or "")
    if not info:
        named = _DEPLOYMENT_SUMMARY.search(message)
        if named is None:
            return classify_error("CodeDeployToECS", error)
        info = {"code": named["code"], "message": named["message"]}
        deployment_id = deployment_id or named["id"]
    code, text = str(info.get("code", "") or ""), str(info.get("message", "") or "")
    evidence: dict[str, Any] = {
        "provider": "CodeDeployToECS",
        "deployment-id": deployment_id,
        "code": code,
        "message": text[:300],
    }
    rollback = dict((deployment or {}).get("rollbackInfo") or {})
    if rollback.get("rollbackDeploymentId"):
        evidence["rollback-deployment-id"] = str(rollback["rollbackDeploymentId"])
    rolled = "; CodeDeploy rolled the service back" if evidence.get("rollback-deployment-id") else ""
    if code in _DEPLOYMENT_TRANSIENT:
        return Classification(TRANSIENT, f"{_DEPLOYMENT_TRANSIENT[code]} ({code}){rolled}", evidence)
    if code in _DEPLOYMENT_DETERMINISTIC:
        return Classification(DETERMINISTIC, f"{_DEPLOYMENT_DETERMINISTIC[code]} ({code}){rolled}", evidence)
    found = read([text])
    if found:
        return _verdict(found, f"the CodeDeploy deployment ({code or 'no code'})", evidence)
    return Classification(
        UNKNOWN, f"the CodeDeploy deployment failed with {code or 'no code'}: {text[:120]}{rolled}", evidence
    )


def combine(verdicts: Sequence[Classification]) -> Classification:
    """A stage's verdict from its failed actions: one deterministic failure decides, then unknown."""
    for kind in (DETERMINISTIC, UNKNOWN, TRANSIENT):
        for verdict in verdicts:
            if verdict.kind == kind:
                return verdict
    return Classification(UNKNOWN, "no failed action was found")
