"""Controller configuration from the environment, and ClientError -> domain errors."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from pipewarden import aws
from pipewarden.config import ConfigError, ControllerConfig

ENV = {
    "ARTIFACT_BUCKET": "b",
    "PERMISSIONS_BOUNDARY_ARN": "arn:aws:iam::1:policy/b",
    "CLOUDFORMATION_ROLE_ARN": "arn:aws:iam::1:role/r",
}


def test_config_defaults() -> None:
    config = ControllerConfig.from_env(ENV)
    assert config.tag_prefix == "pipewarden"
    assert config.allowed_targets == ()  # nothing may be deployed until the platform team lists targets
    assert config.event_bus == "default"
    assert config.log_retention_days == 30


def test_allow_list_is_split_and_trimmed() -> None:
    config = ControllerConfig.from_env({**ENV, "ALLOWED_ECS_TARGETS": " apps-* , shared/web-* ,"})
    assert config.allowed_targets == ("apps-*", "shared/web-*")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ARTIFACT_BUCKET": ""}, "ARTIFACT_BUCKET is required"),
        ({"TAG_PREFIX": "aws"}, "TAG_PREFIX"),
        ({"TAG_PREFIX": "has space"}, "TAG_PREFIX"),
        ({"LOG_RETENTION_DAYS": "month"}, "LOG_RETENTION_DAYS"),
    ],
)
def test_bad_configuration_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ControllerConfig.from_env({**ENV, **env})


def test_an_empty_allow_list_allows_nothing() -> None:
    config = ControllerConfig.from_env({**ENV, "ALLOWED_ECS_TARGETS": " , "})
    assert config.allowed_targets == ()


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
        aws.call(Failing(), "get_repository", repositoryName="x")
    assert isinstance(raised.value.__cause__, ClientError)
