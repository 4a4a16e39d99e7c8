"""Pipeline executions in the sandbox: stages and actions run with scripted outcomes, as AWS would run them.

An execution writes real artifact objects (CodePipeline's key layout) to the artifact bucket, records
CodeBuild builds with phases and a CloudWatch log, and emits the pipeline, stage and action events
in AWS's shape. What fails, and how, is scripted per pipeline action (`Scripts`); everything else
succeeds. This is development tooling: nothing here ships.
"""

from __future__ import annotations

import datetime
import io
import json
import random
import string
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.moto_ext import codepipeline as cp_ext
from sandbox.moto_ext import publish
from sandbox.moto_ext.codepipeline import ActionRun, Execution, StageRun

BUILD_PHASES = (
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
)


@dataclass
class Outcome:
    """How one run of an action ends. A build fails in `phase` with `code`, its log ending in `log`."""

    fail: bool = True
    phase: str = "BUILD"
    code: str = "COMMAND_EXECUTION_ERROR"
    message: str = ""
    log: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        return cls(
            fail=bool(data.get("fail", True)),
            phase=str(data.get("phase", "BUILD")),
            code=str(data.get("code", "COMMAND_EXECUTION_ERROR")),
            message=str(data.get("message", "")),
            log=[str(line) for line in data.get("log", [])],
        )


class Scripts:
    """Outcomes queued per (pipeline, action); each run of the action takes the next one, if any.

    A window instead makes every run that starts within the next N seconds end the same way (a rate
    limit that lasts a while, whatever the number of attempts).
    """

    def __init__(self) -> None:
        self._queues: dict[tuple[str, str], deque[Outcome]] = {}
        self._windows: dict[tuple[str, str], tuple[float, Outcome]] = {}
        self._lock = threading.Lock()

    def add_window(self, pipeline: str, action: str, outcome: Outcome, seconds: float) -> None:
        with self._lock:
            self._windows[(pipeline, action)] = (time.monotonic() + seconds, outcome)

    def add(self, pipeline: str, action: str, outcomes: Sequence[Outcome]) -> None:
        with self._lock:
            self._queues.setdefault((pipeline, action), deque()).extend(outcomes)

    def take(self, pipeline: str, action: str) -> Outcome | None:
        with self._lock:
            queue = self._queues.get((pipeline, action))
            if queue:
                return queue.popleft()
            until, outcome = self._windows.get((pipeline, action), (0.0, None))
            return outcome if time.monotonic() < until else None

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
            self._windows.clear()


def _iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


class Simulator:
    """Advances executions on the sandbox bus's thread, one stage run at a time."""

    def __init__(
        self, call_soon: Callable[[Callable[[], None], str], None], client: Callable[[str], Any]
    ) -> None:
        self.scripts = Scripts()
        self._call_soon = call_soon
        self._client = client
        self._rand = random.Random(7)

    def install(self) -> None:
        cp_ext.runner = self.schedule

    def schedule(self, backend: Any, execution: Execution, first_stage: int) -> None:
        self._call_soon(
            lambda: self.run(backend, execution, first_stage), f"execution {execution.pipeline_execution_id}"
        )

    # -- events --------------------------------------------------------------------------------------
    def _emit(self, backend: Any, execution: Execution, kind: str, state: str, **extra: Any) -> None:
        detail = {
            "pipeline": execution.pipeline_name,
            "execution-id": execution.pipeline_execution_id,
            "start-time": _iso(execution.start_time),
            "state": state,
            "version": float(execution.pipeline_version),
            "pipeline-execution-attempt": float(execution.attempt),
            "execution-trigger": {
                "trigger-type": execution.trigger.get("triggerType", ""),
                "trigger-detail": execution.trigger.get("triggerDetail", ""),
            },
            **extra,
        }
        arn = f"arn:aws:codepipeline:{backend.region_name}:{backend.account_id}:{execution.pipeline_name}"
        publish.emit(
            publish.envelope(
                "aws.codepipeline",
                f"CodePipeline {kind} Execution State Change",
                detail,
                backend.account_id,
                backend.region_name,
                [arn],
            )
        )

    # -- the run --------------------------------------------------------------------------------------
    def run(self, backend: Any, execution: Execution, start: int) -> None:
        pipeline = backend.pipelines.get(execution.pipeline_name)
        if pipeline is None:
            execution.status = "Failed"
            return
        stages = pipeline.pipeline["stages"]
        self._emit(backend, execution, "Pipeline", "STARTED" if start == 0 else "RESUMED")
        for index in range(start, len(stages)):
            if not self._run_stage(
                backend, pipeline, execution, stages[index], resumed=start > 0 and index == start
            ):
                execution.status = "Failed"
                execution.last_update_time = cp_ext.now()
                self._emit(backend, execution, "Pipeline", "FAILED")
                return
        execution.status = "Succeeded"
        execution.last_update_time = cp_ext.now()
        self._emit(backend, execution, "Pipeline", "SUCCEEDED")

    def _run_stage(
        self, backend: Any, pipeline: Any, execution: Execution, stage: dict[str, Any], resumed: bool
    ) -> bool:
        name = stage["name"]
        run = execution.stages.setdefault(name, StageRun(name))
        run.status = "InProgress"
        self._emit(backend, execution, "Stage", "RESUMED" if resumed else "STARTED", stage=name)
        actions = sorted(stage["actions"], key=lambda a: int(a.get("runOrder", 1)))
        if resumed and execution.retry_mode == "FAILED_ACTIONS":
            actions = [a for a in actions if self._latest(execution, name, a["name"]) == "Failed"]
        failed = [a for a in actions if not self._run_action(backend, pipeline, execution, name, a)]
        retry = (stage.get("onFailure") or {}).get("result") == "RETRY"
        if failed and retry and run.native_retries == 0:
            # CodePipeline V2's own automatic retry: once, at once, whatever the cause.
            run.native_retries = 1
            execution.attempt += 1
            self._emit(backend, execution, "Stage", "RESUMED", stage=name)
            failed = [a for a in failed if not self._run_action(backend, pipeline, execution, name, a)]
        run.status = "Failed" if failed else "Succeeded"
        self._emit(backend, execution, "Stage", "FAILED" if failed else "SUCCEEDED", stage=name)
        return not failed

    @staticmethod
    def _latest(execution: Execution, stage: str, action: str) -> str:
        runs = [a for a in execution.actions if a.stage == stage and a.action == action]
        return runs[-1].status if runs else ""

    def _run_action(
        self, backend: Any, pipeline: Any, execution: Execution, stage: str, action: dict[str, Any]
    ) -> bool:
        action_type = dict(action["actionTypeId"])
        inputs = [
            {"name": a["name"], "s3location": execution.artifacts.get(a["name"], {})}
            for a in action.get("inputArtifacts", [])
        ]
        run = ActionRun(stage, action["name"], action_type, dict(action.get("configuration", {})), inputs)
        execution.actions.append(run)
        self._emit_action(backend, execution, run, "STARTED")
        outcome = self.scripts.take(execution.pipeline_name, action["name"])
        missing = [i["name"] for i in inputs if not self._exists(i["s3location"])]
        provider = action_type.get("provider", "")
        if missing:
            outcome = Outcome(
                phase="DOWNLOAD_SOURCE",
                code="CLIENT_ERROR",
                message=f"NoSuchKey: input artifact {missing[0]} not found",
            )
        if provider == "CodeBuild":
            self._build(backend, pipeline, execution, run, action, outcome)
        elif outcome is not None and outcome.fail:
            run.error = {
                "code": outcome.code if outcome.code != "COMMAND_EXECUTION_ERROR" else "JobFailed",
                "message": outcome.message or f"{provider} action failed",
            }
            run.summary = run.error["message"]
        elif provider == "CodeCommit":
            self._source(backend, pipeline, execution, run, action)
        else:
            run.summary = f"{provider} {action['name']} succeeded"
            self._outputs(
                pipeline, execution, run, action, {"result.json": json.dumps({"action": action["name"]})}
            )
        run.status = "Failed" if run.error else "Succeeded"
        run.updated = cp_ext.now()
        self._emit_action(backend, execution, run, run.status.upper())
        return run.error is None

    def _emit_action(self, backend: Any, execution: Execution, run: ActionRun, state: str) -> None:
        result: dict[str, Any] = {
            "external-execution-id": run.external_id,
            "external-execution-summary": run.summary,
        }
        if run.error:
            result["error-code"] = run.error["code"]
        self._emit(
            backend,
            execution,
            "Action",
            state,
            stage=run.stage,
            action=run.action,
            **{
                "action-execution-id": run.action_execution_id,
                "region": backend.region_name,
                "type": {k: run.action_type.get(k, "") for k in ("owner", "provider", "category", "version")},
                "input-artifacts": run.input_artifacts,
                "output-artifacts": run.output_artifacts,
                "execution-result": result,
            },
        )

    # -- artifacts --------------------------------------------------------------------------------------
    def _exists(self, location: dict[str, str]) -> bool:
        if not location:
            return False
        s3 = self._client("s3")
        try:
            s3.head_object(Bucket=location["bucket"], Key=location["key"])
        except s3.exceptions.ClientError:
            return False
        return True

    def _outputs(
        self,
        pipeline: Any,
        execution: Execution,
        run: ActionRun,
        action: dict[str, Any],
        files: dict[str, str],
    ) -> None:
        store = pipeline.pipeline.get("artifactStore", {})
        bucket = store.get("location", "")
        for artifact in action.get("outputArtifacts", []):
            suffix = "".join(self._rand.choices(string.ascii_letters + string.digits, k=7))
            key = f"{execution.pipeline_name[:20]}/{artifact['name'][:10]}/{suffix}"
            self._client("s3").put_object(Bucket=bucket, Key=key, Body=_zip(files))
            location = {"bucket": bucket, "key": key}
            execution.artifacts[artifact["name"]] = location
            run.output_artifacts.append({"name": artifact["name"], "s3location": location})

    def _source(
        self, backend: Any, pipeline: Any, execution: Execution, run: ActionRun, action: dict[str, Any]
    ) -> None:
        from moto.codecommit.models import codecommit_backends

        config = action.get("configuration", {})
        codecommit = codecommit_backends[backend.account_id][backend.region_name]
        commit_id = codecommit.branches.get(config.get("RepositoryName"), {}).get(config.get("BranchName"))
        if commit_id is None:
            run.error = {
                "code": "JobFailed",
                "message": f"Branch {config.get('BranchName')} does not exist in {config.get('RepositoryName')}",
            }
            return
        commit = codecommit.commits[commit_id]
        run.external_id = commit_id
        run.summary = commit["message"][:2000]
        execution.revision = {
            "name": action["outputArtifacts"][0]["name"] if action.get("outputArtifacts") else "Source",
            "revisionId": commit_id,
            "revisionSummary": json.dumps({"ProviderType": "CodeCommit", "CommitMessage": commit["message"]}),
            "created": cp_ext.now().timestamp(),
        }
        self._outputs(pipeline, execution, run, action, {"COMMIT": commit_id, "MESSAGE": commit["message"]})

    def _build(
        self,
        backend: Any,
        pipeline: Any,
        execution: Execution,
        run: ActionRun,
        action: dict[str, Any],
        outcome: Outcome | None,
    ) -> None:
        from moto.codebuild.models import codebuild_backends

        project_name = action.get("configuration", {}).get("ProjectName", "")
        codebuild = codebuild_backends[backend.account_id][backend.region_name]
        if project_name not in codebuild.codebuild_projects:
            run.error = {"code": "JobFailed", "message": f"Project {project_name} not found"}
            return
        build = codebuild.start_build(project_name, execution.revision.get("revisionId"))
        failed = outcome if outcome is not None and outcome.fail else None
        log = self._build_log(failed)
        phases: list[dict[str, Any]] = []
        for phase in BUILD_PHASES:
            if failed and phase == failed.phase:
                message = (
                    failed.message
                    or "Error while executing command: docker buildx build. Reason: exit status 1"
                )
                phases.append(
                    {
                        "phaseType": phase,
                        "phaseStatus": "FAILED",
                        "contexts": [{"statusCode": failed.code, "message": message}],
                    }
                )
                phases.append(
                    {
                        "phaseType": "FINALIZING",
                        "phaseStatus": "SUCCEEDED",
                        "contexts": [{"statusCode": "", "message": ""}],
                    }
                )
                phases.append({"phaseType": "COMPLETED"})
                break
            phases.append(
                {
                    "phaseType": phase,
                    "phaseStatus": "SUCCEEDED",
                    "contexts": [{"statusCode": "", "message": ""}],
                }
            )
        group = (
            (codebuild.codebuild_projects[project_name].project_metadata.get("logsConfig") or {}).get(
                "cloudWatchLogs"
            )
            or {}
        ).get("groupName", f"/aws/codebuild/{project_name}")
        stream = build["id"].split(":", 1)[1]
        self._write_log(group, stream, log)
        build.update(
            phases=phases,
            buildStatus="FAILED" if failed else "SUCCEEDED",
            currentPhase="COMPLETED",
            buildComplete=True,
            endTime=cp_ext.now().timestamp(),
            logs={
                "groupName": group,
                "streamName": stream,
                "deepLink": f"https://console.aws.amazon.com/cloudwatch/home?region={backend.region_name}#logsV2:log-groups/log-group/{group}",
                "cloudWatchLogsArn": f"arn:aws:logs:{backend.region_name}:{backend.account_id}:log-group:{group}:log-stream:{stream}",
            },
        )
        codebuild.finished_builds[build["id"]] = build
        run.external_id = build["id"]
        if failed:
            message = phases[-3]["contexts"][0]["message"]
            run.error = {
                "code": "JobFailed",
                "message": f"Build terminated with state: FAILED. Phase: {failed.phase}, Code: {failed.code}, Message: {message}",
            }
            run.summary = run.error["message"]
            return
        run.summary = "Build succeeded"
        container = next(
            (
                v["value"]
                for v in build.get("environment", {}).get("environmentVariables", [])
                if v.get("name") == "CONTAINER_NAME"
            ),
            "app",
        )
        uri = f"{backend.account_id}.dkr.ecr.{backend.region_name}.amazonaws.com/{execution.pipeline_name}:{str(execution.revision.get('revisionId', 'latest'))[:12]}"
        self._outputs(
            pipeline,
            execution,
            run,
            action,
            {"imagedefinitions.json": json.dumps([{"name": container, "imageUri": uri}])},
        )

    @staticmethod
    def _build_log(failed: Outcome | None) -> list[str]:
        lines = [
            "[Container] Running command aws ecr get-login-password --region us-east-1 | docker login --username AWS --password-stdin",
            "Login Succeeded",
            '[Container] Running command docker buildx build --platform "$PLATFORM" --tag "$ECR_REPOSITORY_URI:$IMAGE_TAG" --load .',
            "#1 [internal] load build definition from Dockerfile",
        ]
        if failed:
            return [*lines, *failed.log, f"[Container] Phase complete: {failed.phase} State: FAILED"]
        return [
            *lines,
            "#9 exporting to image",
            "[Container] Phase complete: BUILD State: SUCCEEDED",
            "latest: digest: sha256:4f2a size: 1573",
        ]

    def _write_log(self, group: str, stream: str, lines: list[str]) -> None:
        logs = self._client("logs")
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except logs.exceptions.ResourceNotFoundException:
            logs.create_log_group(logGroupName=group)
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        stamp = int(cp_ext.now().timestamp() * 1000)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": stamp + i, "message": line} for i, line in enumerate(lines)],
        )
