"""The demo's tour of the blueprints: one repository per blueprint, enrolled by tag, pushed and shown.

Each blueprint has a `Stop`: what its repository needs before it is tagged (a service, a load balancer),
the tags that choose it, and what its first execution must show. `make demo` runs every stop after the
main ecs-rolling story, then `pipewarden status` shows one row per blueprint.
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cli.main import main as cli_main
from pipewarden.naming import application_name, pipeline_name, stack_name
from sandbox import fleet
from sandbox.runtime import REGION, Sandbox

if TYPE_CHECKING:
    from sandbox.demo import Demo

PREFIX = "pipewarden"


@dataclass(frozen=True)
class Stop:
    """One blueprint's repository in the tour."""

    blueprint: str
    repository: str
    why: str  # the kind of application, in the narration
    stages: tuple[str, ...]
    prepare: Callable[[Sandbox], dict[str, str]] = lambda sandbox: {}  # -> extra enroll flags
    # The developer's first push (a SAM template for lambda, any change otherwise).
    push: Callable[[Sandbox, str], str] = lambda sandbox, repo: sandbox.push(repo, "first change")
    # What the first execution must have done, checked once it succeeded: (ok, what) for demo.check.
    shows: Callable[[Sandbox, dict[str, Any]], tuple[bool, str]] = lambda sandbox, run: (True, "")


def _output_file(sandbox: Sandbox, run: dict[str, Any], action: str, name: str) -> Any:
    """A JSON file of an action's output artifact in the artifact bucket."""
    details = sandbox.client("codepipeline").list_action_executions(
        pipelineName=run["pipeline"], filter={"pipelineExecutionId": run["pipelineExecutionId"]}
    )["actionExecutionDetails"]
    build = next(d for d in details if d["actionName"] == action and d["status"] == "Succeeded")
    location = build["output"]["outputArtifacts"][0]["s3location"]
    body = sandbox.client("s3").get_object(Bucket=location["bucket"], Key=location["key"])["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return json.loads(archive.read(name))


def _build_only_shows(sandbox: Sandbox, run: dict[str, Any]) -> tuple[bool, str]:
    detail = _output_file(sandbox, run, "Build", "imageDetail.json")
    image = str(detail.get("ImageURI", ""))
    return "/billing-lib:" in image, f"image {image.split('/', 1)[-1]} pushed; imageDetail.json names it"


def _blue_green_prepare(sandbox: Sandbox) -> dict[str, str]:
    target = fleet.blue_green_target(sandbox, "orders", cluster="apps-prod", service="orders-web")
    return {"cluster": "apps-prod", "service": "orders-web", "test-target-group": target["green"]}


def _blue_green_shows(sandbox: Sandbox, run: dict[str, Any]) -> tuple[bool, str]:
    ecs = sandbox.client("ecs")
    service = ecs.describe_services(cluster="apps-prod", services=["orders-web"])["services"][0]
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    image = str(task["containerDefinitions"][0]["image"])
    return "/orders:" in image, f"CodeDeploy shifted apps-prod/orders-web to {image.split('/', 1)[-1]}"


def _lambda_shows(sandbox: Sandbox, run: dict[str, Any]) -> tuple[bool, str]:
    name = f"{application_name('quotes-api')}-quote"
    try:
        function = sandbox.client("lambda").get_function(FunctionName=name)["Configuration"]
    except sandbox.client("lambda").exceptions.ResourceNotFoundException:
        return False, f"function {name} deployed"
    role = function["Role"].split(":role", 1)[-1]
    return role.startswith("/pipewarden-apps/quotes-api/"), f"function {name} deployed, its role {role}"


STOPS: tuple[Stop, ...] = (
    Stop(
        "ecs-blue-green",
        "orders",
        "a service behind a load balancer, deployed blue/green by CodeDeploy",
        ("Source", "Build", "Deploy"),
        prepare=_blue_green_prepare,
        shows=_blue_green_shows,
    ),
    Stop(
        "lambda",
        "quotes-api",
        "a serverless application: its SAM template built, packaged and deployed by a change set",
        ("Source", "Build", "Deploy"),
        push=lambda sandbox, repo: sandbox.push(
            repo, fleet.sam_application("quote"), "main", path="template.yaml"
        ),
        shows=_lambda_shows,
    ),
    Stop(
        "build-only",
        "billing-lib",
        "a library: built and tested, its image published, deployed by nobody",
        ("Source", "Build"),
        shows=_build_only_shows,
    ),
)


def tour(demo: Demo) -> None:
    sb = demo.sandbox
    for stop in STOPS:
        demo.step(f"Blueprint {stop.blueprint}: {stop.repository}, {stop.why}")
        sb.client("codecommit").create_repository(repositoryName=stop.repository)
        flags = stop.prepare(sb)
        argv = ["enroll", stop.repository, "--blueprint", stop.blueprint, "--notify", "all"]
        argv += [part for flag, value in flags.items() for part in (f"--{flag}", value)]
        demo.say("pipewarden " + " ".join(argv))
        demo.check(cli_main([*argv, "--endpoint-url", sb.url, "--region", REGION]) == 0, "tagged")
        demo.settle()
        demo.new_events()
        demo.new_messages()
        pipeline = pipeline_name(stop.repository)
        try:
            stages = tuple(
                s["name"] for s in sb.client("codepipeline").get_pipeline(name=pipeline)["pipeline"]["stages"]
            )
        except sb.client("codepipeline").exceptions.PipelineNotFoundException:
            stages = ()
        demo.check(stages == stop.stages, f"pipeline {pipeline}: {' -> '.join(stages) or 'none'}")
        stack = sb.client("cloudformation").describe_stacks(StackName=stack_name(stop.repository))["Stacks"][
            0
        ]
        label = {t["Key"]: t["Value"] for t in stack["Tags"]}.get(f"{PREFIX}:blueprint", "")
        demo.check(label.startswith(f"{stop.blueprint}@"), f"stack {stack['StackName']} tagged {label}")
        stop.push(sb, stop.repository)
        run = demo.until(functools.partial(_finished, sb, pipeline), f"{pipeline}'s first execution")
        demo.new_events()
        demo.new_messages()
        if run:
            demo.check(run["status"] == "Succeeded", f"first execution {run['status']}")
            ok, what = stop.shows(sb, {**run, "pipeline": pipeline})
            demo.check(ok, what)
    demo.step("pipewarden status: the controller's health, then one row per repository, with its blueprint")
    cli_main(["status", "--endpoint-url", sb.url, "--region", REGION])


def _finished(sandbox: Sandbox, pipeline: str) -> dict[str, Any] | None:
    runs = sandbox.client("codepipeline").list_pipeline_executions(pipelineName=pipeline)[
        "pipelineExecutionSummaries"
    ]
    done = [r for r in runs if r["status"] in ("Succeeded", "Failed", "Stopped")]
    return done[0] if done else None
