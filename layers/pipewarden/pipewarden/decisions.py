"""The retry decisions table: one decision per stage failure (a conditional write), and the record of it.

A stage failure reaches the retry function more than once: EventBridge delivers at least once,
CodePipeline may send its FAILED event twice, and Lambda retries an invocation that raised. Before it
queues a retry or reports a decision, the function claims the failure with a conditional PutItem on
(pipeline, execution, stage, retries so far); a second delivery finds the claim and says nothing.
A claim taken by an invocation that then raised is released, and one left by an invocation that
died mid-way (a timeout) goes stale after STALE_CLAIM_SECONDS, so the retried invocation decides.
A claim that is still being decided, and not stale, is a concurrent delivery of the same failure.
The due retry claims its attempt the same way (step `attempt-<n>`) before it calls
RetryStageExecution: two copies of one queued decision (SQS delivers at least once) start it once.
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipewarden.aws import AwsError, Clients, call

DECISION_TTL_DAYS = 30
# Longer than the retry function's 60 s timeout (no live invocation holds a claim longer; it claims
# within its first calls), shorter than the minute Lambda waits before retrying an invocation that
# failed plus that timeout: a claim older than this belongs to nobody.
# https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
STALE_CLAIM_SECONDS = 70
# Claims sort after every decision: decisions' sort keys begin with an ISO time, which starts with a digit.
CLAIM = "claim#"
DECIDING, DONE, RELEASED = "deciding", "done", "released"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class DecisionLog:
    """Claims and records in the decisions table; without a table, every claim is granted."""

    clients: Clients
    table: str
    now: Callable[[], datetime.datetime] = _now

    def claim(self, pipeline: str, execution_id: str, stage: str, step: int | str) -> str | None:
        """Claim the decision on this failure. Returns the claim's time (pass it to `settle`), or None
        when another delivery holds the claim or decided already."""
        moment = self.now()
        if not self.table:
            return moment.isoformat()
        stale = (moment - datetime.timedelta(seconds=STALE_CLAIM_SECONDS)).isoformat()
        try:
            self._put(
                pipeline,
                execution_id,
                stage,
                step,
                DECIDING,
                moment,
                ConditionExpression=(
                    "attribute_not_exists(pipeline) OR #state = :released "
                    "OR (#state = :deciding AND #at < :stale)"
                ),
                ExpressionAttributeNames={"#state": "state", "#at": "at"},
                ExpressionAttributeValues={
                    ":released": {"S": RELEASED},
                    ":deciding": {"S": DECIDING},
                    ":stale": {"S": stale},
                },
            )
        except AwsError as error:
            if error.code == "ConditionalCheckFailedException":
                return None
            raise
        return moment.isoformat()

    def settle(self, pipeline: str, execution_id: str, stage: str, step: int | str, decided: bool) -> None:
        """Mark the claim done (the decision is out) or released (it is not: the next delivery decides)."""
        if self.table:
            state = DONE if decided else RELEASED
            self._put(pipeline, execution_id, stage, step, state, self.now())

    def record(self, pipeline: str, execution_id: str, stage: str, fields: dict[str, Any]) -> None:
        """Keep a decision where `pipewarden retries` lists it (for people; never counted)."""
        if not self.table:
            return
        moment = self.now()
        expires = moment + datetime.timedelta(days=DECISION_TTL_DAYS)
        item = {
            "pipeline": {"S": pipeline},
            "decided": {"S": f"{moment.isoformat()}#{execution_id}#{stage}#{fields['event']}"},
            "execution": {"S": execution_id},
            "stage": {"S": stage},
            **{name: {"N": value} if name == "attempt" else {"S": value} for name, value in fields.items()},
            "expires": {"N": str(int(expires.timestamp()))},
        }
        call(self.clients.dynamodb.put_item, TableName=self.table, Item=item)

    def _put(
        self,
        pipeline: str,
        execution_id: str,
        stage: str,
        step: int | str,
        state: str,
        moment: datetime.datetime,
        **condition: Any,
    ) -> None:
        expires = moment + datetime.timedelta(days=DECISION_TTL_DAYS)
        item = {
            "pipeline": {"S": pipeline},
            "decided": {"S": f"{CLAIM}{execution_id}#{stage}#{step}"},
            "state": {"S": state},
            "at": {"S": moment.isoformat()},
            "expires": {"N": str(int(expires.timestamp()))},
        }
        call(self.clients.dynamodb.put_item, TableName=self.table, Item=item, **condition)
