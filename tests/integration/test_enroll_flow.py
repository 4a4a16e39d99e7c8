"""The enroll flow over HTTP against the sandbox: tags in, stacks and pipelines out, events emitted."""

from __future__ import annotations

import pytest

from pipewarden.naming import pipeline_name
from sandbox.moto_ext import publish
from tests.conftest import World

pytestmark = pytest.mark.integration


def test_tagging_a_repository_creates_a_v2_pipeline_with_three_stages(world: World) -> None:
    # Given an ECS service and a repository
    world.service()
    repo, arn = world.repository()
    # When the team tags the repository
    world.tag(arn, world.enroll_tags())
    # Then it has a V2 pipeline Source -> Build -> Deploy deploying to that service
    pipeline = world.pipeline(repo)
    assert pipeline is not None
    assert pipeline["pipelineType"] == "V2"
    assert [s["name"] for s in pipeline["stages"]] == ["Source", "Build", "Deploy"]
    source = pipeline["stages"][0]["actions"][0]["configuration"]
    assert source == {
        "RepositoryName": repo,
        "BranchName": "main",
        "PollForSourceChanges": "false",
        "OutputArtifactFormat": "CODE_ZIP",
    }
    deploy = pipeline["stages"][2]
    assert deploy["onFailure"] == {"result": "ROLLBACK"}
    assert deploy["actions"][0]["configuration"]["ClusterName"] == "apps-prod"
    # and the outcome events follow the stack's real status
    kinds = [e["detail-type"] for e in world.events_for(repo)]
    assert kinds == ["Repository Enrollment Started", "Repository Enrolled"]


def test_pipeline_carries_retry_notify_keep_settings_as_tags(world: World) -> None:
    world.service()
    repo, arn = world.repository()
    world.tag(
        arn,
        world.enroll_tags(
            retry="all", max_retries="4", notify="all", keep_executions="15", slack_channel="team-a"
        ),
    )
    client = world.sandbox.client("codepipeline")
    arn_pipeline = f"arn:aws:codepipeline:us-east-1:123456789012:{pipeline_name(repo)}"
    tags = {t["key"]: t["value"] for t in client.list_tags_for_resource(resourceArn=arn_pipeline)["tags"]}
    assert tags == {
        "pipewarden:managed-by": "pipewarden",
        "pipewarden:repository": repo,
        "pipewarden:retry": "all",
        "pipewarden:max-retries": "4",
        "pipewarden:notify": "all",
        "pipewarden:keep-executions": "15",
        "pipewarden:slack-channel": "team-a",
    }


def test_build_project_uses_managed_buildspec_and_docker_cache(world: World) -> None:
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags(compute="large"))
    project = world.sandbox.client("codebuild").batch_get_projects(names=[f"pipewarden-{repo}"])["projects"][
        0
    ]
    assert project["environment"]["privilegedMode"] is True
    assert project["environment"]["image"] == "aws/codebuild/amazonlinux-x86_64-standard:5.0"
    assert project["environment"]["computeType"] == "BUILD_GENERAL1_LARGE"
    assert "LOCAL_DOCKER_LAYER_CACHE" in project["cache"]["modes"]
    buildspec = project["source"]["buildspec"]
    assert "aws ecr get-login-password" in buildspec
    assert 'docker push "$ECR_REPOSITORY_URI:latest"' in buildspec
    assert "imagedefinitions.json" in buildspec


def test_own_buildspec_tag_replaces_the_managed_one(world: World) -> None:
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags(buildspec="ci/buildspec.yml"))
    project = world.sandbox.client("codebuild").batch_get_projects(names=[f"pipewarden-{repo}"])["projects"][
        0
    ]
    assert project["source"]["buildspec"] == "ci/buildspec.yml"


def test_changing_the_branch_tag_updates_the_pipeline_and_its_rule(world: World) -> None:
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags())
    world.tag(arn, {"pipewarden:branch": "release"})
    pipeline = world.pipeline(repo)
    assert pipeline is not None
    assert pipeline["stages"][0]["actions"][0]["configuration"]["BranchName"] == "release"
    stack = world.stack(repo)
    assert stack is not None and stack["StackStatus"] == "UPDATE_COMPLETE"
    started = world.events_for(repo, "Repository Enrollment Started")
    assert [e["detail"]["action"] for e in started] == ["create", "update"]
    assert started[-1]["detail"]["changed"] == ["BranchName"]


def test_removing_the_enabled_tag_tears_everything_down(world: World) -> None:
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags())
    stack_name = f"pipewarden-{repo}"
    world.untag(arn, ["pipewarden:enabled"])
    sb = world.sandbox
    assert world.pipeline(repo) is None
    assert world.stack(repo) is None
    assert stack_name not in sb.client("codebuild").list_projects()["projects"]
    pages = sb.client("iam").get_paginator("list_roles").paginate(PathPrefix="/pipewarden/")
    assert not [r for page in pages for r in page["Roles"] if r["RoleName"].startswith(stack_name)]
    assert not [r for r in sb.client("events").list_rules()["Rules"] if r["Name"].startswith(stack_name)]
    groups = sb.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/codebuild/{stack_name}")
    assert groups["logGroups"] == []
    kinds = [e["detail-type"] for e in world.events_for(repo)]
    assert kinds[-2:] == ["Repository Unenrollment Started", "Repository Unenrolled"]


def test_deleting_the_repository_tears_its_pipeline_down(world: World) -> None:
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags())
    world.sandbox.client("codecommit").delete_repository(repositoryName=repo)
    assert world.sandbox.wait_idle(30)
    assert world.pipeline(repo) is None
    assert world.events_for(repo, "Repository Unenrolled")


def test_repository_created_with_tags_is_enrolled(world: World) -> None:
    world.service()
    repo, _ = world.repository(tags=world.enroll_tags())
    assert world.sandbox.wait_idle(30)
    assert world.pipeline(repo) is not None


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("max-retries", "9", "whole number from 0 to 5"),
        ("retry", "sometimes", "one of transient, all, off"),
        ("branch", "feature..x", "not a valid git branch name"),
        ("ecs-service", "", "is required"),
        ("compute", "huge", "one of small, medium, large"),
    ],
)
def test_invalid_value_creates_nothing_and_names_the_bad_key(
    world: World, key: str, value: str, reason: str
) -> None:
    world.service()
    repo, arn = world.repository()
    world.tag(arn, dict(world.enroll_tags(), **{f"pipewarden:{key}": value}))
    assert world.stack(repo) is None
    assert world.pipeline(repo) is None
    rejected = world.events_for(repo, "Repository Enrollment Rejected")
    assert rejected, "a rejection event is emitted"
    detail = rejected[0]["detail"]
    assert detail["key"] == f"pipewarden:{key}"
    assert detail["value"] == value
    assert reason in detail["reason"]
    assert len({e["detail"]["fingerprint"] for e in rejected}) == 1


def test_cluster_outside_the_allow_list_is_rejected(world: World) -> None:
    world.service(cluster="payments-prod")
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags(cluster="payments-prod"))
    assert world.stack(repo) is None
    detail = world.events_for(repo, "Repository Enrollment Rejected")[0]["detail"]
    assert detail["key"] == "pipewarden:ecs-cluster"
    assert "not allowed" in detail["reason"]


def test_cluster_service_allow_list_entry_allows_only_matching_services(world: World) -> None:
    world.service(cluster="shared", service="web-frontend", owner=world.name("allowed"))
    world.service(cluster="shared", service="admin", owner=world.name("denied"))
    allowed, allowed_arn = world.repository("allowed")
    denied, denied_arn = world.repository("denied")
    world.tag(allowed_arn, world.enroll_tags(cluster="shared", service="web-frontend"))
    world.tag(denied_arn, world.enroll_tags(cluster="shared", service="admin"))
    assert world.pipeline(allowed) is not None
    assert world.pipeline(denied) is None


def test_pipeline_for_a_service_that_does_not_exist_yet_waits_for_its_roles(world: World) -> None:
    # Given a repository tagged for a service nobody has created yet
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags(cluster="apps-later", service="web"))
    # Then it gets its pipeline, with a warning, and may pass no role
    assert world.pipeline(repo) is not None
    stack = world.stack(repo)
    assert stack is not None
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert params["PassRoleArns"] == ""
    started = world.events_for(repo, "Repository Enrollment Started")[0]["detail"]
    assert "not found" in started["warnings"][0]
    # When a resync finds it still missing, nothing is written
    world.sandbox.run_schedules()
    assert world.sandbox.wait_idle(30)
    assert len(world.events_for(repo, "Repository Enrollment Started")) == 1
    # When the service exists, the next resync gives the pipeline its roles
    world.service(cluster="apps-later", service="web")
    world.sandbox.run_schedules()
    assert world.sandbox.wait_idle(30)
    stack = world.stack(repo)
    assert stack is not None
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert params["PassRoleArns"].endswith(
        f"role/pipewarden-tasks/{repo}/{world.name('web')}-task"
    )  # the roles of its task definition
    assert "pipewarden:awaiting-service" not in {t["Key"] for t in stack["Tags"]}


def test_invalid_value_on_an_enrolled_repository_leaves_its_pipeline_unchanged(world: World) -> None:
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags())
    world.tag(arn, {"pipewarden:max-retries": "99", "pipewarden:branch": "release"})
    pipeline = world.pipeline(repo)
    assert pipeline is not None
    assert pipeline["stages"][0]["actions"][0]["configuration"]["BranchName"] == "main"
    assert world.events_for(repo, "Repository Enrollment Rejected")


def test_pass_role_is_scoped_to_the_service_task_and_execution_roles(world: World) -> None:
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags())
    stack = world.stack(repo)
    assert stack is not None
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    family = world.name("web")
    assert params["PassRoleArns"].split(",") == [
        f"arn:aws:iam::123456789012:role/pipewarden-tasks/{repo}/{family}-execution",
        f"arn:aws:iam::123456789012:role/pipewarden-tasks/{repo}/{family}-task",
    ]


def test_generated_roles_carry_the_boundary_and_the_path(world: World) -> None:
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags())
    iam = world.sandbox.client("iam")
    boundary = world.sandbox.outputs["PermissionsBoundaryArn"]
    roles = [
        r
        for page in iam.get_paginator("list_roles").paginate(PathPrefix="/pipewarden/")
        for r in page["Roles"]
        if r["RoleName"].startswith(f"pipewarden-{repo}")
    ]
    assert len(roles) == 3
    for role in roles:
        full = iam.get_role(RoleName=role["RoleName"])["Role"]
        assert full["Path"] == "/pipewarden/"
        assert full["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary


def test_failed_stack_is_reported_with_cloudformation_reason_and_repaired_later(world: World) -> None:
    # Given a pipeline of the same name that someone created by hand
    world.service()
    repo, arn = world.repository()
    sb = world.sandbox
    iam = sb.client("iam")
    role = iam.create_role(
        RoleName=world.name("manual"),
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"Service":"codepipeline.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
    )["Role"]["Arn"]
    manual = {
        "name": pipeline_name(repo),
        "roleArn": role,
        "artifactStore": {"type": "S3", "location": "elsewhere"},
        "stages": [
            {
                "name": n,
                "actions": [
                    {
                        "name": n,
                        "actionTypeId": {"category": c, "owner": "AWS", "provider": p, "version": "1"},
                    }
                ],
            }
            for n, c, p in (("Source", "Source", "S3"), ("Build", "Build", "CodeBuild"))
        ],
    }
    sb.client("codepipeline").create_pipeline(pipeline=manual)
    # When the repository is tagged, the stack fails and rolls back
    world.tag(arn, world.enroll_tags())
    failed = world.events_for(repo, "Repository Enrollment Failed")
    assert failed, "the failure is reported"
    assert "already exists" in failed[0]["detail"]["reason"]
    stack = world.stack(repo)
    assert stack is not None and stack["StackStatus"] == "ROLLBACK_COMPLETE"
    # Then once the blocker is gone, the next resync repairs it: delete, then create again
    sb.client("codepipeline").delete_pipeline(name=pipeline_name(repo))
    sb.run_schedules()
    assert sb.wait_idle(30)
    stack = world.stack(repo)
    assert stack is not None and stack["StackStatus"] == "CREATE_COMPLETE"
    assert world.events_for(repo, "Repository Enrolled")


def test_resync_converges_what_lost_events_missed(world: World) -> None:
    sb = world.sandbox
    world.service(service="web-missed", owner=world.name("missed"))
    world.service(service="web-orphan", owner=world.name("orphan"))
    enrolled, enrolled_arn = world.repository("missed")
    world.tag(world.repository("orphan")[1], world.enroll_tags(service="web-orphan"))
    orphan = world.name("orphan")
    assert world.pipeline(orphan) is not None
    # Given tag changes and a deletion whose events were all lost
    publish.unsubscribe(sb.bus.put)
    try:
        sb.client("codecommit").tag_resource(
            resourceArn=enrolled_arn, tags=world.enroll_tags(service="web-missed")
        )
        sb.client("codecommit").delete_repository(repositoryName=orphan)
    finally:
        publish.subscribe(sb.bus.put)
    assert world.pipeline(enrolled) is None
    # When the scheduled resync runs
    sb.run_schedules()
    assert sb.wait_idle(30)
    # Then the tagged repository has its pipeline and the deleted one's is gone
    assert world.pipeline(enrolled) is not None
    assert world.pipeline(orphan) is None
