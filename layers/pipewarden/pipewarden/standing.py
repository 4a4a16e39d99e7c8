"""Enrollment problems that stand: told once while a repository's problem stays the same one.

A rejected tag or a permanent AWS error is met again by every resync. Each such event carries a
fingerprint of the problem. One a tag change shows is news and is told (once per change: the two
events of one change share the fingerprint as their key); the notifier then keeps that fingerprint
per repository beside its idempotency records. One the resync meets (`standing: true`) is told only
if its fingerprint differs from the one kept (a conditional write claims the telling), so a problem
an event never showed (a lost event) is told once too. The record is forgotten when the repository
is enrolled or unenrolled, and lapses after REMIND_AFTER_SECONDS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pipewarden.aws import AwsError, Clients, call

# After this long a problem nobody fixed is told once more (DynamoDB's TTL removes the record).
REMIND_AFTER_SECONDS = 90 * 24 * 3600
_KEY = "pipewarden-notify#standing#"  # beside Powertools' "pipewarden-notify#<hash>" records


@dataclass
class StandingProblems:
    clients: Clients
    table: str
    clock: Callable[[], float] = time.time

    def claim(self, repository: str, fingerprint: str) -> bool:
        """Take the telling of this problem: False when it was told (or is being told) already.

        A conditional write, so the two events one tag change makes (CloudTrail's and the tag
        change's own), handled at the same moment, tell it once.
        """
        now = int(self.clock())
        try:
            call(
                self.clients.dynamodb.put_item,
                TableName=self.table,
                Item={
                    "id": {"S": _KEY + repository},
                    "fingerprint": {"S": fingerprint},
                    "expiration": {"N": str(now + REMIND_AFTER_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(id) OR fingerprint <> :f OR expiration < :now",
                ExpressionAttributeValues={":f": {"S": fingerprint}, ":now": {"N": str(now)}},
            )
        except AwsError as error:
            if error.code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def remember(self, repository: str, fingerprint: str) -> None:
        """The problem was told (a tag change showed it): the resyncs that meet it again stay quiet."""
        now = int(self.clock())
        item = {
            "id": {"S": _KEY + repository},
            "fingerprint": {"S": fingerprint},
            "expiration": {"N": str(now + REMIND_AFTER_SECONDS)},
        }
        call(self.clients.dynamodb.put_item, TableName=self.table, Item=item)

    def release(self, repository: str, fingerprint: str) -> None:
        """Nothing was told after all: the next event that meets the problem may tell it."""
        try:
            call(
                self.clients.dynamodb.delete_item,
                TableName=self.table,
                Key={"id": {"S": _KEY + repository}},
                ConditionExpression="fingerprint = :f",
                ExpressionAttributeValues={":f": {"S": fingerprint}},
            )
        except AwsError as error:
            if error.code != "ConditionalCheckFailedException":
                raise

    def forget(self, repository: str) -> None:
        call(self.clients.dynamodb.delete_item, TableName=self.table, Key={"id": {"S": _KEY + repository}})
