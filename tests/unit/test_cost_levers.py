"""What keeps pipewarden's own bill under $1 a month (bench/cost.py) is in the template's defaults.

Each lever is read from template.yaml as CloudFormation would resolve it, with the defaults and with
the parameter that turns the cost back on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox import template as cfn_template

TEMPLATE = cfn_template.load(Path(__file__).resolve().parents[2] / "template.yaml")


def resolved(node: Any, **parameters: str) -> Any:
    return cfn_template.Resolver(TEMPLATE, parameters, {}, "123456789012", "us-east-1").resolve(node)


def function(name: str) -> dict[str, Any]:
    return dict(TEMPLATE["Resources"][name]["Properties"])


def test_no_function_is_traced() -> None:
    # Tracing: Active records a trace per invocation ($5 a million), and a Tracer with its boto3 patch
    # would double a cold start (bench/enroll.py prints both); no function turns it on either.
    assert "Tracing" not in TEMPLATE["Globals"]["Function"]
    for name, spec in TEMPLATE["Resources"].items():
        if spec["Type"] == "AWS::Serverless::Function":
            assert "Tracing" not in spec["Properties"], name


@pytest.mark.parametrize(("detailed", "disabled"), [(None, "true"), ("false", "true"), ("true", "false")])
def test_metrics_are_published_only_with_detailed_metrics(detailed: str | None, disabled: str) -> None:
    # Powertools reads POWERTOOLS_METRICS_DISABLED (aws_lambda_powertools/metrics/functions.py:
    # "If POWERTOOLS_METRICS_DISABLED is True: Disable metrics"): each custom metric costs $0.30 a month.
    parameters = {} if detailed is None else {"DetailedMetrics": detailed}
    env = resolved(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"], **parameters)
    assert env["POWERTOOLS_METRICS_DISABLED"] == disabled


@pytest.mark.parametrize(("setting", "state"), [(None, "DISABLED"), ("ENABLED", "ENABLED")])
def test_the_prune_on_execution_end_rule_is_disabled_by_default(setting: str | None, state: str) -> None:
    # One S3 LIST, one invocation and one event per execution; the daily prune does the same work in
    # batches of 1,000 (tests/integration/test_prune_flow.py runs both).
    rule = function("PruneFunction")["Events"]["ExecutionEnded"]["Properties"]
    parameters = {} if setting is None else {"PruneOnExecutionEnd": setting}
    assert resolved(rule["State"], **parameters) == state


def test_the_retry_queue_keeps_lambdas_low_traffic_polling() -> None:
    # "When traffic is low, Lambda ... can optimize to as few as 2 concurrent batches to reduce SQS
    # calls and corresponding costs. However, this optimization is not available when you enable the
    # maximum concurrency setting."
    # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
    source = function("RetryFunction")["Events"]["RetryDue"]
    assert source["Type"] == "SQS"
    assert "MaximumConcurrency" not in source["Properties"].get("ScalingConfig", {})
    assert "ProvisionedPollerConfig" not in source["Properties"]  # provisioned pollers are billed
