"""One reading of a pipeline's tags (`PipelineSettings`), shared by enroll, retry, prune, notify, the CLI
and the sandbox's invariants: what each function does for a pipeline follows from it alone."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pipewarden import blueprint
from pipewarden.config import ControllerConfig
from pipewarden.contract import (
    KEEP_EXECUTIONS_RANGE,
    MAX_RETRIES_RANGE,
    PIPELINE_KEYS,
    PipelineSettings,
    RepositorySettings,
)
from pipewarden.notify_rules import Audience, audience
from sandbox import template

ROOT = Path(__file__).resolve().parents[2]
P = "pipewarden"
MANAGED = {f"{P}:managed-by": "pipewarden"}
CONFIG = ControllerConfig(P, ("apps-*",), "artifacts", "arn:aws:iam::1:policy/b", "arn:aws:iam::1:role/cfn")


def read(**tags: str) -> PipelineSettings:
    return PipelineSettings.from_tags({f"{P}:{k.replace('_', '-')}": v for k, v in tags.items()}, P)


def test_a_pipeline_pipewarden_made_takes_the_contracts_defaults() -> None:
    settings = PipelineSettings.from_tags(MANAGED, P)
    assert settings == RepositorySettings("shop", "apps", "web", "shop", "shop").pipeline
    assert (settings.retry, settings.max_retries, settings.notify, settings.keep_executions) == (
        "transient",
        2,
        "failures",
        10,
    )
    assert settings.retries and not settings.problems
    # An enrolled repository's own tags read the same way (notify falls back to them).
    assert PipelineSettings.from_tags({f"{P}:enabled": "true"}, P) == settings


def test_the_blueprint_writes_tags_that_read_back_as_the_repositorys_settings() -> None:
    chosen = RepositorySettings(
        "shop", "apps", "web", "shop", "shop", retry="all", max_retries=4, notify="all",
        keep_executions=3, slack_channel="team-a",
    )  # fmt: skip
    body = template.loads(blueprint.get("ecs-rolling").template_body())
    resolver = template.Resolver(body, blueprint.parameters(chosen, CONFIG), {}, "111111111111", "eu-west-1")
    pipeline = next(r for r in body["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline")
    tags = {resolver.resolve(t["Key"]): resolver.resolve(t["Value"]) for t in pipeline["Properties"]["Tags"]}
    assert PipelineSettings.from_tags(tags, P) == chosen.pipeline


def test_a_pipeline_a_team_tagged_itself_opts_in_one_function_at_a_time() -> None:
    notify_only = read(notify="all")
    assert (notify_only.retry, notify_only.notify, notify_only.keep_executions) == (None, "all", None)
    assert not notify_only.retries  # so notify tells CodePipeline's FAILED itself
    assert audience({f"{P}:notify": "all"}, P) == Audience("all", retrying=False)
    retry_only = read(retry="transient")
    assert (retry_only.retry, retry_only.max_retries, retry_only.notify) == ("transient", 2, None)
    assert retry_only.retries and audience({f"{P}:retry": "transient"}, P) is None
    keep_only = read(keep_executions="5")
    assert (keep_only.retry, keep_only.notify, keep_only.keep_executions) == (None, None, 5)
    assert PipelineSettings.from_tags({}, P) == PipelineSettings()


def test_a_value_outside_the_contract_never_makes_pipewarden_do_more() -> None:
    bad_mode = PipelineSettings.from_tags({**MANAGED, f"{P}:retry": "sometimes"}, P)
    assert not bad_mode.retries
    assert bad_mode.retry_problem == (
        "pipewarden:retry='sometimes' is not one of transient, all, off: not retried"
    )
    bad_cap = PipelineSettings.from_tags({**MANAGED, f"{P}:max-retries": "9"}, P)
    assert not bad_cap.retries and "pipewarden:max-retries='9'" in bad_cap.retry_problem
    typo = PipelineSettings.from_tags({**MANAGED, f"{P}:notify": "everything"}, P)
    assert typo.notify == "failures" and typo.problems[0][0] == "pipewarden:notify"  # never silenced
    assert read(keep_executions="0").keep_executions == 10
    assert read(slack_channel="../other").slack_channel == ""
    # notify hears what retry does: a pipeline whose retry tag is wrong is told its failures.
    assert audience({**MANAGED, f"{P}:max-retries": "x"}, P) == Audience("failures", retrying=False)


values = st.one_of(
    st.sampled_from(["", " all ", "OFF", "transient", "0", "5", "6", "1000", "x", "-1"]), st.text()
)


@given(st.dictionaries(st.sampled_from([*PIPELINE_KEYS, "managed-by", "enabled"]), values))
def test_any_tags_read_as_settings_within_the_contract(raw: dict[str, str]) -> None:
    settings = PipelineSettings.from_tags({f"{P}:{k}": v for k, v in raw.items()}, P)
    assert settings.max_retries in MAX_RETRIES_RANGE
    assert settings.keep_executions is None or settings.keep_executions in KEEP_EXECUTIONS_RANGE
    assert settings.notify in (None, "all", "failures", "off")
    if settings.retries:
        assert settings.retry in ("transient", "all") and not settings.retry_problem
    found = audience({f"{P}:{k}": v for k, v in raw.items()}, P)
    assert (found is not None and found.retrying) == (settings.notify is not None and settings.retries)


def test_no_module_reads_a_pipeline_key_but_the_contract() -> None:
    """The five modules that once parsed these tags each their own way now ask PipelineSettings."""
    keys = "|".join(re.escape(k) for k in PIPELINE_KEYS)
    reading = re.compile(r"\.get\(\s*f?[\"'][^\"']*:(" + keys + r")[\"']")
    readers = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for folder in ("layers/pipewarden/pipewarden", "functions", "cli", "sandbox")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "contract.py"
        for match in reading.finditer(path.read_text(encoding="utf-8"))
    ]
    assert readers == []
