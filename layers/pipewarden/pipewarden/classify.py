"""Why did an action fail? transient, deterministic or unknown, with the evidence for the verdict."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TRANSIENT = "transient"
DETERMINISTIC = "deterministic"
UNKNOWN = "unknown"

DOCKER_HUB_RATE_LIMIT = "docker-hub-rate-limit"

# What a transient failure looks like in a build log or an error message. One readable list:
# (name, pattern); the first that matches a line names the cause.
TRANSIENT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (DOCKER_HUB_RATE_LIMIT, r"toomanyrequests|reached your pull rate limit"),
        ("throttling", r"throttl|rate exceeded|TooManyRequestsException|RequestLimitExceeded|SlowDown"),
        ("timeout", r"timed? ?out|i/o timeout|TLS handshake timeout|context deadline exceeded"),
        ("connection-reset", r"connection reset|ECONNRESET|broken pipe|unexpected EOF|connection refused"),
        (
            "registry-5xx",
            r"\b50[0234]\b.*(error|gateway|unavailable|timeout)|unexpected (HTTP )?status:? 5\d\d",
        ),
        ("dns", r"temporary failure in name resolution|could not resolve host|no such host"),
    )
)

# Build phases that run only CodeBuild's own machinery: a failure there is not the code's fault.
_INFRASTRUCTURE_PHASES = {"SUBMITTED", "QUEUED", "PROVISIONING", "UPLOAD_ARTIFACTS", "FINALIZING"}
_COMMAND_PHASES = {"INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD"}
# Status codes of a failed phase that no retry can cure.
_CONFIGURATION_CODES = {"ACCESS_DENIED", "CLIENT_ERROR", "YAML_FILE_ERROR", "INVALID_INPUT"}


@dataclass(frozen=True)
class Classification:
    """The verdict and what it rests on (phase, code, matched line, pattern name)."""

    kind: str
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rate_limited(self) -> bool:
        return self.evidence.get("pattern") == DOCKER_HUB_RATE_LIMIT


def transient_match(lines: Iterable[str]) -> tuple[str, str] | None:
    """(pattern name, line) of the last line that looks transient, scanning from the end."""
    for line in reversed(list(lines)):
        for name, pattern in TRANSIENT_PATTERNS:
            if pattern.search(line):
                return name, line.strip()[:300]
    return None


def failed_phase(build: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for phase in build.get("phases", []):
        if phase.get("phaseStatus") in ("FAILED", "FAULT", "TIMED_OUT"):
            return phase  # type: ignore[no-any-return]
    return None


def classify_build(build: Mapping[str, Any] | None, log_tail: Sequence[str] = ()) -> Classification:
    """A failed CodeBuild build, from BatchGetBuilds and (where the phase is ambiguous) its log tail."""
    if not build:
        return Classification(UNKNOWN, "the build record was not found")
    status = build.get("buildStatus", "")
    if status == "FAULT":
        return Classification(TRANSIENT, "CodeBuild reported an internal fault", {"build-status": status})
    if status == "STOPPED":
        return Classification(DETERMINISTIC, "the build was stopped by someone", {"build-status": status})
    phase = failed_phase(build)
    if phase is None:
        if status == "TIMED_OUT":
            return Classification(UNKNOWN, "the build timed out", {"build-status": status})
        return Classification(UNKNOWN, f"build {status or 'status unknown'} without a failed phase")
    phase_type = phase.get("phaseType", "")
    contexts = phase.get("contexts") or [{}]
    code = contexts[0].get("statusCode", "")
    message = contexts[0].get("message", "")
    evidence: dict[str, Any] = {"phase": phase_type, "code": code, "message": message[:300]}
    found = transient_match([message])
    if found:
        return Classification(
            TRANSIENT, f"{found[0]} in {phase_type}", {**evidence, "pattern": found[0], "line": found[1]}
        )
    if code in _CONFIGURATION_CODES:
        return Classification(DETERMINISTIC, f"{code} in {phase_type}: a configuration error", evidence)
    if phase_type in _INFRASTRUCTURE_PHASES:
        return Classification(TRANSIENT, f"{phase_type} failed: CodeBuild infrastructure", evidence)
    if phase_type in _COMMAND_PHASES or phase_type == "DOWNLOAD_SOURCE":
        found = transient_match(log_tail)
        if found:
            return Classification(
                TRANSIENT,
                f"{found[0]} in the {phase_type} log",
                {**evidence, "pattern": found[0], "line": found[1]},
            )
        if phase.get("phaseStatus") == "TIMED_OUT":
            return Classification(UNKNOWN, f"{phase_type} timed out", evidence)
        if phase_type == "DOWNLOAD_SOURCE":
            return Classification(
                DETERMINISTIC, "the source artifact could not be read (was it deleted?)", evidence
            )
        last = next((line.strip() for line in reversed(log_tail) if line.strip()), "")
        return Classification(
            DETERMINISTIC,
            f"a command failed in {phase_type} with no transient cause in the log (a test or build failure)",
            {**evidence, "line": last[:300]},
        )
    return Classification(UNKNOWN, f"{phase_type} failed with {code or 'no code'}", evidence)


def classify_error(provider: str, error: Mapping[str, Any] | None) -> Classification:
    """Any other action (ECS deploy, source, ...): its error code and summary."""
    code = (error or {}).get("code", "")
    message = (error or {}).get("message", "")
    evidence = {"provider": provider, "code": code, "message": message[:300]}
    found = transient_match([message, code])
    if found:
        return Classification(
            TRANSIENT,
            f"{found[0]} in the {provider} action",
            {**evidence, "pattern": found[0], "line": found[1]},
        )
    if (
        code in ("ConfigurationError", "PermissionError")
        or "AccessDenied" in message
        or "not authorized" in message
    ):
        return Classification(DETERMINISTIC, f"{provider} action is misconfigured: {message[:120]}", evidence)
    return Classification(
        UNKNOWN, f"{provider} action failed: {(message or code or 'no detail')[:120]}", evidence
    )


def combine(verdicts: Sequence[Classification]) -> Classification:
    """A stage's verdict from its failed actions: one deterministic failure decides, then unknown."""
    for kind in (DETERMINISTIC, UNKNOWN, TRANSIENT):
        for verdict in verdicts:
            if verdict.kind == kind:
                return verdict
    return Classification(UNKNOWN, "no failed action was found")
