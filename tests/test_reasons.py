"""Reasons are records rendered per language (pipeline/reasons.py): every code the pipeline can write has a
sentence in every language, the Japanese one has no English but the MLLM's quoted words and the labels' names,
labels are named as the reviewer's choices show them, the English sentence is the one older readers (the
report, the learned store's rows, `prelabel run`'s summary) have always read, and evidence kept before the
record existed still reads."""

from __future__ import annotations

import json
import re

import pytest

from helpers import ROOT
from prelabel.pipeline import reasons
from prelabel.pipeline.reasons import LANGUAGES, RENDERINGS, Reason, render
from prelabel.pipeline.result import NONE, ImagePrediction
from prelabel.studio import wording
from prelabel.vocabulary.normalize import PROPOSALS

BMSB, NEZARA = "Halyomorpha halys", "Nezara viridula"
SHOWN = {BMSB: "クサギカメムシ", NEZARA: "ミナミアオカメムシ"}
# One record per code, and the English sentence it must read as (the sentences of the pipeline before reasons
# were records: what the learned store's rows and older reports hold).
EXAMPLES = {
    reasons.IMAGE_UNUSABLE: (Reason(reasons.IMAGE_UNUSABLE, method="unreadable",
                                    detail="unreadable: cannot identify image file"),
                             "the image could not be used (unreadable: cannot identify image file)"),
    reasons.NO_ANSWER: (Reason(reasons.NO_ANSWER, method="timeout"), "the MLLM did not answer (timeout)"),
    reasons.DEADLINE_PASSED: (Reason(reasons.DEADLINE_PASSED, method="deadline", detail="the job's deadline passed"),
                              "the MLLM did not answer: the job's deadline passed"),
    reasons.STAGE_FAILED: (Reason(reasons.STAGE_FAILED), "a stage failed"),
    reasons.NO_STAGE: (Reason(reasons.NO_STAGE), "no stage ran: neither an MLLM nor CLIP is configured"),
    reasons.SAW_NOTHING: (Reason(reasons.SAW_NOTHING, words="none"),
                          "the MLLM saw nothing from the label list (it answered 'none')"),
    reasons.CONTRADICTED: (Reason(reasons.CONTRADICTED, (BMSB, NEZARA), words="a shield bug"),
                           f"stage 2 answered 'a shield bug', which contradicts the weaker match to {BMSB}, {NEZARA}"),
    reasons.AMBIGUOUS: (Reason(reasons.AMBIGUOUS, words="stink bug", count=2),
                        "'stink bug' fits 2 labels and nothing named one of them"),
    reasons.UNSURE: (Reason(reasons.UNSURE, words="no BMSB", method="negated"),
                     "'no BMSB' names no label for sure (negated: the name is denied)"),
    reasons.UNKNOWN_NAMES: (Reason(reasons.UNKNOWN_NAMES), "no name the MLLM used is in the vocabulary"),
    reasons.UNKNOWN_NAMES_STAGE2: (Reason(reasons.UNKNOWN_NAMES_STAGE2, words="none"),
                                   "no name the MLLM used is in the vocabulary, and stage 2 answered 'none'"),
    reasons.SIDE_BY_SIDE: (Reason(reasons.SIDE_BY_SIDE, (BMSB, NEZARA), count=2),
                           f"no single label: the MLLM named 2 labels side by side ({BMSB}, {NEZARA})"),
    reasons.NAMED: (Reason(reasons.NAMED, words="brown marmorated stinkbug", method="fuzzy"),
                    "named by the MLLM (fuzzy match of 'brown marmorated stinkbug')"),
    reasons.CHOSEN: (Reason(reasons.CHOSEN, count=4), "chosen by the MLLM from 4 candidates after seeing the image"),
    reasons.CLIP_ALONE: (Reason(reasons.CLIP_ALONE), "CLIP alone (no MLLM configured)"),
    reasons.NO_REGION: (Reason(reasons.NO_REGION), "no region: the MLLM found nothing in the image"),
    reasons.NO_REGION_LABEL: (Reason(reasons.NO_REGION_LABEL, total=3),
                              "none of the 3 region(s) is named by a vocabulary label"),
    reasons.REGIONS: (Reason(reasons.REGIONS, (BMSB, NEZARA), count=2, total=3),
                      f"2 of 3 region(s) are {BMSB}; also {NEZARA}"),
    reasons.TEXT: (Reason.text("an older Prelabel's sentence"), "an older Prelabel's sentence"),
}


def codes_written() -> set[str]:
    """Every code the code base writes: `reasons.X` and `Reason(X` wherever they appear in backend/."""
    found = set()
    for path in (ROOT / "backend" / "prelabel").rglob("*.py"):
        for name in re.findall(r"\breasons\.([A-Z][A-Z0-9_]+)\b|\bReason\(([A-Z][A-Z0-9_]+)\b",
                               path.read_text("utf-8")):
            found.add(getattr(reasons, name[0] or name[1]))
    return found


def test_every_code_written_has_a_sentence_in_every_language():
    written = codes_written()
    assert len(written) >= 15  # the scan found the pipeline's codes (decision.py, regions.py)
    for code in written | set(RENDERINGS):
        assert set(RENDERINGS.get(code, {})) == set(LANGUAGES), f"reason {code!r} lacks a language"
    assert set(EXAMPLES) == set(RENDERINGS)  # and each is tried below


def test_every_phrase_of_the_evidence_has_every_language():
    assert set(reasons.ALSO) == set(reasons.LIST_SEPARATOR) == set(LANGUAGES)
    for table in (wording.PHRASES, wording.SOURCES, wording.DROPPED, reasons.CAUSES):
        keys = [set(table[language]) for language in LANGUAGES]
        assert all(found == keys[0] for found in keys), table
    assert set(reasons.PROPOSALS_EN) | {"ambiguous"} >= PROPOSALS  # each proposal explained in English
    assert set(reasons.METHODS["ja"]) >= PROPOSALS  # and named in Japanese


@pytest.mark.parametrize("code", sorted(EXAMPLES))
def test_each_reason_reads_in_english_as_always_and_in_japanese(code):
    reason, english = EXAMPLES[code]
    assert render(reason, "en") == english
    said = render(reason, "ja", lambda label: SHOWN.get(label, label))
    if code == reasons.TEXT:  # kept as written: an older Prelabel's English, shown rather than half translated
        assert said == english
        return
    assert re.search("[\u3040-\u30ff\u4e00-\u9fff]", said) and said != english
    assert BMSB not in said and NEZARA not in said  # the labels as the choices show them
    assert not re.search(r"[a-z]{3,}", re.sub(r"'[^']*'|MLLM|CLIP|Prelabel", "", said)), said


def test_the_record_travels_beside_its_english_sentence_and_old_evidence_still_reads():
    prediction = ImagePrediction("a.jpg", 1, state=NONE, why=EXAMPLES[reasons.CONTRADICTED][0])
    kept = json.loads(json.dumps(prediction.to_dict()))
    assert kept["reason"] == EXAMPLES[reasons.CONTRADICTED][1]  # what older reports and rows read
    assert ImagePrediction.from_dict(kept).why == prediction.why
    old = {key: value for key, value in kept.items() if key != "why"}  # evidence Prelabel kept before the record
    assert ImagePrediction.from_dict(old).why == Reason.text(kept["reason"])
    assert ImagePrediction.from_dict({}).why is None and ImagePrediction.from_dict({}).reason == ""
    hostile = {**kept, "why": {"code": "no such code", "labels": "x"}}  # an unknown code: the sentence kept
    assert ImagePrediction.from_dict(hostile).why == Reason.text(kept["reason"])
    typed = {**kept, "why": {"code": "ambiguous", "words": 5, "count": True, "labels": [1, "A"]}}
    assert ImagePrediction.from_dict(typed).why == Reason(reasons.AMBIGUOUS, ("A",))
