"""The one place that owns the AWS fakes: the sandbox (moto over HTTP) and helpers that build on it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipewarden.contract import BLUEPRINTS
from pipewarden.naming import pipeline_name
from sandbox import fleet
from sandbox.runtime import ACCOUNT, REGION, Sandbox

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
ALLOWED = "apps-*,shared/web-*"


def sample_event(name: str) -> dict[str, Any]:
    """One of the JSON files in events/."""
    return json.loads((EVENTS / name).read_text())  # type: ignore[no-any-return]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the reduced chaos storm (a process of its own, a minute long) as soon as it is collected."""
    if any(item.name == "test_a_reduced_storm_leaves_no_invariant_violated" for item in session.items):
        from tests.integration.test_chaos import start_storm

        start_storm()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The controller deployed into a local sandbox, shared by the integration tests."""
    fast_retries = {"RetryBaseSeconds": "1", "RetryCapSeconds": "1", "RateLimitWaitSeconds": "1"}
    # Artifacts are minutes old here: with no grace, the prune function deletes what it would on AWS.
    fast_retries["PruneGraceHours"] = "0"
    # Each execution's end prunes its pipeline here (as `pipewarden local` does); the template's default
    # leaves pruning to the schedule (tests/integration/test_prune_flow.py shows both).
    fast_retries["PruneOnExecutionEnd"] = "ENABLED"
    # The metrics are published here (EMF in the logs, tests/sandbox/test_lambda_runtime.py); the
    # template's default publishes none (tests/integration/test_prune_flow.py runs the defaults).
    fast_retries["DetailedMetrics"] = "true"
    # Stack operations take 0.1 s here (0.5 s in the demo and chaos): tests that need a stack to stay
    # busy longer slow it down themselves (tests/sandbox/test_async_stacks.py).
    # Every blueprint may be chosen here; the template's default leaves lambda to the platform team.
    fast_retries["AllowedBlueprints"] = ",".join(BLUEPRINTS)
    with Sandbox(parameters={"AllowedEcsTargets": ALLOWED, **fast_retries}, stack_seconds=0.1) as running:
        yield running
        # Every Slack payload any test produced must pass slack_sdk's Block Kit models.
        from tests.unit.test_messages import validate

        for payload in running.slack.received:
            validate(payload)


@dataclass
class World:
    """Builds what an application team has (ECS service, repository) with names unique to a test."""

    sandbox: Sandbox
    suffix: str

    def name(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def service(
        self,
        cluster: str = "apps-prod",
        service: str = "web",
        roles: bool = True,
        owner: str | None = "",
    ) -> tuple[str, str]:
        """An ECS service `<service>-<suffix>` that takes the test's repository's images (`shop-<suffix>`
        unless `owner` says otherwise; None: a service that never opted in). Its container is named
        after that repository, the container name enrollment assumes (`pipewarden:container`'s default)."""
        owner = self.name("shop") if owner == "" else owner
        name = self.name(service)
        return fleet.deploy_target(
            self.sandbox,
            owner or "",
            cluster,
            name,
            roles=roles,
            owner=owner,
            container=owner or "",
            role_prefix=name,
        )

    def repository(self, base: str = "shop", tags: dict[str, str] | None = None) -> tuple[str, str]:
        name = self.name(base)
        codecommit = self.sandbox.client("codecommit")
        kwargs = {"tags": tags} if tags else {}
        arn = codecommit.create_repository(repositoryName=name, **kwargs)["repositoryMetadata"]["Arn"]
        return name, arn

    def enroll_tags(self, cluster: str = "apps-prod", service: str = "web", **extra: str) -> dict[str, str]:
        """The tags that enroll a repository for the service `world.service(cluster, service)` made."""
        return fleet.enroll_tags(cluster, self.name(service), **extra)

    def tag(self, arn: str, tags: dict[str, str]) -> None:
        self.sandbox.client("codecommit").tag_resource(resourceArn=arn, tags=tags)
        assert self.sandbox.wait_idle(30)

    def untag(self, arn: str, keys: list[str]) -> None:
        self.sandbox.client("codecommit").untag_resource(resourceArn=arn, tagKeys=keys)
        assert self.sandbox.wait_idle(30)

    def pipeline(self, repository: str) -> dict[str, Any] | None:
        client = self.sandbox.client("codepipeline")
        try:
            return client.get_pipeline(name=pipeline_name(repository))["pipeline"]  # type: ignore[no-any-return]
        except client.exceptions.PipelineNotFoundException:
            return None

    def stack(self, repository: str) -> dict[str, Any] | None:
        client = self.sandbox.client("cloudformation")
        try:
            return client.describe_stacks(StackName=f"pipewarden-{repository}")["Stacks"][0]  # type: ignore[no-any-return]
        except client.exceptions.ClientError:
            return None

    def push(self, repository: str, text: str = "change", branch: str = "main") -> str:
        """Commit a file to the branch (with the right parent), as a developer's push would."""
        return self.sandbox.push(repository, text, branch, path="app.txt")

    def eventually(self, check: Any, timeout: float = 30.0) -> Any:
        """Wait (events handled, delays passed) until `check()` returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            self.sandbox.wait_idle(timeout)
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting after {timeout} s")
            time.sleep(0.1)

    def executions(self, pipeline: str) -> list[dict[str, Any]]:
        client = self.sandbox.client("codepipeline")
        return client.list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]  # type: ignore[no-any-return]

    def action_runs(self, pipeline: str, execution_id: str, action: str) -> list[dict[str, Any]]:
        client = self.sandbox.client("codepipeline")
        details = client.list_action_executions(
            pipelineName=pipeline, filter={"pipelineExecutionId": execution_id}
        )
        return [d for d in details["actionExecutionDetails"] if d["actionName"] == action]

    def pipeline_events(self, pipeline: str, detail_type: str | None = None) -> list[dict[str, Any]]:
        return [
            e for e in self.sandbox.pipewarden_events(detail_type) if e["detail"].get("pipeline") == pipeline
        ]

    def events_for(self, repository: str, detail_type: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.sandbox.pipewarden_events(detail_type)
            if e["detail"].get("repository") == repository
        ]


@pytest.fixture
def world(sandbox: Sandbox) -> World:
    return World(sandbox, uuid.uuid4().hex[:8])


__all__ = ["ACCOUNT", "ALLOWED", "REGION", "World", "sample_event"]
