"""A controller-like stack deployed in the sandbox, its resync logged, and a deployer role with its
credentials: what the doctor and status tests read as a deployed controller."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from pipewarden.resync import ResyncReport
from sandbox.runtime import ACCOUNT, Sandbox

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    ],
}
EVERYTHING = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]


def deployer(sandbox: Sandbox, statements: list[dict[str, Any]]) -> dict[str, str]:
    """A role (under a path, as teams keep theirs) with one inline policy, assumed: its credentials as
    the environment gives them to the default credential chain."""
    iam, name = sandbox.client("iam"), f"deployer-{uuid.uuid4().hex[:8]}"
    arn = iam.create_role(RoleName=name, Path="/platform/", AssumeRolePolicyDocument=json.dumps(TRUST))[
        "Role"
    ]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="deploy",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    issued = sandbox.client("sts").assume_role(RoleArn=arn, RoleSessionName="ci")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": issued["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
        "AWS_SESSION_TOKEN": issued["SessionToken"],
        "role_arn": arn,
        "session_arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/ci",
    }


# What doctor and status read of the controller stack: its parameters and the outputs naming the queues and the
# enroll function (the sandbox wires the controller without a CloudFormation stack of its own).
CONTROLLER_LIKE = {
    "Parameters": {
        "AllowedEcsTargets": {"Type": "String", "Default": ""},
        "ResyncRate": {"Type": "String", "Default": "rate(1 hour)"},
        "Function": {"Type": "String"},
    },
    "Resources": {
        name: {"Type": "AWS::SQS::Queue"}
        for name in ("RuleDeadLetterQueue", "FunctionFailureQueue", "RetryDeadLetterQueue")
    },
    "Outputs": {
        "RuleDeadLetterQueueUrl": {"Value": {"Ref": "RuleDeadLetterQueue"}},
        "FunctionFailureQueueUrl": {"Value": {"Ref": "FunctionFailureQueue"}},
        "RetryDeadLetterQueueUrl": {"Value": {"Ref": "RetryDeadLetterQueue"}},
        "EnrollFunctionName": {"Value": {"Ref": "Function"}},
    },
}


_DEPLOYED: list[str] = []


def remove_deployed(sandbox: Sandbox) -> None:
    """Delete the stacks, alarms and log groups a test made: the sandbox is shared with every later test
    (tests/sandbox/test_pagination.py counts the stacks there are)."""
    cloudformation, cloudwatch, logs = (sandbox.client(s) for s in ("cloudformation", "cloudwatch", "logs"))
    while _DEPLOYED:
        stack = _DEPLOYED.pop()
        cloudformation.delete_stack(StackName=stack)
        alarms = cloudwatch.describe_alarms(AlarmNamePrefix=stack)["MetricAlarms"]
        if alarms:
            cloudwatch.delete_alarms(AlarmNames=[a["AlarmName"] for a in alarms])
        for group in logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{stack}")["logGroups"]:
            logs.delete_log_group(logGroupName=group["logGroupName"])
        deadline = time.monotonic() + 30
        while any(s["StackName"] == stack for s in cloudformation.describe_stacks()["Stacks"]):
            assert time.monotonic() < deadline, f"{stack} is still there"
            sandbox.wait_idle(5)
            time.sleep(0.05)


def deploy(
    sandbox: Sandbox, targets: str = "apps-*", role: str | None = None, base: str = "doctor"
) -> tuple[str, dict[str, str]]:
    """A controller-like stack (name, outputs) once its creation has ended; remove_deployed() deletes it."""
    cloudformation = sandbox.client("cloudformation")
    stack = f"{base}-{uuid.uuid4().hex[:8]}"
    _DEPLOYED.append(stack)
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(CONTROLLER_LIKE),
        Parameters=[
            {"ParameterKey": "AllowedEcsTargets", "ParameterValue": targets},
            {"ParameterKey": "Function", "ParameterValue": f"{stack}-EnrollFunction-ABC"},
        ],
        **({"RoleARN": role} if role else {}),
    )
    deadline = time.monotonic() + 30
    while (
        "IN_PROGRESS"
        in (found := cloudformation.describe_stacks(StackName=stack)["Stacks"][0])["StackStatus"]
    ):
        assert time.monotonic() < deadline, found
        sandbox.wait_idle(5)
        time.sleep(0.05)
    return stack, {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def resync_logged(sandbox: Sandbox, function: str, minutes_ago: float) -> None:
    """The enroll function's `resync done` line, as Powertools writes it to the function's log group.

    The sandbox keeps its functions' logs in memory (sandbox/lambdas.py), not in CloudWatch Logs: the
    line is written here as Lambda would write it on AWS.
    """
    logs, group = sandbox.client("logs"), f"/aws/lambda/{function}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="2026/01/01/[$LATEST]abc")
    at = int((time.time() - minutes_ago * 60) * 1000)
    summary = ResyncReport(repositories=3, stacks=2).summary()  # what functions/enroll/app.py logs
    record = {"level": "INFO", "message": "resync done", "cause": "schedule", **summary}
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2026/01/01/[$LATEST]abc",
        logEvents=[{"timestamp": at, "message": json.dumps(record)}],
    )
