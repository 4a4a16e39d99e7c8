"""Resource Groups Tagging API: a page is bounded by ResourcesPerPage alone when the caller sets it.

moto 5.2.5 also applies its default TagsPerPage (100) then, so resources with many tags come back
a few per page; AWS documents ResourcesPerPage and TagsPerPage as alternative limits.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.resourcegroupstaggingapi import models as rg_models
from moto.resourcegroupstaggingapi import responses as rg_responses

_original_get_resources = rg_responses.ResourceGroupsTaggingAPIResponse.get_resources


def get_resources(self: Any) -> Any:
    if self._get_param("TagsPerPage") is not None or self._get_param("ResourcesPerPage") is None:
        return _original_get_resources(self)
    per_page = self._get_int_param("ResourcesPerPage")
    if per_page not in range(1, 101):
        raise rg_models.RESTError("InvalidParameterException", "ResourcesPerPage must be between 1 and 100")
    token, resources = self.backend.get_resources(
        pagination_token=self._get_param("PaginationToken"),
        tag_filters=self._get_param("TagFilters", []),
        resources_per_page=per_page,
        tags_per_page=2**31,
        resource_type_filters=self._get_param("ResourceTypeFilters", []),
        resource_arn_list=self._get_param("ResourceARNList", []),
    )
    mappings = [
        {"ResourceARN": r.arn, "Tags": [{"Key": k, "Value": v} for k, v in r.tags.items()]} for r in resources
    ]
    return ActionResult({"ResourceTagMappingList": mappings, "PaginationToken": token})


def install() -> None:
    rg_responses.ResourceGroupsTaggingAPIResponse.get_resources = get_resources
