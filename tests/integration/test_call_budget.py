"""How many AWS calls the reconciler makes when nothing has to change (behaviour, not timing)."""

from __future__ import annotations

import os

import pytest

from pipewarden.aws import Clients
from pipewarden.config import ControllerConfig
from pipewarden.emit import Emitter
from pipewarden.reconcile import Action, Reconciler
from pipewarden.resync import resync
from sandbox.calls import CallCounter
from tests.conftest import World

pytestmark = pytest.mark.integration


def counted_reconciler(world: World) -> tuple[Reconciler, CallCounter]:
    counter = CallCounter(world.sandbox)
    config = ControllerConfig.from_env(os.environ)
    clients = Clients(counter)
    return Reconciler(config, clients, Emitter(lambda: clients.events, config.event_bus)), counter


def test_reconcile_of_an_unchanged_repository_makes_three_reads_and_no_write(world: World) -> None:
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags())
    reconciler, counter = counted_reconciler(world)
    decision = reconciler.reconcile(repo)
    assert decision.action is Action.NOTHING
    assert counter.reads == 3
    assert counter.writes == 0
    assert sorted(counter.calls) == [
        "cloudformation:DescribeStacks",
        "codecommit:GetRepository",
        "codecommit:ListTagsForResource",
    ]


def test_resync_with_nothing_changed_writes_nothing(world: World) -> None:
    for base in ("a", "b", "c"):
        world.service(service=f"web-{base}", owner=world.name(base))
        world.tag(world.repository(base)[1], world.enroll_tags(service=f"web-{base}"))
    reconciler, counter = counted_reconciler(world)
    report = resync(reconciler)
    assert counter.writes == 0
    assert report.errors == []
    assert set(report.actions) == {"nothing"}
    # the tagging API and DescribeStacks, page by page: no call per repository
    assert set(counter.calls) == {"resourcegroupstaggingapi:GetResources", "cloudformation:DescribeStacks"}
