"""`pipewarden doctor`: a read-only preflight of an account and region for pipewarden, one line per check.

Each check is a small function that reads what it needs and returns `Check`s (PASS, WARN, FAIL or
SKIP, with the fix). Nothing here writes: every call is a Describe/Get/List, FilterLogEvents,
sts:GetCallerIdentity or iam:SimulatePrincipalPolicy (tests/integration/test_doctor.py records them).
A check that may not read what it needs says so (WARN) and the others go on.
"""

from __future__ import annotations

import datetime
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cli.health import (
    ACCESS_DENIED,
    Clients,
    controller_alarms,
    describe_stack,
    last_resync,
    parameters_of,
    queue_depths,
    queue_urls,
)
from cli.health import error_code as _error_code

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
SLACK_PREFIX = "pipewarden/slack/"
# Services pipewarden uses besides those of the library's clients (pipewarden.aws.Clients): Lambda
# runs the functions; STS gives their credentials; CloudWatch holds the stack's alarms and dashboard.
# IAM is global (botocore lists no region for it).
OTHER_SERVICES = ("cloudwatch", "lambda", "sts")
SHOWN = 5  # denied permissions named in the line; --json has the same line, the list is in the fix


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    status: str
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" — fix: {self.fix}" if self.fix and self.status in (WARN, FAIL) else ""
        return f"{self.status:<5} {self.name}: {self.detail}{fix}"

    def as_json(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class Options:
    stack: str = "pipewarden"
    region: str = "us-east-1"
    allowed_targets: str | None = None  # before deploy: the AllowedEcsTargets value to be deployed
    now: datetime.datetime | None = None


def guarded(name: str, check: Callable[[], list[Check]]) -> list[Check]:
    """The check's lines; a read it may not make (or that fails) is a WARN naming the call, not a crash."""
    try:
        return check()
    except ClientError as error:
        operation = getattr(error, "operation_name", "") or "a call"
        code = _error_code(error)
        why = "may not" if code in ACCESS_DENIED else "could not"
        return [
            Check(
                WARN,
                name,
                f"not checked: the caller {why} {operation} ({code})",
                f"run doctor with a principal that may call {operation}",
            )
        ]
    except BotoCoreError as error:
        return [Check(WARN, name, f"not checked: {error}", "check the endpoint, region and credentials")]


# -- the deploying principal ----------------------------------------------------------------------


def simulation_source(caller_arn: str, role_arn: Callable[[str], str | None]) -> str | None:
    """The ARN SimulatePrincipalPolicy takes for the caller: a user's ARN, or the role an assumed-role
    session belongs to (`role_arn(name)` finds its path; the simulator takes no session ARN,
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html). None for the
    root user and federated users, which have no policies of their own to simulate."""
    parts = caller_arn.split(":", 5)
    if len(parts) != 6:
        return None
    partition, account, resource = parts[1], parts[4], parts[5]
    if parts[2] == "iam" and resource.startswith(("user/", "role/")):
        return caller_arn
    if parts[2] == "sts" and resource.startswith("assumed-role/"):
        name = resource.split("/")[1]
        return role_arn(name) or f"arn:{partition}:iam::{account}:role/{name}"
    return None


def _denials(results: Iterable[Mapping[str, Any]], resource: str) -> list[tuple[str, str, str]]:
    """(action, resource, decision) of each result not allowed, per resource where AWS says per resource.

    A decision the simulation made without condition keys a policy asks for (MissingContextValues) says
    so: the real request may carry them (iam:PermissionsBoundary on iam:CreateRole)."""
    denied = []
    for result in results:
        per_resource = result.get("ResourceSpecificResults") or [
            {"EvalResourceName": result.get("EvalResourceName", resource), **result}
        ]
        for specific in per_resource:
            decision = specific.get("EvalResourceDecision", specific.get("EvalDecision", ""))
            if decision != "allowed":
                where = str(specific.get("EvalResourceName") or resource)
                missing = specific.get("MissingContextValues") or result.get("MissingContextValues")
                if missing:
                    decision = f"{decision} (simulated without {', '.join(missing)})"
                denied.append((str(result["EvalActionName"]), where, decision))
    return denied


def check_deployer(clients: Clients, options: Options, parameters: Mapping[str, str]) -> list[Check]:
    """The caller may create everything the controller stack holds (as far as it may simulate that)."""
    from cli.needs import by_resource, controller_needs

    name = "iam"
    identity = clients("sts").get_caller_identity()
    caller, account = str(identity["Arn"]), str(identity["Account"])
    iam = clients("iam")

    def role_arn(role: str) -> str | None:
        try:
            return str(iam.get_role(RoleName=role)["Role"]["Arn"])
        except ClientError:
            return None  # a caller that may not read its own role: the path is guessed as "/"

    source = simulation_source(caller, role_arn)
    if source is None:
        return [
            Check(
                WARN,
                name,
                f"{caller} is no IAM role or user (the root user, a federated user): its permissions are "
                f"not simulated",
                "deploy with an IAM role or user rather than the root user",
            )
        ]
    partition = caller.split(":", 2)[1]
    needs = controller_needs(options.stack, account, options.region, partition, parameters)
    denied: list[tuple[str, str, str]] = []
    simulated = 0
    paginator = iam.get_paginator("simulate_principal_policy")
    try:
        for resource, actions in by_resource(needs).items():
            for page in paginator.paginate(
                PolicySourceArn=source, ActionNames=actions, ResourceArns=[resource]
            ):
                results = page.get("EvaluationResults", [])
                simulated += len(results)
                denied += _denials(results, resource)
    except ClientError as error:
        if _error_code(error) not in ACCESS_DENIED:
            raise
        return [
            Check(
                WARN,
                name,
                f"{caller} may not simulate its own policies (iam:SimulatePrincipalPolicy on {source}): "
                f"whether it may create the controller's resources is not checked",
                f"allow iam:SimulatePrincipalPolicy on {source} to the deploying principal, or run doctor "
                f"as one that may",
            )
        ]
    if not denied:
        return [
            Check(
                PASS, name, f"{caller} may create the controller's resources ({simulated} actions simulated)"
            )
        ]
    action, resource, decision = denied[0]
    more = sorted({a for a, _, _ in denied[1:]} - {action})
    extra = f" (and {len(more)} more: {', '.join(more[:SHOWN])}{', ...' if len(more) > SHOWN else ''})"
    why = {n.action: n.why for n in needs if n.resource == resource}.get(action, "")
    return [
        Check(
            FAIL,
            name,
            f"{caller} may not {action} on {resource}: {decision}"
            f"{f' (needed for {why})' if why else ''}{extra if more else ''}",
            f"allow {', '.join([action, *more])} to {source} (on the stack's resources, named "
            f"{options.stack}-*), or deploy as a principal that may",
        )
    ]


# -- the region -----------------------------------------------------------------------------------


def services_used() -> tuple[str, ...]:
    """Every service the controller and its blueprints call: the library's clients and OTHER_SERVICES."""
    from pipewarden.aws import Clients as LibraryClients

    found = {
        getattr(attribute, "service", "")
        for attribute in vars(LibraryClients).values()
        if type(attribute).__name__ == "_Client"
    }
    return tuple(sorted(found - {""} | set(OTHER_SERVICES)))


def check_region(region: str, available: Callable[[str], Iterable[str]] | None = None) -> list[Check]:
    """The region offers every service used, by botocore's own endpoint data (no network)."""
    if available is None:
        import boto3

        session = boto3.session.Session()
        partitions = session.get_available_partitions()  # aws, aws-cn, aws-us-gov, ...

        def available(service: str) -> Iterable[str]:
            return [r for p in partitions for r in session.get_available_regions(service, partition_name=p)]

    missing = [s for s in services_used() if region not in available(s)]
    if missing:
        return [
            Check(
                FAIL,
                "region",
                f"{region} does not offer {', '.join(missing)} (botocore's endpoint data)",
                "deploy pipewarden in a region that offers them, e.g. us-east-1",
            )
        ]
    return [Check(PASS, "region", f"{region} offers all {len(services_used())} services pipewarden uses")]


# -- CloudTrail -----------------------------------------------------------------------------------


def records_management_writes(selectors: Mapping[str, Any]) -> bool:
    """Whether GetEventSelectors' answer records write management events (CodeCommit's TagResource and
    CreateRepository, the Tag Editor's TagResources).

    Basic selectors: IncludeManagementEvents (true by default) with ReadWriteType All or WriteOnly.
    Advanced: a selector with eventCategory = Management that does not keep read-only events only
    (readOnly = true) (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_AdvancedFieldSelector.html).
    """
    for selector in selectors.get("EventSelectors") or []:
        if selector.get("IncludeManagementEvents", True) and selector.get("ReadWriteType", "All") in (
            "All",
            "WriteOnly",
        ):
            return True
    for advanced in selectors.get("AdvancedEventSelectors") or []:
        fields = {f.get("Field"): f for f in advanced.get("FieldSelectors", [])}
        category = fields.get("eventCategory", {})
        if "Management" not in category.get("Equals", []):
            continue
        read_only = fields.get("readOnly", {})
        if [str(v).lower() for v in read_only.get("Equals", [])] == ["true"]:
            continue
        if "false" in [str(v).lower() for v in read_only.get("NotEquals", [])]:
            continue
        return True
    return False


def check_cloudtrail(clients: Clients, options: Options) -> list[Check]:
    """A logging trail records management events here: EventBridge gets `AWS API Call via CloudTrail`
    events only then ("To record events with a detail-type value of AWS API Call via CloudTrail, a
    CloudTrail trail with logging enabled is required",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/event-types.html). Without one, pipewarden's
    CloudTrail rules never fire; tag-change events and the resync still enroll: a WARN, not a FAIL."""
    cloudtrail = clients("cloudtrail")
    trails = cloudtrail.describe_trails(includeShadowTrails=True).get("trailList", [])
    seen = []
    for trail in trails:
        if not trail.get("IsMultiRegionTrail") and trail.get("HomeRegion", options.region) != options.region:
            continue
        arn = trail.get("TrailARN") or trail["Name"]
        if not cloudtrail.get_trail_status(Name=arn).get("IsLogging"):
            seen.append(f"{trail['Name']} (not logging)")
            continue
        if records_management_writes(cloudtrail.get_event_selectors(TrailName=arn)):
            return [
                Check(
                    PASS,
                    "cloudtrail",
                    f"trail {trail['Name']} logs management write events in {options.region}",
                )
            ]
        seen.append(f"{trail['Name']} (no management write events)")
    found = f" (trails: {', '.join(seen)})" if seen else ""
    return [
        Check(
            WARN,
            "cloudtrail",
            f"no logging trail records management write events in {options.region}{found}: the CloudTrail "
            f"triggers (CreateRepository, tags set through the Tag Editor) never fire; tag-change events and "
            f"the scheduled resync still enroll",
            "aws cloudtrail create-trail --name pipewarden --s3-bucket-name <bucket> --is-multi-region-trail "
            "&& aws cloudtrail start-logging --name pipewarden",
        )
    ]


# -- Slack secrets --------------------------------------------------------------------------------


def check_slack_secrets(clients: Clients, options: Options) -> list[Check]:
    """Each pipewarden/slack/* secret holds a webhook URL by the library's own rule; values never shown."""
    from pipewarden.webhooks import webhook_url_in

    secrets = clients("secretsmanager")
    names = [
        str(entry["Name"])
        for page in secrets.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "name", "Values": [SLACK_PREFIX]}]
        )
        for entry in page.get("SecretList", [])
        if str(entry.get("Name", "")).startswith(SLACK_PREFIX)  # the name filter matches by prefix
    ]
    if not names:
        return [
            Check(
                WARN,
                "slack",
                f"no {SLACK_PREFIX}* secret: notifications go to SNS only",
                f"aws secretsmanager create-secret --name {SLACK_PREFIX}default --secret-string "
                f"'<webhook URL>' (or JSON with webhook_url)",
            )
        ]
    checks = []
    for name in sorted(names):
        try:
            value = secrets.get_secret_value(SecretId=name)
        except ClientError as error:  # this secret unread; the others are still checked
            checks.append(
                Check(
                    WARN,
                    "slack",
                    f"secret {name} not checked: the caller could not read it ({_error_code(error)})",
                    f"run doctor with a principal that may secretsmanager:GetSecretValue on {name}",
                )
            )
            continue
        try:
            webhook_url_in(name, value.get("SecretString", ""))
        except ValueError:
            checks.append(
                Check(
                    FAIL,
                    "slack",
                    f"secret {name} holds no webhook URL (a URL, or JSON with webhook_url)",
                    f"aws secretsmanager put-secret-value --secret-id {name} "
                    f"""--secret-string '{{"webhook_url":"<the URL Slack gave you>"}}'""",
                )
            )
            continue
        checks.append(Check(PASS, "slack", f"secret {name} holds a webhook URL"))
    return checks


# -- the allow-list -------------------------------------------------------------------------------


def check_allow_list(targets: str | None, source: str) -> list[Check]:
    """AllowedEcsTargets: empty deploys nothing, `*` every cluster of the account."""
    name = "allow-list"
    if targets is None:
        return [
            Check(
                SKIP,
                name,
                "AllowedEcsTargets unknown: the stack is not deployed",
                "pass --allowed-targets to check the value you will deploy",
            )
        ]
    entries = [t.strip() for t in targets.split(",") if t.strip()]
    fix = "sam deploy --parameter-overrides AllowedEcsTargets='apps-*,shared/web-*' (your clusters)"
    if not entries:
        return [Check(WARN, name, f"AllowedEcsTargets is empty ({source}): nothing is deployable yet", fix)]
    if any(entry in ("*", "*/*") for entry in entries):
        return [
            Check(
                WARN,
                name,
                f"AllowedEcsTargets {targets!r} ({source}) allows every ECS cluster of the account",
                fix,
            )
        ]
    return [Check(PASS, name, f"AllowedEcsTargets {','.join(entries)} ({source})")]


# -- once deployed --------------------------------------------------------------------------------


def check_stack_status(stack: Mapping[str, Any]) -> list[Check]:
    status = str(stack["StackStatus"])
    name = f"stack {stack['StackName']}"
    if status.endswith("_FAILED") or "ROLLBACK" in status:
        reason = stack.get("StackStatusReason")
        return [
            Check(
                FAIL,
                "stack",
                f"{name} is {status}{f' ({reason})' if reason else ''}",
                f"aws cloudformation describe-stack-events --stack-name {stack['StackName']}, fix the cause "
                f"and deploy again",
            )
        ]
    if status.endswith("_IN_PROGRESS"):
        return [Check(WARN, "stack", f"{name} is {status}", "run doctor again once it completes")]
    return [Check(PASS, "stack", f"{name} is {status}")]


def check_queues(clients: Clients, stack: Mapping[str, Any] | None, options: Options) -> list[Check]:
    """Each dead-letter queue of the stack is empty; what waits there has a command to go back."""
    sqs = clients("sqs")
    checks = []
    for depth in queue_depths(sqs, queue_urls(sqs, options.stack, stack)):
        if not depth.waiting:
            checks.append(Check(PASS, "queue", f"{depth.queue} {depth.name} is empty"))
            continue
        checks.append(
            Check(
                FAIL,
                "queue",
                f"{depth.queue} {depth.name} holds {depth.waiting} message(s)",
                f"once the cause is fixed: {depth.send_back(options.stack, options.region)}",
            )
        )
    return checks


def check_alarms(clients: Clients, options: Options, skip_when_none: bool = True) -> list[Check]:
    """CloudWatch alarms named `<stack>-*`: any in ALARM fails (none: a SKIP, or nothing to say)."""
    alarms = controller_alarms(clients("cloudwatch"), options.stack)
    if not alarms:
        if not skip_when_none:
            return []
        return [
            Check(SKIP, "alarms", f"no CloudWatch alarm named {options.stack}-*: the stack defines none yet")
        ]
    firing = sorted(str(a["AlarmName"]) for a in alarms if a.get("StateValue") == "ALARM")
    if firing:
        return [
            Check(
                FAIL,
                "alarms",
                f"{len(firing)} of {len(alarms)} alarms in ALARM: {', '.join(firing)}",
                f"aws cloudwatch describe-alarms --alarm-names {shlex.join(firing)} (StateReason says why)",
            )
        ]
    return [Check(PASS, "alarms", f"none of {len(alarms)} alarms named {options.stack}-* is in ALARM")]


def check_last_resync(clients: Clients, stack: Mapping[str, Any], options: Options) -> list[Check]:
    """The enroll function's newest `resync done` log line, within two resync periods."""
    now = options.now or datetime.datetime.now(datetime.UTC)
    resync = last_resync(clients, stack, now)
    group, period = resync.group, resync.period
    if group is None:
        return [Check(WARN, "resync", "last resync unknown: the stack has no EnrollFunctionName output")]
    if not resync.logged:
        return [
            Check(
                WARN,
                "resync",
                f"last resync unknown: no log group {group}",
                "the enroll function has not run yet, or its logs go elsewhere",
            )
        ]
    if resync.at is None:
        return [
            Check(
                WARN,
                "resync",
                f"no `resync done` in {group} for {3 * period / 3600:g} h (ResyncRate {resync.rate})",
                f"aws logs tail {group} --since {int(3 * period // 60)}m to see why the resync fails",
            )
        ]
    summary = resync.summary()
    at = (
        f"last resync {resync.at:%Y-%m-%d %H:%M:%S} UTC ({(resync.age(now) or 0) / 60:.0f} min ago)"
        f"{f': {summary}' if summary else ''}"
    )
    if resync.late(now):
        return [Check(WARN, "resync", f"{at}: later ones are missing", f"aws logs tail {group} --since 3h")]
    return [Check(PASS, "resync", at)]


# -- all of it ------------------------------------------------------------------------------------


def run(clients: Clients, options: Options) -> list[Check]:
    """Every check, in the order the report prints them."""
    read: dict[str, dict[str, Any] | None] = {}

    def read_stack() -> list[Check]:
        read["stack"] = describe_stack(clients, options.stack)
        return []

    found = guarded("stack", read_stack)  # a WARN when the caller may not describe it
    stack = read.get("stack")
    parameters = parameters_of(stack)
    if options.allowed_targets is not None:
        parameters["AllowedEcsTargets"] = options.allowed_targets
    checks = guarded("iam", lambda: check_deployer(clients, options, parameters))
    checks += check_region(options.region)
    checks += guarded("cloudtrail", lambda: check_cloudtrail(clients, options))
    checks += guarded("slack", lambda: check_slack_secrets(clients, options))
    if options.allowed_targets is not None:
        checks += check_allow_list(options.allowed_targets, "--allowed-targets")
    elif stack is not None:
        checks += check_allow_list(parameters.get("AllowedEcsTargets", ""), f"stack {options.stack}")
    else:
        checks += check_allow_list(None, "")
    checks += found
    if stack is None:
        if not found:
            checks.append(
                Check(
                    SKIP,
                    "stack",
                    f"stack {options.stack} is not deployed in {options.region}: its resync is not "
                    f"checked, and its queues and alarms only if found by name",
                )
            )
        # Queues and alarms left by a deleted stack, or a controller run without CloudFormation (as
        # `pipewarden local` runs it), are found by the names CloudFormation and the template give them:
        # events waiting there still fail.
        checks += guarded("queue", lambda: check_queues(clients, None, options))
        checks += guarded("alarms", lambda: check_alarms(clients, options, skip_when_none=False))
        return checks
    checks += check_stack_status(stack)
    checks += guarded("queue", lambda: check_queues(clients, stack, options))
    checks += guarded("alarms", lambda: check_alarms(clients, options))
    checks += guarded("resync", lambda: check_last_resync(clients, stack, options))
    return checks


def exit_code(checks: Iterable[Check]) -> int:
    """1 on any FAIL, else 0."""
    return 1 if any(c.status == FAIL for c in checks) else 0
