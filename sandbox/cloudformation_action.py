"""CodePipeline's CloudFormation deploy action in its change set modes, as the pipeline's role.

CHANGE_SET_REPLACE reads the template (TemplatePath `<artifact>::<file>`) from its input artifact,
deletes the stack's change set of that name if there is one, and creates it again (CREATE for a stack
that does not exist yet, else UPDATE) with the action's RoleArn, Capabilities and ParameterOverrides;
CHANGE_SET_EXECUTE executes it and waits for the stack's outcome
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/continuous-delivery-codepipeline-action-reference.html).
Every call is the pipeline role's, so IAM decides each (iam:PassRole of RoleArn to CloudFormation with
CreateChangeSet); CloudFormation then acts as RoleArn (sandbox.iam.stack_handlers).

Failures in AWS's words: "File [<file>] does not exist in artifact [<artifact>]" (aws/copilot-cli#5088),
a refused or invalid call as the SDK reports it, and a rolled-back stack as "Failed to execute change
set. Current stack status: <status>. Reason: <the first failed resource's reason>", or, when the role
may not read the stack's events, "Status reason is not available because IAM role associated with the
action does not have CloudFormation DescribeStackEvents permission" (aws/aws-cdk#29534; the "Reason"
form in aws-quickstart/quickstart-trek10-serverless-enterprise-cicd#23).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

SUCCEEDED = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
NO_CHANGES = "The submitted information didn't contain changes."
# The AWS::Serverless transform, as IAM authorizes a change set that uses it.
TRANSFORM_ARN = "arn:aws:cloudformation:{region}:aws:transform/Serverless-2016-10-31"


class ActionFailed(Exception):
    """The action failed with this message (the action execution's summary)."""


def run(
    action: dict[str, Any],
    inputs: list[dict[str, Any]],
    client: Callable[[str], Any],
    denial: Callable[[str, str], str],
    sdk_message: Callable[[ClientError, str], str],
    region: str,
) -> str:
    """Carry out the action with the pipeline role's clients (`client(service)`); its summary.

    `denial(action, resource)` is IAM's refusal of a permission no API call stands for ("" if allowed).
    ActionFailed with the action's message otherwise.
    """
    config = action.get("configuration", {})
    mode = str(config.get("ActionMode", ""))
    stack, change_set = str(config.get("StackName", "")), str(config.get("ChangeSetName", ""))
    cfn = client("cloudformation")
    try:
        if mode == "CHANGE_SET_REPLACE":
            body = _template(config, inputs, client("s3"), sdk_message)
            return _replace(cfn, config, stack, change_set, body, denial, region)
        if mode == "CHANGE_SET_EXECUTE":
            return _execute(cfn, stack, change_set)
    except ClientError as error:
        raise ActionFailed(sdk_message(error, "AmazonCloudFormation")) from None
    raise ActionFailed(f"ActionMode {mode} is not one the sandbox simulates")


def _template(config: dict[str, Any], inputs: list[dict[str, Any]], s3: Any, sdk_message: Any) -> str:
    artifact, _, file = str(config.get("TemplatePath", "")).partition("::")
    missing = f"File [{file}] does not exist in artifact [{artifact}]"
    location = next((i.get("s3location") or {} for i in inputs if i.get("name") == artifact), {})
    if not location:
        raise ActionFailed(missing)
    try:
        body = s3.get_object(Bucket=location["bucket"], Key=location["key"])["Body"].read()
    except ClientError as error:
        raise ActionFailed(sdk_message(error, "Amazon S3")) from None
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return archive.read(file).decode()
    except (KeyError, zipfile.BadZipFile, UnicodeDecodeError):
        raise ActionFailed(missing) from None


def _replace(
    cfn: Any,
    config: dict[str, Any],
    stack: str,
    change_set: str,
    body: str,
    denial: Callable[[str, str], str],
    region: str,
) -> str:
    existing = _stack(cfn, stack)
    kind = "CREATE" if existing is None or existing["StackStatus"] == "REVIEW_IN_PROGRESS" else "UPDATE"
    if "Serverless-2016-10-31" in body:
        refused = denial("cloudformation:CreateChangeSet", TRANSFORM_ARN.format(region=region))
        if refused:
            raise ActionFailed(refused)
    try:
        cfn.describe_change_set(StackName=stack, ChangeSetName=change_set)
        cfn.delete_change_set(StackName=stack, ChangeSetName=change_set)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ChangeSetNotFound":
            raise
    overrides = json.loads(config.get("ParameterOverrides") or "{}")
    capabilities = [c for c in str(config.get("Capabilities", "")).split(",") if c]
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName=change_set,
        TemplateBody=body,
        ChangeSetType=kind,
        Capabilities=capabilities,
        RoleARN=str(config.get("RoleArn", "")),
        Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in overrides.items()],
    )
    described = cfn.describe_change_set(StackName=stack, ChangeSetName=change_set)
    if described["Status"] == "FAILED" and NO_CHANGES not in str(described.get("StatusReason", "")):
        raise ActionFailed(str(described.get("StatusReason", "")))
    return f"Change set {change_set} of stack {stack} created"


def _execute(cfn: Any, stack: str, change_set: str) -> str:
    described = cfn.describe_change_set(StackName=stack, ChangeSetName=change_set)
    if described["Status"] == "FAILED" and NO_CHANGES in str(described.get("StatusReason", "")):
        return f"Stack {stack} was already up to date"
    cfn.execute_change_set(StackName=stack, ChangeSetName=change_set)
    status = (_stack(cfn, stack) or {}).get("StackStatus", "")
    if status in SUCCEEDED:
        return f"Stack {stack} {status}"
    try:
        reason = first_failure(cfn, stack) or "No reason was provided."
    except ClientError:
        raise ActionFailed(
            f"Failed to execute change set. Current stack status: {status}. Status reason is not available "
            "because IAM role associated with the action does not have CloudFormation DescribeStackEvents "
            "permission"
        ) from None
    raise ActionFailed(f"Failed to execute change set. Current stack status: {status}. Reason: {reason}")


def first_failure(cfn: Any, stack: str) -> str:
    """The reason of the latest operation's first failed resource (DescribeStackEvents, newest first)."""
    events = cfn.describe_stack_events(StackName=stack).get("StackEvents", [])
    failed = ""
    for event in events:  # newest first: stop at the operation's start
        if (
            str(event.get("ResourceStatus", "")).endswith("_FAILED")
            and event.get("LogicalResourceId") != stack
        ):
            failed = f"{event.get('LogicalResourceId')}: {event.get('ResourceStatusReason', '')}"
        if event.get("LogicalResourceId") == stack and event.get("ResourceStatusReason") == "User Initiated":
            break
    return failed


def _stack(cfn: Any, name: str) -> dict[str, Any] | None:
    try:
        stacks = cfn.describe_stacks(StackName=name).get("Stacks", [])
    except ClientError as error:
        if "does not exist" in str(error.response.get("Error", {}).get("Message", "")):
            return None
        raise
    return stacks[0] if stacks else None


__all__ = ["ActionFailed", "first_failure", "run"]
