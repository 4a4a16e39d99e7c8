"""Sending a notice: SNS first, then Slack through a webhook whose URL lives in Secrets Manager.

SNS goes first so that Slack, however long it takes or fails, never keeps a message from SNS.
Slack gets its bounded tries within the invocation; when they run out the notice is given up for
Slack (a metric counts it) rather than retried as a whole, which would publish to SNS again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipewarden import messages
from pipewarden.aws import AwsError, Clients, NotFound, call
from pipewarden.messages import Notice
from pipewarden.slack import SlackError, SlackPoster

SECRET_PREFIX = "pipewarden/slack/"  # noqa: S105 - a name prefix, not a secret
SECRET_TTL_SECONDS = 300.0


class SecretCache:
    """Webhook URLs by secret name, kept for a few minutes across warm invocations.

    A missing secret is remembered too, so a channel nobody configured costs one read per TTL.
    """

    def __init__(self, ttl: float = SECRET_TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self.reads = 0
        self._values: dict[str, tuple[str | None, float]] = {}

    def webhook_url(self, secretsmanager: Any, name: str) -> str | None:
        """The URL the secret holds (plain, or JSON with `webhook_url`); None if there is no such secret.

        Raises ValueError when the secret holds something else; the message never contains its value.
        """
        cached = self._values.get(name)
        if cached is not None and cached[1] > self.clock():
            return cached[0]
        self.reads += 1
        try:
            raw = str(call(secretsmanager.get_secret_value, SecretId=name).get("SecretString", ""))
        except NotFound:
            self._values[name] = (None, self.clock() + self.ttl)
            return None
        url = raw.strip()
        if url.startswith("{"):
            try:
                url = str(json.loads(url).get("webhook_url", "")).strip()
            except (ValueError, AttributeError):
                url = ""
        if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
            raise ValueError(f"secret {name} holds no webhook URL (a URL, or JSON with webhook_url)")
        self._values[name] = (url, self.clock() + self.ttl)
        return url


@dataclass
class Delivery:
    """What became of one notice on each channel."""

    sns: str = "not configured"
    slack: str = "not configured"
    slack_attempts: int = 0


@dataclass
class Deliverer:
    clients: Clients
    topic_arn: str
    default_secret: str
    secrets: SecretCache
    poster: Callable[[], SlackPoster] = SlackPoster
    deliveries: list[Delivery] = field(default_factory=list)

    def secret_name(self, channel: str) -> str:
        return f"{SECRET_PREFIX}{channel}" if channel else self.default_secret

    def send(self, notice: Notice, channel: str = "") -> Delivery:
        """Publish to SNS (transient errors raised), then post to Slack (never raised)."""
        delivery = Delivery()
        if self.topic_arn:
            try:
                response = call(
                    self.clients.sns.publish,
                    TopicArn=self.topic_arn,
                    Subject=messages.sns_subject(notice),
                    Message=messages.sns_message(notice),
                    MessageAttributes=messages.sns_attributes(notice),
                )
                delivery.sns = f"published {response.get('MessageId', '')}".strip()
            except AwsError as error:
                if error.transient:
                    raise  # nothing went out yet: the whole event is retried
                delivery.sns = f"failed: {error.code}: {error.message}"
        name = self.secret_name(channel)
        if name:
            delivery.slack, delivery.slack_attempts = self._slack(notice, name)
        self.deliveries.append(delivery)
        return delivery

    def _slack(self, notice: Notice, secret: str) -> tuple[str, int]:
        try:
            url = self.secrets.webhook_url(self.clients.secretsmanager, secret)
        except ValueError as error:
            return f"failed: {error}", 0
        except AwsError as error:
            if error.transient:
                raise
            return f"failed: secret {secret}: {error.code}", 0
        if url is None:
            return f"not configured (no secret {secret})", 0
        poster = self.poster()
        try:
            poster.post(url, messages.slack_payload(notice))
        except SlackError as error:
            return f"failed: {error}", poster.attempts
        return "posted", poster.attempts
