"""Pipeline executions in the sandbox: stages and actions run with scripted outcomes, as AWS would run them.

An execution acts as AWS's services do, with their roles: CodePipeline with the pipeline's role,
CodeBuild with the project's service role, each call authorized by the sandbox's IAM (over HTTP, or in
process for a permission no API call stands for). It reads the source from CodeCommit, writes real
artifact objects (CodePipeline's key layout) to the artifact bucket, records CodeBuild builds with
phases and a CloudWatch log, pushes the image to ECR, deploys it to ECS, and emits the pipeline,
stage and action events in AWS's shape. A call IAM denies fails the action as AWS reports it. What
else fails, and how, is scripted per pipeline action (`Scripts`), hostile buildspecs included;
everything else succeeds. This is development tooling: nothing here ships.
"""

from __future__ import annotations

import datetime
import fnmatch
import hashlib
import io
import json
import random
import shlex
import string
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import BotoCoreError, ClientError

from sandbox import cloudformation_action, codedeploy_ecs, sam_build
from sandbox.moto_ext import cloudformation as cfn_ext
from sandbox.moto_ext import codepipeline as cp_ext
from sandbox.moto_ext import ecs as ecs_ext
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
# Phases whose end CodeBuild logs ("Phase complete: ... State: ...") after running the buildspec's commands.
_LOGGED_PHASES = ("PRE_BUILD", "BUILD", "POST_BUILD")
_DENIED = ("AccessDenied", "AccessDeniedException")

# The managed buildspec's commands (the blueprint's BuildProject), as CodeBuild's log names them.
LOGIN = 'aws ecr get-login-password --region "$AWS_DEFAULT_REGION" | docker login --username AWS --password-stdin "$REGISTRY"'
BUILD = 'docker buildx build --platform "$PLATFORM" --tag "$ECR_REPOSITORY_URI:$IMAGE_TAG" --tag "$ECR_REPOSITORY_URI:latest" --load .'
PUSH = 'docker push "$ECR_REPOSITORY_URI:$IMAGE_TAG"'
IMAGE_DEFINITIONS = """printf '[{"name":"%s","imageUri":"%s"}]' "$CONTAINER_NAME" "$ECR_REPOSITORY_URI:$IMAGE_TAG" > imagedefinitions.json"""
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
# docker push asks the registry for each layer, then uploads it, then puts the manifest; ECR authorizes
# each step as its own IAM action (https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-push-iam.html).
PUSH_ACTIONS = ("ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage")
# The AWS CLI's exit status when the service answered with an error
# (https://docs.aws.amazon.com/cli/latest/userguide/cli-usage-returncodes.html); 252 for bad parameters.
CLI_SERVICE_ERROR = 254
CLI_BAD_PARAMETERS = 252


@dataclass
class Outcome:
    """How one run of an action ends. A build fails in `phase` with `code`, its log ending in `log`.

    A hostile buildspec is played with `push_to` (an ECR repository the build pushes its image to
    instead of its own) and `aws` (AWS calls the buildspec makes with the build role's credentials,
    each `{"service": "s3", "operation": "GetObject", "params": {...}}`, in the BUILD phase); IAM
    decides them, and a call that fails fails the build. In JSON, an outcome that names `push_to` or
    `aws` does not fail of itself unless it says `"fail": true`.
    """

    fail: bool = True
    phase: str = "BUILD"
    code: str = "COMMAND_EXECUTION_ERROR"
    message: str = ""
    log: list[str] = field(default_factory=list)
    push_to: str = ""
    aws: list[dict[str, Any]] = field(default_factory=list)
    # An ECS deploy that fails leaves the service's tasks that failed: one per reason (DescribeTasks'
    # stoppedReason; "task reason | container reason" for both).
    stopped_reasons: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        """The outcome of the /_sandbox/scripts API's JSON; ValueError if `aws` is malformed."""
        calls = data.get("aws", [])
        if not isinstance(calls, list) or not all(_is_call(c) for c in calls):
            raise ValueError('"aws" is a list of {"service": str, "operation": str, "params": {...}}')
        push_to = str(data.get("push_to", ""))
        return cls(
            fail=bool(data.get("fail", not (push_to or calls))),
            phase=str(data.get("phase", "BUILD")),
            code=str(data.get("code", "COMMAND_EXECUTION_ERROR")),
            message=str(data.get("message", "")),
            log=[str(line) for line in data.get("log", [])],
            stopped_reasons=[str(reason) for reason in data.get("stopped_reasons", [])],
            push_to=push_to,
            aws=[
                {"service": c["service"], "operation": c["operation"], "params": c.get("params", {})}
                for c in calls
            ],
        )

    def to_json(self) -> dict[str, Any]:
        """The outcome as the /_sandbox/scripts API takes it."""
        data: dict[str, Any] = {
            "fail": self.fail,
            "phase": self.phase,
            "code": self.code,
            "message": self.message,
            "log": list(self.log),
        }
        if self.push_to:
            data["push_to"] = self.push_to
        if self.aws:
            data["aws"] = [dict(c) for c in self.aws]
        return data


def _is_call(call: Any) -> bool:
    return (
        isinstance(call, dict)
        and isinstance(call.get("service"), str)
        and isinstance(call.get("operation"), str)
        and isinstance(call.get("params", {}), dict)
    )


@dataclass(frozen=True)
class RoleSession:
    """A role's session as a service assumed it: its credentials and the principal AWS names in errors."""

    role_arn: str
    arn: str  # arn:aws:sts::<account>:assumed-role/<role name>/<session name>
    credentials: ReadOnlyCredentials


class Roles(Protocol):
    """How the simulator acts with a role (the sandbox's ServiceRoles)."""

    def session(self, role_arn: str, session_name: str, keep: bool = False) -> RoleSession:
        """A session of the role; with `keep`, the role's first session is reused."""
        ...

    def client(self, service: str, session: RoleSession) -> Any:
        """A client of the sandbox that signs with the session's credentials."""
        ...

    def denial(
        self, session: RoleSession, action: str, resource: str = "*", extra: Mapping[str, str] | None = None
    ) -> str:
        """AWS's AccessDenied message if the session may not do `action` on `resource`, else ""."""
        ...


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


def _succeeded(phase: str) -> dict[str, Any]:
    return {"phaseType": phase, "phaseStatus": "SUCCEEDED", "contexts": [{"statusCode": "", "message": ""}]}


def _denied(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code", "")) in _DENIED


def _error_parts(error: ClientError) -> tuple[str, str, int, str, str]:
    """(code, message, HTTP status, request id, host id) of an AWS error answer."""
    info, meta = error.response.get("Error", {}), error.response.get("ResponseMetadata", {})
    return (
        str(info.get("Code", "")),
        str(info.get("Message", "")),
        int(meta.get("HTTPStatusCode", 400)),
        str(meta.get("RequestId", "")),
        str(meta.get("HostId", "")),
    )


def sdk_message(error: ClientError, service: str) -> str:
    """An AWS SDK for Java exception's text, as CodePipeline quotes a failed call of its job workers.

    E.g. "Error calling startBuild: User: ... is not authorized to perform: codebuild:StartBuild on
    resource: ... (Service: AWSCodeBuild; Status Code: 400; Error Code: AccessDeniedException; Request
    ID: ...; Proxy: null)" (https://github.com/awslabs/cdk-eks-blueprints/issues/483).
    """
    code, message, status, request_id, host_id = _error_parts(error)
    if service == "Amazon S3":
        return (
            f"{message} (Service: {service}; Status Code: {status}; Error Code: {code}; "
            f"Request ID: {request_id}; S3 Extended Request ID: {host_id})"
        )
    return f"{message} (Service: {service}; Status Code: {status}; Error Code: {code}; Request ID: {request_id}; Proxy: null)"


def artifact_denied(error: ClientError) -> str:
    """CodePipeline's error when its role may not read or write an artifact object.

    https://github.com/awslabs/aws-refarch-cross-account-pipeline/issues/12: "The provided role does not
    have permissions to perform this action. Underlying error: Access Denied (Service: Amazon S3; ...)".
    """
    return f"The provided role does not have permissions to perform this action. Underlying error: {sdk_message(error, 'Amazon S3')}"


def source_denied(repository: str, message: str) -> str:
    """CodePipeline's error when its role may not read the CodeCommit repository, with IAM's message.

    The wording of https://stackoverflow.com/questions/57198212 (a CodeCommit source action failing on
    codecommit:GetBranch as assumed-role/<pipeline role>/<epoch milliseconds>).
    """
    return (
        f"The service role or action role doesn\u2019t have the permissions required to access the AWS CodeCommit "
        f"repository named {repository}. Update the IAM role permissions, and then try again. Error: {message}"
    )


def s3_client_error(error: ClientError) -> str:
    """How CodeBuild reports an S3 error of its own (download of the source, upload of artifacts).

    "AccessDenied: Access Denied\n\tstatus code: 403, request id: ..., host id: ..." followed by what
    it was reading (https://github.com/awslabs/aws-refarch-cross-account-pipeline/issues/5).
    """
    code, message, status, request_id, host_id = _error_parts(error)
    return f"{code}: {message}\n\tstatus code: {status}, request id: {request_id}, host id: {host_id}"


def cli_error(error: ClientError) -> str:
    """How the AWS CLI prints a service's error: "An error occurred (<code>) when calling the <operation>
    operation: <message>" (botocore's ClientError wording, without the retry count the sandbox's single
    attempt would add)."""
    code, message = _error_parts(error)[:2]
    return f"An error occurred ({code}) when calling the {error.operation_name} operation: {message}"


def cli_command(service: str, operation: str, params: Mapping[str, Any]) -> str:
    """The AWS CLI command line for a call (`aws s3api get-object --bucket b --key k`)."""
    from botocore import xform_name

    options = []
    for name, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        options.append(f"--{xform_name(name, '-')} {shlex.quote(str(text))}")
    command = "s3api" if service == "s3" else service
    return " ".join(["aws", command, xform_name(operation, "-"), *options])


@dataclass(frozen=True)
class _Image:
    """The image a build makes: where it is pushed and under which tag."""

    registry: str
    repository: str  # the ECR repository it is pushed to
    own: str  # the project's ECR_REPOSITORY, where the buildspec looks for an existing tag
    tag: str

    @property
    def uri(self) -> str:
        return f"{self.registry}/{self.repository}"


@dataclass
class _Build:
    """One build as CodeBuild runs it: its session, image, log so far and, once a phase failed, why."""

    session: RoleSession
    image: _Image | None
    outcome: Outcome | None
    inputs: list[dict[str, Any]]
    # The files the buildspec's `artifacts` section names (the managed buildspecs' own; a buildspec
    # in the repository is not read here, and makes imagedefinitions.json).
    files: tuple[str, ...] = ("imagedefinitions.json",)
    # ecs-blue-green's taskdef.json: the service's task definition, its image left to CodeDeployToECS
    task_definition: dict[str, Any] | None = None
    log: list[str] = field(default_factory=list)
    # The lambda blueprint's managed build (its artifacts name packaged.yaml): the repository and
    # commit whose SAM template `sam build` reads, and the template `sam package` wrote.
    sam_source: tuple[str, str, str, str] = ("", "", "", "")  # account, region, repository, commit
    packaged: str = ""
    env: dict[str, str] = field(default_factory=dict)
    phase: str = ""  # the phase that failed
    code: str = ""
    message: str = ""

    def command(self, text: str) -> None:
        self.log.append(f"[Container] Running command {text}")

    def fail(self, phase: str, code: str, message: str) -> None:
        self.phase, self.code, self.message = phase, code, message

    def command_failed(self, phase: str, command: str, status: int) -> None:
        """A buildspec command exited non-zero: the phase fails as CodeBuild reports it."""
        self.log.append(f"[Container] Command did not exit successfully {command} exit status {status}")
        self.fail(
            phase,
            "COMMAND_EXECUTION_ERROR",
            f"Error while executing command: {command}. Reason: exit status {status}",
        )


class Simulator:
    """Advances executions on the sandbox bus's thread, one stage run at a time."""

    def __init__(
        self, call_soon: Callable[[Callable[[], None], str], None], client: Callable[[str], Any], roles: Roles
    ) -> None:
        self.scripts = Scripts()
        self._call_soon = call_soon
        self._client = client
        self._roles = roles
        self._rand = random.Random(7)
        self._s3: Any = None  # the sandbox's own client, for what the simulator checks of its state

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

    def _pipeline_session(self, pipeline: Any, action: dict[str, Any]) -> RoleSession | None:
        """The session CodePipeline acts with for the action: the action's role, else the pipeline's.

        CodePipeline names its session by the epoch milliseconds of the assumption and keeps it.
        """
        role = action.get("roleArn") or pipeline.pipeline.get("roleArn")
        if not role:
            return None
        return self._roles.session(str(role), str(int(time.time() * 1000)), keep=True)

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
        session = self._pipeline_session(pipeline, action)
        if missing:
            outcome = Outcome(
                phase="DOWNLOAD_SOURCE",
                code="CLIENT_ERROR",
                message=f"NoSuchKey: input artifact {missing[0]} not found",
            )
        if session is None:
            run.error = {"code": "JobFailed", "message": "The pipeline has no service role to act with"}
        elif provider == "CodeBuild":
            self._build(backend, pipeline, execution, run, action, outcome, session)
        elif provider == "CodeDeployToECS" and not missing:
            codedeploy_ecs.Deployer(self._roles, self._client, backend.account_id, backend.region_name).run(
                run, action, outcome, session
            )
        elif provider == "CloudFormation" and not missing:
            self._cloudformation(backend, run, action, outcome, session)
        elif outcome is not None and outcome.fail:
            if provider == "ECS" and outcome.stopped_reasons:
                config = action.get("configuration", {})
                ecs_ext.stop_failed_tasks(
                    backend.account_id,
                    backend.region_name,
                    str(config.get("ClusterName", "")),
                    str(config.get("ServiceName", "")),
                    outcome.stopped_reasons,
                )
            run.error = {
                "code": outcome.code if outcome.code != "COMMAND_EXECUTION_ERROR" else "JobFailed",
                "message": outcome.message or f"{provider} action failed",
            }
        elif provider == "CodeCommit":
            self._source(backend, pipeline, execution, run, action, session)
        elif provider == "ECS":
            self._deploy(execution, run, action, session)
        else:
            run.summary = f"{provider} {action['name']} succeeded"
            files = {"result.json": json.dumps({"action": action["name"]})}
            self._publish(pipeline, execution, run, action, files, session)
        if run.error:
            run.summary = run.summary or run.error["message"]
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
        if self._s3 is None:
            self._s3 = self._client("s3")
        s3 = self._s3
        try:
            s3.head_object(Bucket=location["bucket"], Key=location["key"])
        except s3.exceptions.ClientError:
            return False
        return True

    def _put_outputs(
        self, pipeline: Any, execution: Execution, action: dict[str, Any], files: dict[str, str], s3: Any
    ) -> tuple[list[tuple[str, dict[str, str]]], ClientError | None]:
        """Write the action's output artifacts with `s3`: (artifact name, location) of each, and the error
        that stopped it, if one did. They are the execution's only once the action succeeds."""
        store = pipeline.pipeline.get("artifactStore", {})
        bucket = store.get("location", "")
        written: list[tuple[str, dict[str, str]]] = []
        for artifact in action.get("outputArtifacts", []):
            suffix = "".join(self._rand.choices(string.ascii_letters + string.digits, k=7))
            key = f"{execution.pipeline_name[:20]}/{artifact['name'][:10]}/{suffix}"
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=_zip(files))
            except ClientError as error:
                return written, error
            written.append((str(artifact["name"]), {"bucket": bucket, "key": key}))
        return written, None

    @staticmethod
    def _register(execution: Execution, run: ActionRun, written: list[tuple[str, dict[str, str]]]) -> None:
        for name, location in written:
            execution.artifacts[name] = location
            run.output_artifacts.append({"name": name, "s3location": location})

    def _publish(
        self,
        pipeline: Any,
        execution: Execution,
        run: ActionRun,
        action: dict[str, Any],
        files: dict[str, str],
        session: RoleSession,
    ) -> None:
        """CodePipeline writes the action's output artifacts as its role."""
        written, error = self._put_outputs(
            pipeline, execution, action, files, self._roles.client("s3", session)
        )
        if error is None:
            self._register(execution, run, written)
        elif _denied(error):
            run.error = {"code": "JobFailed", "message": artifact_denied(error)}
        else:
            run.error = {"code": "JobFailed", "message": sdk_message(error, "Amazon S3")}

    # -- Source: CodeCommit -------------------------------------------------------------------------------
    def _source(
        self,
        backend: Any,
        pipeline: Any,
        execution: Execution,
        run: ActionRun,
        action: dict[str, Any],
        session: RoleSession,
    ) -> None:
        """The branch's head as a CODE_ZIP artifact, read as the pipeline's role.

        GetBranch and GetCommit are API calls; the archive CodePipeline has CodeCommit make for it
        needs codecommit:UploadArchive and GetUploadArchiveStatus, permissions no API call stands for
        (https://docs.aws.amazon.com/codecommit/latest/userguide/auth-and-access-control-permissions-reference.html).
        """
        config = action.get("configuration", {})
        repository, branch = str(config.get("RepositoryName", "")), str(config.get("BranchName", ""))
        codecommit = self._roles.client("codecommit", session)
        try:
            commit_id = codecommit.get_branch(repositoryName=repository, branchName=branch)["branch"][
                "commitId"
            ]
            commit = codecommit.get_commit(repositoryName=repository, commitId=commit_id)["commit"]
        except ClientError as error:
            code, message = _error_parts(error)[:2]
            if _denied(error):
                message = source_denied(repository, message)
            elif code in ("BranchDoesNotExistException", "RepositoryDoesNotExistException"):
                message = f"Branch {branch} does not exist in {repository}"
            run.error = {"code": "JobFailed", "message": message}
            return
        arn = f"arn:aws:codecommit:{backend.region_name}:{backend.account_id}:{repository}"
        for permission in ("codecommit:UploadArchive", "codecommit:GetUploadArchiveStatus"):
            denial = self._roles.denial(session, permission, arn)
            if denial:
                run.error = {"code": "JobFailed", "message": source_denied(repository, denial)}
                return
        message = str(commit.get("message", ""))
        run.external_id = commit_id
        run.summary = message[:2000]
        execution.revision = {
            "name": action["outputArtifacts"][0]["name"] if action.get("outputArtifacts") else "Source",
            "revisionId": commit_id,
            "revisionSummary": json.dumps({"ProviderType": "CodeCommit", "CommitMessage": message}),
            "created": cp_ext.now().timestamp(),
        }
        self._publish(pipeline, execution, run, action, {"COMMIT": commit_id, "MESSAGE": message}, session)

    # -- Build: CodeBuild ---------------------------------------------------------------------------------
    def _build(
        self,
        backend: Any,
        pipeline: Any,
        execution: Execution,
        run: ActionRun,
        action: dict[str, Any],
        outcome: Outcome | None,
        session: RoleSession,
    ) -> None:
        """CodePipeline starts the build as its role; CodeBuild runs it as the project's service role."""
        from moto.codebuild.models import codebuild_backends

        project_name = action.get("configuration", {}).get("ProjectName", "")
        codebuild = codebuild_backends[backend.account_id][backend.region_name]
        if project_name not in codebuild.codebuild_projects:
            run.error = {"code": "JobFailed", "message": f"Project {project_name} not found"}
            return
        project = codebuild.codebuild_projects[project_name]
        revision = execution.revision.get("revisionId")
        pipeline_codebuild = self._roles.client("codebuild", session)
        try:
            started = pipeline_codebuild.start_build(
                projectName=project_name, **({"sourceVersion": str(revision)} if revision else {})
            )["build"]
        except ClientError as error:
            run.error = {
                "code": "JobFailed",
                "message": f"Error calling startBuild: {sdk_message(error, 'AWSCodeBuild')}",
            }
            return
        build_id = str(started["id"])
        build = next(b for b in codebuild.build_metadata_history[project_name] if b["id"] == build_id)
        run.external_id = build_id
        metadata = project.project_metadata
        env = {
            str(v.get("name")): str(v.get("value"))
            for v in (metadata.get("environment") or {}).get("environmentVariables", [])
        }
        env.update(_action_variables(action, execution))
        # CodeBuild assumes the service role once per build, named after the build's id.
        role = self._roles.session(str(project.service_role), f"AWSCodeBuild-{build_id.split(':', 1)[1]}")
        job = _Build(
            role,
            self._image(env, revision, build_id, outcome),
            outcome,
            run.input_artifacts,
            _artifact_files(str((metadata.get("source") or {}).get("buildspec") or "")),
            env=dict(env),
        )
        if "packaged.yaml" in job.files:
            source = pipeline.pipeline["stages"][0]["actions"][0].get("configuration", {})
            job.sam_source = (
                backend.account_id,
                backend.region_name,
                str(source.get("RepositoryName", "")),
                str(revision or ""),
            )
        phases, written = self._run_phases(pipeline, execution, action, job, env)
        group = ((metadata.get("logsConfig") or {}).get("cloudWatchLogs") or {}).get(
            "groupName", f"/aws/codebuild/{project_name}"
        )
        stream = build_id.split(":", 1)[1]
        # CodeBuild writes the log as the service role: a role that may not writes none.
        self._write_log(group, stream, job.log, self._roles.client("logs", role))
        build.update(
            phases=phases,
            buildStatus="FAILED" if job.phase else "SUCCEEDED",
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
        codebuild.finished_builds[build_id] = build
        try:  # CodePipeline follows the build with BatchGetBuilds, as its role
            pipeline_codebuild.batch_get_builds(ids=[build_id])
        except ClientError as error:
            run.error = {
                "code": "JobFailed",
                "message": f"Error calling batchGetBuilds: {sdk_message(error, 'AWSCodeBuild')}",
            }
            return
        if job.phase:
            run.error = {
                "code": "JobFailed",
                "message": f"Build terminated with state: FAILED. Phase: {job.phase}, Code: {job.code}, Message: {job.message}",
            }
            return
        run.summary = "Build succeeded"
        self._register(execution, run, written)

    def _run_phases(
        self, pipeline: Any, execution: Execution, action: dict[str, Any], job: _Build, env: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, str]]]]:
        """The build's phases, each run until one fails; BatchGetBuilds' phases and the artifacts written."""
        scripted = job.outcome if job.outcome is not None and job.outcome.fail else None
        phases: list[dict[str, Any]] = []
        written: list[tuple[str, dict[str, str]]] = []
        for phase in BUILD_PHASES[:-1]:
            self._build_phase(
                phase, job, scripted if scripted is not None and scripted.phase == phase else None
            )
            if phase == "UPLOAD_ARTIFACTS" and not job.phase:
                s3 = self._roles.client("s3", job.session)
                written, error = self._put_outputs(
                    pipeline, execution, action, self._build_outputs(job, env), s3
                )
                if error is not None:
                    job.log.append(s3_client_error(error))
                    job.fail("UPLOAD_ARTIFACTS", "CLIENT_ERROR", s3_client_error(error))
            if job.phase:
                job.log.append(f"[Container] Phase complete: {phase} State: FAILED")
                context = {"statusCode": job.code, "message": job.message}
                phases.append({"phaseType": phase, "phaseStatus": "FAILED", "contexts": [context]})
                if phase != "FINALIZING":
                    phases.append(_succeeded("FINALIZING"))
                break
            if phase in _LOGGED_PHASES:
                job.log.append(f"[Container] Phase complete: {phase} State: SUCCEEDED")
            phases.append(_succeeded(phase))
        phases.append({"phaseType": "COMPLETED"})
        return phases, written

    @staticmethod
    def _image(
        env: Mapping[str, str], revision: Any, build_id: str, outcome: Outcome | None
    ) -> _Image | None:
        """The image the managed buildspec builds: $ECR_REPOSITORY_URI:<12 of the commit>-<8 of the build id>."""
        uri = env.get("ECR_REPOSITORY_URI", "")
        if not uri or "/" not in uri:
            return None
        registry, own = uri.split("/", 1)
        target = outcome.push_to if outcome is not None and outcome.push_to else own
        tag = f"{str(revision or 'latest')[:12]}-{build_id.split(':', 1)[-1][:8]}"
        return _Image(registry, target, own, tag)

    def _build_outputs(self, job: _Build, env: Mapping[str, str]) -> dict[str, str]:
        """The files the buildspec writes, as the managed buildspecs write them."""
        container = env.get("CONTAINER_NAME", "app")
        uri = f"{job.image.uri}:{job.image.tag}" if job.image else ""
        known = {
            "imagedefinitions.json": lambda: json.dumps([{"name": container, "imageUri": uri}]),
            # The image detail file CodePipeline's ECR source action writes, and CodeDeployToECS reads.
            "imageDetail.json": lambda: json.dumps({"ImageURI": uri}),
            # ecs-blue-green's: the service's task definition with the image placeholder, and the AppSpec
            # with the task definition's (https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-ECSbluegreen.html).
            "taskdef.json": lambda: json.dumps(job.task_definition or {}),
            "appspec.yaml": lambda: codedeploy_ecs.appspec(container, env.get("CONTAINER_PORT", "80")),
            "packaged.yaml": lambda: job.packaged,
        }
        return {name: known[name]() if name in known else f"{name} of the build\n" for name in job.files}

    def _build_phase(self, phase: str, job: _Build, scripted: Outcome | None) -> None:
        """Run one phase of the build; `scripted` fails it as the script says, after what ran before."""
        if phase == "DOWNLOAD_SOURCE":
            self._download_source(job)
        elif phase == "PRE_BUILD" and job.image is not None:
            self._ecr_login(job)
        elif phase == "BUILD":
            self._docker_build(job, scripted)
            return
        elif phase == "POST_BUILD" and job.image is not None:
            self._push(job)
            if "taskdef.json" in job.files and not job.phase:
                self._task_definition_template(job)
        if scripted is not None and not job.phase:
            job.log += scripted.log
            job.fail(
                phase,
                scripted.code,
                scripted.message
                or "Error while executing command: docker buildx build. Reason: exit status 1",
            )

    def _task_definition_template(self, job: _Build) -> None:
        """The managed buildspec's two ECS reads (as the build role): the service's task definition,
        kept as taskdef.json with `<IMAGE1_NAME>` where the container's image goes."""
        cluster, service = job.env.get("ECS_CLUSTER", ""), job.env.get("ECS_SERVICE", "")
        ecs = self._roles.client("ecs", job.session)
        command = cli_command("ecs", "DescribeServices", {"cluster": cluster, "services": [service]})
        try:
            job.command(command)
            found = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
            arn = str(found[0]["taskDefinition"]) if found else "None"
            command = cli_command("ecs", "DescribeTaskDefinition", {"taskDefinition": arn})
            job.command(command)
            current = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        except ClientError as error:
            job.log.append(cli_error(error))
            job.command_failed("POST_BUILD", command, CLI_SERVICE_ERROR)
            return
        template = {
            k: v
            for k, v in current.items()
            if k in ecs_ext.TASK_DEFINITION_INPUTS and v not in (None, "", [], {})
        }
        container = job.env.get("CONTAINER_NAME", "")
        template["containerDefinitions"] = [
            {**c, "image": codedeploy_ecs.IMAGE_PLACEHOLDER} if c.get("name") == container else dict(c)
            for c in current.get("containerDefinitions", [])
        ]
        job.task_definition = template

    def _download_source(self, job: _Build) -> None:
        s3 = self._roles.client("s3", job.session)
        for index, artifact in enumerate(job.inputs):
            location = artifact.get("s3location") or {}
            if not location:
                continue
            try:
                s3.get_object(Bucket=location["bucket"], Key=location["key"])["Body"].read()
            except ClientError as error:
                which = "primary source" if index == 0 else f"secondary source {artifact.get('name', '')}"
                where = f"arn:aws:s3:::{location['bucket']}/{location['key']}"
                job.log.append("[Container] Waiting for DOWNLOAD_SOURCE")
                job.log += s3_client_error(error).split("\n")
                job.fail(
                    "DOWNLOAD_SOURCE",
                    "CLIENT_ERROR",
                    f"{s3_client_error(error)} for {which} and source version {where}",
                )
                return

    def _ecr_login(self, job: _Build) -> None:
        job.command(LOGIN)
        try:
            self._roles.client("ecr", job.session).get_authorization_token()
        except ClientError as error:
            # get-login-password fails, so docker login reads an empty password from its pipe.
            job.log += [cli_error(error), "Error: Cannot perform an interactive login from a non TTY device"]
            job.command_failed("PRE_BUILD", LOGIN, 1)
            return
        job.log.append("Login Succeeded")

    def _docker_build(self, job: _Build, scripted: Outcome | None) -> None:
        """The managed buildspec's BUILD: build the image; then what a hostile buildspec adds (`aws`
        calls); then the scripted failure, if any."""
        if job.image is not None:
            job.command(BUILD)
            job.log.append("#1 [internal] load build definition from Dockerfile")
        if job.sam_source[2] and not self._sam_build(job, job.env):
            return
        if job.outcome is not None and not self._aws_calls(job, job.outcome.aws):
            return
        if scripted is not None:
            job.log += scripted.log
            job.fail(
                "BUILD",
                scripted.code,
                scripted.message
                or "Error while executing command: docker buildx build. Reason: exit status 1",
            )
            return
        if job.image is not None:
            job.log.append("#9 exporting to image")

    def _sam_build(self, job: _Build, env: Mapping[str, str]) -> bool:
        """The lambda blueprint's managed BUILD: sam build of the commit's SAM template, then sam package
        to the artifact bucket under $ARTIFACT_PREFIX/sam/$PIPELINE_EXECUTION_ID as the build role; False
        once a command failed."""
        account, region, repository, commit = job.sam_source
        path = env.get("SAM_TEMPLATE", "template.yaml")
        build = f'sam build --template-file "{path}"'
        job.command(build)
        text = sam_build.repository_file(account, region, repository, commit, path)
        if text is None:
            job.log.append(f"Error: Template file not found at {path}")
            job.command_failed("BUILD", build, 1)
            return False
        bucket, prefix = env.get("ARTIFACT_BUCKET", ""), env.get("ARTIFACT_PREFIX", "")
        package = f'sam package --s3-bucket "{bucket}" --s3-prefix "{prefix}/sam/{env.get("PIPELINE_EXECUTION_ID", "")}"'
        s3 = self._roles.client("s3", job.session)

        def put(key: str, body: bytes) -> None:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            job.log.append(f"Uploading to {key}  {len(body)} / {len(body)}  (100.00%)")

        try:
            job.log.append("Build Succeeded")
            job.command(package)
            job.packaged, _ = sam_build.package(
                text.decode(errors="replace"),
                put,
                bucket,
                f"{prefix}/sam/{env.get('PIPELINE_EXECUTION_ID', '')}",
            )
        except sam_build.PackageError as error:
            job.log.append(str(error))
            job.command_failed("BUILD", package, 1)
            return False
        except ClientError as error:
            # sam prints the SDK's error for a refused upload
            job.log.append(
                f"Error: Unable to upload artifact referenced by CodeUri: {s3_client_error(error)}"
            )
            job.command_failed("BUILD", package, 1)
            return False
        return True

    def _aws_calls(self, job: _Build, calls: Sequence[Mapping[str, Any]]) -> bool:
        """AWS CLI commands of the buildspec, with the build role's credentials; False once one failed.

        Each prints what the CLI prints: the answer as JSON, or the service's error (`cli_error`).
        """
        from botocore import xform_name

        for call in calls:
            service, operation = str(call["service"]), str(call["operation"])
            params = dict(call.get("params") or {})
            command = cli_command(service, operation, params)
            job.command(command)
            try:
                client = self._roles.client(service, job.session)
                answer = getattr(client, xform_name(operation))(**params)
            except ClientError as error:
                job.log.append(cli_error(error))
                job.command_failed("BUILD", command, CLI_SERVICE_ERROR)
                return False
            except (BotoCoreError, AttributeError, TypeError) as error:
                job.log.append(str(error))
                job.command_failed("BUILD", command, CLI_BAD_PARAMETERS)
                return False
            shown = {k: v for k, v in answer.items() if k not in ("ResponseMetadata", "Body", "Payload")}
            if shown:
                job.log += json.dumps(shown, indent=4, default=str).splitlines()
        return True

    def _push(self, job: _Build) -> None:
        """docker push of the build's own tag, then of latest (two commands of the buildspec).

        The registry API is no API call the sandbox serves: each step's IAM action is authorized in
        process, with the repository's tags in the context, and the image is recorded in ECR. docker
        prints a refusal as "denied: <IAM's message>"; a HEAD for a layer that is refused reads as
        "not there", so a push to a repository the role may not touch is refused at
        ecr:InitiateLayerUpload (https://github.com/aws-samples/aws-modern-application-workshop/issues/95).
        """
        image = job.image
        assert image is not None
        arn = f"arn:aws:ecr:{image.registry.split('.')[3]}:{image.registry.split('.')[0]}:repository/{image.repository}"
        for tag in (image.tag, "latest"):
            command = (
                PUSH
                if image.repository == image.own and tag == image.tag
                else f'docker push "{image.uri}:{tag}"'
            )
            job.command(command)
            layer = hashlib.sha256(f"{image.repository}:{image.tag}".encode()).hexdigest()[:12]
            job.log += [f"The push refers to repository [{image.uri}]", f"{layer}: Preparing"]
            self._roles.denial(job.session, "ecr:BatchCheckLayerAvailability", arn)
            for permission in PUSH_ACTIONS:
                denial = self._roles.denial(job.session, permission, arn)
                if denial:
                    job.log.append(f"denied: {denial}")
                    job.command_failed("POST_BUILD", command, 1)
                    return
            job.log.append(f"{layer}: Pushed")
            line = self._put_image(image, tag)
            job.log.append(line)
            if line.startswith(("tag invalid", "name unknown")):
                job.command_failed("POST_BUILD", command, 1)
                return
        job.command(IMAGE_DEFINITIONS)

    @staticmethod
    def _put_image(image: _Image, tag: str) -> str:
        """Record the pushed image in moto's ECR under `tag`; docker's last line for it.

        ECR's tag immutability holds (the blueprint's repository keeps every tag but latest): a tag that
        exists is "tag invalid" (https://github.com/aws/containers-roadmap/issues/862).
        """
        from moto.ecr.exceptions import ImageAlreadyExistsException
        from moto.ecr.models import ecr_backends

        account, region = image.registry.split(".")[0], image.registry.split(".")[3]
        backend = ecr_backends[account][region]
        repository = backend.repositories.get(image.repository)
        if repository is None:
            return f"name unknown: The repository with name '{image.repository}' does not exist in the registry with id '{account}'"
        config = hashlib.sha256(f"{image.repository}@{image.tag}".encode()).hexdigest()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_TYPE,
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": 1573,
                    "digest": f"sha256:{config}",
                },
                "layers": [],
            },
            sort_keys=True,
        )
        digest = f"sha256:{hashlib.sha256(manifest.encode()).hexdigest()}"
        try:
            pushed = backend.put_image(image.repository, manifest, tag, MANIFEST_TYPE, digest)
        except ImageAlreadyExistsException:
            excluded = any(
                fnmatch.fnmatchcase(tag, str(f.get("filter", "")))
                for f in repository.image_tag_mutability_exclusion_filters or []
            )
            if repository.is_tag_immutable() and not excluded:
                return (
                    f"tag invalid: The image tag '{tag}' already exists in the '{image.repository}' repository "
                    "and cannot be overwritten because the repository is immutable."
                )
            return f"{tag}: digest: {digest} size: 1573"  # the same image: nothing to push
        return f"{tag}: digest: {pushed.get_image_digest()} size: 1573"

    def _write_log(self, group: str, stream: str, lines: list[str], logs: Any) -> None:
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except ClientError as error:
            if _error_parts(error)[0] != "ResourceNotFoundException":
                return
            try:  # CodeBuild creates a missing group, if the role may
                logs.create_log_group(logGroupName=group)
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
            except ClientError:
                return
        stamp = int(cp_ext.now().timestamp() * 1000)
        try:
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                # CloudWatch Logs takes no empty event: a blank line of the build is a space.
                logEvents=[{"timestamp": stamp + i, "message": line or " "} for i, line in enumerate(lines)],
            )
        except ClientError:
            return

    # -- Deploy: ECS ----------------------------------------------------------------------------------------
    def _deploy(
        self, execution: Execution, run: ActionRun, action: dict[str, Any], session: RoleSession
    ) -> None:
        """The ECS standard deploy action, as the pipeline's role: a revision of the service's task
        definition with the images of imagedefinitions.json, then the service updated to it.

        Its errors: "The AWS ECS container <name> does not exist" for a container the task definition
        lacks (https://github.com/aws-samples/aws-modern-application-workshop/issues/153), an unreadable
        image file as "Exception while trying to read the image artifact file from the artifact: <name>."
        (https://stackoverflow.com/questions/62022787), a refused call in the SDK's words.
        """
        config = action.get("configuration", {})
        cluster, service = str(config.get("ClusterName", "")), str(config.get("ServiceName", ""))
        ecs = self._roles.client("ecs", session)
        step = "describeServices"
        try:
            found = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
            live = [s for s in found if s.get("status") != "INACTIVE"]
            if not live:
                run.error = {
                    "code": "JobFailed",
                    "message": f"The AWS ECS service {service} does not exist in the cluster {cluster}",
                }
                return
            definitions = self._image_definitions(run, action, session)
            if definitions is None:
                return
            step = "describeTaskDefinition"
            current = ecs.describe_task_definition(taskDefinition=live[0]["taskDefinition"])["taskDefinition"]
            containers = [dict(c) for c in current.get("containerDefinitions", [])]
            names = {c.get("name") for c in containers}
            for entry in definitions:
                if entry["name"] not in names:
                    run.error = {
                        "code": "JobFailed",
                        "message": f"The AWS ECS container {entry['name']} does not exist",
                    }
                    return
                for container in containers:
                    if container.get("name") == entry["name"]:
                        container["image"] = entry["imageUri"]
            step = "registerTaskDefinition"
            kept = {
                k: v
                for k, v in current.items()
                if k in ecs_ext.TASK_DEFINITION_INPUTS and v not in (None, "", [], {})
            }
            registered = ecs.register_task_definition(containerDefinitions=containers, **kept)[
                "taskDefinition"
            ]
            step = "updateService"
            ecs.update_service(
                cluster=cluster, service=service, taskDefinition=registered["taskDefinitionArn"]
            )
        except ClientError as error:
            run.error = {
                "code": "JobFailed",
                "message": f"Error calling {step}: {sdk_message(error, 'AmazonECS')}",
            }
            return
        run.summary = f"ECS {action['name']} succeeded"

    # -- Deploy: CloudFormation ----------------------------------------------------------------------------
    def _cloudformation(
        self,
        backend: Any,
        run: ActionRun,
        action: dict[str, Any],
        outcome: Outcome | None,
        session: RoleSession,
    ) -> None:
        """The CloudFormation action (sandbox.cloudformation_action) as the pipeline's role. A scripted
        failure of an execute makes the stack's next operation fail on a resource, as a handler's error
        (the stack rolls back), with the outcome's message."""
        config = action.get("configuration", {})
        if outcome is not None and outcome.fail and config.get("ActionMode") == "CHANGE_SET_EXECUTE":
            cfn_ext.scripted_failures[str(config.get("StackName", ""))] = (
                outcome.message or "Resource creation cancelled"
            )
        try:
            run.summary = cloudformation_action.run(
                action,
                run.input_artifacts,
                lambda service: self._roles.client(service, session),
                lambda permission, resource: self._roles.denial(session, permission, resource),
                sdk_message,
                backend.region_name,
            )
        except cloudformation_action.ActionFailed as failed:
            run.error = {"code": "JobFailed", "message": str(failed)}
        finally:
            cfn_ext.scripted_failures.pop(str(config.get("StackName", "")), None)

    def _image_definitions(
        self, run: ActionRun, action: dict[str, Any], session: RoleSession
    ) -> list[dict[str, str]] | None:
        """imagedefinitions.json of the input artifact, read as the pipeline's role (None: the action failed)."""
        name = str(run.input_artifacts[0]["name"]) if run.input_artifacts else ""
        location = run.input_artifacts[0].get("s3location") or {} if run.input_artifacts else {}
        file_name = str(action.get("configuration", {}).get("FileName") or "imagedefinitions.json")
        unreadable = f"Exception while trying to read the image artifact file from the artifact: {name}."
        try:
            body = (
                self._roles.client("s3", session)
                .get_object(Bucket=location["bucket"], Key=location["key"])["Body"]
                .read()
            )
        except ClientError as error:
            run.error = {
                "code": "JobFailed",
                "message": artifact_denied(error) if _denied(error) else sdk_message(error, "Amazon S3"),
            }
            return None
        except KeyError:
            run.error = {"code": "JobFailed", "message": unreadable}
            return None
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                entries = json.loads(archive.read(file_name))
        except (KeyError, ValueError, zipfile.BadZipFile):
            run.error = {"code": "JobFailed", "message": unreadable}
            return None
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("imageUri"), str)
            for e in entries
        ):
            run.error = {"code": "JobFailed", "message": unreadable}
            return None
        return [{"name": e["name"], "imageUri": e["imageUri"]} for e in entries]


def _action_variables(action: Mapping[str, Any], execution: Execution) -> dict[str, str]:
    """The CodeBuild action's EnvironmentVariables (a JSON list), with CodePipeline's execution variable
    resolved (https://docs.aws.amazon.com/codepipeline/latest/userguide/reference-variables.html)."""
    raw = (action.get("configuration") or {}).get("EnvironmentVariables")
    try:
        entries = json.loads(raw) if raw else []
    except ValueError:
        return {}
    resolved = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("name"):
            value = str(entry.get("value", ""))
            resolved[str(entry["name"])] = value.replace(
                "#{codepipeline.PipelineExecutionId}", execution.pipeline_execution_id
            )
    return resolved


def _artifact_files(buildspec: str) -> tuple[str, ...]:
    """The files an inline buildspec's `artifacts.files` names; imagedefinitions.json for a path."""

    default = ("imagedefinitions.json",)
    if "\n" not in buildspec:  # a path in the repository, or nothing
        return default
    try:
        files = (yaml.safe_load(buildspec).get("artifacts") or {}).get("files") or []
    except (yaml.YAMLError, AttributeError):
        return default
    return tuple(str(f) for f in files) or default
