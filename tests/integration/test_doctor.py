"""`pipewarden doctor` in the sandbox: each check passing and failing, the deployer's IAM as enforced, read-only."""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cli.doctor import FAIL, PASS, SKIP, WARN, Check, Options, check_cloudtrail, check_slack_secrets, run
from cli.main import main as cli_main
from sandbox.iam import catalog
from sandbox.runtime import ACCOUNT, REGION, Sandbox
from tests.integration.controller_like import EVERYTHING, deploy, deployer, remove_deployed, resync_logged

pytestmark = pytest.mark.integration


def doctor(
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    credentials: dict[str, str] | None = None,
    *extra: str,
) -> tuple[int, dict[str, list[dict[str, str]]], str]:
    """Run `pipewarden doctor --json` with the default credential chain; (exit code, checks by name, output)."""
    for key, value in (credentials or {}).items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    code = cli_main(["doctor", "--endpoint-url", sandbox.url, "--region", REGION, "--json", *extra])
    out, err = capsys.readouterr()
    checks: dict[str, list[dict[str, str]]] = {}
    for check in json.loads(out):
        checks.setdefault(check["check"], []).append(check)
    return code, checks, out + err


# -- the deployer ---------------------------------------------------------------------------------


def test_a_deployer_without_iam_create_role_fails_the_check_that_names_it(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployer that may do everything but create roles (IAM enforced for its session)
    credentials = deployer(sandbox, [{"Effect": "Allow", "NotAction": "iam:CreateRole", "Resource": "*"}])
    # When it runs doctor
    code, checks, _ = doctor(sandbox, monkeypatch, capsys, credentials)
    # Then the IAM check fails on iam:CreateRole for a role of the stack, and doctor exits 1
    [iam] = checks["iam"]
    assert iam["status"] == FAIL
    assert iam["detail"].startswith(f"{credentials['session_arn']} may not iam:CreateRole on arn:aws:iam::")
    assert ":role/pipewarden-" in iam["detail"] and "implicitDeny" in iam["detail"]
    assert "AWS::IAM::Role" in iam["detail"]  # which part of the stack needs it
    assert iam["fix"].startswith(f"allow iam:CreateRole to {credentials['role_arn']}")
    assert code == 1


def test_an_explicit_deny_is_named_as_such(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    statements: list[dict[str, Any]] = [
        *EVERYTHING,
        {"Effect": "Deny", "Action": "sqs:CreateQueue", "Resource": "*"},
    ]
    code, checks, _ = doctor(sandbox, monkeypatch, capsys, deployer(sandbox, statements))
    [iam] = checks["iam"]
    assert iam["status"] == FAIL and "may not sqs:CreateQueue on arn:aws:sqs:" in iam["detail"]
    assert "explicitDeny" in iam["detail"]
    assert code == 1


def test_a_deployer_allowed_everything_passes(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials = deployer(sandbox, EVERYTHING)
    code, checks, _ = doctor(sandbox, monkeypatch, capsys, credentials)
    [iam] = checks["iam"]
    assert iam["status"] == PASS
    assert iam["detail"].startswith(f"{credentials['session_arn']} may create the controller's resources (")
    simulated = int(iam["detail"].rsplit("(", 1)[1].split()[0])
    assert simulated > 100  # every create handler's permissions, not a hand-made list
    assert code == 0, checks


def test_a_deployer_scoped_to_the_stacks_names_passes(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # IAM on the stack's own roles and policies only; everything else as before: the simulation asks
    # about the names CloudFormation would give, so a scoped deployer is not failed for `*`.
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "iam:*",
            "Resource": [
                f"arn:aws:iam::{ACCOUNT}:role/pipewarden-*",
                f"arn:aws:iam::{ACCOUNT}:role/pipewarden-controller/*",
                f"arn:aws:iam::{ACCOUNT}:policy/pipewarden/*",
            ],
        },
        {"Effect": "Allow", "Action": ["iam:Get*", "iam:List*", "iam:Simulate*"], "Resource": "*"},
    ]
    _, checks, _ = doctor(sandbox, monkeypatch, capsys, deployer(sandbox, statements))
    [iam] = checks["iam"]
    assert iam["status"] == PASS, iam


def test_a_deployer_that_may_not_simulate_gets_a_warning_not_a_failure(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    statements: list[dict[str, Any]] = [
        *EVERYTHING,
        {"Effect": "Deny", "Action": "iam:SimulatePrincipalPolicy", "Resource": "*"},
    ]
    credentials = deployer(sandbox, statements)
    code, checks, _ = doctor(sandbox, monkeypatch, capsys, credentials)
    [iam] = checks["iam"]
    assert iam["status"] == WARN
    assert (
        f"may not simulate its own policies (iam:SimulatePrincipalPolicy on {credentials['role_arn']})"
        in (iam["detail"])
    )
    assert code == 0


def test_a_deployer_that_may_simulate_only_its_own_role_is_simulated(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # iam:SimulatePrincipalPolicy is authorized on the role or user it names (PolicySourceArn)
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "NotAction": "iam:SimulatePrincipalPolicy", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "iam:SimulatePrincipalPolicy",
            "Resource": f"arn:aws:iam::{ACCOUNT}:role/platform/*",
        },
    ]
    _, checks, _ = doctor(sandbox, monkeypatch, capsys, deployer(sandbox, statements))
    assert [c["status"] for c in checks["iam"]] == [PASS]


def test_a_slack_secret_the_caller_may_not_read_is_named_and_the_others_checked(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = sandbox.client("secretsmanager")
    name = f"pipewarden/slack/private-{uuid.uuid4().hex[:8]}"
    secrets.create_secret(Name=name, SecretString="https://hooks.slack.com/services/T0/B0/x")
    statements: list[dict[str, Any]] = [
        *EVERYTHING,
        {
            "Effect": "Deny",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:pipewarden/slack/private-*",
        },
    ]
    try:
        _, checks, _ = doctor(sandbox, monkeypatch, capsys, deployer(sandbox, statements))
    finally:
        secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    slack = {c["detail"].split()[1]: c["status"] for c in checks["slack"]}
    assert slack == {"pipewarden/slack/default": PASS, name: WARN}


def test_the_aws_cli_shape_of_simulate_principal_policy(sandbox: Sandbox) -> None:
    """One EvaluationResult per action with the per-resource decisions (API_EvaluationResult.html)."""
    credentials = deployer(sandbox, [{"Effect": "Allow", "Action": "sqs:*", "Resource": "arn:aws:sqs:*:*:a"}])
    answer = sandbox.client("iam").simulate_principal_policy(
        PolicySourceArn=credentials["role_arn"],
        ActionNames=["sqs:CreateQueue", "sns:CreateTopic"],
        ResourceArns=[f"arn:aws:sqs:{REGION}:{ACCOUNT}:a", f"arn:aws:sqs:{REGION}:{ACCOUNT}:b"],
    )
    sqs, sns = answer["EvaluationResults"]
    assert (sqs["EvalActionName"], sqs["EvalDecision"]) == ("sqs:CreateQueue", "implicitDeny")
    assert [r["EvalResourceDecision"] for r in sqs["ResourceSpecificResults"]] == ["allowed", "implicitDeny"]
    assert sqs["ResourceSpecificResults"][0]["MatchedStatements"] == [
        {"SourcePolicyId": "deploy", "SourcePolicyType": "role"}
    ]
    assert sns["EvalDecision"] == "implicitDeny" and not sns["MatchedStatements"]
    assert answer["IsTruncated"] is False


# -- CloudTrail -----------------------------------------------------------------------------------


@pytest.fixture
def trail(sandbox: Sandbox) -> Iterator[str]:
    cloudtrail, s3 = sandbox.client("cloudtrail"), sandbox.client("s3")
    name = f"trail-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    cloudtrail.create_trail(Name=name, S3BucketName=name, IsMultiRegionTrail=True)
    yield name
    cloudtrail.delete_trail(Name=name)
    s3.delete_bucket(Bucket=name)


def test_no_trail_is_a_warning(sandbox: Sandbox) -> None:
    [check] = check_cloudtrail(sandbox.client, Options(region=REGION))
    assert check.status == WARN and "no logging trail records management write events" in check.detail
    assert "create-trail" in check.fix


def test_a_logging_trail_of_management_events_passes(sandbox: Sandbox, trail: str) -> None:
    cloudtrail = sandbox.client("cloudtrail")
    [stopped] = check_cloudtrail(sandbox.client, Options(region=REGION))
    assert stopped.status == WARN and f"{trail} (not logging)" in stopped.detail
    cloudtrail.start_logging(Name=trail)
    [check] = check_cloudtrail(sandbox.client, Options(region=REGION))
    assert check == Check(PASS, "cloudtrail", f"trail {trail} logs management write events in {REGION}")


def test_a_trail_of_read_events_only_is_a_warning(sandbox: Sandbox, trail: str) -> None:
    cloudtrail = sandbox.client("cloudtrail")
    cloudtrail.start_logging(Name=trail)
    cloudtrail.put_event_selectors(
        TrailName=trail, EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]
    )
    [check] = check_cloudtrail(sandbox.client, Options(region=REGION))
    assert check.status == WARN and f"{trail} (no management write events)" in check.detail
    cloudtrail.put_event_selectors(
        TrailName=trail,
        AdvancedEventSelectors=[
            {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
        ],
    )
    [advanced] = check_cloudtrail(sandbox.client, Options(region=REGION))
    assert advanced.status == PASS


# -- Slack secrets --------------------------------------------------------------------------------


def test_a_slack_secret_holding_a_webhook_url_passes(sandbox: Sandbox) -> None:
    # The sandbox's default secret holds the local sink's URL as JSON with webhook_url.
    checks = check_slack_secrets(sandbox.client, Options(region=REGION))
    assert Check(PASS, "slack", "secret pipewarden/slack/default holds a webhook URL") in checks


def test_a_malformed_slack_secret_fails_and_its_value_is_never_printed(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = sandbox.client("secretsmanager")
    name = f"pipewarden/slack/broken-{uuid.uuid4().hex[:8]}"
    value = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX and more"  # a space: no URL
    secrets.create_secret(Name=name, SecretString=value)
    try:
        for flag in ((), ("--json",)):
            code = cli_main(["doctor", "--endpoint-url", sandbox.url, "--region", REGION, *flag])
            out, err = capsys.readouterr()
            assert f"secret {name} holds no webhook URL" in out
            assert "XXXXSECRETXXXX" not in out + err and "hooks.slack.com/services" not in out + err
            assert code == 1
    finally:
        secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_no_slack_secret_is_a_warning_that_notifications_go_to_sns_only(sandbox: Sandbox) -> None:
    secrets = sandbox.client("secretsmanager")
    default = secrets.get_secret_value(SecretId="pipewarden/slack/default")["SecretString"]
    secrets.delete_secret(SecretId="pipewarden/slack/default", ForceDeleteWithoutRecovery=True)
    try:
        [check] = check_slack_secrets(sandbox.client, Options(region=REGION))
    finally:
        secrets.create_secret(Name="pipewarden/slack/default", SecretString=default)
    assert (
        check.status == WARN and check.detail == "no pipewarden/slack/* secret: notifications go to SNS only"
    )


# -- the allow-list before deploying -------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "status", "detail"),
    [
        ("", WARN, "AllowedEcsTargets is empty (--allowed-targets): nothing is deployable yet"),
        ("*", WARN, "AllowedEcsTargets '*' (--allowed-targets) allows every ECS cluster of the account"),
        ("apps-*,shared/web-*", PASS, "AllowedEcsTargets apps-*,shared/web-* (--allowed-targets)"),
    ],
)
def test_the_allow_list_to_deploy(
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    targets: str,
    status: str,
    detail: str,
) -> None:
    _, checks, _ = doctor(sandbox, monkeypatch, capsys, None, "--allowed-targets", targets)
    assert [(c["status"], c["detail"]) for c in checks["allow-list"]] == [(status, detail)]
    # Not deployed: the checks of a deployed stack are one SKIP line
    assert [c["status"] for c in checks["stack"]] == [SKIP]


# -- once deployed --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _leave_no_stack(sandbox: Sandbox) -> Iterator[None]:
    yield
    remove_deployed(sandbox)


def by_name(checks: list[Check]) -> dict[str, list[Check]]:
    found: dict[str, list[Check]] = {}
    for check in checks:
        found.setdefault(check.name, []).append(check)
    return found


def test_a_healthy_deployed_stack_passes_its_checks(sandbox: Sandbox) -> None:
    stack, outputs = deploy(sandbox, targets="apps-*")
    resync_logged(sandbox, outputs["EnrollFunctionName"], minutes_ago=10)
    sandbox.client("cloudwatch").put_metric_alarm(
        AlarmName=f"{stack}-EnrollErrors",
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    checks = by_name(run(sandbox.client, Options(stack, REGION)))
    assert [c.status for c in checks["stack"]] == [PASS]
    assert checks["allow-list"] == [Check(PASS, "allow-list", f"AllowedEcsTargets apps-* (stack {stack})")]
    assert [c.status for c in checks["queue"]] == [PASS, PASS, PASS]
    assert [c.status for c in checks["alarms"]] == [PASS]
    [resync] = checks["resync"]
    assert resync.status == PASS and "(10 min ago): 3 repositories, 2 stacks, 0 errors" in resync.detail


def test_a_deployed_stack_with_waiting_dead_letters_firing_alarms_and_no_resync_fails(
    sandbox: Sandbox,
) -> None:
    stack, outputs = deploy(sandbox, targets="*")
    sqs, cloudwatch = sandbox.client("sqs"), sandbox.client("cloudwatch")
    sqs.send_message(QueueUrl=outputs["FunctionFailureQueueUrl"], MessageBody="{}")
    sqs.send_message(QueueUrl=outputs["RetryDeadLetterQueueUrl"], MessageBody="{}")
    alarm = f"{stack}-RetriesExhausted"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        MetricName="RetriesExhausted",
        Namespace="pipewarden",
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test")
    checks = by_name(run(sandbox.client, Options(stack, REGION)))
    assert checks["allow-list"][0].status == WARN
    queues = {c.detail.split()[0]: c for c in checks["queue"]}
    assert queues["RuleDeadLetterQueue"].status == PASS
    failure = queues["FunctionFailureQueue"]
    assert failure.status == FAIL and failure.detail.endswith("holds 1 message(s)")
    assert (
        failure.fix
        == f"once the cause is fixed: pipewarden replay-dlq --stack-name {stack} --region {REGION}"
    )
    retry = queues["RetryDeadLetterQueue"]
    assert retry.status == FAIL and "aws sqs start-message-move-task --source-arn arn:aws:sqs:" in retry.fix
    assert checks["alarms"] == [
        Check(
            FAIL,
            "alarms",
            f"1 of 1 alarms in ALARM: {alarm}",
            f"aws cloudwatch describe-alarms --alarm-names {alarm} (StateReason says why)",
        )
    ]
    [resync] = checks["resync"]
    assert resync.status == WARN
    assert resync.detail == f"last resync unknown: no log group /aws/lambda/{outputs['EnrollFunctionName']}"


def test_a_controller_without_a_stack_still_fails_on_its_waiting_dead_letters_and_firing_alarms(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given queues and alarms by the names CloudFormation and the template give them, and no stack (a
    # controller run without CloudFormation, as `pipewarden local` runs it, or a stack deleted)
    stack = f"nostack{uuid.uuid4().hex[:6]}"
    sqs, cloudwatch = sandbox.client("sqs"), sandbox.client("cloudwatch")
    url = sqs.create_queue(QueueName=f"{stack}-FunctionFailureQueue-1A2B3C")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    alarm = f"{stack}-function-failures"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        MetricName="ApproximateNumberOfMessagesVisible",
        Namespace="AWS/SQS",
        Statistic="Maximum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test")
    try:
        # When doctor checks it
        code, checks, _ = doctor(sandbox, monkeypatch, capsys, None, "--stack-name", stack)
        # Then the stack is a SKIP, but the waiting event and the firing alarm fail, and doctor exits 1
        assert [c["status"] for c in checks["stack"]] == [SKIP]
        [queue] = checks["queue"]
        assert queue["status"] == FAIL and queue["detail"].endswith("holds 1 message(s)")
        assert (
            queue["fix"]
            == f"once the cause is fixed: pipewarden replay-dlq --stack-name {stack} --region {REGION}"
        )
        [alarms] = checks["alarms"]
        assert alarms["status"] == FAIL and alarm in alarms["detail"]
        assert code == 1
    finally:
        sqs.delete_queue(QueueUrl=url)
        cloudwatch.delete_alarms(AlarmNames=[alarm])


def test_an_account_without_the_controller_has_no_queue_or_alarm_lines(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the first deploy there is nothing to find by name: no line about queues or alarms
    _, checks, _ = doctor(sandbox, monkeypatch, capsys, None, "--stack-name", f"none{uuid.uuid4().hex[:6]}")
    assert [c["status"] for c in checks["stack"]] == [SKIP]
    assert "queue" not in checks and "alarms" not in checks


def test_a_resync_long_ago_is_a_warning(sandbox: Sandbox) -> None:
    stack, outputs = deploy(sandbox)
    resync_logged(sandbox, outputs["EnrollFunctionName"], minutes_ago=150)  # ResyncRate: 1 hour
    [resync] = by_name(run(sandbox.client, Options(stack, REGION)))["resync"]
    assert resync.status == WARN and resync.detail.endswith("later ones are missing")


def test_a_rolled_back_stack_fails(sandbox: Sandbox) -> None:
    # Given a stack whose service role may not create its queues (IAM enforced): CloudFormation rolls back
    iam = sandbox.client("iam")
    name = f"cfn-{uuid.uuid4().hex[:8]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudformation.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="nothing",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sns:Get*", "Resource": "*"}],
            }
        ),
    )
    stack, _ = deploy(sandbox, role=role)
    [status] = by_name(run(sandbox.client, Options(stack, REGION)))["stack"]
    assert status.status == FAIL and status.detail.startswith(f"stack {stack} is ROLLBACK_COMPLETE")
    assert status.fix.startswith(f"aws cloudformation describe-stack-events --stack-name {stack}")


# -- read-only ------------------------------------------------------------------------------------


def test_doctor_only_reads(sandbox: Sandbox) -> None:
    """Every call doctor makes is one AWS's Service Authorization Reference lists as Read or List."""
    import boto3

    stack, outputs = deploy(sandbox, targets="apps-*")
    resync_logged(sandbox, outputs["EnrollFunctionName"], minutes_ago=1)
    sandbox.client("sqs").send_message(QueueUrl=outputs["RuleDeadLetterQueueUrl"], MessageBody="{}")
    credentials = deployer(sandbox, EVERYTHING)
    made: list[str] = []

    def recording(service: str) -> Any:
        client = boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=sandbox.url,
            region_name=REGION,
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials["AWS_SESSION_TOKEN"],
        )
        prefix = client.meta.service_model.signing_name
        prefix = {"monitoring": "cloudwatch"}.get(prefix, prefix)  # IAM's prefix for CloudWatch

        def record(model: Any, **_: Any) -> None:
            made.append(f"{prefix}:{model.name}")

        client.meta.events.register("before-call.*.*", record)
        return client

    checks = run(recording, Options(stack, REGION, now=datetime.datetime.now(datetime.UTC)))
    assert {c.name for c in checks} == {
        "iam",
        "region",
        "cloudtrail",
        "slack",
        "allow-list",
        "stack",
        "queue",
        "alarms",
        "resync",
    }
    assert [c.status for c in checks if c.name == "queue"] == [FAIL, PASS, PASS]
    assert {
        "sts:GetCallerIdentity",
        "iam:SimulatePrincipalPolicy",
        "secretsmanager:GetSecretValue",
        "logs:FilterLogEvents",
        "sqs:GetQueueAttributes",
    } <= set(made)
    levels = {call: getattr(catalog.action(call), "access_level", "?") for call in set(made)}
    assert {call: level for call, level in levels.items() if level not in ("Read", "List")} == {}
