"""The labelled failure corpus (tests/data/failures, format in its README), read and classified.

Each case is turned into exactly what the retry function reads from AWS (a BatchGetBuilds build
with its failed phase and the log's end, or an action's errorDetails and its stopped tasks'
reasons) and classified by the library's own entry points.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipewarden import classify
from pipewarden.buildlogs import LOG_TAIL

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "failures"
# Written apart from CORPUS, by someone who saw neither it nor the classifier: a check of fitting.
CHECK = ROOT / "tests" / "data" / "failures-check"
LABELS = ("transient", "deterministic", "ambiguous")
# The verdict a label expects: an ambiguous failure should be called unknown.
EXPECTED = {
    "transient": classify.TRANSIENT,
    "deterministic": classify.DETERMINISTIC,
    "ambiguous": classify.UNKNOWN,
}
ACTIONS = ("CodeBuild", "ECS", "CodeCommit")
REQUIRED = ("id", "source", "label", "why", "action")


@dataclass(frozen=True)
class Case:
    data: Mapping[str, Any]
    file: str

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def label(self) -> str:
        return str(self.data["label"])

    @property
    def expected(self) -> str:
        return EXPECTED[self.label]

    def classify(self) -> classify.Classification:
        data = self.data
        if data["action"] == "CodeBuild" and data.get("phase"):
            build = {
                "buildStatus": data.get("build_status", "FAILED"),
                "phases": [
                    {
                        "phaseType": data["phase"],
                        "phaseStatus": data.get("phase_status", "FAILED"),
                        "contexts": [
                            {"statusCode": data.get("code", ""), "message": data.get("message", "")}
                        ],
                    }
                ],
            }
            lines = str(data.get("log") or "").splitlines()[-LOG_TAIL:]
            return classify.classify_build(build, lines)
        error = {"code": data.get("error_code", ""), "message": data.get("error_message", "")}
        return classify.classify_error(str(data["action"]), error, list(data.get("stopped_reasons") or []))


def load(folders: Iterable[Path] = (CORPUS,)) -> list[Case]:
    cases = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*.yaml")):
            for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
                cases.append(Case(item, path.name))
    return cases


def problems(cases: Iterable[Case]) -> list[str]:
    """What makes a case unfit to measure with (a missing field, a label or action outside the format)."""
    found, ids = [], Counter(case.data.get("id") for case in cases)
    for case in cases:
        data = case.data
        missing = [name for name in REQUIRED if not data.get(name)]
        if missing:
            found.append(f"{case.file}: {data.get('id')}: missing {', '.join(missing)}")
        if data.get("label") not in LABELS:
            found.append(f"{case.file}: {data.get('id')}: label {data.get('label')!r}")
        if data.get("action") not in ACTIONS:
            found.append(f"{case.file}: {data.get('id')}: action {data.get('action')!r}")
        if not str(data.get("source", "")).startswith("https://"):
            found.append(f"{case.file}: {data.get('id')}: source is not a URL")
        if ids[data.get("id")] > 1:
            found.append(f"{case.file}: {data.get('id')}: id used twice")
    return found


@dataclass(frozen=True)
class Score:
    """How the classifier's verdicts compare with the labels, and what retrying on them costs."""

    confusion: Mapping[tuple[str, str], int]  # (label, verdict) -> cases
    total: int

    @classmethod
    def of(cls, cases: Iterable[Case]) -> Score:
        confusion: Counter[tuple[str, str]] = Counter()
        for case in cases:
            confusion[(case.label, case.classify().kind)] += 1
        return cls(dict(confusion), sum(confusion.values()))

    def count(self, label: str | None = None, verdict: str | None = None) -> int:
        return sum(
            n
            for (lab, ver), n in self.confusion.items()
            if (label is None or lab == label) and (verdict is None or ver == verdict)
        )

    @property
    def agreement(self) -> float:
        agreed = sum(n for (label, verdict), n in self.confusion.items() if EXPECTED[label] == verdict)
        return agreed / self.total if self.total else 0.0

    @property
    def deterministic_called_transient(self) -> int:
        return self.count("deterministic", classify.TRANSIENT)

    def pointless_retries(self, max_retries: int = 2) -> int:
        """Retries of failures labelled deterministic in transient mode: a transient verdict is
        retried up to the cap, an unknown one once (pipewarden.retry_policy.decide)."""
        return self.count("deterministic", classify.TRANSIENT) * max_retries + self.count(
            "deterministic", classify.UNKNOWN
        )

    def native_pointless_retries(self) -> int:
        """CodePipeline's native automatic retry retries every failed action once, whatever the cause."""
        return self.count("deterministic")

    def recoveries_missed(self) -> int:
        """Transient failures pipewarden would not retry (the native retry would have)."""
        return self.count("transient", classify.DETERMINISTIC)
