"""Enrollment problems that stand: told once while a repository's problem stays the same one.

A rejected tag or a permanent AWS error is met again by every resync (and by every event that
points at the repository). Each such event carries a fingerprint of the problem; the notifier keeps
the last fingerprint it told per repository beside its idempotency records (a conditional write
claims the telling), tells a problem only when its fingerprint differs, and forgets it when the
repository is enrolled or unenrolled, so the same problem coming back later is told again.
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
                self.clients.dynamodb,
                "put_item",
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

    def release(self, repository: str, fingerprint: str) -> None:
        """Nothing was told after all: the next event that meets the problem may tell it."""
        try:
            call(
                self.clients.dynamodb,
                "delete_item",
                TableName=self.table,
                Key={"id": {"S": _KEY + repository}},
                ConditionExpression="fingerprint = :f",
                ExpressionAttributeValues={":f": {"S": fingerprint}},
            )
        except AwsError as error:
            if error.code != "ConditionalCheckFailedException":
                raise

    def forget(self, repository: str) -> None:
        call(self.clients.dynamodb, "delete_item", TableName=self.table, Key={"id": {"S": _KEY + repository}})
