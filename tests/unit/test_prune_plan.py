"""The prune plan: what is kept and why, and properties over arbitrary pipelines, ages and states."""

from __future__ import annotations

import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from pipewarden.prune_plan import (
    ExecutionArtifacts,
    PipelineArtifacts,
    StoredObject,
    keep_set,
    kept_keys,
    should_delete,
)

NOW = datetime.datetime(2026, 11, 29, 12, tzinfo=datetime.UTC)
DAY = datetime.timedelta(hours=24)


def execution(
    n: int,
    status: str = "Succeeded",
    prefix: str = "pipewarden-shop",
    stages: tuple[str, ...] = ("Source", "Build"),
) -> ExecutionArtifacts:
    return ExecutionArtifacts(
        f"e{n}",
        status,
        {s: frozenset({f"{prefix}/{s[:10]}/{n:07d}"}) for s in stages},
        dict.fromkeys(stages, "Succeeded" if status == "Succeeded" else "Failed"),
    )


def test_last_n_running_retryable_and_rollback_targets_are_kept() -> None:
    runs = (
        execution(9, "InProgress"),
        execution(8, "Failed"),
        execution(7),
        execution(6),
        execution(5, "Failed"),
        execution(4),
    )
    pipeline = PipelineArtifacts("pipewarden-shop", 2, runs, retryable=frozenset({"e5"}))
    keep = kept_keys(pipeline)
    kept_runs = {key.rsplit("/", 1)[1] for key in keep if "/sam/" not in key}
    assert kept_runs == {"0000009", "0000008", "0000007", "0000005"}
    assert "last 2" in keep["pipewarden-shop/Source/0000009"]
    assert "can still be retried" in keep["pipewarden-shop/Build/0000005"]
    assert "rollback" in keep["pipewarden-shop/Build/0000007"]


def test_sam_package_uploads_live_as_long_as_their_execution_is_kept() -> None:
    """The lambda blueprint's build uploads code under <prefix>/sam/<execution id>/: CloudFormation reads
    it again to roll an update back or to replace a retried change set, so a kept execution's uploads
    stay (the rollback target's included) and a pruned execution's go."""
    runs = (execution(3, "Failed", stages=("Source", "Build", "Deploy")), execution(2), execution(1))
    pipeline = PipelineArtifacts("pipewarden-shop", 1, runs)
    keep = kept_keys(pipeline)
    old = NOW - 2 * DAY
    kept = StoredObject("pipewarden-shop/sam/e3/0cc175b9c0f1b6a831c399e269772661", "v", old)
    rollback = StoredObject("pipewarden-shop/sam/e2/92eb5ffee6ae2fec3ad71c777531578f", "v", old)
    pruned = StoredObject("pipewarden-shop/sam/e1/4a8a08f09d37b73795649038408b5f33", "v", old)
    assert not should_delete(kept, keep, NOW, DAY)
    assert "last 1" in keep["pipewarden-shop/sam/e3/"]
    assert not should_delete(rollback, keep, NOW, DAY)  # the latest success of Build
    assert should_delete(pruned, keep, NOW, DAY)
    # A key that merely looks like an upload of another prefix is not kept by this one's executions
    assert should_delete(StoredObject("pipewarden-shopx/sam/e3/x", "v", old), keep, NOW, DAY)


def test_old_unreferenced_objects_go_young_ones_stay() -> None:
    keep = {"p/a/1": "needed"}
    old = NOW - 2 * DAY
    assert should_delete(StoredObject("p/a/2", "v", old), keep, NOW, DAY)
    assert not should_delete(StoredObject("p/a/1", "v", old), keep, NOW, DAY)
    assert not should_delete(StoredObject("p/a/2", "v", NOW - DAY / 2), keep, NOW, DAY)


def test_noncurrent_versions_and_delete_markers_go_after_the_grace_period() -> None:
    keep = {"p/a/1": "needed"}
    old = NOW - 2 * DAY
    assert should_delete(StoredObject("p/a/1", "v0", old, is_latest=False), keep, NOW, DAY)
    assert should_delete(StoredObject("p/a/1", "m", old, delete_marker=True), keep, NOW, DAY)
    assert not should_delete(StoredObject("p/a/1", "m", NOW, delete_marker=True), keep, NOW, DAY)


def test_shared_prefix_keeps_what_either_pipeline_needs() -> None:
    a = PipelineArtifacts(
        "pipewarden-storefront-api",
        1,
        (execution(2, prefix="pipewarden-storefron"), execution(1, prefix="pipewarden-storefron")),
    )
    b = PipelineArtifacts("pipewarden-storefront-web", 1, (execution(3, prefix="pipewarden-storefron"),))
    assert a.prefix == b.prefix
    keep = keep_set([a, b])
    assert "pipewarden-storefron/Build/0000002" in keep
    assert "pipewarden-storefron/Build/0000003" in keep


statuses = st.sampled_from(
    ["InProgress", "Stopping", "Succeeded", "Failed", "Stopped", "Superseded", "Cancelled"]
)
names = st.sampled_from(
    ["pipewarden-storefront-api", "pipewarden-storefront-web", "pipewarden-billing", "pipewarden-x"]
)


@st.composite
def pipelines(draw: st.DrawFn) -> list[PipelineArtifacts]:
    out = []
    counter = 0
    for name in draw(st.sets(names, min_size=1, max_size=4)):
        runs = []
        for _ in range(draw(st.integers(0, 12))):
            counter += 1
            stages = draw(st.lists(st.sampled_from(["Source", "Build", "Deploy"]), unique=True, max_size=3))
            runs.append(
                ExecutionArtifacts(
                    f"e{counter}",
                    draw(statuses),
                    {s: frozenset({f"{name[:20]}/{s}/{counter}"}) for s in stages},
                    {s: draw(st.sampled_from(["Succeeded", "Failed"])) for s in stages},
                )
            )
        retryable = frozenset(r.execution_id for r in runs if r.status == "Failed" and draw(st.booleans()))
        out.append(PipelineArtifacts(name, draw(st.integers(1, 6)), tuple(runs), retryable))
    return out


@settings(max_examples=200)
@given(pipelines(), st.lists(st.integers(0, 96), min_size=1, max_size=60), st.integers(0, 48))
def test_nothing_a_kept_running_or_retryable_execution_references_is_ever_deleted(
    fleet: list[PipelineArtifacts], ages: list[int], grace_hours: int
) -> None:
    keep = keep_set(fleet)
    protected = {
        key
        for p in fleet
        for i, run in enumerate(p.executions)
        if i < p.keep_executions
        or run.status in ("InProgress", "Stopping")
        or run.execution_id in p.retryable
        for key in run.keys
    }
    referenced = sorted(
        {key for p in fleet for run in p.executions for key in run.keys} | {"pipewarden-orphan/x/1"}
    )
    for index, age in enumerate(ages):
        key = referenced[index % len(referenced)]
        stored = StoredObject(key, f"v{index}", NOW - datetime.timedelta(hours=age))
        deleted = should_delete(stored, keep, NOW, datetime.timedelta(hours=grace_hours))
        if key in protected:
            assert not deleted, key
        if age < grace_hours:
            assert not deleted
