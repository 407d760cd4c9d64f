"""How well the normaliser reads realistic answers: each case corpus of tests/data against its vocabulary, per form
and language, beside a plain rapidfuzz WRatio baseline (the nearest name at 85 or more).

A case is correct when the label is the expected one; where the expected label is null, when the answer is null
and the expected alternatives are among those returned. A wrong label is a label other than the expected one:
what costs a reviewer most. tests/test_normalize_corpora.py holds the targets.
Run: .venv/bin/python bench/normalize_corpus.py [--fails]
"""

from __future__ import annotations

import argparse
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

from prelabel.vocabulary.normalize import Normalizer
from prelabel.vocabulary.vocab import Vocabulary, load_vocabulary

ROOT = Path(__file__).resolve().parent.parent
CORPORA = {  # name: (vocabulary, cases)
    "pests": ("vocab/plant-quarantine-pests.yaml", "tests/data/normalize_cases.yaml"),
    "pests-extra": ("vocab/plant-quarantine-pests.yaml", "tests/data/pest_cases_extra.yaml"),
    "defects": ("vocab/manufacturing-defects.yaml", "tests/data/defects_cases.yaml"),
}
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")


@dataclass(frozen=True)
class Outcome:
    form: str
    language: str
    input: str
    expected: str | None
    label: str | None
    method: str
    alternatives: tuple[str, ...]
    correct: bool

    @property
    def wrong(self) -> bool:
        return self.label is not None and self.label != self.expected


def language(text: str) -> str:
    return "ja" if _JAPANESE.search(text) else "en"


def load_cases(path: str | Path) -> list[dict]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def judge(case: dict, label: str | None, alternatives: tuple[str, ...], method: str) -> Outcome:
    expected = case.get("label")
    if expected is not None:
        correct = label == expected
    else:
        correct = label is None and set(case.get("alternatives") or ()) <= set(alternatives)
    return Outcome(case["form"], language(case["input"]), case["input"], expected, label, method, alternatives,
                   correct)


def run_normalizer(normalizer: Normalizer, cases: list[dict]) -> list[Outcome]:
    outcomes = []
    for case in cases:
        result = normalizer.normalize(case["input"])
        outcomes.append(judge(case, result.label, tuple(a.label for a in result.alternatives), result.method))
    return outcomes


def run_baseline(vocabulary: Vocabulary, cases: list[dict]) -> list[Outcome]:
    from rapidfuzz import fuzz, process

    names = {name.text: entry.label for entry in vocabulary for name in entry.names()}
    outcomes = []
    for case in cases:
        found = process.extractOne(case["input"], list(names), scorer=fuzz.WRatio, score_cutoff=85)
        outcomes.append(judge(case, names[found[0]] if found else None, (), "rapidfuzz"))
    return outcomes


def table(outcomes: list[Outcome], baseline: list[Outcome]) -> str:
    """Markdown: per form, correct and wrong labels in English and in Japanese, then the baseline's totals."""
    rows: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    base: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for outcome, other in zip(outcomes, baseline, strict=True):
        for key in (outcome.form, "total"):
            cell = rows[key][outcome.language]
            cell[0] += 1
            cell[1] += outcome.correct
            cell[2] += outcome.wrong
            base[key][0] += other.correct
            base[key][1] += other.wrong

    def cell(counts: list[int]) -> str:
        cases, correct, wrong = counts
        return f"{correct}/{cases}, {wrong} wrong" if cases else ""

    lines = ["| form | English: correct, wrong label | Japanese: correct, wrong label | rapidfuzz: correct, wrong |",
             "|---|---|---|---|"]
    for form, languages in rows.items():
        if form == "total":
            continue
        lines.append(f"| {form} | {cell(languages['en'])} | {cell(languages['ja'])} | "
                     f"{base[form][0]}, {base[form][1]} |")
    total = [sum(rows["total"][lang][i] for lang in ("en", "ja")) for i in range(3)]
    lines.append(f"| **total** ({total[1] / total[0]:.1%} correct, {total[2] / total[0]:.1%} wrong) | "
                 f"{cell(rows['total']['en'])} | {cell(rows['total']['ja'])} | {base['total'][0]}, "
                 f"{base['total'][1]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fails", action="store_true", help="list every case that is not correct")
    parser.add_argument("corpora", nargs="*", help=f"any of {', '.join(CORPORA)} (default: all)")
    args = parser.parse_args()
    for name in args.corpora or list(CORPORA):
        vocab_path, cases_path = CORPORA[name]
        started = time.perf_counter()
        vocabulary = load_vocabulary(ROOT / vocab_path)
        normalizer = Normalizer(vocabulary)
        loaded = time.perf_counter() - started
        cases = load_cases(ROOT / cases_path)
        outcomes = run_normalizer(normalizer, cases)
        print(f"## {name}: {len(cases)} cases ({cases_path}, vocabulary loaded and indexed in {loaded:.2f} s)\n")
        print(table(outcomes, run_baseline(vocabulary, cases)))
        if args.fails:
            for outcome in outcomes:
                if not outcome.correct:
                    print(f"{'WRONG' if outcome.wrong else 'miss '} {outcome.form:15} {outcome.input!r} expected "
                          f"{outcome.expected!r} got {outcome.label!r} ({outcome.method}) {list(outcome.alternatives)}")
        print()


if __name__ == "__main__":
    main()
