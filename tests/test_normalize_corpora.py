"""The normaliser against the case corpora of tests/data, as bench/normalize_corpus.py measures them: per corpus,
how many answers it reads right, and how rarely it commits a wrong label (what costs a reviewer most)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from helpers import ROOT
from prelabel.vocabulary.normalize import Normalizer
from prelabel.vocabulary.vocab import load_vocabulary

_SPEC = importlib.util.spec_from_file_location("normalize_corpus", ROOT / "bench" / "normalize_corpus.py")
corpus = importlib.util.module_from_spec(_SPEC)
sys.modules["normalize_corpus"] = corpus  # its dataclasses look their module up while they are made
_SPEC.loader.exec_module(corpus)

# corpus: (least share correct, most share of wrong labels)
TARGETS = {"pests": (1.0, 0.0), "pests-extra": (0.95, 0.01), "defects": (0.95, 0.01)}


@pytest.mark.parametrize("name", list(TARGETS))
def test_corpus_targets(name):
    vocab_path, cases_path = corpus.CORPORA[name]
    cases = corpus.load_cases(ROOT / cases_path)
    outcomes = corpus.run_normalizer(Normalizer(load_vocabulary(ROOT / vocab_path)), cases)
    correct = sum(o.correct for o in outcomes) / len(outcomes)
    wrong = [o for o in outcomes if o.wrong]
    least_correct, most_wrong = TARGETS[name]
    failures = "\n".join(f"  {o.form}: {o.input!r} expected {o.expected!r}, got {o.label!r} ({o.method})"
                         for o in outcomes if not o.correct)
    assert correct >= least_correct, f"{name}: {correct:.1%} correct\n{failures}"
    assert len(wrong) / len(outcomes) <= most_wrong, f"{name}: {len(wrong)} wrong labels\n{failures}"


def test_corpora_cover_both_languages_and_every_form():
    for name in ("pests-extra", "defects"):
        cases = corpus.load_cases(ROOT / corpus.CORPORA[name][1])
        languages = {corpus.language(case["input"]) for case in cases}
        assert languages == {"en", "ja"}, name
        assert len({case["input"] for case in cases}) == len(cases), f"{name}: an input is repeated"
    assert len(corpus.load_cases(ROOT / corpus.CORPORA["defects"][1])) >= 300


def test_the_table_counts_per_form_and_language():
    cases = [{"form": "exact", "input": "rust", "label": "corrosion"},
             {"form": "exact", "input": "錆", "label": "corrosion"},
             {"form": "generic", "input": "crack", "label": None, "alternatives": ["weld crack"]}]
    outcomes = [corpus.judge(cases[0], "corrosion", (), "exact"), corpus.judge(cases[1], "dent", (), "rule"),
                corpus.judge(cases[2], None, ("weld crack", "hot tear"), "ambiguous")]
    assert [o.correct for o in outcomes] == [True, False, True] and [o.wrong for o in outcomes] == [False, True, False]
    text = corpus.table(outcomes, outcomes)
    assert "| exact | 1/1, 0 wrong | 0/1, 1 wrong |" in text
    assert "| **total** (66.7% correct, 33.3% wrong) | 2/2, 0 wrong | 0/1, 1 wrong |" in text
