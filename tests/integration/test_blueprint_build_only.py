"""The build-only blueprint end to end in the sandbox: enrolled, built, updated, switched to and from, torn down."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from pipewarden.naming import pipeline_name
from sandbox.executions import Outcome
from tests.conftest import World

pytestmark = pytest.mark.integration


def _ecr_image_tags(world: World, repository: str) -> set[str]:
    ecr = world.sandbox.client("ecr")
    images = ecr.list_images(repositoryName=repository)["imageIds"]
    return {i["imageTag"] for i in images if "imageTag" in i}


def test_a_build_only_repository_gets_source_and_build_and_its_image_is_pushed(world: World) -> None:
    # Given a library's repository tagged build-only: no ECS cluster or service named anywhere
    repo, arn = world.repository("lib")
    world.tag(arn, {"pipewarden:enabled": "true", "pipewarden:blueprint": "build-only"})
    # Then its pipeline builds and stops there
    pipeline = world.pipeline(repo)
    assert pipeline is not None
    assert [s["name"] for s in pipeline["stages"]] == ["Source", "Build"]
    stack = world.stack(repo)
    assert stack is not None
    tags = {t["Key"]: t["Value"] for t in stack["Tags"]}
    assert tags["pipewarden:blueprint"].startswith("build-only@")
    iam = world.sandbox.client("iam")
    roles = [
        r
        for page in iam.get_paginator("list_roles").paginate(PathPrefix="/pipewarden/")
        for r in page["Roles"]
        if r["RoleName"].startswith(f"pipewarden-{repo}")
    ]
    assert len(roles) == 3  # build, pipeline, change detection
    boundary = world.sandbox.outputs["PermissionsBoundaryArn"]
    for role in roles:  # every role it makes carries the boundary
        got = iam.get_role(RoleName=role["RoleName"])["Role"]
        assert got["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    enrolled = world.events_for(repo, "Repository Enrollment Started")
    assert enrolled[-1]["detail"]["settings"]["blueprint"] == "build-only"

    # When a developer pushes
    world.push(repo)
    name = pipeline_name(repo)
    runs = world.eventually(
        lambda: [e for e in world.executions(name) if e["status"] in ("Succeeded", "Failed")]
    )
    # Then the build succeeds, the image is in the repository's own ECR repository, and the
    # output artifact says which image it is (imageDetail.json, as an ECR source action writes it)
    assert runs[0]["status"] == "Succeeded"
    tags_pushed = _ecr_image_tags(world, repo.lower())
    assert "latest" in tags_pushed and len(tags_pushed) == 2
    build = world.action_runs(name, runs[0]["pipelineExecutionId"], "Build")[0]
    location = build["output"]["outputArtifacts"][0]["s3location"]
    body = (
        world.sandbox.client("s3").get_object(Bucket=location["bucket"], Key=location["key"])["Body"].read()
    )
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        detail = json.loads(archive.read("imageDetail.json"))
    pushed = next(t for t in tags_pushed if t != "latest")
    assert detail["ImageURI"].endswith(f"/{repo.lower()}:{pushed}")


def test_changing_a_build_only_pipelines_tags_updates_it_and_removing_them_tears_it_down(
    world: World,
) -> None:
    repo, arn = world.repository("lib")
    world.tag(arn, {"pipewarden:enabled": "true", "pipewarden:blueprint": "build-only"})
    world.tag(arn, {"pipewarden:compute": "large"})
    project = world.sandbox.client("codebuild").batch_get_projects(names=[f"pipewarden-{repo}"])["projects"]
    assert project[0]["environment"]["computeType"] == "BUILD_GENERAL1_LARGE"
    started = world.events_for(repo, "Repository Enrollment Started")
    assert [e["detail"]["action"] for e in started] == ["create", "update"]
    assert started[-1]["detail"]["changed"] == ["ComputeType"]

    world.untag(arn, ["pipewarden:enabled"])
    assert world.pipeline(repo) is None and world.stack(repo) is None
    # The image repository outlives the pipeline (DeletionPolicy: Retain)
    assert world.sandbox.client("ecr").describe_repositories(repositoryNames=[repo.lower()])["repositories"]
    kinds = [e["detail-type"] for e in world.events_for(repo)]
    assert kinds[-2:] == ["Repository Unenrollment Started", "Repository Unenrolled"]


def test_switching_an_ecs_rolling_pipeline_to_build_only_keeps_the_pipeline_and_its_history(
    world: World,
) -> None:
    # Given an ecs-rolling pipeline that has run once
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags())
    world.push(repo)
    name = pipeline_name(repo)
    world.eventually(lambda: [e for e in world.executions(name) if e["status"] == "Succeeded"])
    # When the team switches it to build-only
    world.tag(arn, {"pipewarden:blueprint": "build-only"})
    # Then the same stack is updated to the other template: no Deploy stage, no ECS permission,
    # the execution history and the ECR repository kept
    pipeline = world.pipeline(repo)
    assert pipeline is not None
    assert [s["name"] for s in pipeline["stages"]] == ["Source", "Build"]
    stack = world.stack(repo)
    assert stack is not None and stack["StackStatus"] == "UPDATE_COMPLETE"
    assert "EcsService" not in {p["ParameterKey"] for p in stack["Parameters"]}
    assert [e["status"] for e in world.executions(name)] == ["Succeeded"]
    started = world.events_for(repo, "Repository Enrollment Started")
    assert started[-1]["detail"]["changed"][-1] == "blueprint ecs-rolling -> build-only"
    iam = world.sandbox.client("iam")
    roles = [
        r
        for page in iam.get_paginator("list_roles").paginate(PathPrefix="/pipewarden/")
        for r in page["Roles"]
    ]
    policies = [
        iam.get_role_policy(RoleName=r["RoleName"], PolicyName=p)["PolicyDocument"]
        for r in roles
        if r["RoleName"].startswith(f"pipewarden-{repo}")
        for p in iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"]
    ]
    assert "ecs:" not in json.dumps(policies)
    # And switching back needs the ECS tags again, which it still has: the Deploy stage returns
    world.tag(arn, {"pipewarden:blueprint": "ecs-rolling"})
    pipeline = world.pipeline(repo)
    assert pipeline is not None
    assert [s["name"] for s in pipeline["stages"]] == ["Source", "Build", "Deploy"]


def test_a_build_only_build_that_fails_its_tests_is_told_and_not_retried(world: World) -> None:
    repo, arn = world.repository("lib")
    world.tag(
        arn, {"pipewarden:enabled": "true", "pipewarden:blueprint": "build-only", "pipewarden:notify": "all"}
    )
    name = pipeline_name(repo)
    failing = Outcome(log=["FAIL src/parse.test.ts", "Tests: 1 failed, 12 passed, 13 total"])
    world.sandbox.simulator.scripts.add(name, "Build", [failing])
    world.push(repo)
    world.eventually(lambda: [e for e in world.executions(name) if e["status"] == "Failed"])
    event = world.eventually(lambda: world.pipeline_events(name, "Failure Not Retried"))[0]
    assert event["detail"]["classification"] == "deterministic"
    assert event["detail"]["evidence"]["line"] == "Tests: 1 failed, 12 passed, 13 total"
    assert world.pipeline_events(name, "Stage Retry Scheduled") == []
    told = world.eventually(lambda: [m for m in world.sandbox.slack_messages() if repo in json.dumps(m)])
    assert "Tests: 1 failed, 12 passed, 13 total" in json.dumps(told)


def test_enroll_with_a_blueprint_and_status_show_it(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    endpoint = ["--endpoint-url", world.sandbox.url, "--region", "us-east-1"]
    # A long name: its pipeline's name differs from its stack's (naming.pipeline_name)
    repo, _ = world.repository("library-with-a-long-name")
    assert main(["enroll", repo, "--blueprint", "build-only", *endpoint]) == 0
    world.sandbox.wait_idle(30)
    world.push(repo)
    name = pipeline_name(repo)
    world.eventually(lambda: [e for e in world.executions(name) if e["status"] == "Succeeded"])
    capsys.readouterr()
    assert main(["status", "--json", *endpoint]) == 0
    rows = {row["repository"]: row for row in json.loads(capsys.readouterr().out)}
    row = rows[repo]
    assert row["blueprint"] == "build-only"
    assert row["pipeline"] == name != f"pipewarden-{repo}"
    assert row["last_execution"].startswith("Succeeded ")
    assert (row["retry"], row["notify"], row["keep_executions"]) == ("transient x2", "failures", 10)
    assert main(["status", *endpoint]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("REPOSITORY")) :]  # after health
    assert table[0].split()[:3] == ["REPOSITORY", "ENABLED", "BLUEPRINT"]
    assert next(line for line in table if line.startswith(repo + " ")).split()[1:3] == ["true", "build-only"]
    # An ECS blueprint still needs its service: refused before any tag is written
    other, _ = world.repository("app")
    assert main(["enroll", other, "--blueprint", "ecs-rolling", *endpoint]) == 2
    assert "ecs-cluster=(missing): is required" in capsys.readouterr().err
    assert (
        world.sandbox.client("codecommit").list_tags_for_resource(
            resourceArn=f"arn:aws:codecommit:us-east-1:123456789012:{other}"
        )["tags"]
        == {}
    )


def test_a_build_only_buildspec_cannot_deploy_even_to_a_service_that_names_its_repository(
    world: World,
) -> None:
    # Given a service on the allow-list that takes this repository's images (an ECS blueprint could
    # deploy to it), and the repository enrolled build-only
    _, service = world.service()
    repo, arn = world.repository()
    world.tag(arn, {"pipewarden:enabled": "true", "pipewarden:blueprint": "build-only"})
    name = pipeline_name(repo)
    ecs = world.sandbox.client("ecs")
    # When its buildspec calls ecs:UpdateService with the build role's credentials
    call = {
        "service": "ecs",
        "operation": "UpdateService",
        "params": {"cluster": "apps-prod", "service": service, "desiredCount": 0},
    }
    world.sandbox.simulator.scripts.add(name, "Build", [Outcome(fail=False, aws=[call])])
    world.push(repo)
    runs = world.eventually(lambda: [e for e in world.executions(name) if e["status"] == "Failed"])
    # Then IAM denies it (the build-only roles hold no ECS permission; the boundary alone grants
    # nothing) and the service is untouched
    build = world.action_runs(name, runs[0]["pipelineExecutionId"], "Build")[0]
    assert build["status"] == "Failed"
    recorder = world.sandbox._server.iam.recorder
    denied = [
        r
        for role in recorder.roles()
        if f"pipewarden-{repo}-BuildRole" in role
        for r in recorder.decisions(role)
        if r.action == "ecs:UpdateService"
    ]
    assert denied and not any(r.allowed for r in denied)
    found = ecs.describe_services(cluster="apps-prod", services=[service])["services"][0]
    assert found["desiredCount"] == 1
