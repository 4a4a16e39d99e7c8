"""The functions' settings from their environment (pipewarden.config), and ClientError -> domain errors."""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import pickle
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from pipewarden import aws
from pipewarden.config import ConfigError, ControllerConfig, NotifyConfig, PruneConfig, RetryConfig
from sandbox import template as cfn_template
from tests.conftest import ROOT, sample_event

ACCOUNT = "123456789012"
# What template.yaml gives each function (Globals plus its own variables), with values as CloudFormation
# resolves them.
GLOBAL = {
    "TAG_PREFIX": "pipewarden",
    "EVENT_BUS_NAME": "default",
    "POWERTOOLS_METRICS_NAMESPACE": "pipewarden",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "AWS_RETRY_MODE": "standard",
}
ENV = {
    **GLOBAL,
    "ALLOWED_ECS_TARGETS": "",
    "ARTIFACT_BUCKET": "pipewarden-artifactbucket-1a2b3c",
    "PERMISSIONS_BOUNDARY_ARN": f"arn:aws:iam::{ACCOUNT}:policy/pipewarden-boundary",
    "CLOUDFORMATION_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/pipewarden-cfn",
    "LOG_RETENTION_DAYS": "30",
}
RETRY_ENV = {
    **GLOBAL,
    "RETRY_QUEUE_URL": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/pipewarden-RetryQueue-1A2B",
    "DECISIONS_TABLE": "pipewarden-RetryDecisionsTable-1A2B",
    "RETRY_BASE_SECONDS": "30",
    "RETRY_CAP_SECONDS": "600",
    "RATE_LIMIT_WAIT_SECONDS": "900",
    "RETRY_QUEUE_MAX_RECEIVES": "5",
}
PRUNE_ENV = {**GLOBAL, "ARTIFACT_BUCKET": "pipewarden-artifactbucket-1a2b3c", "PRUNE_GRACE_HOURS": "24"}
NOTIFY_ENV = {
    **GLOBAL,
    "TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:pipewarden-NotificationTopic-1A2B",
    "IDEMPOTENCY_TABLE": "pipewarden-NotifyIdempotencyTable-1A2B",
    "SLACK_SECRET_NAME": "pipewarden/slack/default",
}
Config = ControllerConfig | RetryConfig | PruneConfig | NotifyConfig
# Each config class, the function whose environment it reads, and that environment.
FUNCTIONS: list[tuple[type[Config], str, dict[str, str]]] = [
    (ControllerConfig, "EnrollFunction", ENV),
    (RetryConfig, "RetryFunction", RETRY_ENV),
    (PruneConfig, "PruneFunction", PRUNE_ENV),
    (NotifyConfig, "NotifyFunction", NOTIFY_ENV),
]


def test_config_defaults() -> None:
    config = ControllerConfig.from_env(
        {k: ENV[k] for k in ("ARTIFACT_BUCKET", "PERMISSIONS_BOUNDARY_ARN", "CLOUDFORMATION_ROLE_ARN")}
    )
    assert config.tag_prefix == "pipewarden"
    assert config.allowed_targets == ()  # nothing may be deployed until the platform team lists targets
    assert config.event_bus == "default"
    assert config.log_retention_days == 30


def test_each_functions_settings_from_its_template_environment() -> None:
    retry = RetryConfig.from_env(RETRY_ENV)
    assert (retry.queue_url, retry.decisions_table) == (
        RETRY_ENV["RETRY_QUEUE_URL"],
        RETRY_ENV["DECISIONS_TABLE"],
    )
    assert (retry.backoff.base, retry.backoff.cap, retry.backoff.rate_limit) == (30, 600, 900)
    assert retry.queue_max_receives == 5
    prune = PruneConfig.from_env({**PRUNE_ENV, "PRUNE_GRACE_HOURS": "1.5"})
    assert (prune.bucket, prune.grace) == (PRUNE_ENV["ARTIFACT_BUCKET"], datetime.timedelta(minutes=90))
    notify = NotifyConfig.from_env(NOTIFY_ENV)
    assert (notify.topic_arn, notify.slack_secret) == (NOTIFY_ENV["TOPIC_ARN"], "pipewarden/slack/default")
    assert notify.idempotency_table == NOTIFY_ENV["IDEMPOTENCY_TABLE"]
    for config in (ControllerConfig.from_env(ENV), retry, prune, notify):
        assert (config.tag_prefix, config.event_bus) == ("pipewarden", "default")
        with pytest.raises(dataclasses.FrozenInstanceError):
            config.tag_prefix = "other"  # type: ignore[misc]


def test_blank_optional_variables_take_their_defaults() -> None:
    """CloudFormation cannot leave a variable out: a blank one means its default, for every function."""
    blank = dict.fromkeys(
        ("TAG_PREFIX", "EVENT_BUS_NAME", "RETRY_BASE_SECONDS", "PRUNE_GRACE_HOURS", "LOG_RETENTION_DAYS"), " "
    )
    assert ControllerConfig.from_env({**ENV, **blank}).log_retention_days == 30
    assert RetryConfig.from_env({**RETRY_ENV, **blank, "DECISIONS_TABLE": ""}).backoff.base == 30
    assert PruneConfig.from_env({**PRUNE_ENV, **blank}).grace == datetime.timedelta(hours=24)
    notify = NotifyConfig.from_env({**NOTIFY_ENV, **blank, "TOPIC_ARN": "", "SLACK_SECRET_NAME": ""})
    assert (notify.topic_arn, notify.slack_secret) == ("", "")  # no SNS, no default Slack channel
    for kind, _, env in FUNCTIONS:
        assert (kind.from_env({**env, **blank}).tag_prefix, kind.from_env({**env, **blank}).event_bus) == (
            "pipewarden",
            "default",
        )


def test_allow_list_is_split_and_trimmed() -> None:
    config = ControllerConfig.from_env({**ENV, "ALLOWED_ECS_TARGETS": " apps-* , shared/web-* ,"})
    assert config.allowed_targets == ("apps-*", "shared/web-*")


def test_an_empty_allow_list_allows_nothing() -> None:
    config = ControllerConfig.from_env({**ENV, "ALLOWED_ECS_TARGETS": " , "})
    assert config.allowed_targets == ()


@pytest.mark.parametrize(("kind", "function", "env"), FUNCTIONS, ids=[f for _, f, _ in FUNCTIONS])
def test_each_function_reads_only_variables_its_template_entry_sets(
    kind: type[Config], function: str, env: dict[str, str]
) -> None:
    """The variable names are a deployment interface: every one read is set for that function."""
    template = cfn_template.load(ROOT / "template.yaml")
    given = set(template["Globals"]["Function"]["Environment"]["Variables"])
    given |= set(template["Resources"][function]["Properties"]["Environment"]["Variables"])
    read: set[str] = set()

    class Recording(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            read.add(key)
            return super().get(key, default)

    kind.from_env(Recording(env))
    assert read <= given, f"{function} reads {sorted(read - given)}, which template.yaml does not set"
    assert set(env) <= given | {"POWERTOOLS_SERVICE_NAME"}


# The shared variables are checked alike for every function.
SHARED_BAD = [
    ("TAG_PREFIX", "aws", "not a tag key prefix"),
    ("TAG_PREFIX", "AWS", "not a tag key prefix"),
    ("TAG_PREFIX", "has space", "not a tag key prefix"),
    ("TAG_PREFIX", "p" * 65, "not a tag key prefix"),
    ("EVENT_BUS_NAME", "my bus", "not an EventBridge event bus"),
    ("EVENT_BUS_NAME", "arn:aws:sqs:us-east-1:123456789012:q", "not an EventBridge event bus"),
]


@pytest.mark.parametrize(("kind", "function", "env"), FUNCTIONS, ids=[f for _, f, _ in FUNCTIONS])
@pytest.mark.parametrize(("variable", "value", "says"), SHARED_BAD)
def test_shared_variables_are_validated_alike(
    kind: type[Config], function: str, env: dict[str, str], variable: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigError, match=says) as raised:
        kind.from_env({**env, variable: value})
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}={value!r} is not ")


# AWS reserves tag keys that begin with `aws:` in any case ("Do not use aws:, AWS:, or any upper or lowercase
# combination of such as a prefix for either keys or values": ECS's Tag,
# https://docs.aws.amazon.com/sdkfornet/v3/apidocs/items/ECS/TTag.html; Batch's tag restrictions,
# https://docs.amazonaws.cn/en_us/batch/latest/userguide/tag-restrictions.md). pipewarden's keys are
# `<prefix>:<name>`, so only the prefix `aws` itself makes reserved keys: `awsteam:enabled` is an ordinary key.
@pytest.mark.parametrize(
    "prefix", ["awsteam", "AWS-platform", "aws_ci", "aws.ci", "Awsome", "aw", "pipewarden"]
)
def test_a_tag_prefix_that_only_begins_with_aws_is_accepted(prefix: str) -> None:
    for kind, _, env in FUNCTIONS:
        assert kind.from_env({**env, "TAG_PREFIX": prefix}).tag_prefix == prefix


@pytest.mark.parametrize("prefix", ["aws", "AWS", "Aws", "aWS"])
def test_the_tag_prefix_aws_is_refused_in_any_case(prefix: str) -> None:
    for kind, _, env in FUNCTIONS:
        with pytest.raises(ConfigError, match=r"^TAG_PREFIX=.* is not a tag key prefix .*reserve") as raised:
            kind.from_env({**env, "TAG_PREFIX": f" {prefix} "})
        assert raised.value.variable == "TAG_PREFIX"


TAG_PREFIX_SAMPLES = [
    *("pipewarden", "acme", "a", "A.b-c_9", "p" * 64, "p" * 65, "has space", "team:x", "team/x", "équipe"),
    *("aws", "AWS", "Aws", "awS", "aws:", "aws.", "aws-", "awsteam", "AWS-platform", "aws_ci", "aw", "xaws"),
]


@pytest.mark.parametrize("prefix", TAG_PREFIX_SAMPLES)
def test_the_templates_tag_prefix_pattern_agrees_with_the_config_check(prefix: str) -> None:
    """A stack parameter CloudFormation accepts is one the functions accept, and the other way round."""
    pattern = cfn_template.load(ROOT / "template.yaml")["Parameters"]["TagPrefix"]["AllowedPattern"]
    # CloudFormation matches AllowedPattern against the whole value (the pattern anchors it with ^ and $ too).
    template_accepts = re.fullmatch(pattern, prefix) is not None
    try:
        config_accepts = PruneConfig.from_env({**PRUNE_ENV, "TAG_PREFIX": prefix}).tag_prefix == prefix
    except ConfigError:
        config_accepts = False
    assert template_accepts == config_accepts


def test_an_event_bus_may_be_named_by_its_arn() -> None:
    arn = f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/platform"
    assert PruneConfig.from_env({**PRUNE_ENV, "EVENT_BUS_NAME": arn}).event_bus == arn


@pytest.mark.parametrize(
    ("kind", "env", "variable", "value", "says"),
    [
        # enroll
        (ControllerConfig, ENV, "ARTIFACT_BUCKET", "", "environment variable ARTIFACT_BUCKET is required"),
        (ControllerConfig, ENV, "ARTIFACT_BUCKET", "My_Bucket", "not an S3 bucket name"),
        (ControllerConfig, ENV, "PERMISSIONS_BOUNDARY_ARN", " ", "PERMISSIONS_BOUNDARY_ARN is required"),
        (ControllerConfig, ENV, "PERMISSIONS_BOUNDARY_ARN", "boundary", "not an IAM managed policy ARN"),
        (ControllerConfig, ENV, "CLOUDFORMATION_ROLE_ARN", "", "CLOUDFORMATION_ROLE_ARN is required"),
        (ControllerConfig, ENV, "CLOUDFORMATION_ROLE_ARN", "arn:aws:s3:::b", "not an IAM role ARN"),
        (ControllerConfig, ENV, "LOG_RETENTION_DAYS", "month", "not a retention period"),
        (ControllerConfig, ENV, "LOG_RETENTION_DAYS", "10", "not a retention period"),
        (ControllerConfig, ENV, "LOG_RETENTION_DAYS", "²", "not a retention period"),
        (ControllerConfig, ENV, "LOG_RETENTION_DAYS", "9" * 5000, "not a retention period"),
        (ControllerConfig, ENV, "ALLOWED_ECS_TARGETS", "apps-*,apps prod", "not a list of ECS targets"),
        (ControllerConfig, ENV, "ALLOWED_ECS_TARGETS", "a/b/c", "not a list of ECS targets"),
        # retry
        (RetryConfig, RETRY_ENV, "RETRY_QUEUE_URL", "", "environment variable RETRY_QUEUE_URL is required"),
        (RetryConfig, RETRY_ENV, "RETRY_QUEUE_URL", "pipewarden-RetryQueue", "not an SQS queue URL"),
        (RetryConfig, RETRY_ENV, "DECISIONS_TABLE", "t", "not a DynamoDB table name"),
        (RetryConfig, RETRY_ENV, "RETRY_BASE_SECONDS", "0", "from 1 to 900"),
        (RetryConfig, RETRY_ENV, "RETRY_CAP_SECONDS", "901", "from 1 to 900"),
        (RetryConfig, RETRY_ENV, "RATE_LIMIT_WAIT_SECONDS", "1.5", "from 1 to 900"),
        (RetryConfig, RETRY_ENV, "RATE_LIMIT_WAIT_SECONDS", "-1", "from 1 to 900"),
        (RetryConfig, RETRY_ENV, "RETRY_QUEUE_MAX_RECEIVES", "0", "receives from 1 to 1000"),
        (RetryConfig, RETRY_ENV, "RETRY_QUEUE_MAX_RECEIVES", "1001", "receives from 1 to 1000"),
        # prune
        (PruneConfig, PRUNE_ENV, "ARTIFACT_BUCKET", "", "environment variable ARTIFACT_BUCKET is required"),
        (PruneConfig, PRUNE_ENV, "ARTIFACT_BUCKET", "s3://bucket", "not an S3 bucket name"),
        (PruneConfig, PRUNE_ENV, "PRUNE_GRACE_HOURS", "a day", "not a number of hours"),
        (PruneConfig, PRUNE_ENV, "PRUNE_GRACE_HOURS", "-1", "not a number of hours"),
        (PruneConfig, PRUNE_ENV, "PRUNE_GRACE_HOURS", "nan", "not a number of hours"),
        (PruneConfig, PRUNE_ENV, "PRUNE_GRACE_HOURS", "1e300", "not a number of hours"),
        # notify
        (NotifyConfig, NOTIFY_ENV, "IDEMPOTENCY_TABLE", "", "variable IDEMPOTENCY_TABLE is required"),
        (NotifyConfig, NOTIFY_ENV, "IDEMPOTENCY_TABLE", "a table", "not a DynamoDB table name"),
        (NotifyConfig, NOTIFY_ENV, "TOPIC_ARN", "alerts", "not an SNS topic ARN"),
        (NotifyConfig, NOTIFY_ENV, "SLACK_SECRET_NAME", "pipewarden/slack/a b", "not a Secrets Manager"),
    ],
)
def test_each_bad_variable_is_named_with_its_value(
    kind: type[Config], env: dict[str, str], variable: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigError, match=says) as raised:
        kind.from_env({**env, variable: value})
    assert raised.value.variable == variable
    if value.strip():
        quoted = repr(value) if len(value) <= 120 else repr(value[:119] + "…")
        assert str(raised.value).startswith(f"{variable}={quoted} is not ")


def test_a_config_error_survives_pickling() -> None:
    """The sandbox's function workers (like Lambda) hand errors back across a process boundary."""
    error = ConfigError("TAG_PREFIX", "TAG_PREFIX='aws' is not a tag key prefix")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert (type(copy), copy.variable, str(copy)) == (ConfigError, "TAG_PREFIX", str(error))


def client_error(code: str, message: str = "m", status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "SomeOperation")


@pytest.mark.parametrize(
    ("error", "kind", "transient"),
    [
        (client_error("ThrottlingException"), aws.Throttled, True),
        (client_error("Throttling", status=400), aws.Throttled, True),
        (client_error("Whatever", status=503), aws.Throttled, True),
        (client_error("RepositoryDoesNotExistException"), aws.NotFound, False),
        (client_error("ValidationError", "Stack with id x does not exist"), aws.NotFound, False),
        (client_error("AlreadyExistsException"), aws.Conflict, False),
        (
            client_error("ValidationError", "Stack:x is in UPDATE_IN_PROGRESS state and can not be updated."),
            aws.Conflict,
            False,
        ),
        (
            client_error("ValidationError", "Stack [x] cannot be deleted while in status UPDATE_IN_PROGRESS"),
            aws.Conflict,
            False,
        ),
        (  # not busy but broken: no event follows, so it is reported, not waited on
            client_error("ValidationError", "Stack:x is in ROLLBACK_COMPLETE state and can not be updated."),
            aws.Invalid,
            False,
        ),
        (client_error("AccessDeniedException"), aws.AccessDenied, False),
        (client_error("ValidationError", "No updates are to be performed."), aws.Invalid, False),
        (EndpointConnectionError(endpoint_url="https://x"), aws.Throttled, True),
    ],
)
def test_translate(error: Exception, kind: type[aws.AwsError], transient: bool) -> None:
    translated = aws.translate(error)
    assert type(translated) is kind
    assert isinstance(translated, aws.AwsError) and translated.transient is transient


def test_other_exceptions_pass_through() -> None:
    error = KeyError("x")
    assert aws.translate(error) is error


def test_call_raises_the_domain_error_with_the_cause() -> None:
    class Failing:
        def get_repository(self, **_: Any) -> None:
            raise client_error("RepositoryDoesNotExistException", "gone")

    with pytest.raises(aws.NotFound, match="gone") as raised:
        aws.call(Failing().get_repository, repositoryName="x")
    assert isinstance(raised.value.__cause__, ClientError)


class Context:
    """The Lambda context attributes Powertools reads."""

    function_name = "pipewarden-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:pipewarden-test"
    aws_request_id = "r-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def handler_of(function: str) -> Any:
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"{function}_app_broken_environment", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize(
    ("function", "env", "variable", "event"),
    [
        ("enroll", ENV, "CLOUDFORMATION_ROLE_ARN", "tag-change-enroll.json"),
        ("retry", RETRY_ENV, "RETRY_QUEUE_URL", "codepipeline-stage-failed.json"),
        ("retry", RETRY_ENV, "RETRY_CAP_SECONDS", "retry-due-sqs.json"),
        ("prune", PRUNE_ENV, "PRUNE_GRACE_HOURS", "scheduled-resync.json"),
        ("notify", NOTIFY_ENV, "IDEMPOTENCY_TABLE", "codepipeline-execution-succeeded.json"),
        ("notify", NOTIFY_ENV, "TAG_PREFIX", "not-an-event"),
    ],
)
def test_a_broken_environment_fails_every_invocation_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, function: str, env: dict[str, str], variable: str, event: str
) -> None:
    """Raised, not reported as an invalid event: Lambda counts the error, retries the event and keeps it
    in the failure destination once the deployment is fixed; nothing was called on AWS before."""
    # Given a function whose environment has one bad variable
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(variable, "" if variable.endswith(("_URL", "_TABLE")) else "aws:bad value")
    handler = handler_of(function)
    payload = sample_event(event) if event.endswith(".json") else {"detail-type": event}
    # When it is invoked, with a valid event or an invalid one
    with pytest.raises(ConfigError) as raised:
        handler(payload, Context())
    # Then the error names the variable
    assert raised.value.variable == variable
    assert variable in str(raised.value)
