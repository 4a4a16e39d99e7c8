"""CloudWatch Logs: an AWS::Logs::LogGroup's Fn::GetAtt Arn ends in ":*", as CloudFormation returns it.

moto 5.2.5 returns the group's ARN without the suffix. CloudFormation's is "arn:aws:logs:us-east-1:
123456789012:log-group:/mystack-testgroup-12ABC1AB12A1:*" (the resource's return values,
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-logs-loggroup.html), so a
policy on it covers the group's log streams, which logs:CreateLogStream and PutLogEvents are
authorized on (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html).
"""

from __future__ import annotations

from typing import Any

from moto.logs.models import LogGroup

_original = LogGroup.get_cfn_attribute


def get_cfn_attribute(self: Any, attribute_name: str) -> str:
    if attribute_name == "Arn":
        return f"{self.arn}:*"
    return str(_original(self, attribute_name))


def install() -> None:
    LogGroup.get_cfn_attribute = get_cfn_attribute
