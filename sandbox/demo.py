"""`make demo`: pipewarden's main job in the local sandbox, narrated step by step.

Creates an ECS service and a CodeCommit repository, tags the repository and shows the pipeline
pipewarden builds for it, pushes commits whose build fails transiently (retried after its backoff,
then green) and with a failing test (not retried, with the reason), changes a tag and shows the
update, tries a cluster outside the
allow-list and an invalid value and shows the rejections, tours one repository per blueprint
(sandbox/demo_blueprints.py), then removes the tag and shows the
teardown. Every step is checked; the demo exits non-zero if any did not check out.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from cli.main import main as cli_main
from pipewarden.contract import BLUEPRINTS
from pipewarden.naming import pipeline_name, stack_name
from sandbox import fleet
from sandbox.demo_blueprints import tour
from sandbox.demo_operations import watch_itself
from sandbox.executions import Outcome
from sandbox.runtime import ACCOUNT, REGION, Sandbox

ALLOWED = "apps-*,shared/web-*"
REPO = "storefront"
PIPELINE = pipeline_name(REPO)
STACK = stack_name(REPO)  # also the build project's name, and the start of its roles' and rule's
PREFIX = "pipewarden"


class Demo:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.failures: list[str] = []
        self.step_no = 0
        self.seen_events = 0
        self.seen_slack = 0
        self.seen_sns = 0

    def step(self, title: str) -> None:
        self.step_no += 1
        print(f"\n{self.step_no}. {title}")

    def say(self, text: str) -> None:
        print(f"   {text}")

    def check(self, ok: bool, what: str) -> None:
        print(f"   {'ok ' if ok else 'FAIL'} {what}")
        if not ok:
            self.failures.append(what)

    def until(self, check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
        """Wait for something that takes a backoff delay, not only event handling."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sandbox.wait_idle(timeout)
            result = check()
            if result:
                return result
            time.sleep(0.2)
        self.check(False, f"waited {timeout:.0f} s for {what}")
        return None

    def settle(self) -> float:
        started = time.perf_counter()
        self.check(self.sandbox.wait_idle(30), "every event was handled")
        return time.perf_counter() - started

    def new_events(self) -> list[dict[str, Any]]:
        # Resync Completed is the resync's heartbeat for its alarm, not an outcome: not shown.
        events = [
            e for e in self.sandbox.events[self.seen_events :] if e["detail-type"] != "Resync Completed"
        ]
        self.seen_events = len(self.sandbox.events)
        shown: dict[tuple[str, str], int] = {}
        for event in events:
            detail = event["detail"]
            fingerprint = detail.get("fingerprint")
            if fingerprint and (event["detail-type"], fingerprint) in shown:
                shown[(event["detail-type"], fingerprint)] += 1
                continue
            shown[(event["detail-type"], fingerprint or event["id"])] = 1
            self.say(f"event  {event['detail-type']}: {summary(detail)}")
        for (detail_type, _), count in shown.items():
            if count > 1:
                self.say(f"       ({detail_type} came {count} times: one per AWS event about the same tags)")
        return events

    def new_messages(self) -> list[dict[str, Any]]:
        """Print what reached Slack (the local webhook sink) since the last call; check SNS got the same."""
        slack = self.sandbox.slack_messages()[self.seen_slack :]
        sns = self.sandbox.sns_messages()[self.seen_sns :]
        self.seen_slack += len(slack)
        self.seen_sns += len(sns)
        for payload in slack:
            text = payload["text"]
            self.say(f"slack  {text if len(text) <= 150 else text[:149] + '…'}")
        slack_titles = sorted(p["blocks"][0]["text"]["text"] for p in slack)
        sns_titles = sorted(json.loads(m["Message"])["title"] for m in sns)
        if slack or sns:
            self.check(slack_titles == sns_titles, f"SNS carried the same {len(sns)} message(s)")
        return slack


RATE_LIMITED = Outcome(
    log=[
        "ERROR: failed to solve: node:22-alpine: failed to resolve source metadata",
        "  429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.",
    ]
)
TEST_FAILURE = Outcome(
    log=["FAIL src/cart.test.js", "  cart > totals > adds tax", "Tests: 1 failed, 41 passed, 42 total"]
)


# What the README promises for an execution that failed transiently, was retried and recovered
# (with pipewarden:notify=all; at the default `failures` the middle one is left out).
RECOVERY_STORY = ("Pipeline failed, retrying", "Retry started", "Pipeline recovered after 1 retry")


def say_counts(demo: Demo, execution_id: str) -> None:
    """Messages posted for one execution against the AWS events behind them."""
    aws = [e for e in demo.sandbox.pipeline_events if e["detail"].get("execution-id") == execution_id]
    ours = [e for e in demo.sandbox.events if e["detail"].get("execution-id") == execution_id]
    posted = [m for m in demo.sandbox.slack_messages() if execution_id[:8] in json.dumps(m)]
    kinds = Counter(e["detail-type"].removeprefix("CodePipeline ") for e in aws)
    demo.say(
        f"execution {execution_id[:8]}: {len(aws)} CodePipeline events ("
        + ", ".join(f"{n} {k}" for k, n in kinds.items())
        + f") + {len(ours)} from pipewarden -> {len(posted)} Slack message(s)"
    )


def finished(sandbox: Sandbox, status: str) -> dict[str, Any] | None:
    runs = sandbox.client("codepipeline").list_pipeline_executions(pipelineName=PIPELINE)[
        "pipelineExecutionSummaries"
    ]
    return runs[0] if runs and runs[0]["status"] == status else None


def build_attempts(sandbox: Sandbox, execution_id: str) -> list[str]:
    details = sandbox.client("codepipeline").list_action_executions(
        pipelineName=PIPELINE, filter={"pipelineExecutionId": execution_id}
    )["actionExecutionDetails"]
    builds = sorted((d for d in details if d["actionName"] == "Build"), key=lambda d: d["startTime"])
    return [d["status"] for d in builds]


def summary(detail: dict[str, Any]) -> str:
    """One line for an event: its reason, its status, or what a prune did."""
    if "objects-deleted" in detail:
        return (
            f"{detail['objects-deleted']} deleted, {detail['objects-kept']} kept "
            f"(scope {detail['scope']}{', dry run' if detail.get('dry-run') else ''})"
        )
    return str(detail.get("reason") or detail.get("status", ""))


def artifact_keys(sandbox: Sandbox, bucket: str) -> set[str]:
    pages = sandbox.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def pipeline_or_none(sandbox: Sandbox, name: str) -> dict[str, Any] | None:
    client = sandbox.client("codepipeline")
    try:
        return client.get_pipeline(name=name)["pipeline"]  # type: ignore[no-any-return]
    except client.exceptions.PipelineNotFoundException:
        return None


def source_branch(pipeline: dict[str, Any]) -> str:
    return str(pipeline["stages"][0]["actions"][0]["configuration"]["BranchName"])


def run(demo: Demo) -> None:  # noqa: PLR0915 - one narrated story, read top to bottom
    sb = demo.sandbox
    cc, iam, cfn = sb.client("codecommit"), sb.client("iam"), sb.client("cloudformation")
    tags = {
        f"{PREFIX}:enabled": "true",
        f"{PREFIX}:ecs-cluster": "apps-prod",
        f"{PREFIX}:ecs-service": "web",
        f"{PREFIX}:notify": "all",
    }

    demo.step(
        "An application team's starting point: an ECS service that takes its images, a CodeCommit repository"
    )
    fleet.deploy_target(sb, REPO, cluster="apps-prod", service="web", container=REPO)
    demo.say(f"ECS service apps-prod/web and its task and execution roles carry {PREFIX}:repository={REPO}")
    arn = cc.create_repository(repositoryName=REPO)["repositoryMetadata"]["Arn"]
    demo.say(f"repository {arn}")
    demo.say(f"controller allow-list (AllowedEcsTargets): {ALLOWED}")
    demo.settle()
    demo.check(pipeline_or_none(sb, PIPELINE) is None, "no pipeline before the repository is tagged")

    demo.step(f"Tag it: {', '.join(f'{k}={v}' for k, v in tags.items())}")
    cc.tag_resource(resourceArn=arn, tags=tags)
    took = demo.settle()
    demo.new_events()
    demo.new_messages()
    pipeline = pipeline_or_none(sb, PIPELINE)
    demo.check(pipeline is not None, f"pipeline {PIPELINE} exists ({took:.2f} s after tagging)")
    if pipeline is None:
        return
    stages = [s["name"] for s in pipeline["stages"]]
    demo.say(f"pipeline type {pipeline.get('pipelineType')}, stages {' -> '.join(stages)}")
    demo.check(
        pipeline.get("pipelineType") == "V2" and stages == ["Source", "Build", "Deploy"],
        "V2, Source -> Build -> Deploy",
    )
    deploy = pipeline["stages"][2]
    demo.say(
        f"deploy: ECS {deploy['actions'][0]['configuration']}, "
        f"on failure: {deploy.get('onFailure', {}).get('result')}"
    )
    project = sb.client("codebuild").batch_get_projects(names=[STACK])["projects"][0]
    demo.say(
        f"build: {project['environment']['image']}, privileged={project['environment']['privilegedMode']}"
    )
    demo.check(
        "docker buildx build --platform" in project["source"]["buildspec"],
        "managed buildspec builds with buildx",
    )
    roles = [r for r in iam.list_roles(PathPrefix="/pipewarden/")["Roles"] if r["RoleName"].startswith(STACK)]
    bounded = all(iam.get_role(RoleName=r["RoleName"])["Role"].get("PermissionsBoundary") for r in roles)
    demo.say(f"roles: {', '.join(r['RoleName'] for r in roles)}")
    demo.check(len(roles) == 3 and bounded, "3 roles under /pipewarden/, each with the permissions boundary")
    image_repository = sb.client("ecr").describe_repositories(repositoryNames=[REPO])["repositories"][0]
    demo.check(
        image_repository["imageTagMutability"].startswith("IMMUTABLE")
        and image_repository["imageScanningConfiguration"]["scanOnPush"],
        f"ECR repository {REPO} created with it: immutable tags (latest aside), scanned on push",
    )
    demo.say(f"artifacts go under {PIPELINE[:20]}/, a key prefix no other pipeline has")
    rule = next(r for r in sb.client("events").list_rules()["Rules"] if r["Name"].startswith(STACK))
    demo.check(
        '"referenceName": ["main"]' in rule["EventPattern"],
        "change detection rule watches branch main (no polling)",
    )
    demo.check(
        bool(sb.pipewarden_events("Repository Enrolled")),
        "Repository Enrolled followed the stack's CREATE_COMPLETE",
    )

    demo.step("A developer pushes to main; the build hits Docker Hub's pull rate limit once")
    sb.simulator.scripts.add(PIPELINE, "Build", [RATE_LIMITED])
    first = sb.push(REPO, "add checkout page")
    demo.say(
        f"pushed commit {first[:12]}; scripted in the sandbox: the next Build fails with toomanyrequests"
    )
    run = demo.until(lambda: finished(sb, "Succeeded"), "the execution to succeed")
    demo.new_events()
    told = demo.new_messages()
    if run:
        attempts = build_attempts(sb, run["pipelineExecutionId"])
        demo.say(
            f"execution {run['pipelineExecutionId'][:8]}: {run['status']}; Build: {' -> '.join(attempts)}"
        )
        demo.check(attempts == ["Failed", "Succeeded"], "retried once after its backoff, then succeeded")
        demo.check(
            Counter(p["blocks"][0]["text"]["text"] for p in told) == Counter(RECOVERY_STORY),
            f"told once each: {'; '.join(RECOVERY_STORY)}",
        )
        say_counts(demo, run["pipelineExecutionId"])
        service = sb.client("ecs").describe_services(cluster="apps-prod", services=["web"])["services"][0]
        task = sb.client("ecs").describe_task_definition(taskDefinition=service["taskDefinition"])
        image = task["taskDefinition"]["containerDefinitions"][0]["image"]
        demo.check(
            f"/{REPO}:{first[:12]}-" in image,  # the commit, then the build's own id
            f"apps-prod/web runs {image.split('/', 1)[1]}, built, pushed and deployed with the pipeline's "
            "own roles (every call authorized by IAM in the sandbox)",
        )

    demo.step("Another push breaks a unit test")
    sb.simulator.scripts.add(PIPELINE, "Build", [TEST_FAILURE])
    sb.push(REPO, "refactor cart totals")
    demo.until(lambda: sb.pipewarden_events("Failure Not Retried"), "the failure to be classified")
    demo.new_events()
    told = demo.new_messages()
    demo.check(
        [p["blocks"][0]["text"]["text"] for p in told] == ["Pipeline failed, not retried"]
        and "FAIL src/cart.test.js" in json.dumps(told),
        "one message: not retried, with the failing test's log lines (not CodePipeline's FAILED too)",
    )
    failed = finished(sb, "Failed")
    attempts = build_attempts(sb, failed["pipelineExecutionId"]) if failed else []
    demo.check(attempts == ["Failed"], "failed once, not retried")
    demo.say("recent decisions (pipewarden retries):")
    cli_main(["retries", PIPELINE, "--endpoint-url", sb.url, "--region", REGION])

    demo.step(
        f"Keep fewer artifacts: {PREFIX}:keep-executions=3, then six more pushes (the last breaks a test)"
    )
    cc.tag_resource(resourceArn=arn, tags={f"{PREFIX}:keep-executions": "3"})
    demo.settle()
    for n in range(6):
        if n == 5:
            sb.simulator.scripts.add(PIPELINE, "Build", [TEST_FAILURE])
        sb.push(REPO, f"small change {n + 1}")
        sb.wait_for_execution(PIPELINE)
    demo.until(lambda: len(sb.pipewarden_events("Failure Not Retried")) == 2, "the second test failure")
    demo.new_events()
    demo.new_messages()
    runs = sb.client("codepipeline").list_pipeline_executions(pipelineName=PIPELINE)[
        "pipelineExecutionSummaries"
    ]
    demo.say(f"{len(runs)} executions: {', '.join(r['status'] for r in runs)} (newest first)")
    bucket = sb.outputs["ArtifactBucketName"]
    before = artifact_keys(sb, bucket)
    demo.say("pipewarden prune --dry-run --grace-hours 0 (artifacts here are minutes old, not a day):")
    cli_main(["prune", "--dry-run", "--grace-hours", "0", "--endpoint-url", sb.url, "--region", REGION])
    cli_main(
        ["prune", "--pipeline", PIPELINE, "--grace-hours", "0", "--endpoint-url", sb.url, "--region", REGION]
    )
    after = artifact_keys(sb, bucket)
    needed = set().union(*(sb.execution_keys(PIPELINE, r["pipelineExecutionId"]) for r in runs[:3]))
    demo.check(
        len(after) < len(before) and needed <= after,
        f"{len(before) - len(after)} deleted; the last 3 executions' artifacts remain",
    )
    failed = runs[0]["pipelineExecutionId"]
    sb.client("codepipeline").retry_stage_execution(
        pipelineName=PIPELINE, stageName="Build", pipelineExecutionId=failed, retryMode="FAILED_ACTIONS"
    )
    status = sb.wait_for_execution(PIPELINE, failed)["status"]
    demo.check(status == "Succeeded", f"retrying the failed execution still finds its artifacts: {status}")
    demo.new_events()
    pruned = [p["blocks"][0]["text"]["text"] for p in demo.new_messages()]
    demo.check("Artifacts pruned" in pruned, "the prune was reported")

    demo.step(f"Change a tag: {PREFIX}:branch=release")
    cc.tag_resource(resourceArn=arn, tags={f"{PREFIX}:branch": "release"})
    demo.settle()
    demo.new_events()
    demo.new_messages()
    updated = pipeline_or_none(sb, PIPELINE)
    demo.check(
        updated is not None and source_branch(updated) == "release",
        "the pipeline's source branch is now release",
    )

    demo.step("Nothing changed, events arrive again: nothing is written")
    before = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
    sb.run_schedules("EnrollFunction")
    demo.settle()
    demo.check(not demo.new_events(), f"resync left the stack as it was ({before})")

    demo.step("Someone edits the pipeline's stack by hand while a tag changes")
    kept = fleet.edit_stack_by_hand(sb, STACK)
    busy = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
    demo.say(f"the stack is {busy} (log retention 1 day, by hand); meanwhile {PREFIX}:compute=medium")
    cc.tag_resource(resourceArn=arn, tags={f"{PREFIX}:compute": "medium"})
    demo.settle()
    demo.check(
        not demo.new_events(),
        "the change waited for the busy stack; the hand-made update is not pipewarden's",
    )
    demo.say("the hourly resync runs (here: at once)")
    sb.run_schedules("EnrollFunction")
    demo.settle()
    kinds = [e["detail-type"] for e in demo.new_events()]
    demo.new_messages()
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    now = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    project = sb.client("codebuild").batch_get_projects(names=[STACK])["projects"][0]
    demo.check(
        "Repository Enrollment Failed" not in kinds
        and project["environment"]["computeType"].endswith("MEDIUM"),
        "the tag change applied, told once",
    )
    demo.check(
        now["LogRetentionDays"] == kept["LogRetentionDays"],
        f"the hand-made change was put back: log retention {now['LogRetentionDays']} days, as configured",
    )

    demo.step(f"Another team tags {REPO}-payments for cluster payments-prod, outside the allow-list")
    other = cc.create_repository(repositoryName=f"{REPO}-payments")["repositoryMetadata"]["Arn"]
    cc.tag_resource(resourceArn=other, tags=dict(tags, **{f"{PREFIX}:ecs-cluster": "payments-prod"}))
    demo.settle()
    rejected = [e for e in demo.new_events() if e["detail-type"] == "Repository Enrollment Rejected"]
    demo.check(
        bool(rejected) and rejected[0]["detail"]["key"] == f"{PREFIX}:ecs-cluster",
        "rejected, naming the bad key",
    )
    told = demo.new_messages()
    demo.check(len(told) == 1, f"{len(rejected)} rejection events, one message")
    demo.check(pipeline_or_none(sb, pipeline_name(f"{REPO}-payments")) is None, "nothing was created for it")

    demo.step(f"{REPO}-payments aims at apps-prod/web instead, a service that takes {REPO}'s images only")
    cc.tag_resource(resourceArn=other, tags=dict(tags, **{f"{PREFIX}:ecs-cluster": "apps-prod"}))
    demo.settle()
    rejected = [e for e in demo.new_events() if e["detail-type"] == "Repository Enrollment Rejected"]
    demo.check(
        bool(rejected) and f"belongs to repository {REPO!r}" in rejected[0]["detail"]["reason"],
        "rejected: the service's ownership tag names another repository",
    )
    demo.new_messages()
    demo.check(pipeline_or_none(sb, pipeline_name(f"{REPO}-payments")) is None, "nothing was created for it")

    demo.step(f"An invalid value on the enrolled repository: {PREFIX}:max-retries=9")
    cc.tag_resource(resourceArn=arn, tags={f"{PREFIX}:max-retries": "9"})
    demo.settle()
    rejected = [e for e in demo.new_events() if e["detail-type"] == "Repository Enrollment Rejected"]
    demo.check(bool(rejected), "rejected with the reason; the working pipeline is left as it was")
    demo.new_messages()
    cc.untag_resource(resourceArn=arn, tagKeys=[f"{PREFIX}:max-retries"])
    demo.settle()
    demo.new_events()
    demo.new_messages()

    tour(demo)

    demo.step(f"Remove {PREFIX}:enabled from {REPO}")
    cc.untag_resource(resourceArn=arn, tagKeys=[f"{PREFIX}:enabled"])
    demo.settle()
    demo.new_events()
    demo.new_messages()
    demo.check(pipeline_or_none(sb, PIPELINE) is None, "pipeline deleted")
    left = [
        r["RoleName"]
        for r in iam.list_roles(PathPrefix="/pipewarden/")["Roles"]
        if r["RoleName"].startswith(STACK)
    ]
    projects = sb.client("codebuild").list_projects()["projects"]
    demo.check(not left and STACK not in projects, "its roles and build project are gone too")
    demo.check(
        bool(sb.pipewarden_events("Repository Unenrolled")), "Repository Unenrolled followed DELETE_COMPLETE"
    )

    watch_itself(demo)

    demo.step("What people were told: messages per execution against the AWS events behind them")
    ids = list(dict.fromkeys(e["detail"]["execution-id"] for e in sb.pipeline_events))
    for execution_id in ids:
        say_counts(demo, execution_id)
    events = len(sb.pipeline_events) + len(sb.events)
    messages = len(sb.slack_messages())
    demo.say(
        f"in all: {len(sb.pipeline_events)} CodePipeline + {len(sb.events)} pipewarden events "
        f"-> {messages} Slack messages, {len(sb.sns_messages())} SNS messages "
        f"({events / max(messages, 1):.1f} events per message)"
    )
    demo.check(messages == len(sb.sns_messages()), "Slack and SNS got the same messages")


def main() -> int:
    started = time.perf_counter()
    print(f"pipewarden demo: a local sandbox (moto on 127.0.0.1, account {ACCOUNT}, {REGION})")
    # Retries wait 1-3 s here instead of the deployed defaults (30 s to 15 min).
    fast_retries = {"RetryBaseSeconds": "1", "RetryCapSeconds": "3", "RateLimitWaitSeconds": "3"}
    fast_retries["PruneOnExecutionEnd"] = "ENABLED"  # as `pipewarden local` runs it
    # One repository per blueprint; the template's default leaves some to the platform team.
    fast_retries["AllowedBlueprints"] = ",".join(BLUEPRINTS)
    with Sandbox(parameters={"AllowedEcsTargets": ALLOWED, **fast_retries}) as sandbox:
        print(f"sandbox at {sandbox.url}")
        demo = Demo(sandbox)
        run(demo)
        dead = sandbox.bus.dead_letters
        demo.check(not dead, "no invocation failed or went to a dead-letter queue")
    took = time.perf_counter() - started
    if demo.failures:
        print(f"\ndemo FAILED ({len(demo.failures)} checks): " + "; ".join(demo.failures))
        return 1
    print(f"\ndemo passed: every step checked out in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
