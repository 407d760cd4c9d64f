"""Fits the shipped calibration prior (backend/prelabel/pipeline/calibration-prior.json) on the repository's tuning
corpora, tests/data/*.yaml and tests/data/domains/*.yaml, and never on tests/data/heldout/ (the held-out corpus).

Each case is an MLLM answer alone, as its classification: where the normaliser names a label, the Finding (how it
was found) and whether the label is the expected one make one example. Prints, per corpus and overall, the
expected calibration error (ten equal-width bins, report/metrics.py) of the normaliser's constant scores
(before) and of the prior's probabilities (after), the latter 5-fold cross-validated (each case scored by a model
fitted without it), then writes the prior fitted on every case. Deterministic: rerunning it on the same corpora
writes the same file.
Run: .venv/bin/python bench/calibration_prior.py [--check]  (--check: fail if the shipped prior differs)
"""

from __future__ import annotations

import argparse
import json
import sys

from normalize_corpus import CORPORA, HELDOUT, ROOT, load_cases
from prelabel.pipeline.calibration import PRIOR_PATH, Calibration, cross_validated, fit, of_answer
from prelabel.pipeline.result import Finding
from prelabel.report.metrics import reliability
from prelabel.report.records import Row
from prelabel.vocabulary.normalize import Normalizer
from prelabel.vocabulary.vocab import load_vocabulary

TUNING = {name: paths for name, paths in CORPORA.items() if name not in HELDOUT and "heldout" not in paths[1]}
FITTED_ON = "the repository's tuning corpora (bench/calibration_prior.py)"


def examples(names) -> list[tuple[str, Finding, Row, float]]:
    """(corpus, finding, row, constant score) for every case the normaliser names a label for."""
    found = []
    for name in names:
        vocab_path, cases_path = CORPORA[name]
        vocabulary = load_vocabulary(ROOT / vocab_path)
        normalizer = Normalizer(vocabulary)
        for number, case in enumerate(load_cases(ROOT / cases_path)):
            result = normalizer.normalize(case["input"])
            if result.label is not None:
                row = Row(number, case.get("label"), result.label)
                found.append((name, of_answer(result, len(vocabulary.label_values)), row, result.score))
    return found


def ece(rows: list[Row], scores: list[float]) -> float:
    return reliability([Row(row.task_id, row.truth, row.predicted, score=score)
                        for row, score in zip(rows, scores, strict=True)])[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the shipped prior is not what this fits")
    args = parser.parse_args()
    found = examples(TUNING)
    findings = [finding for _, finding, _, _ in found]
    rows = [row for _, _, row, _ in found]
    right = [row.correct for row in rows]
    after = cross_validated(findings, right)
    print("| corpus | labels named | wrong | ECE before (constant scores) | ECE after (prior, 5-fold CV) |")
    print("|---|---:|---:|---:|---:|")
    for name in [*TUNING, "all"]:
        picked = [i for i, (corpus, *_) in enumerate(found) if name in (corpus, "all")]
        if not picked:
            continue
        print(f"| {name} | {len(picked)} | {sum(not right[i] for i in picked)} | "
              f"{ece([rows[i] for i in picked], [found[i][3] for i in picked]):.3f} | "
              f"{ece([rows[i] for i in picked], [after[i] for i in picked]):.3f} |")
    prior = fit(findings, right, FITTED_ON)
    text = json.dumps(prior.to_dict(), indent=1) + "\n"
    print(f"\nprior {prior.version}: {len(findings)} examples, by way {dict(prior.measured)}")
    if args.check:
        shipped = Calibration.from_dict(json.loads(PRIOR_PATH.read_text(encoding="utf-8")))
        if shipped.version != prior.version:
            sys.exit(f"the shipped prior ({shipped.version}) is not what the corpora fit ({prior.version}): "
                     "run bench/calibration_prior.py")
        return
    PRIOR_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {PRIOR_PATH.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
