"""CloudWatch: a new alarm starts in INSUFFICIENT_DATA, as AWS's do.

INSUFFICIENT_DATA "is the initial state of a new alarm"
(https://docs.aws.amazon.com/autoscaling/application/userguide/cloudwatch-alarm-notifications.html);
moto 5.2.5 creates every alarm in OK ("Unchecked: Initial alarm creation"), so an alarm nothing ever
evaluated would read as healthy.
"""

from __future__ import annotations

from typing import Any

from moto.cloudwatch.models import Alarm

_original_init = Alarm.__init__


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    self.state_value = "INSUFFICIENT_DATA"


def install() -> None:
    Alarm.__init__ = _init
