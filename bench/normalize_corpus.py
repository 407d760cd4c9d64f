"""How well the normaliser reads realistic answers: each case corpus of tests/data against its vocabulary, per form
and language, beside a plain rapidfuzz WRatio baseline (the nearest name at 85 or more); the held-out corpus
(tests/data/heldout/) first.

A case is correct when the label is the expected one; where the expected label is null, when the answer is null
and the expected alternatives are among those returned. A wrong label is a label other than the expected one:
what costs a reviewer most. Per corpus, the figures of issue 19:
- precision: of the labels named, the share that are right;
- coverage: the share of answers given a label;
- readable answers (the expected label is in the vocabulary): named right, and handled right (named right, or
  no label named and the right one among the first SHORTLIST alternatives: shortlist recall is the share of the
  unnamed ones handled so);
- proposals by reason (no label, the method says why);
- `several` cases: whether a multi-choice project gets exactly the expected labels;
- calibration: the expected calibration error of the scores of the labels named (bench/calibration_prior.py).
tests/test_normalize_corpora.py holds the targets.
Run: .venv/bin/python bench/normalize_corpus.py [--fails] [corpus ...]  (--fails never lists a held-out case)
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
SHORTLIST = 5  # alternatives a reviewer (or stage 2) reads


def _found(folder: str) -> dict[str, tuple[str, str]]:
    """Corpora of a folder: NAME.yaml (the vocabulary) beside NAME_cases.yaml."""
    return {cases.name.removesuffix("_cases.yaml"): (str(cases.with_name(cases.name.replace("_cases", "")).relative_to(
        ROOT)), str(cases.relative_to(ROOT))) for cases in sorted((ROOT / folder).glob("*_cases.yaml"))}


HELDOUT = _found("tests/data/heldout")
CORPORA = {  # name: (vocabulary, cases); the held-out ones first
    **HELDOUT,
    "pests": ("vocab/plant-quarantine-pests.yaml", "tests/data/normalize_cases.yaml"),
    "pests-extra": ("vocab/plant-quarantine-pests.yaml", "tests/data/pest_cases_extra.yaml"),
    "defects": ("vocab/manufacturing-defects.yaml", "tests/data/defects_cases.yaml"),
    **_found("tests/data/domains"),
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
    expected_labels: tuple[str, ...] = ()  # `several` cases: what a multi-choice project should get
    labels: tuple[str, ...] = ()  # the labels the answer affirmed side by side

    @property
    def wrong(self) -> bool:
        return self.label is not None and self.label != self.expected

    @property
    def readable(self) -> bool:
        """The expected label is in the vocabulary."""
        return self.expected is not None

    @property
    def handled(self) -> bool:
        """The right label named, or none named and the right one among the first alternatives."""
        return self.label == self.expected or (self.label is None and self.expected in self.alternatives[:SHORTLIST])


def language(text: str) -> str:
    return "ja" if _JAPANESE.search(text) else "en"


def load_cases(path: str | Path) -> list[dict]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def judge(case: dict, label: str | None, alternatives: tuple[str, ...], method: str,
          labels: tuple[str, ...] = ()) -> Outcome:
    expected = case.get("label")
    if expected is not None:
        correct = label == expected
    else:
        correct = label is None and set(case.get("alternatives") or ()) <= set(alternatives)
    return Outcome(case["form"], language(case["input"]), case["input"], expected, label, method, alternatives,
                   correct, tuple(case.get("labels") or ()), labels)


def run_normalizer(normalizer: Normalizer, cases: list[dict]) -> list[Outcome]:
    outcomes = []
    for case in cases:
        result = normalizer.normalize(case["input"])
        outcomes.append(judge(case, result.label, tuple(a.label for a in result.alternatives), result.method,
                              result.labels))
    return outcomes


@dataclass(frozen=True)
class Figures:
    """Issue 19's figures for one corpus."""

    cases: int
    named: int
    named_wrong: int
    readable: int
    readable_named_right: int
    readable_handled: int
    unnamed_readable: int
    unnamed_in_shortlist: int
    several: int
    several_right: int
    proposals: dict[str, int]

    @property
    def precision(self) -> float:
        return 1 - self.named_wrong / self.named if self.named else 1.0

    @property
    def coverage(self) -> float:
        return self.named / self.cases if self.cases else 0.0

    @property
    def named_right(self) -> float:
        return self.readable_named_right / self.readable if self.readable else 1.0

    @property
    def handled(self) -> float:
        return self.readable_handled / self.readable if self.readable else 1.0

    @property
    def shortlist_recall(self) -> float:
        return self.unnamed_in_shortlist / self.unnamed_readable if self.unnamed_readable else 1.0


def figures(outcomes: list[Outcome]) -> Figures:
    named = [o for o in outcomes if o.label is not None]
    readable = [o for o in outcomes if o.readable]
    unnamed = [o for o in readable if o.label is None]
    several = [o for o in outcomes if o.expected_labels]
    proposals: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        if outcome.label is None:
            proposals[outcome.method] += 1
    return Figures(len(outcomes), len(named), sum(o.wrong for o in named), len(readable),
                   sum(o.label == o.expected for o in readable), sum(o.handled for o in readable), len(unnamed),
                   sum(o.handled for o in unnamed), len(several),
                   sum(set(o.labels) == set(o.expected_labels) for o in several),
                   dict(sorted(proposals.items(), key=lambda kv: -kv[1])))


def summary(name: str, found: Figures) -> str:
    """Issue 19's figures for one corpus, one line each."""
    reasons = ", ".join(f"{method} {count}" for method, count in found.proposals.items()) or "none"
    return "\n".join([
        f"- precision of named labels: {found.precision:.1%} ({found.named - found.named_wrong}/{found.named}); "
        f"coverage {found.coverage:.1%} of {found.cases} answers",
        f"- answers whose label is in the vocabulary ({found.readable}): named right {found.named_right:.1%}, "
        f"handled right {found.handled:.1%} (shortlist recall {found.shortlist_recall:.1%} of "
        f"{found.unnamed_readable} unnamed)",
        f"- no label, by reason: {reasons}",
        f"- several labels affirmed: {found.several_right}/{found.several} get exactly their labels "
        "(multi-choice)" if found.several else "- several labels affirmed: no such case",
    ])


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


def calibration(name: str) -> str:
    """The expected calibration error of the labels named, aggregate only: the normaliser's constant scores, and
    the shipped prior's probabilities (never fitted on the held-out corpus: there, a fair test)."""
    from calibration_prior import ece, today  # it imports this module: imported when asked
    from prelabel.pipeline.calibration import prior

    found = today([name])
    if not found:
        return "calibration: no label named"
    return (f"calibration of the {len(found)} labels named: ECE {ece(found, [score for *_, score in found]):.3f} "
            f"with the normaliser's constant scores, {ece(found, [prior().probability(f) for _, f, _, _ in found]):.3f}"
            " with the shipped prior's probabilities")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fails", action="store_true", help="list every case that is not correct (never for a "
                        "held-out corpus)")
    parser.add_argument("--summary", action="store_true", help="issue 19's figures only, no table per form")
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
        held_out = " (HELD OUT: aggregate figures only)" if name in HELDOUT else ""
        print(f"## {name}{held_out}: {len(cases)} cases ({cases_path}, vocabulary loaded and indexed in "
              f"{loaded:.2f} s)\n")
        print(summary(name, figures(outcomes)) + "\n")
        print(calibration(name) + "\n")
        if not args.summary:
            print(table(outcomes, run_baseline(vocabulary, cases)))
        if args.fails and not held_out:
            for outcome in outcomes:
                if not outcome.correct:
                    print(f"{'WRONG' if outcome.wrong else 'miss '} {outcome.form:15} {outcome.input!r} expected "
                          f"{outcome.expected!r} got {outcome.label!r} ({outcome.method}) {list(outcome.alternatives)}")
        print()


if __name__ == "__main__":
    main()
