"""Precision of each decision path of the normaliser, on first meetings and today (issue 19): which ways of naming a
label stay right on a domain the rules have never seen, and which only after tuning.

A path is the method that named the label, split for `rule` and `fuzzy` by whether the answer is no longer than a
name of that label (the whole answer is a name, after the writing rules or a typo) or a sentence around it. First
meetings: each blind corpus normalised by the code of the commit it arrived in (bench/calibration_prior.py's
FIRST_MEETING), before any rule was written on it; today: this checkout on every tuning and old corpus. A path
under ~99% on first meetings should propose rather than decide (docs/methods.md, section 4). Never reads
tests/data/heldout/.
Run: .venv/bin/python bench/decision_paths.py
"""

from __future__ import annotations

from collections import defaultdict

from calibration_prior import FIRST_MEETING, TUNING, first_meeting, today
from normalize_corpus import CORPORA, ROOT, load_cases
from prelabel.vocabulary import textnorm
from prelabel.vocabulary.vocab import load_vocabulary

PATHS = ("exact", "alias", "suggested", "learned", "fuzzy, whole answer", "fuzzy, in a sentence",
         "rule, whole answer", "rule, in a sentence")


def _name_lengths(name: str) -> dict[str, int]:
    """Label -> the most tokens any of its names has."""
    longest: dict[str, int] = defaultdict(int)
    for entry in load_vocabulary(ROOT / CORPORA[name][0]):
        for known in entry.names():
            longest[entry.label] = max(longest[entry.label], len(textnorm.tokens(known.text)))
    return longest


def tally(examples: list) -> dict[str, list[int]]:
    """Path -> [labels named, right], over (corpus, finding, row, score) examples as calibration_prior makes them."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    names = {example[0] for example in examples}
    inputs = {name: [case["input"] for case in load_cases(ROOT / CORPORA[name][1])] for name in names}
    lengths = {name: _name_lengths(name) for name in inputs}
    for name, finding, row, _ in examples:
        path = finding.way
        if path in ("rule", "fuzzy"):
            whole = len(textnorm.tokens(inputs[name][row.task_id])) <= lengths[name][row.predicted]
            path += ", whole answer" if whole else ", in a sentence"
        counts[path][0] += 1
        counts[path][1] += row.correct
    return counts


def main() -> None:
    first = tally([example for name, commit in FIRST_MEETING.items() for example in first_meeting(name, commit)])
    now = tally(today(TUNING))

    def cell(counts: list[int]) -> str:
        named, right = counts
        return f"{right}/{named} ({right / named:.1%})" if named else ""

    print(f"first meetings: {', '.join(f'{name} ({commit})' for name, commit in FIRST_MEETING.items())}; "
          f"today: {', '.join(TUNING)}\n")
    print("| decision path | first meetings: right/named | today: right/named |\n|---|---|---|")
    for path in PATHS:
        if path in first or path in now:
            print(f"| {path} | {cell(first[path])} | {cell(now[path])} |")


if __name__ == "__main__":
    main()
