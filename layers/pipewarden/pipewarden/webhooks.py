"""Slack webhook URLs from Secrets Manager, cached across warm invocations by Powertools Parameters.

Imported on first use (it imports boto3 through Powertools): a handler's import stays light.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from pipewarden.aws import AwsError, NotFound, call

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

MAX_AGE_SECONDS = 300
# What a secret that does not exist is cached as. No secret can hold it: Secrets Manager's
# SecretString is at least 1 character long (botocore's model: SecretStringType, min 1).
ABSENT = ""


def webhook_url_in(name: str, value: str | bytes) -> str:
    """The URL a secret's value holds: the URL itself, or JSON with `webhook_url`.

    Raises ValueError when it holds something else; the message names the secret, never its value.
    """
    url = value.strip() if isinstance(value, str) else ""
    if url.startswith("{"):
        try:
            url = str(json.loads(url).get("webhook_url", "")).strip()
        except (ValueError, AttributeError):
            url = ""
    if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
        raise ValueError(f"secret {name} holds no webhook URL (a URL, or JSON with webhook_url)")
    return url


class WebhookSecrets(SecretsProvider):
    """Powertools' Secrets Manager provider on the library's own client (its retries, timeouts, endpoint).

    Each secret is read once per `max_age` per warm container; a secret that does not exist is cached
    too (as ABSENT), so a channel nobody configured costs no more than one that is.
    """

    def __init__(self, secretsmanager: SecretsManagerClient, max_age: int = MAX_AGE_SECONDS) -> None:
        super().__init__(boto3_client=secretsmanager)
        self.secretsmanager = secretsmanager
        self.max_age = max_age

    def _get(self, name: str, **sdk_options: Any) -> str | bytes:
        try:
            answer = call(self.secretsmanager.get_secret_value, SecretId=name, **sdk_options)
        except NotFound:
            return ABSENT
        return answer["SecretString"] if "SecretString" in answer else answer.get("SecretBinary", b"")

    def webhook_url(self, name: str) -> str | None:
        """The URL the secret holds; None if there is no such secret.

        Raises ValueError when the secret holds no URL (its value never in the message) and `AwsError`
        when Secrets Manager could not be read (`transient` says whether trying again can help).
        """
        try:
            value = self.get(name, max_age=self.max_age)
        except GetParameterError as error:
            # Powertools wraps every error of a read in GetParameterError(str(error)); the AwsError
            # that `call` made of it is the context, and says what handlers act on (transient or not).
            if isinstance(error.__context__, AwsError):
                raise error.__context__ from None
            raise
        if value == ABSENT:
            return None
        return webhook_url_in(name, value if isinstance(value, str | bytes) else "")
