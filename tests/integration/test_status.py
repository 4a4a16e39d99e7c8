"""`pipewarden status` in the sandbox: the controller's health first, then the repositories; `--json` as
scripts read it (README "Operating pipewarden")."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import jsonschema
import pytest

from cli.main import main as cli_main
from sandbox.runtime import REGION, Sandbox
from tests.conftest import World
from tests.integration.controller_like import EVERYTHING, deploy, deployer, remove_deployed, resync_logged

pytestmark = pytest.mark.integration

# One repository's row: what `status --json` has always printed (a list of these), and the
# "repositories" of `status --json object`.
ROW = {
    "type": "object",
    "required": [
        "repository",
        "enabled",
        "blueprint",
        "stack_status",
        "pipeline",
        "last_execution",
        "retry",
        "notify",
        "keep_executions",
    ],
    "additionalProperties": False,
    "properties": {
        "repository": {"type": "string", "minLength": 1},
        "enabled": {"type": "string"},
        "blueprint": {"type": "string", "minLength": 1},
        "stack_status": {"type": "string", "minLength": 1},
        "pipeline": {"type": "string"},
        "last_execution": {"type": "string"},
        "retry": {"type": "string"},
        "notify": {"type": "string"},
        "keep_executions": {"type": ["integer", "null"]},
    },
}
NULLABLE_TEXT = {"type": ["string", "null"]}
NULLABLE_COUNT = {"type": ["integer", "null"], "minimum": 0}
HEALTH = {
    "type": "object",
    "required": ["stack", "region", "stack_status", "alarms", "queues", "last_resync", "unknown"],
    "additionalProperties": False,
    "properties": {
        "stack": {"type": "string", "minLength": 1},
        "region": {"type": "string", "minLength": 1},
        "stack_status": NULLABLE_TEXT,
        "alarms": {
            "type": ["object", "null"],
            "required": ["count", "in_alarm"],
            "additionalProperties": False,
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "in_alarm": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "reason", "since", "fix"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "reason": {"type": "string"},
                            "since": NULLABLE_TEXT,
                            "fix": {"type": "string", "minLength": 1},
                        },
                    },
                },
            },
        },
        "queues": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["queue", "name", "url", "waiting", "fix"],
                "additionalProperties": False,
                "properties": {
                    "queue": {
                        "enum": ["RuleDeadLetterQueue", "FunctionFailureQueue", "RetryDeadLetterQueue"]
                    },
                    "name": {"type": "string", "minLength": 1},
                    "url": {"type": "string", "minLength": 1},
                    "waiting": {"type": "integer", "minimum": 0},
                    "fix": NULLABLE_TEXT,
                },
            },
        },
        "last_resync": {
            "type": ["object", "null"],
            "required": [
                "at",
                "age_seconds",
                "late",
                "rate",
                "log_group",
                "repositories",
                "stacks",
                "errors",
                "rejected",
            ],
            "additionalProperties": False,
            "properties": {
                "at": NULLABLE_TEXT,
                "age_seconds": NULLABLE_COUNT,
                "late": {"type": "boolean"},
                "rate": {"type": "string"},
                "log_group": NULLABLE_TEXT,
                "repositories": NULLABLE_COUNT,
                "stacks": NULLABLE_COUNT,
                "errors": NULLABLE_COUNT,
                "rejected": NULLABLE_COUNT,
            },
        },
        "unknown": {"type": "array", "items": {"type": "string", "minLength": 1}},
    },
}
OBJECT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["health", "repositories"],
    "additionalProperties": False,
    "properties": {"health": HEALTH, "repositories": {"type": "array", "items": ROW}},
}
LIST = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "array", "items": ROW}


@dataclass
class Fleet:
    stack: str
    blueprints: dict[str, str]  # repository -> the blueprint it was enrolled with


@pytest.fixture(scope="module")
def fleet(sandbox: Sandbox) -> Iterator[Fleet]:
    """A deployed controller with two invocations dead-lettered, their alarm in ALARM and a resync five
    minutes ago; repositories enrolled with three blueprints and one rejected (a bad tag value)."""
    stack, outputs = deploy(sandbox, base="status")
    sqs, cloudwatch = sandbox.client("sqs"), sandbox.client("cloudwatch")
    for _ in range(2):
        sqs.send_message(QueueUrl=outputs["FunctionFailureQueueUrl"], MessageBody="{}")
    for alarm, state in (("function-failures", "ALARM"), ("rule-dead-letters", "OK")):
        cloudwatch.put_metric_alarm(
            AlarmName=f"{stack}-{alarm}",
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Statistic="Maximum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        cloudwatch.set_alarm_state(AlarmName=f"{stack}-{alarm}", StateValue=state, StateReason="test")
    resync_logged(sandbox, outputs["EnrollFunctionName"], minutes_ago=5)
    world = World(sandbox, uuid.uuid4().hex[:8])
    world.service()
    tagged = {
        "shop": world.enroll_tags(),  # ecs-rolling, the default
        "lib": {"pipewarden:enabled": "true", "pipewarden:blueprint": "build-only"},
        "fn": {"pipewarden:enabled": "true", "pipewarden:blueprint": "lambda"},
        "odd": {
            "pipewarden:enabled": "true",
            "pipewarden:blueprint": "build-only",
            "pipewarden:max-retries": "9",
        },
    }
    arns = {}
    for base, tags in tagged.items():
        name, arns[name] = world.repository(base)
        world.tag(arns[name], tags)
    blueprints = {world.name(b): t.get("pipewarden:blueprint", "ecs-rolling") for b, t in tagged.items()}
    yield Fleet(stack, blueprints)
    for arn in arns.values():  # their stacks go: later tests count the stacks there are
        world.untag(arn, ["pipewarden:enabled"])
    remove_deployed(sandbox)


def status(sandbox: Sandbox, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    capsys.readouterr()
    assert cli_main(["status", "--endpoint-url", sandbox.url, "--region", REGION, *extra]) == 0
    return capsys.readouterr().out


def test_status_json_object_has_the_health_and_every_blueprints_rows_in_its_schema(
    sandbox: Sandbox, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    # When a script asks for the object form
    found = json.loads(status(sandbox, capsys, "--json", "object", "--stack-name", fleet.stack))
    # Then it holds the schema, with the health read from the stack
    jsonschema.validate(found, OBJECT)
    health = found["health"]
    assert (health["stack"], health["region"], health["stack_status"]) == (
        fleet.stack,
        REGION,
        "CREATE_COMPLETE",
    )
    assert health["alarms"]["count"] == 2
    [alarm] = health["alarms"]["in_alarm"]
    assert alarm["name"] == f"{fleet.stack}-function-failures"
    assert alarm["fix"].endswith(f"then run: pipewarden replay-dlq --stack-name {fleet.stack}")
    assert datetime.datetime.fromisoformat(alarm["since"]).tzinfo is not None
    waiting = {q["queue"]: (q["waiting"], q["fix"]) for q in health["queues"]}
    assert waiting == {
        "RuleDeadLetterQueue": (0, None),
        "FunctionFailureQueue": (2, f"pipewarden replay-dlq --stack-name {fleet.stack} --region {REGION}"),
        "RetryDeadLetterQueue": (0, None),
    }
    resync = health["last_resync"]
    assert (resync["repositories"], resync["stacks"], resync["errors"], resync["late"]) == (3, 2, 0, False)
    assert 240 < resync["age_seconds"] < 600
    assert health["unknown"] == []
    # ... and a row per repository, each with the blueprint it was enrolled with
    rows = {r["repository"]: r for r in found["repositories"]}
    assert {name: rows[name]["blueprint"] for name in fleet.blueprints} == fleet.blueprints
    odd = next(name for name in fleet.blueprints if name.startswith("odd-"))
    assert rows[odd]["stack_status"] == "-"  # rejected: no stack
    assert {rows[n]["stack_status"] for n in fleet.blueprints if n != odd} == {"CREATE_COMPLETE"}
    # The plain --json is what it always was: a list of the same rows, no health
    listed = json.loads(status(sandbox, capsys, "--json", "--stack-name", fleet.stack))
    jsonschema.validate(listed, LIST)
    assert {r["repository"] for r in listed} == set(rows)


def test_status_shows_health_first_then_the_repositories_as_aligned_tables(
    sandbox: Sandbox, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = status(sandbox, capsys, "--stack-name", fleet.stack).splitlines()
    blank = lines.index("")
    health, repositories = lines[:blank], lines[blank + 1 :]
    assert health[0].split() == ["HEALTH", "STATE", "DETAIL"]
    assert repositories[0].split()[:3] == ["REPOSITORY", "ENABLED", "BLUEPRINT"]
    for table in (health, repositories):  # each column starts where its header does
        starts = [table[0].index(h) for h in table[0].split()[1:3]]
        for line in table[1:]:
            assert all(line[s - 2 : s] == "  " and line[s] != " " for s in starts), (table[0], line)
    rows = {line.split()[0]: line for line in health[1:]}
    assert rows["stack"].split()[1] == "CREATE_COMPLETE"
    assert f"{fleet.stack}-function-failures since " in rows["alarm"]
    assert rows["FunctionFailureQueue"].split()[1:3] == ["2", "waiting"]
    assert rows["FunctionFailureQueue"].endswith(
        f"pipewarden replay-dlq --stack-name {fleet.stack} --region {REGION}"
    )
    assert rows["RuleDeadLetterQueue"].split()[1] == "empty"
    assert "min ago" in rows["last"] and rows["last"].endswith(": 3 repositories, 2 stacks, 0 errors")
    assert {line.split()[0] for line in repositories[1:]} >= set(fleet.blueprints)


def test_no_controller_found_is_one_line_and_the_repositories_still_show(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = f"absent-{uuid.uuid4().hex[:8]}"
    lines = status(sandbox, capsys, "--stack-name", absent).splitlines()
    assert lines[0] == (
        f"health unknown: no stack {absent} in {REGION}, and no queue or alarm named {absent}-* "
        f"(--stack-name names the controller stack)"
    )
    assert lines[1] == ""
    found = json.loads(status(sandbox, capsys, "--json", "object", "--stack-name", absent))
    jsonschema.validate(found, OBJECT)
    health = found["health"]
    assert (health["stack_status"], health["queues"], health["alarms"]["count"], health["last_resync"]) == (
        None,
        [],
        0,
        None,
    )


def test_a_part_the_caller_may_not_read_is_named_and_the_rest_is_shown(
    sandbox: Sandbox, fleet: Fleet, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a caller that may read everything but the alarms (IAM enforced for its session)
    statements: list[dict[str, Any]] = [
        *EVERYTHING,
        {"Effect": "Deny", "Action": "cloudwatch:DescribeAlarms", "Resource": "*"},
    ]
    for key, value in deployer(sandbox, statements).items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # read the credentials again, as a new process does
    # When it runs status
    found = json.loads(status(sandbox, capsys, "--json", "object", "--stack-name", fleet.stack))
    # Then the alarms are unknown, and why; the queues and the resync are there
    jsonschema.validate(found, OBJECT)
    health = found["health"]
    assert health["alarms"] is None
    [unknown] = health["unknown"]
    assert unknown.startswith("alarms: the caller may not DescribeAlarms (")
    assert health["last_resync"]["repositories"] == 3
    assert [q["waiting"] for q in health["queues"]] == [0, 2, 0]
    lines = status(sandbox, capsys, "--stack-name", fleet.stack).splitlines()
    assert next(line for line in lines if line.startswith("alarms ")).split()[1:5] == [
        "unknown",
        "the",
        "caller",
        "may",
    ]


def test_a_reader_that_goes_away_ends_status_quietly(sandbox: Sandbox) -> None:
    # `pipewarden status | head -1`: once the reader has gone, what is left to print goes nowhere,
    # with no traceback (Python raises BrokenPipeError on the write)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        done = subprocess.run(  # noqa: S603 (our own command line, no shell)
            [sys.executable, "-m", "cli.main", "status", "--endpoint-url", sandbox.url, "--region", REGION],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1
