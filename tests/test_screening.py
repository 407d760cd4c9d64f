"""The checks every MLLM-written description or suggested name passes before anything keeps it."""

from __future__ import annotations

import pytest

from helpers import DEFECTS_VOCAB
from prelabel.vocabulary.normalize import Normalizer
from prelabel.vocabulary.screening import check_description, check_name
from prelabel.vocabulary.vocab import load_vocabulary


@pytest.fixture(scope="module")
def defects() -> Normalizer:
    return Normalizer(load_vocabulary(DEFECTS_VOCAB))


@pytest.mark.parametrize("text, kind", [
    ("Small round holes in the weld bead, single or in clusters along the seam.", None),
    ("溶接ビードの表面や内部に見られる、小さな丸い穴。", None),
    ("", "empty"), ("   ", "empty"), ("None.", "no answer"), ("N/A", "no answer"), ("なし", "no answer"),
    ("I can't see any image, so I cannot describe it.", "refusal"),
    ("I'm sorry, but I am unable to help with that.", "refusal"),
    ("申し訳ありませんが、画像がないためお答えできません。", "refusal"),
    ("Holes.", "too short"), ("穴。", "too short"),
    ("holes " * 90, "too long"), ("穴" * 400, "too long"),
    ("It looks like a casting blowhole in a cast part.", "names another label"),
    ("鋳物の引け巣のような不規則な空洞。", "names another label"),
])
def test_descriptions(defects, text, kind):
    flag = check_description(text, "weld porosity", defects)
    assert (flag.kind if flag else None) == kind, flag


@pytest.mark.parametrize("text, label, kind", [
    ("gas pores", "weld porosity", None), ("WP", "weld porosity", None), ("溶接気孔", "weld porosity", None),
    ("porosity", "weld porosity", "group word"), ("割れ", "weld crack", "group word"),
    ("casting blowhole", "weld porosity", "names another label"),
    ("引け巣", "sink mark", "names another label"),
    ("ブローホール", "weld porosity", "names another label"),  # "blowhole", another label's word by its sound
    ("flash", "moulding flash", "everyday word"), ("run", "paint run", "everyday word"),
    ("バリ", "moulding flash", "qualified word"),  # the vocabulary writes 成形バリ: alone it is also a burr
    ("the small round holes that gas leaves in a weld bead", "weld porosity", "not a name"),
    ("unknown", "weld porosity", "no answer"), ("I cannot answer", "weld porosity", "refusal"),
    ("a", "weld porosity", "too short"), ("wp", "weld porosity", "too short"), ("W P", "weld porosity", "too short"),
    ("気孔", "weld porosity", None),  # two kanji are a name
    ("weld crack or sink mark", "weld crack", "names several labels"),
])
def test_suggested_names(defects, text, label, kind):
    flag = check_name(text, label, defects)
    assert (flag.kind if flag else None) == kind, flag
