"""Sending a notice: SNS first, then Slack through a webhook whose URL lives in Secrets Manager
(read through `pipewarden.webhooks`, which caches it across warm invocations).

SNS goes first so that Slack, however long it takes or fails, never keeps a message from SNS.
Slack gets its bounded tries within the invocation; when they run out the notice is given up for
Slack (a metric counts it) rather than retried as a whole, which would publish to SNS again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipewarden import messages
from pipewarden.aws import AwsError, Clients, call
from pipewarden.messages import Notice
from pipewarden.slack import SlackError, SlackPoster

if TYPE_CHECKING:
    from pipewarden.webhooks import WebhookSecrets

SECRET_PREFIX = "pipewarden/slack/"  # noqa: S105 - a name prefix, not a secret


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
    secrets: WebhookSecrets
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
            url = self.secrets.webhook_url(secret)
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
