"""The prune executor's error paths with a fake S3/CodePipeline: partial deletes, missing bucket, throttling, deadline."""

from __future__ import annotations

import datetime
import functools
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from pipewarden import aws
from pipewarden.aws import Clients
from pipewarden.config import PruneConfig
from pipewarden.prune import Pruner

OLD = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def error(code: str, status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "Op")


@functools.cache
def _real(service: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


class FakeAws:
    """Just enough of the tagging API, CodePipeline and S3 for one pipeline and a listing."""

    def __init__(self, keys: list[str], per_page: int = 2) -> None:
        self.keys = keys
        self.per_page = per_page
        self.deleted: list[str] = []
        self.failures: dict[str, int] = {}  # key -> how many delete attempts report it as an error
        self.list_error: ClientError | None = None
        self.gone_pipelines: set[str] = set()
        self.forbidden_pipelines: set[str] = set()
        self.delete_error: ClientError | None = None
        self.delete_calls = 0
        self.listed = 0
        self.failure_code = "InternalError"  # what DeleteObjects reports for a key in `failures`
        self.stage_states: list[dict[str, Any]] = []
        self.action_reads = 0
        self.tagged = {"pipewarden-shop": "1"}  # pipeline -> its keep-executions tag
        self.successes: dict[str, str] = {}  # stage -> its latest successful execution
        self.summaries = [
            {"pipelineExecutionId": "e2", "status": "Succeeded"},
            {"pipelineExecutionId": "e1", "status": "Succeeded"},
        ]
        self.more_actions: list[dict[str, Any]] = []

    def get_paginator(self, operation: str) -> Any:
        """botocore's own paginator for the operation, paging through this fake's method."""
        service = {"list_object_versions": "s3", "get_resources": "resourcegroupstaggingapi"}
        paginator = _real(service.get(operation, "codepipeline")).get_paginator(operation)
        paginator._method = getattr(self, operation)
        return paginator

    def get_resources(self, **_: Any) -> dict[str, Any]:
        return {
            "ResourceTagMappingList": [
                {
                    "ResourceARN": f"arn:aws:codepipeline:us-east-1:1:{name}",
                    "Tags": [{"Key": "pipewarden:keep-executions", "Value": keep}],
                }
                for name, keep in self.tagged.items()
            ]
        }

    def _pipeline(self, name: str) -> None:
        if name in self.gone_pipelines:
            raise error("PipelineNotFoundException")
        if name in self.forbidden_pipelines:
            raise error("AccessDeniedException")

    def list_pipeline_executions(self, pipelineName: str, **kwargs: Any) -> dict[str, Any]:
        self._pipeline(pipelineName)
        stage = kwargs.get("filter", {}).get("succeededInStage", {}).get("stageName")
        if stage is not None:
            found = [s for s in self.summaries if s["pipelineExecutionId"] == self.successes.get(stage)]
            return {"pipelineExecutionSummaries": found}
        return {"pipelineExecutionSummaries": self.summaries}

    def list_action_executions(self, pipelineName: str, **kwargs: Any) -> dict[str, Any]:
        self._pipeline(pipelineName)
        self.action_reads += 1
        out = {"name": "SourceOutput", "s3location": {"bucket": "b", "key": "pipewarden-shop/Source/keep"}}
        detail = {
            "pipelineExecutionId": "e2",
            "stageName": "Source",
            "actionName": "Source",
            "status": "Succeeded",
            "output": {"outputArtifacts": [out]},
        }
        wanted = kwargs.get("filter", {}).get("pipelineExecutionId")
        details = [detail, *self.more_actions]
        return {"actionExecutionDetails": [d for d in details if wanted in (None, d["pipelineExecutionId"])]}

    def get_pipeline_state(self, name: str) -> dict[str, Any]:
        self._pipeline(name)
        return {"stageStates": self.stage_states}

    def list_object_versions(
        self, Prefix: str, MaxKeys: int, KeyMarker: str = "", **_: Any
    ) -> dict[str, Any]:
        self.listed += 1
        if self.list_error:
            raise self.list_error
        remaining = sorted(
            k for k in self.keys if k.startswith(Prefix) and k > KeyMarker and k not in self.deleted
        )
        page = remaining[: self.per_page]
        versions = [
            {"Key": k, "VersionId": "v1", "LastModified": OLD, "Size": 10, "IsLatest": True} for k in page
        ]
        truncated = len(remaining) > len(page)
        return {
            "Versions": versions,
            "IsTruncated": truncated,
            **({"NextKeyMarker": page[-1]} if truncated else {}),
        }

    def delete_objects(self, Delete: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.delete_calls += 1
        if self.delete_error:
            raise self.delete_error
        errors = []
        for obj in Delete["Objects"]:
            if self.failures.get(obj["Key"], 0) > 0:
                self.failures[obj["Key"]] -= 1
                errors.append(
                    {
                        "Key": obj["Key"],
                        "VersionId": obj["VersionId"],
                        "Code": self.failure_code,
                        "Message": "try again",
                    }
                )
            else:
                self.deleted.append(obj["Key"])
        return {"Errors": errors}


KEYS = [
    "pipewarden-shop/Source/keep",
    "pipewarden-shop/Source/old1",
    "pipewarden-shop/Source/old2",
    "pipewarden-gone/Build/x",
]


def pruner(fake: FakeAws, **kwargs: Any) -> Pruner:
    config = PruneConfig("b", grace=datetime.timedelta(hours=1))
    return Pruner(config, Clients(lambda _: fake), **kwargs)


def test_deletes_what_no_execution_needs_in_batches_of_the_listing() -> None:
    fake = FakeAws(KEYS)
    report = pruner(fake).run()
    assert sorted(fake.deleted) == sorted(KEYS[1:])
    assert report.list_calls == 2  # pages of 2 entries
    assert report.total().objects_kept == 1


def test_keys_a_response_reports_as_errors_are_reported_and_left_for_the_next_run() -> None:
    # DeleteObjects answers HTTP 200 and lists the keys it did not delete under Errors, each with a
    # code (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html): AccessDenied is
    # not a passing fault, so the key waits for the next run
    fake = FakeAws(KEYS)
    fake.failures = {"pipewarden-shop/Source/old1": 1}
    fake.failure_code = "AccessDenied"
    report = pruner(fake).run()
    assert "pipewarden-shop/Source/old1" not in fake.deleted
    assert fake.delete_calls == 1
    assert report.errors == [
        "pipewarden-shop/Source/old1 (v1): not deleted (AccessDenied); the next run tries again"
    ]
    assert pruner(fake).run().errors == []
    assert "pipewarden-shop/Source/old1" in fake.deleted


def test_a_key_s3_failed_on_its_side_is_sent_once_more_in_the_same_run() -> None:
    # An InternalError inside a 200 answer is never retried by the SDK (the request succeeded): prune
    # sends that key once more, in a request of its own, with no wait
    fake = FakeAws(KEYS)
    fake.failures = {"pipewarden-shop/Source/old1": 1}
    report = pruner(fake).run()
    assert "pipewarden-shop/Source/old1" in fake.deleted
    assert report.errors == [] and fake.delete_calls == 2


def test_a_delete_request_that_fails_as_a_whole_is_raised_once_the_sdk_gave_up() -> None:
    # The client's retry policy (the SDK's standard mode) has retried the request before this error
    # reaches prune: prune neither tries again nor waits.
    fake = FakeAws(KEYS)
    fake.delete_error = error("SlowDown", 503)
    with pytest.raises(aws.Throttled):
        pruner(fake).run()
    assert fake.delete_calls == 1


def test_keys_that_keep_failing_are_reported_not_raised() -> None:
    fake = FakeAws(KEYS)
    fake.failures = {"pipewarden-shop/Source/old1": 99}
    report = pruner(fake).run()
    assert "pipewarden-shop/Source/old1" not in fake.deleted
    assert fake.delete_calls == 2  # the batch, then the failed key once more: no third request
    assert len(report.errors) == 1 and "old1" in report.errors[0]
    assert report.total().objects_kept == 2


def test_missing_bucket_is_reported_and_nothing_raised() -> None:
    fake = FakeAws(KEYS)
    fake.list_error = error("NoSuchBucket", 404)
    report = pruner(fake).run()
    assert not report.complete
    assert "NoSuchBucket" in report.errors[0]
    assert fake.deleted == []


def test_throttled_listing_is_raised_so_the_invocation_is_retried() -> None:
    fake = FakeAws(KEYS)
    fake.list_error = error("SlowDown", 503)
    with pytest.raises(aws.Throttled):
        pruner(fake).run()


def test_stops_cleanly_near_the_deadline_while_listing() -> None:
    fake = FakeAws(KEYS)
    report = pruner(fake, time_left=lambda: 5.0 if fake.listed else 900.0).run()
    assert not report.complete
    assert len(fake.deleted) <= 1
    assert report.list_calls == 1  # the listing's next page is not read


def test_a_deadline_while_reading_executions_touches_nothing_and_says_why() -> None:
    # Given a run with too little time left to read what the pipelines need
    fake = FakeAws(KEYS)
    report = pruner(fake, time_left=lambda: 5.0).run()
    # Then nothing under the unread pipeline's prefix is deleted, and the report says why
    assert not report.complete
    assert not [k for k in fake.deleted if k.startswith("pipewarden-shop/")]
    assert "pipewarden-shop" in report.protected
    assert any("1 pipelines not read" in e for e in report.errors)


def test_pipeline_deleted_mid_run_keeps_nothing_of_it_and_nothing_else_breaks() -> None:
    fake = FakeAws(KEYS)
    fake.gone_pipelines = {"pipewarden-shop"}
    report = pruner(fake).run()
    assert sorted(fake.deleted) == sorted(KEYS)  # all older than the grace period, nobody needs them
    assert report.errors == []


def test_dry_run_deletes_nothing_and_lists_the_keys() -> None:
    fake = FakeAws(KEYS)
    report = pruner(fake, dry_run=True).run()
    assert fake.deleted == []
    assert sorted(report.to_delete) == sorted(KEYS[1:])


def test_one_pipeline_run_lists_only_its_prefix() -> None:
    fake = FakeAws(KEYS)
    report = pruner(fake).run(only="pipewarden-shop")
    assert "pipewarden-gone/Build/x" not in fake.deleted
    assert report.scope == "pipewarden-shop"


def test_a_pipeline_whose_executions_cannot_be_read_keeps_its_whole_prefix() -> None:
    fake = FakeAws(KEYS)
    fake.forbidden_pipelines = {"pipewarden-shop"}
    report = pruner(fake).run()
    assert fake.deleted == ["pipewarden-gone/Build/x"]
    assert "left alone" in report.errors[0]


def test_a_retryable_execution_beyond_the_kept_ones_is_read_by_id_and_its_artifacts_kept() -> None:
    # Given a pipeline keeping 1 execution whose Build stage's latest execution (e9) failed long ago:
    # ListPipelineExecutions no longer reaches it, GetPipelineState still names it (retryable)
    fake = FakeAws([*KEYS, "pipewarden-shop/Build/retry"])
    fake.stage_states = [
        {"stageName": "Source", "latestExecution": {"pipelineExecutionId": "e2", "status": "Succeeded"}},
        {"stageName": "Build", "latestExecution": {"pipelineExecutionId": "e9", "status": "Failed"}},
    ]
    built = {"name": "BuildOutput", "s3location": {"bucket": "b", "key": "pipewarden-shop/Build/retry"}}
    fake.more_actions = [
        {
            "pipelineExecutionId": "e9",
            "stageName": "Build",
            "actionName": "Build",
            "status": "Failed",
            "input": {"inputArtifacts": [built]},
        }
    ]
    # When the bucket is pruned
    pruner(fake).run()
    # Then the retryable execution's artifact is kept with the newest execution's; the rest go
    assert "pipewarden-shop/Build/retry" not in fake.deleted
    assert "pipewarden-shop/Source/keep" not in fake.deleted
    assert {"pipewarden-shop/Source/old1", "pipewarden-shop/Source/old2"} <= set(fake.deleted)


def action(execution_id: str, stage: str, key: str, status: str = "Succeeded") -> dict[str, Any]:
    """An action record whose output artifact is `key` in bucket b."""
    out = {"name": "Out", "s3location": {"bucket": "b", "key": key}}
    return {
        "pipelineExecutionId": execution_id,
        "stageName": stage,
        "actionName": stage,
        "status": status,
        "output": {"outputArtifacts": [out]},
    }


def test_an_older_execution_still_running_in_parallel_mode_keeps_its_artifacts() -> None:
    # Given a PARALLEL pipeline keeping 1 execution: e2 ran through, the older e1 still runs (waiting
    # on an approval): in PARALLEL mode executions "run simultaneously and independently of one
    # another" (https://docs.aws.amazon.com/codepipeline/latest/userguide/concepts-how-it-works.html),
    # so GetPipelineState need not name e1 as any stage's latest execution
    fake = FakeAws([*KEYS, "pipewarden-shop/Build/e1"])
    fake.summaries = [
        {"pipelineExecutionId": "e2", "status": "Succeeded", "executionMode": "PARALLEL"},
        {"pipelineExecutionId": "e1", "status": "InProgress", "executionMode": "PARALLEL"},
    ]
    fake.more_actions = [action("e1", "Build", "pipewarden-shop/Build/e1")]
    # When the bucket is pruned
    pruner(fake).run()
    # Then the running execution's artifact stays
    assert "pipewarden-shop/Build/e1" not in fake.deleted
    assert {"pipewarden-shop/Source/old1", "pipewarden-shop/Source/old2"} <= set(fake.deleted)


def test_a_stopped_stage_can_be_retried_so_its_execution_keeps_its_artifacts() -> None:
    # "For a pipeline execution in a Stopped state, the actions in the stage where the execution
    # stopped can be retried" (https://docs.aws.amazon.com/codepipeline/latest/userguide/pipelines-stop.html)
    fake = FakeAws([*KEYS, "pipewarden-shop/Build/e0"])
    fake.stage_states = [
        {"stageName": "Build", "latestExecution": {"pipelineExecutionId": "e0", "status": "Stopped"}}
    ]
    fake.more_actions = [action("e0", "Build", "pipewarden-shop/Build/e0", "Abandoned")]
    pruner(fake).run()
    assert "pipewarden-shop/Build/e0" not in fake.deleted


def test_a_stage_that_never_succeeded_does_not_make_prune_read_the_whole_history() -> None:
    # Given 300 executions and a Deploy stage with no success in the history (always failing)
    fake = FakeAws(KEYS)
    fake.summaries = [{"pipelineExecutionId": f"e{n}", "status": "Failed"} for n in range(300, 0, -1)]
    fake.stage_states = [
        {"stageName": "Deploy", "latestExecution": {"pipelineExecutionId": "e300", "status": "Failed"}}
    ]
    fake.more_actions = [action("e300", "Deploy", "pipewarden-shop/Source/keep", "Failed")]
    # When a pipeline keeping 1 execution is read
    record = pruner(fake).pipeline_artifacts("pipewarden-shop", 1)
    # Then one execution's actions are read (the newest, which is also the retryable one)
    assert record is not None and [e.execution_id for e in record.executions] == ["e300"]
    assert fake.action_reads == 1


def test_a_retryable_execution_past_codepipelines_history_leaves_the_prefix_alone() -> None:
    # Given GetPipelineState naming a failed execution whose action records are gone (CodePipeline keeps
    # 12 months: https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ListActionExecutions.html)
    fake = FakeAws(KEYS)
    fake.stage_states = [
        {"stageName": "Build", "latestExecution": {"pipelineExecutionId": "e-old", "status": "Failed"}}
    ]
    # When the bucket is pruned
    report = pruner(fake).run()
    # Then nothing under the pipeline's prefix is deleted, and the report says why
    assert not [k for k in fake.deleted if k.startswith("pipewarden-shop/")]
    assert "pipewarden-shop" in report.protected
    assert any("no action records of e-old" in e for e in report.errors)


def test_a_slow_down_waits_a_moment_and_only_passing_faults_are_sent_again() -> None:
    # Given one key S3 answers SlowDown for and one it refuses (AccessDenied), once each
    fake = FakeAws(KEYS)
    fake.failures = {"pipewarden-shop/Source/old1": 1}
    fake.failure_code = "SlowDown"
    waits: list[float] = []
    report = pruner(fake, pause=waits.append).run()
    # Then the SlowDown key goes in a second request after a pause (no real sleep here)
    assert "pipewarden-shop/Source/old1" in fake.deleted
    assert waits == [1.0] and fake.delete_calls == 2 and report.errors == []


def test_a_stopped_executions_records_do_not_name_a_stages_latest_success() -> None:
    # Given the newest execution was stopped in Build (stop and wait: later actions never started, so
    # its Build records look successful) and CodePipeline says Build last succeeded in e1
    # (https://docs.aws.amazon.com/codepipeline/latest/userguide/pipelines-stop.html)
    fake = FakeAws([*KEYS, "pipewarden-shop/Build/e1"])
    fake.summaries = [
        {"pipelineExecutionId": "e2", "status": "Stopped"},
        {"pipelineExecutionId": "e1", "status": "Succeeded"},
    ]
    fake.stage_states = [{"stageName": "Build"}]
    fake.successes = {"Build": "e1"}
    fake.more_actions = [
        action("e2", "Build", "pipewarden-shop/Build/e2-partial"),
        action("e1", "Build", "pipewarden-shop/Build/e1"),
    ]
    # When a pipeline keeping 1 execution is pruned
    pruner(fake).run()
    # Then e1's Build output stays for a rollback (asked for with succeededInStage, not inferred)
    assert "pipewarden-shop/Build/e1" not in fake.deleted


def test_a_pipeline_tagged_to_keep_1000_executions_cannot_use_up_every_others_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a tagger's pipeline that sorts first and keeps 1,000 executions (each read takes a second
    # here), and the shop pipeline after it, with 70 s left: each may use (70 - 60) / 2 = 5 s
    fake = FakeAws(KEYS)
    fake.tagged = {"pipewarden-aaa-hostile": "1000", "pipewarden-shop": "1"}
    fake.summaries = [{"pipelineExecutionId": f"e{n}", "status": "Succeeded"} for n in range(1000, 0, -1)]
    clock = iter(range(10**6))
    monkeypatch.setattr("pipewarden.prune.time.monotonic", lambda: float(next(clock)))
    # When the bucket is pruned
    report = pruner(fake, time_left=lambda: 70.0).run()
    # Then the hostile pipeline stops at its share (its prefix left alone) and the shop is still read
    # and pruned
    assert "pipewarden-aaa-hosti" in report.protected
    assert any("more than its share" in e for e in report.errors)
    assert fake.action_reads < 20
    assert {"pipewarden-shop/Source/old1", "pipewarden-shop/Source/old2"} <= set(fake.deleted)
