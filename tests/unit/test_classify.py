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
    read,
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
        "UPLOAD_ARTIFACTS",
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


def test_failing_test_is_deterministic_with_the_line_that_says_so() -> None:
    message = "Error while executing command: npm test. Reason: exit status 1"
    verdict = classify_build(build("FAILED", "BUILD", "COMMAND_EXECUTION_ERROR", message), TEST_FAILURE_LOG)
    assert verdict.kind == DETERMINISTIC
    assert verdict.evidence["phase"] == "BUILD"
    assert verdict.evidence["code"] == "COMMAND_EXECUTION_ERROR"
    assert verdict.evidence["pattern"] == "test-failure"
    # CodeBuild's own lines echo the command; the evidence is the tool's own words
    assert verdict.evidence["line"] == "Tests: 1 failed, 41 passed, 42 total"


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


# PROVISIONING is not transient by itself: an image that cannot exist fails it on every try.
# https://docs.aws.amazon.com/codebuild/latest/userguide/troubleshooting.html ("Error: 'CodeBuild is
# not authorized to perform: sts:AssumeRole'", "Cannot pull container image"); docker/cli#2696
@pytest.mark.parametrize(
    "message",
    [
        "CLIENT_ERROR: Unable to pull customer's container image. CannotPullContainerError: Error response "
        "from daemon: pull access denied for myorg/builder, repository does not exist or may require "
        "'docker login': denied: requested access to the resource is denied",
        "CLIENT_ERROR: Unable to pull customer's container image. CannotPullContainerError: invalid "
        "reference format",
        "CLIENT_ERROR: Unable to pull customer's container image. CannotPullContainerError: Error response "
        "from daemon: manifest for aws/codebuild/standard:9.9 not found: manifest unknown",
    ],
)
def test_an_image_that_cannot_exist_fails_provisioning_deterministically(message: str) -> None:
    record = build("FAILED", "PROVISIONING", "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE", message)
    assert classify_build(record).kind == DETERMINISTIC


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("npm ERR! network read ECONNRESET", "connection-reset"),
        ("Get https://registry-1.docker.io/v2/: net/http: TLS handshake timeout", "registry-timeout"),
        ("error pulling image configuration: read tcp 10.0.0.2:443: i/o timeout", "timeout"),
        (
            "An error occurred (ThrottlingException) when calling the GetAuthorizationToken operation: Rate exceeded",
            "throttling",
        ),
        ("received unexpected HTTP status: 503 Service Unavailable", "server-error"),
        # Transient HTTP answers without their number (RFC 9110 reason phrases)
        ("error: failed to push: Bad Gateway", "server-error"),
        ("ERROR: failed to copy: httpReadSeeker: failed open: Too Many Requests", "throttling"),
        ("E: Failed to fetch http://deb.debian.org/debian/pool/x.deb  Service Unavailable", "server-error"),
        ("W: Temporary failure resolving 'deb.debian.org'", "dns"),
    ],
)
def test_transient_log_lines(line: str, pattern: str) -> None:
    verdict = classify_build(
        build("FAILED", "PRE_BUILD", "COMMAND_EXECUTION_ERROR", "exit status 1"), ["step", line, "exit 1"]
    )
    assert verdict.kind == TRANSIENT
    assert verdict.evidence["pattern"] == pattern


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        # A name that does not resolve may be a host that is gone (curl's "Could not resolve host")
        ("curl: (6) Could not resolve host: mirrorlist.centos.org", "unresolved-host"),
        # A connection that never opened: a closed path as often as a blip
        (
            'Get "https://registry.internal.example/v2/": dial tcp 10.1.2.3:443: i/o timeout',
            "connect-timeout",
        ),
        ("Killed", "killed"),
        ("panic: test timed out after 10m0s", "test-timeout"),
    ],
)
def test_lines_that_cannot_tell(line: str, pattern: str) -> None:
    verdict = classify_build(build("FAILED", "BUILD", "COMMAND_EXECUTION_ERROR", "exit status 1"), [line])
    assert (verdict.kind, verdict.evidence["pattern"]) == (UNKNOWN, pattern)


def test_a_root_cause_outweighs_transient_words_and_a_transient_cause_outweighs_a_not_found() -> None:
    test_failed_after_a_reset = ["npm WARN network read ECONNRESET (retrying)", "Tests: 2 failed, 40 passed"]
    assert read(test_failed_after_a_reset).cause.kind == DETERMINISTIC  # type: ignore[union-attr]
    # pip prints "No matching distribution" when the index could not be reached at all
    unreachable_index = [
        "WARNING: Retrying ... NewConnectionError: Temporary failure in name resolution",
        "ERROR: No matching distribution found for requests==2.31.0",
    ]
    assert read(unreachable_index).cause.kind == TRANSIENT  # type: ignore[union-attr]
    assert read(["ERROR: No matching distribution found for reqeusts"]).cause.kind == DETERMINISTIC  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "lines",
    [
        # mypy's diagnostic format (python/mypy#8964): a line number is not an HTTP status
        ["app/api.py:500: error: Missing return statement  [return]"],
        # a traceback's line 429 and the error it ends with
        ['  File "render.py", line 429, in <module>', "KeyError: 'IMAGE_TAG'"],
        # flake8 naming botocore's SlowDown: an identifier, not S3 asking to slow down
        ["app.py:3:1: F401 'botocore.exceptions.SlowDown' imported but unused"],
        # a mocha test that expected one status and got a 502: the test failed, the server did not
        ['Error: expected 400 "Bad Request", got 502 "Bad Gateway"', "  1 failing"],
    ],
)
def test_numbers_and_names_that_only_look_transient(lines: list[str]) -> None:
    found = read(lines)
    assert found is not None and found.cause.kind == DETERMINISTIC


def test_a_warning_never_decides_that_a_failure_is_deterministic() -> None:
    tail = [
        "npm WARN deprecated rimraf@2.7.1: Rimraf versions prior to v4 are no longer supported",
        "npm ERR! code ECONNRESET",
    ]
    assert read(tail).cause.name == "connection-reset"  # type: ignore[union-attr]


def test_the_word_timeout_in_a_passing_test_name_is_not_evidence() -> None:
    assert read(["PASS test_checkout_timeout_flow", "Tests: 12 passed"]) is None


def test_codebuilds_own_lines_echo_the_command_and_are_not_read() -> None:
    echoed = ["[Container] 2026/11/29 10:00:09 Running command ./wait-for-it.sh db:5432 --timeout=30"]
    assert read(echoed) is None


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Error while executing command: python -m pytest. Reason: exit status 1", DETERMINISTIC),
        ("Error while executing command: ./deploy.sh. Reason: exit status 1", UNKNOWN),
        ("Error while executing command: terraform-docs . Reason: exit status 127", DETERMINISTIC),
        ("Error while executing command: yarn build. Reason: exit status 137", UNKNOWN),
    ],
)
def test_a_command_that_failed_with_nothing_in_its_log(message: str, kind: str) -> None:
    """A test or check command that failed with nothing transient in its log is the code's failure;
    another command's bare exit status cannot tell (exit 127: not found; 137: killed)."""
    verdict = classify_build(build("FAILED", "BUILD", "COMMAND_EXECUTION_ERROR", message), [])
    if message.endswith("137"):
        verdict = classify_build(build("FAILED", "BUILD", "COMMAND_EXECUTION_ERROR", message), ["Killed"])
    assert verdict.kind == kind


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        (build("FAULT"), TRANSIENT),
        (build("STOPPED", "BUILD", "BUILD_STOPPED", "stopped"), DETERMINISTIC),
        (build("FAILED", "QUEUED", "", "", "TIMED_OUT"), UNKNOWN),
        (
            build("FAILED", "DOWNLOAD_SOURCE", "CLIENT_ERROR", "NoSuchKey: The specified key does not exist"),
            DETERMINISTIC,
        ),
        (build("FAILED", "BUILD", "YAML_FILE_ERROR", "phases.build: unknown key"), DETERMINISTIC),
        (
            build("FAILED", "UPLOAD_ARTIFACTS", "CLIENT_ERROR", "no matching artifact paths found"),
            DETERMINISTIC,
        ),
        (build("FAILED", "BUILD", "COMMAND_EXECUTION_ERROR", "", "TIMED_OUT"), UNKNOWN),
        (build("TIMED_OUT"), UNKNOWN),
        (None, UNKNOWN),
    ],
)
def test_build_records(record: dict[str, Any] | None, kind: str) -> None:
    assert classify_build(record).kind == kind


# The ECS deploy action's failures, as the action reports them and as the stopped tasks say
# (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html,
# https://docs.aws.amazon.com/codepipeline/latest/userguide/file-reference.html)
@pytest.mark.parametrize(
    ("error", "stopped", "kind"),
    [
        (
            {"code": "JobFailed", "message": "Service unavailable: ECS returned ThrottlingException"},
            [],
            TRANSIENT,
        ),
        (
            {"code": "JobFailed", "message": "Deployment failed: tasks failed to start (circuit breaker)"},
            [],
            UNKNOWN,
        ),
        ({"code": "ConfigurationError", "message": "The service web does not exist"}, [], DETERMINISTIC),
        (
            {"code": "JobFailed", "message": "User is not authorized to perform: iam:PassRole"},
            [],
            DETERMINISTIC,
        ),
        (
            {"code": "JobFailed", "message": "Deployment failed: tasks failed to start"},
            [
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve "
                "ref 111122223333.dkr.ecr.us-east-1.amazonaws.com/shop:1a2b3c: "
                "111122223333.dkr.ecr.us-east-1.amazonaws.com/shop:1a2b3c: not found"
            ],
            DETERMINISTIC,
        ),
        (
            {"code": "JobFailed", "message": "Deployment failed: tasks failed to start"},
            [
                "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                "retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): "
                "ResourceNotFoundException: Secrets Manager can't find the specified secret."
            ],
            DETERMINISTIC,
        ),
        (
            {
                "code": "JobFailed",
                "message": "The image definition file imagedefinitions.json contains invalid JSON format",
            },
            [],
            DETERMINISTIC,
        ),
        (
            {
                "code": "JobFailed",
                "message": "The AWS ECS container web does not exist in the task definition (CannotFindContainer)",
            },
            [],
            DETERMINISTIC,
        ),
        (
            {"code": "JobFailed", "message": "Deployment failed: tasks failed to start"},
            ["Essential container in task exited"],
            UNKNOWN,
        ),
        (
            {"code": "JobFailed", "message": "Deployment failed: tasks failed to start"},
            [
                "CannotPullContainerError: Error response from daemon: toomanyrequests: You have reached your pull rate limit."
            ],
            TRANSIENT,
        ),
        (None, [], UNKNOWN),
    ],
)
def test_ecs_deploy_failures_by_error_details_and_stopped_tasks(
    error: dict[str, str] | None, stopped: list[str], kind: str
) -> None:
    verdict = classify_error("ECS", error, stopped)
    assert verdict.kind == kind
    if stopped:
        assert verdict.evidence["stopped-reasons"] == stopped


def test_one_deterministic_action_decides_the_stage() -> None:
    transient = Classification(TRANSIENT, "t")
    deterministic = Classification(DETERMINISTIC, "d")
    unknown = Classification(UNKNOWN, "u")
    assert combine([transient, deterministic, unknown]) is deterministic
    assert combine([transient, unknown]) is unknown
    assert combine([transient]) is transient
    assert combine([]).kind == UNKNOWN


# The CloudFormation deploy action (lambda blueprint): its summaries as CodePipeline writes them
# (sandbox/cloudformation_action.py cites each).
@pytest.mark.parametrize(
    ("message", "kind", "why"),
    [
        (
            "Failed to execute change set. Current stack status: UPDATE_ROLLBACK_COMPLETE. Reason: Hello: "
            'Resource handler returned message: "Function code combined with layers exceeds the maximum '
            'allowed size of 262144000 bytes."',
            "deterministic",
            "rolled back (UPDATE_ROLLBACK_COMPLETE)",
        ),
        (
            "Failed to execute change set. Current stack status: ROLLBACK_COMPLETE. Reason: No reason was provided.",
            "deterministic",
            "rolled back (ROLLBACK_COMPLETE)",
        ),
        (
            "Stack:arn:aws:cloudformation:us-east-1:1:stack/pipewarden-app-x/1 is in ROLLBACK_COMPLETE state "
            "and can not be updated. (Service: AmazonCloudFormation; Status Code: 400; Error Code: "
            "ValidationError; Request ID: 1)",
            "deterministic",
            "",
        ),
        ("File [packaged.yaml] does not exist in artifact [BuildOutput]", "deterministic", ""),
        ("Template format error: unsupported structure.", "deterministic", "refused the change set"),
        (
            "Failed to execute change set. Current stack status: UPDATE_ROLLBACK_COMPLETE. Reason: Hello: "
            'Resource handler returned message: "Rate exceeded (Service: Lambda, Status Code: 429)"',
            "transient",
            "",
        ),
    ],
)
def test_cloudformation_action_failures(message: str, kind: str, why: str) -> None:
    """A stack that rolled back or a change set CloudFormation refused fails the same way again; a
    throttled resource handler does not."""
    verdict = classify_error("CloudFormation", {"code": "JobFailed", "message": message})
    assert verdict.kind == kind, verdict
    assert why in verdict.reason
