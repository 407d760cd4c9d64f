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

# Issue 19, on every corpus: precision of named labels; of the answers whose label is in the vocabulary, the share
# handled right (named, or none named and the right one among the first five alternatives) and named right.
PRECISION, HANDLED, NAMED = 0.995, 0.92, 0.75
# The old corpora before issue 19 (bench/normalize_corpus.py, 2026-12-06): wrong labels named, pests 0 of 322,
# extra pests 0 of 63, defects 1 of 341 (99.7%). None may name more wrong labels, nor fall below the target.
OLD_WRONG = {"pests": 0, "pests-extra": 0, "defects": 1}
# Where the targets are not met yet: strict, so that meeting them turns the test red until this line goes.
NOT_MET = {"civil-infrastructure": "held out: precision 96.0%, named right 74.7%, handled 89.3% "
                                   "(docs/normalisation.md)",
           "food-contamination": "precision 99.3%: a metaphorical 'bruise' named",
           "meat-inspection": "99.3% (first run 93.2%): 'pleurisy root' named (tests/data/domains/README.md)",
           "forest": "99.5% (191/192; first run 95.0%): ヤドリギ類 named (docs/normalisation.md)",
           "paint": "99.3% (first run 96.7%): hail dents named dent (docs/normalisation.md)",
           "pharma": "97.0% (first run 96.1%): 欠け錠 read as 欠錠, orange peel oil, empty capsule shells, "
                     "化学繊維の異物 and a peeling blister foil named",
           "pcb": "97.0% (first run 96.0%): everyday tombstone, black pad, つらら, 亜鉛ウィスカ, coating "
                  "delaminating named laminate, a through-hole fill named insufficient solder"}


def _figures(name):
    vocab_path, cases_path = corpus.CORPORA[name]
    cases = corpus.load_cases(ROOT / cases_path)
    outcomes = corpus.run_normalizer(Normalizer(load_vocabulary(ROOT / vocab_path)), cases)
    return outcomes, corpus.figures(outcomes)


def _failures(name, outcomes) -> str:
    if name in corpus.HELDOUT:
        return "  (held out: its individual cases are never listed)"
    return "\n".join(f"  {o.form}: {o.input!r} expected {o.expected!r}, got {o.label!r} ({o.method})"
                     for o in outcomes if not o.correct)


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=NOT_MET[name]))
                                  if name in NOT_MET else name for name in corpus.CORPORA])
def test_issue_19_targets(name):
    outcomes, found = _figures(name)
    summary = corpus.summary(name, found)
    assert found.precision >= PRECISION, f"{name}:\n{summary}\n{_failures(name, outcomes)}"
    assert found.handled >= HANDLED and found.named_right >= NAMED, f"{name}:\n{summary}"


@pytest.mark.parametrize("name", list(OLD_WRONG))
def test_no_old_corpus_names_more_wrong_labels(name):
    outcomes, found = _figures(name)
    assert found.named_wrong <= OLD_WRONG[name] and found.precision >= PRECISION, (
        f"{name}: {found.precision:.2%}\n{_failures(name, outcomes)}")


def test_the_held_out_corpus_is_measured_first_and_never_listed():
    assert next(iter(corpus.CORPORA)) in corpus.HELDOUT
    assert _failures(next(iter(corpus.HELDOUT)), []) == "  (held out: its individual cases are never listed)"


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


def test_figures_count_what_issue_19_asks():
    cases = [{"form": "exact", "input": "rust", "label": "corrosion"},
             {"form": "head_group", "input": "crack", "label": "weld crack"},
             {"form": "head_group", "input": "割れ", "label": "hot tear"},
             {"form": "none", "input": "a bolt", "label": None},
             {"form": "several", "input": "rust and dents", "label": None, "alternatives": ["corrosion", "dent"],
              "labels": ["corrosion", "dent"]}]
    outcomes = [corpus.judge(cases[0], "corrosion", (), "exact"),
                corpus.judge(cases[1], None, ("surface crack", "weld crack"), "ambiguous"),
                corpus.judge(cases[2], None, ("weld crack",), "ambiguous"),
                corpus.judge(cases[3], "dent", (), "rule"),
                corpus.judge(cases[4], None, ("corrosion", "dent"), "several", ("dent", "corrosion"))]
    found = corpus.figures(outcomes)
    assert (found.named, found.named_wrong, found.precision) == (2, 1, 0.5)
    assert (found.readable, found.readable_named_right, found.readable_handled) == (3, 1, 2)
    assert (found.unnamed_readable, found.unnamed_in_shortlist) == (2, 1)
    assert (found.several, found.several_right) == (1, 1)
    assert found.proposals == {"ambiguous": 2, "several": 1}
