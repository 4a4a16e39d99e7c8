"""CloudFormation: ListStacks and DescribeStacks (of all stacks) answered a page at a time.

moto 5.2.5 answers ListStacks in one response and DescribeStacks 50 stacks a page, with the last
stack's id as the token (so a forged token is an internal error). AWS documents no page size for
either: NextToken is returned "If the output exceeds 1 MB in size" (botocore cloudformation/2010-05-15
ListStacksOutput and DescribeStacksOutput). Callers report 100 stacks a page (aws-nuke found "only
the first 100 CFN stacks", https://github.com/rebuy-de/aws-nuke/issues/240), and 100 summaries stay
well under 1 MB, so the sandbox cuts pages of 100. The error for a token CloudFormation did not issue
is not documented either: the sandbox answers CloudFormation's ValidationError, its error for every
invalid parameter.

Kept apart from cloudformation.py (how stacks are deployed): this is only how they are listed, and it
reads stacks through the backend, whatever that backend does to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import ValidationError
from moto.core.responses import ActionResult

from sandbox.moto_ext import paging

PAGE = 100  # observed, not documented; see the module docstring


def _refused() -> Exception:
    return ValidationError(message="Invalid NextToken")


def list_stacks(self: Any) -> Any:
    status_filter = self._get_param("StackStatusFilter", [])
    stacks = self.cloudformation_backend.list_stacks(status_filter)
    page, token = paging.offset_page(
        "ListStacks", status_filter, list(stacks), PAGE, self._get_param("NextToken"), _refused
    )
    return ActionResult({"StackSummaries": page, **({"NextToken": token} if token else {})})


def _describe_all_pages(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def describe_stacks(self: Any) -> Any:
        if self._get_param("StackName"):
            return original(self)  # one stack: never paged
        stacks = self.cloudformation_backend.describe_stacks(None)
        page, token = paging.offset_page(
            "DescribeStacks", None, list(stacks), PAGE, self._get_param("NextToken"), _refused
        )
        return ActionResult({"Stacks": page, **({"NextToken": token} if token else {})})

    return describe_stacks


def install() -> None:
    response = cfn_responses.CloudFormationResponse
    response.list_stacks = list_stacks
    response.describe_stacks = _describe_all_pages(response.describe_stacks)
