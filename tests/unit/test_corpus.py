"""The labelled failure corpus: fit to measure with, and the classifier held to it.

The figures themselves (agreement, the confusion matrix, pointless retries against CodePipeline's
native retry) are printed by `make bench` (bench/classify.py); these tests keep what must never
regress: no deterministic failure called transient (a broken build retried for nothing), and
agreement no lower than measured when the corpus was written.
"""

from __future__ import annotations

import pytest

from sandbox import corpus

TUNING = corpus.load([corpus.CORPUS])
CHECK = corpus.load([corpus.CHECK])


@pytest.mark.parametrize("cases", [TUNING, CHECK], ids=["tuning", "check"])
def test_every_case_has_its_source_label_and_reason(cases: list[corpus.Case]) -> None:
    assert corpus.problems(cases) == []


def test_the_corpus_is_large_and_covers_every_kind_of_action_and_phase() -> None:
    assert len(TUNING) >= 200
    kinds = {(case.data["action"], case.data.get("phase", "")) for case in TUNING}
    for expected in (
        ("CodeBuild", "PROVISIONING"),
        ("CodeBuild", "DOWNLOAD_SOURCE"),
        ("CodeBuild", "UPLOAD_ARTIFACTS"),
        ("CodeBuild", "INSTALL"),
        ("CodeBuild", "PRE_BUILD"),
        ("CodeBuild", "BUILD"),
        ("CodeBuild", "POST_BUILD"),
        ("CodeBuild", ""),  # StartBuild refused: only the action's error details
        ("ECS", ""),
        ("CodeCommit", ""),
    ):
        assert expected in kinds, expected
    assert {case.label for case in TUNING} == set(corpus.LABELS)


@pytest.mark.parametrize("cases", [TUNING, CHECK], ids=["tuning", "check"])
def test_no_deterministic_failure_is_called_transient(cases: list[corpus.Case]) -> None:
    wrong = [
        case.id for case in cases if case.label == "deterministic" and case.classify().kind == "transient"
    ]
    assert wrong == []


@pytest.mark.parametrize(("cases", "floor"), [(TUNING, 0.90), (CHECK, 0.72)], ids=["tuning", "check"])
def test_agreement_does_not_fall_below_what_was_measured(cases: list[corpus.Case], floor: float) -> None:
    assert corpus.Score.of(cases).agreement >= floor


def test_retrying_on_the_verdicts_wastes_far_fewer_retries_than_the_native_one_shot_retry() -> None:
    score = corpus.Score.of(TUNING)
    assert score.pointless_retries() * 5 < score.native_pointless_retries()
