"""Prune the artifact bucket: gather what executions need, stream the listing, delete the rest in batches."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipewarden import pipelines
from pipewarden.aws import AwsError, Clients, NotFound, call, pages, tagged_resources
from pipewarden.config import PruneConfig
from pipewarden.contract import PipelineSettings
from pipewarden.emit import Emitter
from pipewarden.prune_plan import (
    ACTIVE,
    PREFIX_LENGTH,
    RETRYABLE,
    ExecutionArtifacts,
    PipelineArtifacts,
    StoredObject,
    keep_set,
    prefix_of,
    should_delete,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

PRUNED = "Artifacts Pruned"
# DeleteObjects' per-key error codes for a fault on S3's side, worth one more request in the same run:
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html (Error: Code) and
# https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList
# Executions whose action records are complete: every stage they entered ran all its actions.
SETTLED = frozenset({"Succeeded", "Failed", "Superseded"})
PASSING_FAULTS = frozenset({"InternalError", "SlowDown", "ServiceUnavailable"})


class OutOfTime(Exception):
    """The invocation's deadline came before the run could know what every pipeline needs."""


class Unknowable(Exception):
    """What a pipeline needs cannot be read any more (an execution it must keep is past CodePipeline's
    history): its prefix is left alone."""


def _inbound(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Executions waiting to enter a stage (GetPipelineState's inboundExecution(s))."""
    return [
        *([state["inboundExecution"]] if state.get("inboundExecution") else []),
        *state.get("inboundExecutions", []),
    ]


BATCH = 1000  # DeleteObjects takes at most 1,000 keys a request
STOP_MARGIN_SECONDS = 60.0
SHARE_SECONDS = 5.0  # the least time any one pipeline's executions may take to read


@dataclass
class Tally:
    objects_kept: int = 0
    bytes_kept: int = 0
    objects_deleted: int = 0
    bytes_deleted: int = 0


@dataclass
class PruneReport:
    """What one run saw and did, per key prefix (a pipeline, or pipelines sharing 20 characters)."""

    bucket: str
    scope: str
    dry_run: bool
    prefixes: dict[str, Tally] = field(default_factory=dict)
    to_delete: list[str] = field(default_factory=list)  # the first keys (dry runs list them)
    errors: list[str] = field(default_factory=list)
    complete: bool = True
    young: int = 0  # kept only because they are younger than the grace period
    protected: set[str] = field(default_factory=set)  # prefixes of pipelines that could not be read
    list_calls: int = 0
    listed: int = 0  # versions and delete markers the listing gave
    delete_calls: int = 0
    duration: float = 0.0

    def summary(self) -> dict[str, Any]:
        """What the prune function logs of the run (its `pruned` line)."""
        total = self.total()
        return {
            "scope": self.scope,
            "deleted": total.objects_deleted,
            "kept": total.objects_kept,
            "complete": self.complete,
            "errors": self.errors[:20],
            "list_calls": self.list_calls,
            "delete_calls": self.delete_calls,
        }

    def total(self) -> Tally:
        out = Tally()
        for tally in self.prefixes.values():
            out.objects_kept += tally.objects_kept
            out.bytes_kept += tally.bytes_kept
            out.objects_deleted += tally.objects_deleted
            out.bytes_deleted += tally.bytes_deleted
        return out


@dataclass
class Pruner:
    config: PruneConfig
    clients: Clients
    emitter: Emitter | None = None
    time_left: Callable[[], float] = lambda: float("inf")
    dry_run: bool = False
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)
    listed_keys: int = 1000
    pause: Callable[[float], None] = time.sleep
    # (done, of (None: not known), step): how far a run is, for a command line that shows it
    progress: Callable[[int, int | None, str], None] = lambda done, of, step: None
    _share_ends: float = float("inf")  # when the pipeline being read has used its share of the run

    # -- what the executions need ---------------------------------------------------------------
    def managed_pipelines(self) -> dict[str, int]:
        """Pipelines whose tags ask for pruning, with how many recent executions each keeps.

        Those pipewarden made (managed-by) and those a team tagged with keep-executions itself.
        """
        prefix = self.config.tag_prefix
        found: dict[str, int] = {}
        for key in (f"{prefix}:managed-by", f"{prefix}:keep-executions"):
            for arn, tags in tagged_resources(self.clients.tagging, "codepipeline:pipeline", key):
                keep = PipelineSettings.from_tags(tags, prefix).keep_executions
                if keep is not None:
                    found[arn.split(":", 5)[-1]] = keep
        return found

    def pipeline_artifacts(self, name: str, keep: int) -> PipelineArtifacts | None:
        """The executions the keep set depends on, with the keys their actions read and wrote; None:
        the pipeline is gone. Raises `OutOfTime` when the deadline comes first, `Unknowable` when an
        execution it must keep can no longer be read.

        Not the whole history (CodePipeline keeps a year of it), only: the newest `keep` executions;
        each stage's latest success (a rollback's source: ListPipelineExecutions' succeededInStage);
        the executions GetPipelineState shows running, waiting to enter a stage, failed or stopped
        (retryable); and, in PARALLEL mode, where running executions need not be any stage's latest,
        every execution the summaries show running. Older executions are what pruning deletes.
        """
        codepipeline = self.clients.codepipeline
        try:
            states = pipelines.stage_states(codepipeline, name)
            status: dict[str, str] = {}
            for state in states:
                for execution in [state.get("latestExecution"), *_inbound(state)]:
                    if execution and execution.get("status") in RETRYABLE | ACTIVE:
                        status[execution["pipelineExecutionId"]] = execution["status"]
            retryable = frozenset(e for e, s in status.items() if s in RETRYABLE)
            pinned = set(status)
            parallel = False
            newest: list[str] = []
            for summary in pipelines.executions(codepipeline, name):
                execution_id, summary_status = summary["pipelineExecutionId"], summary.get("status", "")
                parallel = parallel or summary.get("executionMode") == "PARALLEL"
                self._check_time(name)
                if len(newest) < keep:
                    newest.append(execution_id)
                    status.setdefault(execution_id, summary_status)
                elif summary_status in ACTIVE:
                    pinned.add(execution_id)
                    status.setdefault(execution_id, summary_status)
                if len(newest) >= keep and not parallel:
                    break  # before the next page is asked for
            read = {e: self._execution(name, e, status.get(e, "")) for e in newest}  # newest first
            rollback: dict[str, str] = {}
            seen: set[str] = set()
            for execution_id, record in read.items():
                for stage, stage_status in record.stage_status.items():
                    if stage_status == "Succeeded" and stage not in seen:
                        seen.add(stage)
                        # An execution still running or stopped may not have started all of a stage's
                        # actions (stop and wait): only a settled one's records say the stage succeeded.
                        if record.status in SETTLED:
                            rollback[stage] = execution_id
            for state in states:
                stage = state["stageName"]
                if stage not in rollback and (found := pipelines.latest_success(codepipeline, name, stage)):
                    rollback[stage] = found
            for execution_id in sorted((pinned | set(rollback.values())) - set(read)):
                read[execution_id] = self._execution(name, execution_id, status.get(execution_id, ""))
            executions = tuple(read.values())
        except NotFound as error:
            if error.code != "PipelineNotFoundException":
                raise Unknowable(f"{name}: {error}") from error
            return None
        # A failed or stopped execution has at least its source's output on record; none means it is
        # older than CodePipeline's history, and what its retry would need cannot be known any more.
        unread = retryable - {e.execution_id for e in executions if e.stage_keys}
        if unread:
            raise Unknowable(f"{name}: no action records of {', '.join(sorted(unread)[:3])}")
        return PipelineArtifacts(name, keep, executions, retryable, rollback)

    def _check_time(self, pipeline: str) -> None:
        """Raise `OutOfTime` near the invocation's deadline, `Unknowable` past the pipeline's share of it
        (one pipeline's tags, a keep-executions of 1,000 say, must not use up every other's run)."""
        if self.time_left() < STOP_MARGIN_SECONDS:
            raise OutOfTime(f"the deadline came while reading {pipeline}'s executions")
        if time.monotonic() > self._share_ends:
            raise Unknowable(f"{pipeline}: reading its executions took more than its share of the run")

    def _execution(self, pipeline: str, execution_id: str, status: str) -> ExecutionArtifacts:
        """One execution's artifact keys and the outcome of each stage (its actions' latest runs)."""
        self._check_time(pipeline)
        keys: dict[str, set[str]] = {}
        latest: dict[tuple[str, str], tuple[str, str]] = {}
        for detail in pipelines.action_executions(self.clients.codepipeline, pipeline, execution_id):
            if detail.get("pipelineExecutionId") != execution_id:
                continue  # the filter names one execution; a record of another is not this one's
            stage = detail["stageName"]
            found = keys.setdefault(stage, set())
            for artifact in [
                *detail.get("input", {}).get("inputArtifacts", []),
                *detail.get("output", {}).get("outputArtifacts", []),
            ]:
                location = artifact.get("s3location", {})
                if location.get("bucket") == self.config.bucket and location.get("key"):
                    found.add(location["key"])
            moment = str(detail.get("lastUpdateTime", detail.get("startTime", "")))
            previous = latest.get((stage, detail["actionName"]))
            if previous is None or moment >= previous[0]:
                latest[(stage, detail["actionName"])] = (moment, detail.get("status", ""))
        stage_status: dict[str, str] = {}
        for (stage, _), (_, action_status) in latest.items():
            if stage_status.get(stage) in (None, "Succeeded"):
                stage_status[stage] = action_status
        return ExecutionArtifacts(
            execution_id, status, {stage: frozenset(found) for stage, found in keys.items()}, stage_status
        )

    # -- the run -------------------------------------------------------------------------------------
    def run(self, only: str | None = None) -> PruneReport:
        """Prune the whole bucket, or only the key prefix of pipeline `only` (and pipelines sharing it)."""
        started = time.monotonic()
        report = PruneReport(self.config.bucket, only or "all", self.dry_run)
        pipelines = self.managed_pipelines()
        prefixes: list[str] = [""]
        if only is not None:
            prefixes = [f"{only[:20]}/"]
            pipelines = {name: keep for name, keep in pipelines.items() if name[:20] == only[:20]}
        records: list[PipelineArtifacts] = []
        names = sorted(pipelines)
        for index, name in enumerate(names):
            self.progress(index, len(names), "reading pipelines")
            # Each pipeline may use its share of the time left (at least SHARE_SECONDS), no more.
            share = max(SHARE_SECONDS, (self.time_left() - STOP_MARGIN_SECONDS) / (len(names) - index))
            self._share_ends = time.monotonic() + share
            try:
                record = self.pipeline_artifacts(name, pipelines[name])
            except OutOfTime as stop:
                # Too little time to know what the rest need: their prefixes are left alone this run.
                unread = names[index:]
                report.protected.update(n[:PREFIX_LENGTH] for n in unread)
                report.errors.append(f"{stop}; {len(unread)} pipelines not read, their prefixes left alone")
                report.complete = False
                break
            except Unknowable as error:
                report.errors.append(f"{error}; its prefix {name[:PREFIX_LENGTH]}/ is left alone")
                report.protected.add(name[:PREFIX_LENGTH])
                continue
            except AwsError as error:
                if error.transient:
                    raise
                # What this pipeline needs cannot be read: nothing under its key prefix is touched.
                report.errors.append(f"{name}: {error}; its prefix {name[:20]}/ is left alone")
                report.protected.add(name[:20])
                continue
            if record is not None:
                records.append(record)
        self.progress(len(names), len(names), "reading pipelines")
        keep = keep_set(records)
        for record in records:
            report.prefixes.setdefault(record.prefix, Tally())
        try:
            # Unread pipelines' prefixes are protected; the rest of the bucket is swept as time allows.
            self._sweep(prefixes, keep, report)
        except NotFound as error:
            report.errors.append(f"bucket {self.config.bucket}: {error.message or error.code}")
            report.complete = False
        report.duration = time.monotonic() - started
        if self.emitter is not None:
            total = report.total()
            self.emitter.emit(
                PRUNED,
                {
                    "bucket": report.bucket,
                    "scope": report.scope,
                    "dry-run": report.dry_run,
                    "objects-deleted": total.objects_deleted,
                    "bytes-deleted": total.bytes_deleted,
                    "objects-kept": total.objects_kept,
                    "bytes-kept": total.bytes_kept,
                    "duration-seconds": round(report.duration, 3),
                    "complete": report.complete,
                    "errors": report.errors[:20],
                    "pipelines": sorted(pipelines),
                },
            )
        return report

    def _listing(self, prefix: str, report: PruneReport) -> Iterator[StoredObject]:
        """Every version and delete marker under the prefix, one page (1,000 entries) at a time: a page
        is read when the one before it is used up, so a sweep that stops early reads no further."""
        for page in pages(
            self.clients.s3.get_paginator("list_object_versions").paginate,
            Bucket=self.config.bucket,
            Prefix=prefix,
            PaginationConfig={"PageSize": self.listed_keys},
        ):
            report.list_calls += 1
            report.listed += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
            self.progress(report.listed, None, "objects listed")
            for version in page.get("Versions", []):
                yield StoredObject(
                    version["Key"],
                    version.get("VersionId", "null"),
                    version["LastModified"],
                    int(version.get("Size", 0)),
                    bool(version.get("IsLatest", True)),
                )
            for marker in page.get("DeleteMarkers", []):
                yield StoredObject(
                    marker["Key"],
                    marker.get("VersionId", "null"),
                    marker["LastModified"],
                    0,
                    bool(marker.get("IsLatest")),
                    True,
                )

    def _sweep(self, prefixes: list[str], keep: Mapping[str, str], report: PruneReport) -> None:
        """List page by page; each full batch is deleted on a second thread while the next page is read.

        At most one batch is in flight, so memory stays bounded by the keep set and two batches.
        """
        now = self.now()
        batch: list[StoredObject] = []
        with ThreadPoolExecutor(max_workers=1) as deleter:
            pending: Future[tuple[int, list[tuple[StoredObject, str]]]] | None = None

            def settle() -> None:
                if pending is not None:
                    calls, failed = pending.result()
                    report.delete_calls += calls
                    for stored, why in failed:
                        tally = report.prefixes[prefix_of(stored.key)]
                        tally.objects_deleted -= 1
                        tally.bytes_deleted -= stored.size
                        tally.objects_kept += 1
                        tally.bytes_kept += stored.size
                        where = f"{stored.key} ({stored.version_id})"
                        report.errors.append(f"{where}: not deleted ({why}); the next run tries again")

            for prefix in prefixes:
                for stored in self._listing(prefix, report):
                    tally = report.prefixes.setdefault(prefix_of(stored.key), Tally())
                    protected = prefix_of(stored.key) in report.protected
                    if protected or not should_delete(stored, keep, now, self.config.grace):
                        tally.objects_kept += 1
                        tally.bytes_kept += stored.size
                        if stored.key not in keep and now - stored.last_modified < self.config.grace:
                            report.young += 1
                    else:
                        tally.objects_deleted += 1
                        tally.bytes_deleted += stored.size
                        if len(report.to_delete) < 1000:
                            version = (
                                ""
                                if stored.is_latest and not stored.delete_marker
                                else f" (version {stored.version_id})"
                            )
                            report.to_delete.append(stored.key + version)
                        batch.append(stored)
                        if len(batch) == BATCH and not self.dry_run:
                            settle()
                            pending = deleter.submit(self._delete, batch)
                            batch = []
                    if self.time_left() < STOP_MARGIN_SECONDS:
                        report.complete = False
                        break
                if not report.complete:
                    break
            if batch and not self.dry_run:
                settle()
                pending = deleter.submit(self._delete, batch)
            settle()

    def _delete(self, batch: list[StoredObject]) -> tuple[int, list[tuple[StoredObject, str]]]:
        """DeleteObjects for up to 1,000 versions: the calls made, and the versions it did not delete
        with S3's reason for each.

        A request that fails as a whole is retried by the client's retry policy (the SDK's standard
        mode) and then raised. A version the answer lists under `Errors` with a code S3 uses for a
        passing fault (InternalError, SlowDown: an HTTP 200 answer, which the SDK never retries) is
        sent once more in a request of its own; what still fails is left for the next run.
        """
        calls, left = 0, {(s.key, s.version_id): "" for s in batch}
        failed: dict[tuple[str, str], str] = {}
        while left and calls < 2:
            if calls and "SlowDown" in left.values():
                self.pause(1.0)  # S3 asked to slow down: a moment before the one more request
            calls += 1
            objects: list[ObjectIdentifierTypeDef] = [{"Key": k, "VersionId": v} for k, v in left]
            response = call(
                self.clients.s3.delete_objects,
                Bucket=self.config.bucket,
                Delete={"Objects": objects, "Quiet": True},
            )
            errors = {
                (e.get("Key", ""), e.get("VersionId", "null")): e.get("Code", "")
                for e in response.get("Errors", [])
            }
            errors = {where: code for where, code in errors.items() if where in left}
            failed.update({where: code for where, code in errors.items() if code not in PASSING_FAULTS})
            left = {where: code for where, code in errors.items() if code in PASSING_FAULTS}
        failed.update(left)
        by_version = {(s.key, s.version_id): s for s in batch}
        return calls, [(by_version[where], why) for where, why in failed.items()]
