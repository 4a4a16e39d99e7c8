"""CloudTrail: a new trail logs all read and write management events, as AWS's do.

"By default, trails created without specific event selectors are configured to log all read and write
management events, and no data events" (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_PutEventSelectors.html);
GetEventSelectors then answers that one selector. moto 5.2.5 answers none. A trail has basic or
advanced selectors, never both: putting either replaces the other (the same page).
"""

from __future__ import annotations

from typing import Any

from moto.cloudtrail.models import Trail

_original_init = Trail.__init__
DEFAULT_SELECTOR = {
    "ReadWriteType": "All",
    "IncludeManagementEvents": True,
    "DataResources": [],
    "ExcludeManagementEventSources": [],
}


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    self.event_selectors = [dict(DEFAULT_SELECTOR)]
    self.advanced_event_selectors = []


def put_event_selectors(
    self: Any, event_selectors: list[dict[str, Any]], advanced_event_selectors: list[dict[str, Any]]
) -> None:
    if event_selectors:
        self.event_selectors, self.advanced_event_selectors = event_selectors, []
    elif advanced_event_selectors:
        self.event_selectors, self.advanced_event_selectors = [], advanced_event_selectors


def install() -> None:
    Trail.__init__ = _init
    Trail.put_event_selectors = put_event_selectors
