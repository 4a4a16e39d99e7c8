"""The retry function's SQS batches (Powertools' batch processor): what goes back to the queue, and what not."""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from pipewarden.aws import AccessDenied, Clients, Throttled
from pipewarden.config import RetryConfig
from pipewarden.emit import EVENT_REJECTED
from pipewarden.retry import DueRetry, Retrier
from pipewarden.retry_policy import SKIPPED, Backoff, RetryDecision
from tests.conftest import ROOT

EXECUTION = "3137f7cb-7cf7-4a2b-9e3a-0d7e3c4f5a6b"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The retry function's handler module, imported as Lambda imports it (`app` on the path)."""
    monkeypatch.syspath_prepend(str(ROOT / "functions/retry"))
    monkeypatch.delitem(sys.modules, "app", raising=False)
    return importlib.import_module("app")


@dataclass
class FakeEmitter:
    emitted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def emit(self, detail_type: str, detail: dict[str, Any], resources: Any = ()) -> None:
        self.emitted.append((detail_type, dict(detail)))


@dataclass
class FakeRetrier:
    """Answers each pipeline's due retry as told: a decision, or an error raised."""

    outcomes: dict[str, Exception | None]
    emitter: FakeEmitter = field(default_factory=FakeEmitter)
    started: list[str] = field(default_factory=list)

    def on_due(self, due: DueRetry) -> RetryDecision:
        self.started.append(due.pipeline)
        outcome = self.outcomes.get(due.pipeline)
        if outcome is not None:
            raise outcome
        return RetryDecision(False, "Duplicate", "attempt 1 was made already", 1)


def record(message_id: str, pipeline: str, receives: int = 1) -> dict[str, Any]:
    """An SQS record as Lambda hands it over: `attributes.ApproximateReceiveCount` counts this receive
    too (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html, its example event)."""
    body = {"pipeline": pipeline, "execution_id": EXECUTION, "stage": "Build", "attempt": 1}
    return {
        "messageId": message_id,
        "receiptHandle": "r",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": str(receives), "SentTimestamp": "1795860761000"},
        "eventSource": "aws:sqs",
    }


def failed(result: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def test_only_the_messages_that_failed_go_back_to_the_queue(app: Any) -> None:
    # Given a batch with decisions that start, one throttled, one denied and one unreadable
    retrier = FakeRetrier(
        {
            "throttled": Throttled("ThrottlingException", "Rate exceeded", "RetryStageExecution"),
            "denied": AccessDenied("AccessDeniedException", "not allowed", "RetryStageExecution"),
        }
    )
    records = [
        record("m1", "fine"),
        record("m2", "throttled"),
        {"messageId": "m3", "body": "{not json"},
        record("m4", "denied"),
        record("m5", "also-fine"),
    ]
    # When the batch is handled
    result = app._due(retrier, {"Records": records}, 5)
    # Then the throttled and the denied come back (alone), the unreadable is rejected once, not redelivered
    assert failed(result) == ["m2", "m4"]
    assert retrier.started == ["fine", "throttled", "denied", "also-fine"]
    assert [t for t, _ in retrier.emitter.emitted] == [EVENT_REJECTED]
    assert retrier.emitter.emitted[0][1]["function"] == "retry"


def test_a_batch_whose_every_message_failed_is_reported_not_raised(app: Any) -> None:
    # Powertools raises BatchProcessingError by default when all fail; SQS would return the same messages
    retrier = FakeRetrier({"a": Throttled("ThrottlingException", "slow down"), "b": RuntimeError("bug")})
    result = app._due(retrier, {"Records": [record("m1", "a"), record("m2", "b")]}, 5)
    assert failed(result) == ["m1", "m2"]


def test_records_that_are_not_objects_are_rejected_once_and_not_redelivered(app: Any) -> None:
    retrier = FakeRetrier({})
    result = app._due(retrier, {"Records": ["?", record("m2", "fine")]}, 5)
    assert failed(result) == []
    assert retrier.started == ["fine"]
    assert retrier.emitter.emitted == [
        (EVENT_REJECTED, {"function": "retry", "reason": "an SQS record is a str, not an object"})
    ]


def test_a_failure_that_cannot_heal_by_itself_is_logged_with_its_cause(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    retrier = FakeRetrier(
        {
            "denied": AccessDenied("AccessDeniedException", "not allowed", "RetryStageExecution"),
            "throttled": Throttled("ThrottlingException", "Rate exceeded", "RetryStageExecution"),
        }
    )
    app._due(retrier, {"Records": [record("m1", "denied"), record("m2", "throttled")]}, 5)
    said = [(r.levelname, r.getMessage(), getattr(r, "pipeline", None)) for r in caplog.records]
    assert ("WARNING", "retry not started yet", "denied") in said
    assert ("ERROR", "queued retry failed", "denied") in said
    assert ("WARNING", "retry not started yet", "throttled") in said
    assert ("ERROR", "queued retry failed", "throttled") not in said  # transient: it heals by itself
    causes = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert [type(c).__name__ for c in causes] == ["AccessDenied"]


class FailingRetrier(Retrier):
    """The real retrier, whose due decisions fail with `error` and whose stage shows `runs` attempts."""

    def __init__(self, error: Exception, runs: int = 1) -> None:
        config = RetryConfig(
            "pipewarden", "https://sqs.us-east-1.amazonaws.com/123456789012/q", "", Backoff()
        )
        super().__init__(config, Clients(), FakeEmitter())  # type: ignore[arg-type]
        self.error, self.runs = error, runs

    def on_due(self, due: DueRetry) -> RetryDecision:
        raise self.error

    def stage_runs(self, failure: Any) -> dict[str, list[Any]]:
        return {"Build": [{"status": "Failed"}] * self.runs}


# An SQS event source mapping has no on-failure destination: Lambda's destinations keep records of
# asynchronous invocations (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html;
# EventInvokeConfig's OnFailure, "To retain records of asynchronous invocations",
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-lambda-eventinvokeconfig-onfailure.html).
# A message that fails its queue's maxReceiveCount-th receive goes to the queue's dead-letter queue, untold.
@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (Throttled("ThrottlingException", "Rate exceeded", "RetryStageExecution"), "ThrottlingException"),
        (
            AccessDenied("AccessDeniedException", "not allowed", "RetryStageExecution"),
            "AccessDeniedException",
        ),
    ],
)
def test_a_decision_failing_on_its_last_receive_is_told_as_not_started_and_still_fails(
    app: Any, error: Exception, cause: str
) -> None:
    # Given a queued decision on its fifth receive, the queue's maxReceiveCount, that fails again
    retrier = FailingRetrier(error)
    # When the batch is handled
    result = app._due(retrier, {"Records": [record("m1", "pipewarden-shop", receives=5)]}, 5)
    # Then the announced retry is told as not started, with the error's code, for the attempt announced
    assert [t for t, _ in retrier.emitter.emitted] == [SKIPPED]  # type: ignore[attr-defined]
    detail = retrier.emitter.emitted[0][1]  # type: ignore[attr-defined]
    assert (detail["pipeline"], detail["stage"], detail["attempt"]) == ("pipewarden-shop", "Build", 1)
    assert detail["reason"].startswith("the retry could not be started (")
    assert cause in detail["reason"] and "dead-letter queue" in detail["reason"]
    # And the message still fails, so SQS moves it to the retry dead-letter queue for a person to read
    assert failed(result) == ["m1"]


@pytest.mark.parametrize(
    "error",
    [
        # Found by chaos: the retry had run (an earlier receive, or this one before its record failed)
        Throttled("InternalFailure", "An internal error occurred", "ListActionExecutions"),
        Throttled("InternalFailure", "An internal error occurred", "PutItem"),
        RuntimeError("a bug"),
    ],
)
def test_a_last_receive_failing_anywhere_but_the_start_call_tells_nothing_and_still_fails(
    app: Any, error: Exception
) -> None:
    # Given a queued decision on its last receive that fails outside RetryStageExecution: whether the
    # retry started cannot be known from the error, and "not started" could be false
    retrier = FailingRetrier(error)
    result = app._due(retrier, {"Records": [record("m1", "pipewarden-shop", receives=5)]}, 5)
    # Then nothing is told, and the message still goes to the dead-letter queue
    assert retrier.emitter.emitted == []  # type: ignore[attr-defined]
    assert failed(result) == ["m1"]


@pytest.mark.parametrize("receives", [1, 4])
def test_a_decision_failing_before_its_last_receive_only_goes_back_to_the_queue(
    app: Any, receives: int
) -> None:
    retrier = FailingRetrier(AccessDenied("AccessDeniedException", "not allowed", "RetryStageExecution"))
    result = app._due(retrier, {"Records": [record("m1", "pipewarden-shop", receives=receives)]}, 5)
    assert failed(result) == ["m1"]
    assert retrier.emitter.emitted == []  # type: ignore[attr-defined]


def test_a_last_receive_whose_retry_was_made_after_all_tells_nothing(app: Any) -> None:
    # The retry started, then its report failed: the stage shows attempt 1 made, nothing is called off
    retrier = FailingRetrier(Throttled("ThrottlingException", "Rate exceeded", "PutEvents"), runs=2)
    result = app._due(retrier, {"Records": [record("m1", "pipewarden-shop", receives=5)]}, 5)
    assert failed(result) == ["m1"]
    assert retrier.emitter.emitted == []  # type: ignore[attr-defined]


def test_a_record_without_its_receive_count_is_never_taken_for_the_last(app: Any) -> None:
    retrier = FailingRetrier(Throttled("ThrottlingException", "Rate exceeded", "RetryStageExecution"))
    bare = {**record("m1", "pipewarden-shop"), "attributes": {"ApproximateReceiveCount": "many"}}
    result = app._due(retrier, {"Records": [bare]}, 1)
    assert failed(result) == ["m1"]
    assert retrier.emitter.emitted == []  # type: ignore[attr-defined]
