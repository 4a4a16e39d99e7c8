"""The retry classifier measured on labelled public failure reports (tests/data/failures).

Prints agreement with the labels, the confusion matrix, and what retrying on the verdicts costs per
100 failures, against CodePipeline's native automatic retry (every failed action retried once,
whatever the cause; https://docs.aws.amazon.com/codepipeline/latest/userguide/stage-retry.html):
a retry of a deterministic failure is pointless (it fails the same way); a transient failure left
unretried is a recovery missed. pipewarden in `transient` mode with the default cap of 2 retries a
transient verdict up to twice and an unknown one once.

Run: make bench   (or .venv/bin/python bench/classify.py [--corpus DIR ...] [--misses])
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipewarden.classify import DETERMINISTIC, TRANSIENT, UNKNOWN
from sandbox import corpus
from sandbox.figures import figure

VERDICTS = (TRANSIENT, DETERMINISTIC, UNKNOWN)


def report(name: str, cases: list[corpus.Case], misses: bool) -> corpus.Score:
    score = corpus.Score.of(cases)
    per_100 = 100 / score.total if score.total else 0.0
    counts = ", ".join(f"{sum(c.label == label for c in cases)} {label}" for label in corpus.LABELS)
    print(f"\n{name}: {score.total} cases ({counts})")
    print("  label \\ verdict" + "".join(f"{v:>15}" for v in VERDICTS))
    for label in corpus.LABELS:
        print(f"  {label:<15}" + "".join(f"{score.count(label, v):>15}" for v in VERDICTS))
    print(f"  agreement {score.agreement:.1%} (an ambiguous case agrees when called unknown)")
    print(f"  deterministic failures called transient: {score.deterministic_called_transient}")
    ours, native = score.pointless_retries() * per_100, score.native_pointless_retries() * per_100
    print(f"  pointless retries per 100 failures: {ours:.1f} (native one-shot retry: {native:.1f})")
    missed = score.recoveries_missed() * per_100
    print(f"  transient failures not retried per 100 failures: {missed:.1f} (native: 0)")
    if misses:
        for case in cases:
            verdict = case.classify()
            if verdict.kind != case.expected:
                print(f"    {case.label} -> {verdict.kind}: {case.id}: {verdict.reason[:100]}")
    return score


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", type=Path, help="a corpus folder (repeatable)")
    parser.add_argument("--misses", action="store_true", help="list every case the verdict disagrees with")
    args = parser.parse_args(argv)
    folders = args.corpus or [corpus.CORPUS, corpus.CHECK]
    for folder in folders:
        cases = corpus.load([folder])
        wrong = corpus.problems(cases)
        if wrong:
            print("\n".join(wrong), file=sys.stderr)
            return 1
        shown = folder.relative_to(corpus.ROOT) if folder.is_relative_to(corpus.ROOT) else folder
        score = report(str(shown), cases, args.misses)
        per_100 = 100 / score.total
        figure(
            f"classify: agreement ({folder.name})",
            f"{score.agreement:.1%} of {score.total}",
            f"{score.deterministic_called_transient} deterministic called transient",
            ">= 95%, 0",
        )
        figure(
            f"classify: pointless retries per 100 ({folder.name})",
            f"{score.pointless_retries() * per_100:.1f}",
            f"native one-shot retry: {score.native_pointless_retries() * per_100:.1f}",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
