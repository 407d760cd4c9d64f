"""The corpora of tests/data/domains/ and tests/data/heldout/ are well-formed (tests/data/domains/README.md).

Only the files are checked: the vocabulary is loaded, the normaliser is never run, so that nothing here can be
shaped by what the code does with the answers."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from helpers import ROOT
from prelabel.vocabulary.vocab import load_vocabulary

CORPUS_DIRS = (ROOT / "tests" / "data" / "heldout", ROOT / "tests" / "data" / "domains")
EXPECTED = {"civil-infrastructure", "timber-grading", "fish-seafood", "plant-pathology", "meat-inspection",
            "textile", "apiary", "paint", "forest", "pharma", "pcb"}
HELD_OUT = ROOT / "tests" / "data" / "heldout"
SEVEN_FORMS = ("contrast_negation", "alternatives", "several", "qualified_noun", "subkind", "head_group", "location")
CASE_KEYS = {"form", "input", "label", "alternatives", "labels"}
# The definition of a Japanese answer that bench/normalize_corpus.py reports figures by: any kana or kanji.
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")


def corpora() -> dict[str, tuple[Path, Path]]:
    found = {}
    for folder in CORPUS_DIRS:
        for cases in sorted(folder.glob("*_cases.yaml")):
            name = cases.name.removesuffix("_cases.yaml")
            found[name] = (folder / f"{name}.yaml", cases)
    return found


CORPORA = corpora()


def language(text: str) -> str:
    return "ja" if JAPANESE.search(text) else "en"


def test_every_expected_corpus_is_there():
    assert set(CORPORA) >= EXPECTED, f"missing: {sorted(EXPECTED - set(CORPORA))}"
    assert CORPORA["civil-infrastructure"][1].parent == HELD_OUT


@pytest.fixture(params=sorted(CORPORA), name="corpus")
def corpus_fixture(request):
    vocab_path, cases_path = CORPORA[request.param]
    labels = {entry.label for entry in load_vocabulary(vocab_path)}
    text = cases_path.read_text(encoding="utf-8")
    return request.param, labels, text, yaml.safe_load(text)


def test_the_vocabulary_has_25_to_60_labels(corpus):
    name, labels, _, _ = corpus
    assert 25 <= len(labels) <= 60, f"{name}: {len(labels)} labels"


def test_every_case_is_well_formed_and_names_only_labels_of_its_vocabulary(corpus):
    name, labels, _, cases = corpus
    assert isinstance(cases, list)
    problems = []
    for number, case in enumerate(cases, 1):
        where = f"{name} case {number} ({case.get('input')!r})" if isinstance(case, dict) else f"{name} case {number}"
        if not isinstance(case, dict) or not CASE_KEYS >= set(case) >= {"form", "input", "label"}:
            problems.append(f"{where}: keys must be form, input, label and optionally alternatives, labels")
            continue
        if not isinstance(case["input"], str) or not case["input"].strip() or not isinstance(case["form"], str):
            problems.append(f"{where}: form and input must be non-empty strings")
        named = [case["label"], *case.get("alternatives", []), *case.get("labels", [])]
        problems += [f"{where}: {label!r} is not a label of the vocabulary" for label in named
                     if label is not None and label not in labels]
        if case.get("alternatives") and case["label"] is not None:
            problems.append(f"{where}: alternatives belong to cases whose label is null")
        if "labels" in case and case["form"] != "several":
            problems.append(f"{where}: labels only on several cases")
        if case["form"] == "several":
            several = set(case.get("labels", []))
            if case["label"] is not None or len(several) < 2 or not several <= set(case.get("alternatives", [])):
                problems.append(f"{where}: several takes label null and two or more labels, each also an alternative")
    assert not problems, "\n".join(problems)


def test_inputs_are_unique(corpus):
    name, _, _, cases = corpus
    repeated = [text for text, count in Counter(case["input"] for case in cases).items() if count > 1]
    assert not repeated, f"{name}: repeated inputs {repeated}"


def test_size_and_share_of_japanese(corpus):
    name, _, _, cases = corpus
    japanese = sum(language(case["input"]) == "ja" for case in cases)
    assert len(cases) >= 280, f"{name}: {len(cases)} cases"
    assert japanese / len(cases) >= 0.40, f"{name}: {japanese}/{len(cases)} Japanese"


def test_the_seven_classes_have_20_answers_each_in_both_languages(corpus):
    name, _, _, cases = corpus
    counts = Counter((case["form"], language(case["input"])) for case in cases)
    short = [f"{form}: {counts[form, 'en']} en + {counts[form, 'ja']} ja" for form in SEVEN_FORMS
             if counts[form, "en"] + counts[form, "ja"] < 20 or min(counts[form, "en"], counts[form, "ja"]) < 5]
    assert not short, f"{name}: " + "; ".join(short)


def test_the_files_say_they_were_written_blind(corpus):
    name, _, text, _ = corpus
    header = text.split("\n- ", 1)[0].lower()
    assert "written blind" in header and "2026-12-06" in header, name
    if CORPORA[name][1].parent == HELD_OUT:
        assert "held out" in header and "nobody tunes" in header, name
