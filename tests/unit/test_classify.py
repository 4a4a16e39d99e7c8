"""The failure classifier on realistic CodeBuild records, logs and action errors."""

from __future__ import annotations

from typing import Any

import pytest

from pipewarden.classify import (
    DETERMINISTIC,
    TRANSIENT,
    UNKNOWN,
    Classification,
    classify_build,
    classify_error,
    combine,
    transient_match,
)

OK = "SUCCEEDED"


def build(
    status: str, failed: str | None = None, code: str = "", message: str = "", phase_status: str = "FAILED"
) -> dict[str, Any]:
    """A BatchGetBuilds record whose phases succeed up to `failed`, which fails."""
    order = [
        "SUBMITTED",
        "QUEUED",
        "PROVISIONING",
        "DOWNLOAD_SOURCE",
        "INSTALL",
        "PRE_BUILD",
        "BUILD",
        "POST_BUILD",
    ]
    phases = []
    for phase in order:
        if phase == failed:
            phases.append(
                {
                    "phaseType": phase,
                    "phaseStatus": phase_status,
                    "contexts": [{"statusCode": code, "message": message}],
                }
            )
            phases.append({"phaseType": "FINALIZING", "phaseStatus": OK})
            break
        phases.append(
            {"phaseType": phase, "phaseStatus": OK, "contexts": [{"statusCode": "", "message": ""}]}
        )
    return {"id": "proj:1", "buildStatus": status, "phases": phases}


TEST_FAILURE_LOG = [
    "[Container] 2026/11/29 10:00:01 Running command npm test",
    "FAIL src/cart.test.js",
    "  cart > totals > adds tax",
    "    expect(received).toBe(expected)",
    "Tests: 1 failed, 41 passed, 42 total",
    "[Container] 2026/11/29 10:00:09 Command did not exit successfully npm test exit status 1",
    "[Container] 2026/11/29 10:00:09 Phase complete: BUILD State: FAILED",
]
RATE_LIMIT_LOG = [
    "[Container] 2026/11/29 10:00:01 Running command docker buildx build --platform linux/amd64 .",
    "#3 [internal] load metadata for docker.io/library/node:22-alpine",
    "ERROR: failed to solve: node:22-alpine: failed to resolve source metadata for docker.io/library/node:22-alpine:",
    "  429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.",
    "[Container] 2026/11/29 10:00:05 Command did not exit successfully docker buildx build exit status 1",
]


def test_failing_test_is_deterministic_with_the_last_log_line() -> None:
    message = "Error while executing command: npm test. Reason: exit status 1"
    verdict = classify_build(build("FAILED", "BUILD", "COMMAND_EXECUTION_ERROR", message), TEST_FAILURE_LOG)
    assert verdict.kind == DETERMINISTIC
    assert verdict.evidence["phase"] == "BUILD"
    assert verdict.evidence["code"] == "COMMAND_EXECUTION_ERROR"
    assert "Phase complete: BUILD State: FAILED" in verdict.evidence["line"]


def test_docker_hub_rate_limit_in_the_build_log_is_transient_and_flagged() -> None:
    verdict = classify_build(
        build("FAILED", "BUILD", "COMMAND_EXECUTION_ERROR", "exit status 1"), RATE_LIMIT_LOG
    )
    assert verdict.kind == TRANSIENT
    assert verdict.rate_limited
    assert "toomanyrequests" in verdict.evidence["line"]


def test_rate_limit_while_provisioning_is_transient() -> None:
    message = (
        "Unable to pull customer's container image. toomanyrequests: You have reached your pull rate limit"
    )
    verdict = classify_build(build("FAILED", "PROVISIONING", "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE", message))
    assert verdict.kind == TRANSIENT and verdict.rate_limited


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("npm ERR! network read ECONNRESET", "connection-reset"),
        ("Get https://registry-1.docker.io/v2/: net/http: TLS handshake timeout", "timeout"),
        (
            "An error occurred (ThrottlingException) when calling the GetAuthorizationToken operation: Rate exceeded",
            "throttling",
        ),
        ("received unexpected HTTP status: 503 Service Unavailable", "registry-5xx"),
        ("curl: (6) Could not resolve host: deb.debian.org", "dns"),
    ],
)
def test_transient_log_lines(line: str, pattern: str) -> None:
    verdict = classify_build(
        build("FAILED", "PRE_BUILD", "COMMAND_EXECUTION_ERROR", "exit status 1"), ["step", line, "exit 1"]
    )
    assert verdict.kind == TRANSIENT
    assert verdict.evidence["pattern"] == pattern


def test_the_word_timeout_in_a_test_name_is_not_enough_when_it_is_not_a_log_error() -> None:
    assert transient_match(["PASS test_checkout_flow", "Tests: 12 passed"]) is None


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        (build("FAULT"), TRANSIENT),
        (build("STOPPED", "BUILD", "BUILD_STOPPED", "stopped"), DETERMINISTIC),
        (build("FAILED", "QUEUED", "", "", "TIMED_OUT"), TRANSIENT),
        (
            build("FAILED", "PROVISIONING", "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE", "image not found"),
            TRANSIENT,
        ),
        (
            build("FAILED", "DOWNLOAD_SOURCE", "CLIENT_ERROR", "NoSuchKey: The specified key does not exist"),
            DETERMINISTIC,
        ),
        (build("FAILED", "BUILD", "YAML_FILE_ERROR", "phases.build: unknown key"), DETERMINISTIC),
        (build("FAILED", "BUILD", "COMMAND_EXECUTION_ERROR", "", "TIMED_OUT"), UNKNOWN),
        (build("TIMED_OUT"), UNKNOWN),
        (None, UNKNOWN),
    ],
)
def test_build_records(record: dict[str, Any] | None, kind: str) -> None:
    assert classify_build(record).kind == kind


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            {"code": "JobFailed", "message": "Service unavailable: ECS returned ThrottlingException"},
            TRANSIENT,
        ),
        (
            {"code": "JobFailed", "message": "Deployment failed: tasks failed to start (circuit breaker)"},
            UNKNOWN,
        ),
        ({"code": "ConfigurationError", "message": "The service web does not exist"}, DETERMINISTIC),
        ({"code": "JobFailed", "message": "User is not authorized to perform: iam:PassRole"}, DETERMINISTIC),
        (None, UNKNOWN),
    ],
)
def test_other_actions_by_error_code_and_summary(error: dict[str, str] | None, kind: str) -> None:
    assert classify_error("ECS", error).kind == kind


def test_one_deterministic_action_decides_the_stage() -> None:
    transient = Classification(TRANSIENT, "t")
    deterministic = Classification(DETERMINISTIC, "d")
    unknown = Classification(UNKNOWN, "u")
    assert combine([transient, deterministic, unknown]) is deterministic
    assert combine([transient, unknown]) is unknown
    assert combine([transient]) is transient
    assert combine([]).kind == UNKNOWN
