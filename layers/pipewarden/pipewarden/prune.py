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
PASSING_FAULTS = frozenset({"InternalError", "SlowDown", "ServiceUnavailable"})


class OutOfTime(Exception):
    """The invocation's deadline came before the run could know what every pipeline needs."""


BATCH = 1000  # DeleteObjects takes at most 1,000 keys a request
STOP_MARGIN_SECONDS = 60.0


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
        """The executions the keep set depends on, newest first, with the keys their actions read and
        wrote; None: the pipeline is gone.

        Not the whole history (CodePipeline keeps a year of it): the newest `keep` executions, back to
        each stage's latest success (kept for a rollback), and the executions GetPipelineState shows
        running or failed (retryable), wherever they are. Older executions are what pruning deletes,
        so nothing needs to be known of them. Raises `OutOfTime` when the deadline comes first.
        """
        codepipeline = self.clients.codepipeline
        try:
            states = pipelines.stage_states(codepipeline, name)
            stages = {s["stageName"] for s in states}
            latest = {
                s["latestExecution"]["pipelineExecutionId"]: s["latestExecution"]["status"]
                for s in states
                if "latestExecution" in s
            }
            retryable = frozenset(e for e, status in latest.items() if status == "Failed")
            pinned = retryable | {e for e, status in latest.items() if status in ACTIVE}
            executions: list[ExecutionArtifacts] = []
            succeeded: set[str] = set()
            for summary in pipelines.executions(codepipeline, name):
                record = self._execution(name, summary["pipelineExecutionId"], summary.get("status", ""))
                executions.append(record)
                succeeded.update(s for s, status in record.stage_status.items() if status == "Succeeded")
                if len(executions) >= keep and stages <= succeeded and pinned <= self._ids(executions):
                    break  # before the next page is asked for
            for execution_id in sorted(pinned - self._ids(executions)):  # beyond the walk: read by id
                executions.append(self._execution(name, execution_id, latest[execution_id]))
        except NotFound:
            return None
        return PipelineArtifacts(name, keep, tuple(executions), retryable)

    @staticmethod
    def _ids(executions: list[ExecutionArtifacts]) -> set[str]:
        return {e.execution_id for e in executions}

    def _execution(self, pipeline: str, execution_id: str, status: str) -> ExecutionArtifacts:
        """One execution's artifact keys and the outcome of each stage (its actions' latest runs)."""
        if self.time_left() < STOP_MARGIN_SECONDS:
            raise OutOfTime(f"the deadline came while reading {pipeline}'s executions")
        keys: dict[str, set[str]] = {}
        latest: dict[tuple[str, str], tuple[str, str]] = {}
        for detail in pipelines.action_executions(self.clients.codepipeline, pipeline, execution_id):
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
            try:
                record = self.pipeline_artifacts(name, pipelines[name])
            except OutOfTime as stop:
                # Too little time to know what the rest need: their prefixes are left alone this run.
                unread = names[index:]
                report.protected.update(n[:PREFIX_LENGTH] for n in unread)
                report.errors.append(f"{stop}; {len(unread)} pipelines not read, their prefixes left alone")
                report.complete = False
                break
            except AwsError as error:
                if error.transient:
                    raise
                # What this pipeline needs cannot be read: nothing under its key prefix is touched.
                report.errors.append(f"{name}: {error}; its prefix {name[:20]}/ is left alone")
                report.protected.add(name[:20])
                continue
            if record is not None:
                records.append(record)
        keep = keep_set(records)
        for record in records:
            report.prefixes.setdefault(record.prefix, Tally())
        try:
            if report.complete:
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
        calls, failed = 0, {(s.key, s.version_id): "" for s in batch}
        for _ in range(2):
            calls += 1
            objects: list[ObjectIdentifierTypeDef] = [{"Key": k, "VersionId": v} for k, v in failed]
            response = call(
                self.clients.s3.delete_objects,
                Bucket=self.config.bucket,
                Delete={"Objects": objects, "Quiet": True},
            )
            failed = {
                (e.get("Key", ""), e.get("VersionId", "null")): e.get("Code", "")
                for e in response.get("Errors", [])
                if (e.get("Key", ""), e.get("VersionId", "null")) in failed
            }
            if not any(code in PASSING_FAULTS for code in failed.values()):
                break
        by_version = {(s.key, s.version_id): s for s in batch}
        return calls, [(by_version[where], why) for where, why in failed.items()]
