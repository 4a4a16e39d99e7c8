"""Reading the Slack webhook secret (Powertools Parameters on the library's client): error paths the sandbox
cannot produce, and what is cached."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from pipewarden.aws import Clients, Throttled
from pipewarden.deliver import Deliverer
from pipewarden.messages import Notice
from pipewarden.webhooks import WebhookSecrets, webhook_url_in

NAME = "pipewarden/slack/default"
URL = "https://hooks.slack.com/services/T000/B000/XXXX"
NOTICE = Notice(title="Pipeline failed", severity="error", summary="x", pipeline="p")


@pytest.fixture
def secretsmanager() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "secretsmanager", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    with stub:
        yield client, stub
    stub.assert_no_pending_responses()


def answer(stub: Stubber, value: str, name: str = NAME) -> None:
    stub.add_response(
        "get_secret_value",
        {"ARN": f"arn:aws:secretsmanager:us-east-1:1:secret:{name}", "Name": name, "SecretString": value},
        {"SecretId": name},
    )


def deliverer(client: Any) -> Deliverer:
    return Deliverer(Clients(lambda _: client), "", NAME, WebhookSecrets(client))


def test_a_url_plain_or_in_json_is_read_once_for_many_messages(secretsmanager: tuple[Any, Stubber]) -> None:
    client, stub = secretsmanager
    answer(stub, f"  {URL}\n")
    answer(stub, f'{{"webhook_url": "{URL}"}}', "pipewarden/slack/payments")
    secrets = WebhookSecrets(client)
    assert {secrets.webhook_url(NAME) for _ in range(50)} == {URL}  # one answer stubbed: one read
    assert {secrets.webhook_url("pipewarden/slack/payments") for _ in range(50)} == {URL}


def test_a_missing_secret_means_not_configured_and_is_read_once(secretsmanager: tuple[Any, Stubber]) -> None:
    client, stub = secretsmanager
    stub.add_client_error(
        "get_secret_value", "ResourceNotFoundException", "Secrets Manager can't find it", 400
    )
    secrets = WebhookSecrets(client)
    assert secrets.webhook_url(NAME) is None
    assert secrets.webhook_url(NAME) is None
    send = Deliverer(Clients(lambda _: client), "", NAME, secrets).send(NOTICE)
    assert send.slack == f"not configured (no secret {NAME})"


def test_a_throttled_read_is_raised_so_the_event_is_retried(secretsmanager: tuple[Any, Stubber]) -> None:
    client, stub = secretsmanager
    stub.add_client_error("get_secret_value", "ThrottlingException", "Rate exceeded", 400)
    with pytest.raises(Throttled) as raised:
        deliverer(client).send(NOTICE)
    assert raised.value.transient and raised.value.operation == "GetSecretValue"


def test_a_denied_read_is_reported_and_not_cached(secretsmanager: tuple[Any, Stubber]) -> None:
    client, stub = secretsmanager
    stub.add_client_error("get_secret_value", "AccessDeniedException", "not authorized", 400)
    answer(stub, URL)
    send = deliverer(client)
    assert send.send(NOTICE).slack == f"failed: secret {NAME}: AccessDeniedException"
    assert send.secrets.webhook_url(NAME) == URL  # the next message reads again (the role was fixed)


def test_a_malformed_secret_is_refused_without_its_value(secretsmanager: tuple[Any, Stubber]) -> None:
    client, stub = secretsmanager
    answer(stub, '{"webhook": "xoxb-very-secret-token"}')
    send = deliverer(client)
    for _ in range(3):  # read once: the value is cached, the refusal repeated
        slack = send.send(NOTICE).slack
        assert slack == f"failed: secret {NAME} holds no webhook URL (a URL, or JSON with webhook_url)"
        assert "xoxb" not in slack


@given(st.text() | st.builds(lambda v: json.dumps({"webhook_url": v}), st.text()) | st.binary())
def test_a_refusal_never_depends_on_the_value(value: str | bytes) -> None:
    try:
        url = webhook_url_in(NAME, value)
    except ValueError as error:
        assert str(error) == f"secret {NAME} holds no webhook URL (a URL, or JSON with webhook_url)"
    else:
        assert url.startswith(("https://", "http://")) and not any(c.isspace() for c in url)
