"""Resource Groups Tagging API: GetResources pages as AWS documents them, with tokens that expire.

moto 5.2.5 applies its default TagsPerPage (100) even when the caller sets ResourcesPerPage, so
resources with many tags come back a few per page, although AWS documents the two as alternative
limits; and its token names a generator that is dropped once read, so a page cannot be asked for
twice and a token never expires. Here a token is sealed (sandbox.moto_ext.paging), resumes after the
last ARN it returned (in ARN order), and is refused after AWS's 15 minutes.

AWS facts (https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html,
botocore resourcegroupstaggingapi/2017-01-26 GetResourcesInput):
- ResourcesPerPage: "a minimum of 1 and a maximum value of 100"; TagsPerPage: "a minimum of 100 items
  up to a maximum of 500 items", a resource never split across pages. Out of range is an
  InvalidParameterException ("An provided parameter value is out of range.").
- PaginationTokenExpiredException: "A PaginationToken is valid for a maximum of 15 minutes."
- The default page when neither limit is given is not documented: the sandbox answers 100 resources
  (ResourcesPerPage's maximum). A token that is no token at all is, per InvalidParameterException's
  documentation, "a provided string parameter is malformed" (the exact wording AWS uses is unverified).
"""

from __future__ import annotations

import time
from typing import Any

from moto.core.responses import ActionResult
from moto.resourcegroupstaggingapi import models as rg_models
from moto.resourcegroupstaggingapi import responses as rg_responses

from sandbox.moto_ext import paging

OPERATION = "GetResources"
MAX_RESOURCES = 100
DEFAULT_RESOURCES = 100  # undocumented; see the module docstring
TAGS_RANGE = range(100, 501)
TOKEN_LIFETIME = 15 * 60.0  # seconds


def _invalid(message: str) -> Exception:
    return rg_models.RESTError("InvalidParameterException", message)


def get_resources(self: Any) -> Any:
    resources_per_page = self._get_param("ResourcesPerPage")
    tags_per_page = self._get_param("TagsPerPage")
    if resources_per_page is not None and int(resources_per_page) not in range(1, MAX_RESOURCES + 1):
        raise _invalid(f"ResourcesPerPage must be between 1 and {MAX_RESOURCES}")
    if tags_per_page is not None and int(tags_per_page) not in TAGS_RANGE:
        raise _invalid("TagsPerPage must be between 100 and 500")
    query = {
        "TagFilters": self._get_param("TagFilters", []),
        "ResourceTypeFilters": self._get_param("ResourceTypeFilters", []),
        "ResourceARNList": self._get_param("ResourceARNList", []),
    }
    after = ""
    token = self._get_param("PaginationToken")
    if token:
        redeemed = paging.redeem(token, OPERATION, query)
        if redeemed is None or not isinstance(redeemed.position, str):
            raise _invalid("The specified PaginationToken is not valid.")
        if time.time() - redeemed.issued > TOKEN_LIFETIME:
            raise rg_models.RESTError(
                "PaginationTokenExpiredException", "The PaginationToken is valid for 15 minutes only."
            )
        after = redeemed.position
    found = self.backend._get_resources_generator(
        tag_filters=query["TagFilters"],
        resource_type_filters=query["ResourceTypeFilters"],
        resource_arn_list=query["ResourceARNList"],
    )
    remaining = sorted((r for r in found if r.arn > after), key=lambda r: r.arn)
    limit = int(resources_per_page or (MAX_RESOURCES if tags_per_page else DEFAULT_RESOURCES))
    limit = paging.page_size(OPERATION, limit)
    tag_budget = int(tags_per_page) if tags_per_page is not None and resources_per_page is None else None
    page: list[Any] = []
    tags = 0
    for resource in remaining:
        counted = max(1, len(resource.tags))  # "A resource with no tags is counted as having one tag"
        if len(page) == limit or (tag_budget is not None and page and tags + counted > tag_budget):
            break
        page.append(resource)
        tags += counted
    more = len(page) < len(remaining)
    mappings = [
        {"ResourceARN": r.arn, "Tags": [{"Key": k, "Value": v} for k, v in r.tags.items()]} for r in page
    ]
    # The last page's token is an empty string, not absent (boto/boto3#2513).
    next_token = paging.issue(OPERATION, query, page[-1].arn) if more else ""
    return ActionResult({"ResourceTagMappingList": mappings, "PaginationToken": next_token})


def install() -> None:
    rg_responses.ResourceGroupsTaggingAPIResponse.get_resources = get_resources
