"""`pipewarden replay-dlq`: hand dead-lettered invocations back to their functions.

Two queues hold what could not be handled: the functions' on-failure destination (Lambda's record of
an asynchronous invocation whose retries were spent: the function's ARN and the original event) and
the rules' dead-letter queue (EventBridge's copy of an event it could not deliver, with the target's
ARN in the message attributes). Each message is invoked again asynchronously and deleted once Lambda
has taken it; one that cannot be read is left in the queue and reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cli import health
from pipewarden.aws import AwsError, call

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sqs import SQSClient


@dataclass
class ReplayReport:
    replayed: int = 0
    failed: int = 0
    unreadable: int = 0
    queues: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def target(message: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(function ARN, event) of a dead-lettered message; ValueError if it is neither shape."""
    body = json.loads(message.get("Body", ""))
    if not isinstance(body, dict):
        raise ValueError("the message is not a JSON object")
    context = body.get("requestContext")
    if isinstance(context, dict) and "requestPayload" in body:
        arn = str(context.get("functionArn", ""))
        payload = body["requestPayload"]
    else:  # EventBridge's dead letter: the event itself, the target in an attribute
        attribute = message.get("MessageAttributes", {}).get("TARGET_ARN", {})
        arn, payload = str(attribute.get("StringValue", "")), body
    if ":function:" not in arn or not isinstance(payload, dict):
        raise ValueError("no function ARN and event in the message")
    return arn.removesuffix(":$LATEST"), payload


def queue_urls(sqs: SQSClient, stack: str) -> list[str]:
    """The controller stack's two queues of invocations, found by the names CloudFormation gives them."""
    return list(health.queue_urls(sqs, stack, queues=health.REPLAYED).values())


def replay(
    sqs: SQSClient,
    lambda_client: LambdaClient,
    urls: list[str],
    max_messages: int = 100_000,
    stack: str = "pipewarden",
    progress: Callable[[int], None] = lambda handled: None,
) -> ReplayReport:
    """Invoke each dead-lettered event again, on the function it was meant for.

    Only the controller stack's own functions (CloudFormation names them `<stack>-<logical id>-...`):
    anyone who may send to the queue could otherwise have the operator invoke any function with any
    event. Such a message is left in the queue and reported. `progress` is told how many messages
    were handled so far, before each one and at the end.
    """
    report = ReplayReport(queues=list(urls))
    for url in urls:
        while report.replayed + report.failed + report.unreadable < max_messages:
            messages = call(
                sqs.receive_message,
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=60,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                progress(report.replayed + report.failed + report.unreadable)
                try:
                    arn, event = target(message)
                    if not arn.split(":function:", 1)[1].startswith(f"{stack}-"):
                        raise ValueError(f"{arn} is not a function of stack {stack}: not replayed")
                except ValueError as error:
                    report.unreadable += 1
                    report.errors.append(f"{message.get('MessageId')}: {error}")
                    continue
                try:
                    call(
                        lambda_client.invoke,
                        FunctionName=arn,
                        InvocationType="Event",
                        Payload=json.dumps(event),
                    )
                    call(sqs.delete_message, QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    report.replayed += 1
                except AwsError as error:
                    report.failed += 1  # stays in the queue: visible again after its timeout
                    report.errors.append(f"{message.get('MessageId')}: {error}")
    progress(report.replayed + report.failed + report.unreadable)
    return report
