"""The blueprint's roles at work: CodePipeline, CodeBuild and the change-detection rule act with them, and
IAM allows what a pipeline needs and denies what a build or deploy may not touch, as on AWS."""

from __future__ import annotations

from typing import Any

import pytest

from cli.main import main as cli_main
from pipewarden.naming import pipeline_name
from sandbox.executions import Outcome
from tests.conftest import ACCOUNT, REGION, World

pytestmark = pytest.mark.integration

OWNER = "pipewarden:repository"
# A transient failure after the push: the controller retries the Build stage, which builds the commit again.
UPLOAD_RESET = Outcome(
    phase="UPLOAD_ARTIFACTS",
    code="CLIENT_ERROR",
    message="RequestError: send request failed caused by: Put https://s3.amazonaws.com: read: connection reset by peer",
)


class Pipeline:
    """An enrolled repository's pipeline and what it deploys to, as a test reads them."""

    def __init__(self, world: World, base: str = "shop") -> None:
        self.world, self.sandbox = world, world.sandbox
        self.service = world.name(f"web-{base}")
        world.service(service=f"web-{base}", owner=world.name(base))
        self.repository, arn = world.repository(base)
        world.tag(arn, world.enroll_tags(service=f"web-{base}"))
        self.name = pipeline_name(self.repository)
        declaration = self.sandbox.client("codepipeline").get_pipeline(name=self.name)["pipeline"]
        self.role = str(declaration["roleArn"])
        project = declaration["stages"][1]["actions"][0]["configuration"]["ProjectName"]
        self.project = self.sandbox.client("codebuild").batch_get_projects(names=[project])["projects"][0]
        self.build_role = str(self.project["serviceRole"])
        env = {v["name"]: v["value"] for v in self.project["environment"]["environmentVariables"]}
        self.image_uri = env["ECR_REPOSITORY_URI"]
        self.image_repository = self.image_uri.split("/", 1)[1]

    def run(self, text: str = "change") -> tuple[str, dict[str, Any]]:
        """Push a commit; the commit id and its execution once it (and any retry) has ended."""
        commit = self.world.push(self.repository, text)
        execution = self.sandbox.wait_for_execution(self.name)
        return commit, execution

    def actions(self, execution: dict[str, Any], action: str) -> list[dict[str, Any]]:
        runs = self.world.action_runs(self.name, execution["pipelineExecutionId"], action)
        return sorted(runs, key=lambda r: r["startTime"])

    def build(self, execution: dict[str, Any], attempt: int = -1) -> dict[str, Any]:
        build_id = self.actions(execution, "Build")[attempt]["output"]["executionResult"][
            "externalExecutionId"
        ]
        return self.sandbox.client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]  # type: ignore[no-any-return]

    def log(self, build: dict[str, Any]) -> list[str]:
        logs = self.sandbox.client("logs")
        events = logs.get_log_events(
            logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"]
        )["events"]
        return [e["message"] for e in events]

    def build_session(self, build: dict[str, Any]) -> str:
        # CodeBuild's session: assumed-role/<role>/AWSCodeBuild-<build uuid>
        # (https://github.com/aws/aws-cdk/issues/28522)
        role = self.build_role.rsplit("/", 1)[1]
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/AWSCodeBuild-{build['id'].split(':', 1)[1]}"

    def task_image(self) -> str:
        ecs = self.sandbox.client("ecs")
        found = ecs.describe_services(cluster="apps-prod", services=[self.service])["services"][0]
        definition = ecs.describe_task_definition(taskDefinition=found["taskDefinition"])["taskDefinition"]
        return str(definition["containerDefinitions"][0]["image"])

    def image_tags(self, repository: str | None = None) -> set[str]:
        details = self.sandbox.client("ecr").describe_images(
            repositoryName=repository or self.image_repository
        )
        return {tag for image in details["imageDetails"] for tag in image.get("imageTags", [])}

    def denied(self) -> list[str]:
        """AWS's messages for every call of the pipeline's roles that IAM denied."""
        recorder = self.sandbox._server.iam.recorder
        return [
            r.message
            for role in (self.role, self.build_role)
            for r in recorder.decisions(role)
            if not r.allowed
        ]


def image_tag(commit: str, build: dict[str, Any]) -> str:
    """The managed buildspec's tag: the commit's first 12 characters, then the build id's first 8."""
    return f"{commit[:12]}-{build['id'].split(':', 1)[1][:8]}"


def failed_phase(build: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in build["phases"] if p.get("phaseStatus") == "FAILED")


def test_a_push_deploys_the_commits_image_with_every_call_of_the_blueprint_roles_allowed(
    world: World,
) -> None:
    pipeline = Pipeline(world)
    commit, execution = pipeline.run("add checkout")
    assert execution["status"] == "Succeeded"
    # The managed buildspec tags the image with the commit and the build (a tag of its own, which no
    # one could push ahead of it) and pushes latest too; the ECS action deploys that tag.
    tag = image_tag(commit, pipeline.build(execution))
    assert pipeline.task_image() == f"{pipeline.image_uri}:{tag}"
    assert pipeline.image_tags() == {tag, "latest"}
    recorder = world.sandbox._server.iam.recorder
    made = {r.action for role in (pipeline.role, pipeline.build_role) for r in recorder.decisions(role)}
    assert {
        "codecommit:GetBranch",
        "codecommit:GetCommit",
        "codecommit:UploadArchive",
        "codecommit:GetUploadArchiveStatus",
        "codebuild:StartBuild",
        "codebuild:BatchGetBuilds",
        "ecr:GetAuthorizationToken",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "s3:GetObject",
        "s3:PutObject",
        "ecs:DescribeServices",
        "ecs:DescribeTaskDefinition",
        "ecs:RegisterTaskDefinition",
        "iam:PassRole",
        "ecs:UpdateService",
    } <= made
    assert pipeline.denied() == []
    # The change-detection rule started it as its own role
    rule_roles = [r for r in recorder.roles() if "SourceRuleRole" in r and pipeline.repository in r]
    starts = [r for role in rule_roles for r in recorder.decisions(role)]
    assert starts and all(r.allowed and r.action == "codepipeline:StartPipelineExecution" for r in starts)
    # CodeBuild wrote the log as the build role
    build = pipeline.build(execution)
    assert any(line.startswith(f"{tag}: digest: sha256:") for line in pipeline.log(build))


def test_a_build_that_pushes_to_another_teams_repository_is_denied_and_pushes_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = Pipeline(world)
    other = world.name("payments")
    ecr = world.sandbox.client("ecr")
    ecr.create_repository(repositoryName=other, tags=[{"Key": OWNER, "Value": other}])
    command = ["script", pipeline.name, "Build", "--push-to", other, "--endpoint-url", world.sandbox.url]
    assert cli_main(command) == 0
    assert (
        f"run a hostile buildspec (push to {other}), failing where IAM denies it" in capsys.readouterr().out
    )
    _, execution = pipeline.run("push elsewhere")
    assert execution["status"] == "Failed"
    build = pipeline.build(execution)
    phase = failed_phase(build)
    assert (phase["phaseType"], phase["contexts"][0]["statusCode"]) == (
        "POST_BUILD",
        "COMMAND_EXECUTION_ERROR",
    )
    # docker push prints the registry's refusal as "denied: <IAM's message>"
    # (https://github.com/aws-samples/aws-modern-application-workshop/issues/95, with the reason IAM
    # adds since 2021: https://github.com/ministryofjustice/cloud-platform/issues/7245)
    assert (
        f"denied: User: {pipeline.build_session(build)} is not authorized to perform: ecr:InitiateLayerUpload "
        f"on resource: arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{other} "
        "because no identity-based policy allows the ecr:InitiateLayerUpload action"
    ) in pipeline.log(build)
    assert pipeline.image_tags(other) == set()
    # pipewarden reads a refusal as no reason to retry
    decided = world.eventually(lambda: world.pipeline_events(pipeline.name, "Failure Not Retried"))
    assert decided[0]["detail"]["classification"] == "deterministic"


@pytest.mark.parametrize("target", ["artifact", "service", "ownership-tag"])
def test_a_build_that_reaches_beyond_its_pipeline_is_denied_in_the_build_phase(
    world: World, target: str
) -> None:
    pipeline = Pipeline(world)
    ecs, s3 = world.sandbox.client("ecs"), world.sandbox.client("s3")
    _, other_service = world.service(service="web-ledger", owner=world.name("ledger"))
    other_arn = ecs.describe_services(cluster="apps-prod", services=[other_service])["services"][0][
        "serviceArn"
    ]
    bucket = world.sandbox.outputs["ArtifactBucketName"]
    other_key = f"{pipeline_name(world.name('ledger'))[:20]}/SourceOutp/Xy12AbC"
    s3.put_object(Bucket=bucket, Key=other_key, Body=b"another team's source")
    call, operation, action, resource = {
        "artifact": (
            {"service": "s3", "operation": "GetObject", "params": {"Bucket": bucket, "Key": other_key}},
            "GetObject",
            "s3:GetObject",
            f"arn:aws:s3:::{bucket}/{other_key}",
        ),
        "service": (
            {
                "service": "ecs",
                "operation": "UpdateService",
                "params": {"cluster": "apps-prod", "service": other_service, "desiredCount": 0},
            },
            "UpdateService",
            "ecs:UpdateService",
            other_arn,
        ),
        "ownership-tag": (
            {
                "service": "ecs",
                "operation": "TagResource",
                "params": {"resourceArn": other_arn, "tags": [{"key": OWNER, "value": pipeline.repository}]},
            },
            "TagResource",
            "ecs:TagResource",
            other_arn,
        ),
    }[target]
    world.sandbox.simulator.scripts.add(pipeline.name, "Build", [Outcome(fail=False, aws=[call])])
    _, execution = pipeline.run("reach out")
    assert execution["status"] == "Failed"
    build = pipeline.build(execution)
    phase = failed_phase(build)
    assert (phase["phaseType"], phase["contexts"][0]["statusCode"]) == ("BUILD", "COMMAND_EXECUTION_ERROR")
    # The AWS CLI exits 254 when the service answers with an error
    # (https://docs.aws.amazon.com/cli/latest/userguide/cli-usage-returncodes.html)
    assert phase["contexts"][0]["message"].endswith("Reason: exit status 254")
    # ... and prints botocore's "An error occurred (<code>) when calling the <operation> operation: ..."
    code = "AccessDenied" if target == "artifact" else "AccessDeniedException"
    error = next(line for line in pipeline.log(build) if line.startswith("An error occurred"))
    assert error.startswith(
        f"An error occurred ({code}) when calling the {operation} operation: "
        f"User: {pipeline.build_session(build)} is not authorized to perform: {action} on resource: "
    )
    assert resource in error
    # Nothing changed
    found = ecs.describe_services(cluster="apps-prod", services=[other_service])["services"][0]
    assert found["desiredCount"] == 1
    tags = ecs.list_tags_for_resource(resourceArn=other_arn)["tags"]
    assert {t["key"]: t["value"] for t in tags}[OWNER] == world.name("ledger")


def test_a_deploy_to_a_service_that_no_longer_names_the_repository_is_denied(world: World) -> None:
    pipeline = Pipeline(world)
    before = pipeline.task_image()
    ecs = world.sandbox.client("ecs")
    arn = ecs.describe_services(cluster="apps-prod", services=[pipeline.service])["services"][0]["serviceArn"]
    # The service's owner takes it back after enrollment: the boundary's tag condition no longer holds
    ecs.untag_resource(resourceArn=arn, tagKeys=[OWNER])
    _, execution = pipeline.run("deploy anyway")
    assert execution["status"] == "Failed"
    deploy = pipeline.actions(execution, "Deploy")[-1]
    error = deploy["output"]["executionResult"]["errorDetails"]
    assert error["code"] == "JobFailed"
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/{pipeline.role.rsplit('/', 1)[1]}/"
    # A job worker quotes the SDK's exception: "Error calling <call>: <message> (Service: ...; Error
    # Code: AccessDeniedException; ...)" (https://github.com/awslabs/cdk-eks-blueprints/issues/483)
    assert error["message"].startswith(f"Error calling updateService: User: {session}")
    assert (
        f"is not authorized to perform: ecs:UpdateService on resource: {arn} "
        "because no permissions boundary allows the ecs:UpdateService action (Service: AmazonECS; "
    ) in error["message"]
    assert "Error Code: AccessDeniedException" in error["message"]
    assert pipeline.task_image() == before


def test_a_retried_build_of_the_same_commit_pushes_a_tag_of_its_own(world: World) -> None:
    pipeline = Pipeline(world)
    world.sandbox.simulator.scripts.add(pipeline.name, "Build", [UPLOAD_RESET])
    commit = world.push(pipeline.repository, "flaky upload")
    execution = world.eventually(
        lambda: (r := world.executions(pipeline.name)[0]) and r["status"] == "Succeeded" and r, timeout=60
    )
    builds = pipeline.actions(execution, "Build")
    assert [b["status"] for b in builds] == ["Failed", "Succeeded"]
    first, retried = pipeline.build(execution, 0), pipeline.build(execution, 1)
    # The repository's tags are immutable (latest aside): each build pushes its own, and the retry's
    # is the one deployed
    tags = {image_tag(commit, first), image_tag(commit, retried)}
    assert len(tags) == 2 and pipeline.image_tags() == {*tags, "latest"}
    assert pipeline.task_image() == f"{pipeline.image_uri}:{image_tag(commit, retried)}"
    assert pipeline.denied() == []


def test_an_outcome_in_json_says_what_a_hostile_buildspec_does() -> None:
    hostile = Outcome.from_json(
        {"push_to": "other", "aws": [{"service": "s3", "operation": "GetObject", "params": {"Bucket": "b"}}]}
    )
    assert hostile.fail is False and hostile.push_to == "other"
    assert Outcome.from_json(hostile.to_json()) == hostile
    assert Outcome.from_json({"phase": "PRE_BUILD"}).fail is True
    assert Outcome.from_json({"push_to": "other", "fail": True}).fail is True
    with pytest.raises(ValueError, match="aws"):
        Outcome.from_json({"aws": [{"service": "s3"}]})
