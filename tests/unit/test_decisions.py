"""One decision per stage failure: the claim's conditional write, its release, and a stale claim's takeover.

DynamoDB evaluates the condition (moto implements ConditionExpression as the developer guide
describes: attribute_not_exists, OR, comparisons of strings).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipewarden.aws import Clients
from pipewarden.decisions import CLAIM, STALE_CLAIM_SECONDS, DecisionLog

FAILURE = ("pipewarden-shop", "c54a5df4-5ea1-4d6a-9f5e-3b0b2c4b1a77", "Build", 0)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="decisions",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pipeline", "AttributeType": "S"},
                {"AttributeName": "decided", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pipeline", "KeyType": "HASH"},
                {"AttributeName": "decided", "KeyType": "RANGE"},
            ],
        )
        yield client


class Clock:
    def __init__(self) -> None:
        self.moment = datetime.datetime(2026, 12, 3, 9, 0, tzinfo=datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += datetime.timedelta(seconds=seconds)


def log(dynamodb: Any, clock: Clock) -> DecisionLog:
    return DecisionLog(Clients(lambda _service: dynamodb), "decisions", clock)


def test_a_failure_is_claimed_once_and_a_second_delivery_finds_the_claim(dynamodb: Any) -> None:
    clock = Clock()
    first, second = log(dynamodb, clock), log(dynamodb, clock)
    assert first.claim(*FAILURE) is not None
    assert second.claim(*FAILURE) is None  # deciding now
    first.settle(*FAILURE, decided=True)
    clock.advance(STALE_CLAIM_SECONDS * 10)
    assert second.claim(*FAILURE) is None  # decided, however late the duplicate
    # The next failure of the same stage (after one retry) is a decision of its own
    assert second.claim(*FAILURE[:3], 1) is not None


def test_a_released_claim_lets_the_next_delivery_decide(dynamodb: Any) -> None:
    clock = Clock()
    decisions = log(dynamodb, clock)
    assert decisions.claim(*FAILURE) is not None
    decisions.settle(*FAILURE, decided=False)  # the invocation raised before its decision was out
    assert decisions.claim(*FAILURE) is not None


def test_a_claim_left_by_an_invocation_that_died_goes_stale(dynamodb: Any) -> None:
    clock = Clock()
    decisions = log(dynamodb, clock)
    assert decisions.claim(*FAILURE) is not None  # and the invocation timed out
    clock.advance(STALE_CLAIM_SECONDS - 1)
    assert decisions.claim(*FAILURE) is None
    clock.advance(2)
    assert decisions.claim(*FAILURE) is not None


def test_claims_sort_after_every_recorded_decision(dynamodb: Any) -> None:
    """`pipewarden retries` lists decisions with `decided < "claim#"`: claims never show."""
    clock = Clock()
    decisions = log(dynamodb, clock)
    decisions.claim(*FAILURE)
    fields = {"event": "Stage Retry Scheduled", "reason": "r", "attempt": "1", "classification": "transient"}
    decisions.record(*FAILURE[:3], fields)
    listed = dynamodb.query(
        TableName="decisions",
        KeyConditionExpression="pipeline = :p AND decided < :claims",
        ExpressionAttributeValues={":p": {"S": FAILURE[0]}, ":claims": {"S": CLAIM}},
    )["Items"]
    assert [i["event"]["S"] for i in listed] == ["Stage Retry Scheduled"]
    assert listed[0]["attempt"] == {"N": "1"}


def test_without_a_table_every_claim_is_granted() -> None:
    decisions = DecisionLog(Clients(lambda _service: None), "")
    assert decisions.claim(*FAILURE) is not None and decisions.claim(*FAILURE) is not None
