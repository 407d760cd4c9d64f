"""What Label Studio gets for each image: the prediction JSON (studio/predictions.py) and the reviewer's evidence
text (studio/evidence.py), for real pipeline results (the stub MLLM over HTTP, the tiny CLIP) in every state,
against the shipped, a Japanese-alias, a subset and a bare labeling config; and hostile MLLM words."""

from __future__ import annotations

import json
import unicodedata

import pytest

from helpers import EXAMPLE_VOCAB, TINY_CLIP_CONFIG, answer_by_colour, english_left, solid_image
from prelabel.pipeline import reasons
from prelabel.pipeline.calibration import PRIOR_NOTE
from prelabel.pipeline.factory import build_pipeline
from prelabel.pipeline.identity import ModelVersion
from prelabel.pipeline.reasons import Reason
from prelabel.pipeline.result import FAILED, LABEL, NONE, Evidence, ImageInput, ImagePrediction
from prelabel.settings import Settings
from prelabel.studio.columns import SUGGESTED, list_columns
from prelabel.studio.evidence import MAX_DESCRIPTION, MAX_TEXT, MAX_WORDS, evidence_text
from prelabel.studio.labelconfig import Control, make_label_config, read_label_config
from prelabel.studio.predictions import import_task, prediction_json, studio_prediction
from prelabel.vocabulary.vocab import load_vocabulary

VERSION = "prelabel-1a2b3c4d-5e6f7a8b"
TYPED = ModelVersion.parse(VERSION)
FAILURE = "prelabel-1a2b3c4d-5e6f7a8b-failed"
BMSB = "Halyomorpha halys"
COLOURS = {"red": (220, 20, 20), "green": (20, 220, 20), "blue": (20, 20, 220), "yellow": (220, 220, 20)}
JA_CONFIG = ('<View><Image name="photo" value="$url"/><Choices name="pest" toName="photo">'
             '<Choice value="クサギカメムシ" alias="Halyomorpha halys"/><Choice value="ミナミアオカメムシ" '
             'alias="Nezara viridula"/><Choice value="該当なし" alias="None of these"/></Choices>'
             '<TextArea name="prelabel_evidence" toName="photo" editable="false" maxSubmissions="1"/></View>')
SUBSET_CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
                 '<Choice value="Nezara viridula"/><Choice value="None of these"/></Choices>'
                 '<TextArea name="prelabel_evidence" toName="image"/></View>')
BARE_CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
               '<Choice value="Halyomorpha halys"/><Choice value="Nezara viridula"/></Choices></View>')


@pytest.fixture(scope="module")
def vocabulary():
    return load_vocabulary(EXAMPLE_VOCAB)


def control_for(config: str, vocabulary) -> Control:
    return read_label_config(config, vocabulary).control


@pytest.fixture(scope="module")
def shipped(vocabulary) -> Control:
    return control_for(make_label_config(vocabulary), vocabulary)


@pytest.fixture(scope="module")
def predictions(tmp_path_factory, tiny_clip, vocabulary) -> dict[str, ImagePrediction]:
    """One real pipeline run: a label (alias), the MLLM's explicit none, a fuzzy match stage 2 vetoes, a
    malformed MLLM answer (failed), an unreadable image (failed)."""
    from stub_llm import StubLLM, request_images

    tmp_path = tmp_path_factory.mktemp("predictions")
    answers = {"red": "BMSB", "green": "none", "blue": "Halyomorpha halis", "yellow": "RAW:not json at all"}
    by_colour = answer_by_colour(answers)

    def handler(body: dict) -> str:  # stage 2 (no image) picks Nezara viridula for the fuzzy name only
        if "Halyomorpha halis" in json.dumps(body["messages"], ensure_ascii=False) and not request_images(body):
            return "Nezara viridula"
        return by_colour(body)

    with StubLLM(handler) as stub:
        settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), data_dir=str(tmp_path / "var"),
                                     llm_base_url=stub.url, clip_model=str(TINY_CLIP_CONFIG), clip_pretrained="",
                                     device="cpu", llm_retries=0)
        pipeline = build_pipeline(settings, vocabulary, clip=tiny_clip)
        paths = [solid_image(tmp_path / f"{name}.jpg", colour) for name, colour in COLOURS.items()]
        broken = tmp_path / "broken.jpg"
        broken.write_bytes(b"not a jpeg")
        found = pipeline.predict([ImageInput(str(p), p.read_bytes, ref=p.stem) for p in [*paths, broken]])
        pipeline.close()
    return {p.ref: p for p in found}


def text_of(prediction: dict) -> str:
    [item] = [r for r in prediction["result"] if r["type"] == "textarea"]
    assert item["readonly"] is True and item["from_name"] == "prelabel_evidence"
    [text] = item["value"]["text"]
    return text


def test_a_label_is_its_choice_the_evidence_and_its_score(predictions, shipped):
    found = predictions["red"]
    assert found.state == LABEL and found.label == BMSB
    written = prediction_json(found, TYPED, shipped)
    assert written["model_version"] == VERSION and written["score"] == round(found.score, 4) > 0
    choice, evidence = written["result"]
    assert choice == {"id": "prelabel", "from_name": "label", "to_name": "image", "type": "taxonomy",
                      "value": {"taxonomy": [[BMSB]]}}
    assert evidence["to_name"] == "image"
    lines = text_of(written).splitlines()
    # The shipped prior made the score: the reviewer reads what it is not (the MLLM's errors are not in it).
    assert lines[0] == f"Suggested: {BMSB}, {round(found.score * 100)}% ({PRIOR_NOTE['en']})"
    assert lines[1] == "Why: named by the MLLM (alias match of 'BMSB')"
    assert f'- classification "BMSB" -> {BMSB}: alias 97%' in lines
    assert any(line.startswith('- description "A photo of a BMSB on a leaf." -> ') for line in lines)
    assert sum('"BMSB"' in line for line in lines) == 1  # the classification, also a candidate, listed once
    assert lines[-1] == ("How Prelabel looked: photo read; the MLLM described the photo; compared the photo with "
                         "each label (CLIP)")
    assert VERSION not in text_of(written)  # no version hash for the reviewer
    runners = next((line for line in lines if line.startswith("Runner-ups: ")), "")  # none when all are <1%
    shown = [(label, score) for label, score in found.ranking if label != BMSB and score >= 0.005]
    assert BMSB not in runners and runners.count("%") == min(4, len(shown))
    assert " 0%" not in runners and "<1%" not in runners  # no padding with labels nothing points to


def test_the_mllm_s_none_is_the_none_choice_with_its_reason(predictions, shipped):
    found = predictions["green"]
    assert found.state == NONE
    written = prediction_json(found, TYPED, shipped)
    assert written["model_version"] == VERSION and written["score"] == 0.0
    assert written["result"][0]["value"] == {"taxonomy": [["None of these"]]}
    lines = text_of(written).splitlines()
    assert lines[0] == "Suggested: none of these. The MLLM saw nothing from the label list (it answered 'none')"
    assert '- classification "none" -> no label: no match' in lines
    assert lines[2].startswith("- ") and any(line.startswith("Closest labels (CLIP alone): ") for line in lines)


def test_stage_2_vetoes_a_weak_match_and_the_evidence_says_so(predictions, shipped):
    found = predictions["blue"]
    assert (found.state, found.label) == (LABEL, "Nezara viridula")
    text = text_of(prediction_json(found, TYPED, shipped))
    assert f'- classification "Halyomorpha halis" -> {BMSB}: fuzzy 83%, vetoed by stage 2' in text
    assert '- stage 2 "Nezara viridula" -> Nezara viridula: exact 100%' in text
    assert "the MLLM described the photo; asked the MLLM again with the label list;" in text


@pytest.mark.parametrize("name, stage", [("yellow", "the MLLM gave no usable answer (its answer could not be read)"),
                                         ("broken", "photo not usable")])
def test_a_failure_is_evidence_only_under_the_failure_version(predictions, shipped, name, stage):
    found = predictions[name]
    assert found.state == FAILED
    written = prediction_json(found, TYPED, shipped)
    assert written["model_version"] == FAILURE and written["score"] == 0.0
    assert [r["type"] for r in written["result"]] == ["textarea"]  # no choice: nothing was decided
    lines = text_of(written).splitlines()
    assert lines[0] == ("Not pre-labelled: the MLLM gave no usable answer (its answer could not be read)"
                        if name == "yellow" else f"Not pre-labelled: {found.reason}")
    assert lines[1].startswith("What to do: choose the label yourself.")  # no promise that it will heal
    assert stage in lines[-1] and FAILURE not in text_of(written) and "malformed" not in text_of(written)


def test_a_task_that_keeps_failing_says_to_label_it_by_hand_and_promises_nothing(predictions, shipped):
    found = predictions["broken"]
    second = text_of(studio_prediction(found, TYPED, shipped, failures=2).to_json()).splitlines()
    assert second[1].startswith("What to do: choose the label yourself.")
    third = text_of(studio_prediction(found, TYPED, shipped, failures=3).to_json()).splitlines()
    assert third[0] == second[0] == f"Not pre-labelled: {found.reason}"  # the cause, in the reviewer's words
    assert third[1] == ("What to do: Prelabel failed 3 times in a row on this image: label it by hand. If many "
                        "tasks say this, tell whoever runs Prelabel.")
    assert "again" not in third[1]


def test_a_label_the_config_cannot_show_becomes_the_none_state(predictions, vocabulary):
    found = predictions["red"]
    written = prediction_json(found, TYPED, control_for(SUBSET_CONFIG, vocabulary))
    assert written["score"] == 0.0 and written["result"][0]["value"] == {"choices": ["None of these"]}
    first = text_of(written).splitlines()[0]
    assert first == (f"Suggested: none of these. Prelabel found {BMSB} ({round(found.score * 100)}%), but this "
                     "project's labeling config has no choice for it")
    assert f"-> {BMSB} [no choice in this config]: alias 97%" in text_of(written)


def test_a_japanese_config_gets_the_alias_and_the_reviewer_reads_japanese(predictions, vocabulary):
    control = control_for(JA_CONFIG, vocabulary)
    written = prediction_json(predictions["red"], TYPED, control)
    assert written["result"][0] == {"id": "prelabel", "from_name": "pest", "to_name": "photo", "type": "choices",
                                    "value": {"choices": [BMSB]}}
    assert control.language == "ja" and control_for(make_label_config(vocabulary), vocabulary).language == "en"
    assert text_of(written).startswith(f"提案: クサギカメムシ ({BMSB}), ")  # the headings in the reviewers' language
    none = prediction_json(predictions["green"], TYPED, control)
    assert none["result"][0]["value"] == {"choices": ["None of these"]}  # the alias 該当なし stores
    text = text_of(none)  # the reason and every sentence in Japanese too, not only the headings
    assert text.startswith("提案: 該当なし。MLLMはラベル一覧のどれも写っていないと答えた（答え: 'none'）\n")
    assert '- 分類 "none" -> ラベルなし: 一致なし' in text.splitlines()
    assert text.splitlines()[-1].startswith("処理の経過: 写真を読んだ、MLLMが写真を説明した")
    failed = text_of(prediction_json(predictions["broken"], TYPED, control)).splitlines()
    assert failed[0].startswith("事前ラベルなし: 画像を使えなかった（") and failed[1].startswith("対処: ")
    # No English left, but the MLLM's own words and the labels' names, and those only where no choice shows them.
    assert english_left("\n".join([*text.splitlines(), *failed]), vocabulary.label_values) == []
    # The labels named as their choices show them; the vocabulary label it stores once, beside the suggestion.
    later = text_of(written).splitlines()[1:]
    assert any("-> クサギカメムシ: 別名一致" in line for line in later) and not any(BMSB in line for line in later)
    assert english_left(text_of(written), vocabulary.label_values) == []
    # The task list's column in the reviewers' language too: the suggestion as its choice shows it, a failure.
    broken = predictions["broken"]
    assert list_columns(studio_prediction(predictions["red"], TYPED, control), control)[SUGGESTED] == "クサギカメムシ"
    assert list_columns(studio_prediction(broken, TYPED, control), control)[SUGGESTED] == "事前ラベルなし"
    english = control_for(make_label_config(vocabulary), vocabulary)
    assert list_columns(studio_prediction(broken, TYPED, english), english)[SUGGESTED] == "not pre-labelled"


def test_tags_the_config_lacks_are_left_out(predictions, vocabulary):
    bare = control_for(BARE_CONFIG, vocabulary)
    label = prediction_json(predictions["red"], TYPED, bare)
    assert label["result"] == [{"id": "prelabel", "from_name": "label", "to_name": "image", "type": "choices",
                                "value": {"choices": [BMSB]}}]
    assert prediction_json(predictions["green"], TYPED, bare)["result"] == []  # looked, nothing to show
    failed = prediction_json(predictions["broken"], TYPED, bare)
    assert failed == {"model_version": FAILURE, "score": 0.0, "result": []}


def test_import_tasks_carry_one_prediction_whatever_the_state(predictions, shipped):
    for found in predictions.values():
        task = import_task(found, "/data/local-files/?d=x.jpg", TYPED, shipped)
        assert task["predictions"] == [prediction_json(found, TYPED, shipped)]
        assert task["meta"]["prelabel"]["state"] == found.state
        json.dumps(task, ensure_ascii=False)


# ---- the evidence text on its own ------------------------------------------------------------------------------

def hostile() -> ImagePrediction:
    words = "クサギカメムシ\u200b\u202e<script>alert(1)</script>\x00\x07\x1b[31m\ttab\r\nnext line" + "x" * 5000
    candidates = [{"text": f"{words} {n}", "source": "candidate", "label": None, "score": 0.0, "method": "none",
                   "alternatives": []} for n in range(40)]
    return ImagePrediction("s", 1, state=NONE,
                           why=Reason.text("no name the MLLM used is in the vocabulary\x00" + "y" * 900),
                           evidence=Evidence.from_dict({
                               "stage1": {"classification": words, "description": words, "candidates": []},
                               "candidates": [{"text": words, "source": "description", "label": None, "score": 0,
                                               "method": "none", "alternatives": []}, *candidates]}),
                           ranking=[(f"label{n}", 0.1) for n in range(20)],
                           errors={"stage2": "timeout: " + "z" * 1000, "\x1bweird": "\u202eboom"})


def test_hostile_words_are_cleaned_cut_and_bounded():
    text = evidence_text(hostile(), VERSION)
    assert len(text) <= MAX_TEXT
    assert not [c for c in text if unicodedata.category(c)[0] == "C" and c != "\n"]  # no control or bidi chars
    lines = text.splitlines()
    assert all(len(line) <= MAX_DESCRIPTION + 200 for line in lines)
    assert lines[0].startswith("Suggested: none of these. No name the MLLM used is in the vocabulary")
    assert '"クサギカメムシ<script>alert(1)</script>[31m tab next line' in text  # quoted as is, Japanese kept
    assert lines[-1].startswith("How Prelabel looked: ")  # kept when the rest is cut
    assert "- … and 31 more" in lines  # the description and 40 candidates: 10 listed
    assert any("asking the MLLM again failed (it took too long)" in line for line in lines)
    assert max(len(quote) for line in lines for quote in line.split('"')[1::2]) == MAX_DESCRIPTION


def test_long_words_are_cut_with_an_ellipsis():
    prediction = ImagePrediction("s", 1, state=NONE, why=Reason.text("r"), evidence=Evidence.from_dict({"candidates": [
        {"text": "w" * 1000, "source": "candidate", "label": None, "method": "none", "alternatives": []}]}))
    line = next(line for line in evidence_text(prediction, VERSION).splitlines() if line.startswith("- candidate"))
    assert f'"{"w" * (MAX_WORDS - 1)}…"' in line


def test_ambiguous_names_list_the_labels_they_fit(normalizer):
    result = normalizer.normalize("weevil")
    prediction = ImagePrediction("s", 1, state=NONE, why=Reason(reasons.AMBIGUOUS, words="weevil", count=3),
                                 evidence=Evidence.from_dict({"candidates": [{
                                     "text": "weevil", "source": "classification",
                                     **{k: v for k, v in result.to_dict().items() if k != "input"}}]}))
    text = evidence_text(prediction, VERSION)
    assert '- classification "weevil" -> no label: ambiguous, fits Sitophilus' in text
    assert "How Prelabel looked: photo read; no MLLM set up" in text and "CLIP" not in text


MULTI_CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image" choice="multiple">'
                '<Choice value="Halyomorpha halys"/><Choice value="Nezara viridula"/><Choice value="None of these"/>'
                '</Choices><TextArea name="prelabel_evidence" toName="image"/></View>')


def several_named() -> ImagePrediction:
    """What the pipeline concludes when one answer affirms two labels side by side (decision.conclude)."""
    text = "a brown marmorated stink bug and a southern green stink bug on the leaf"
    return ImagePrediction(
        "s", 1, state=NONE, why=Reason(reasons.SIDE_BY_SIDE, (BMSB, "Nezara viridula"), count=2),
        labels=[(BMSB, 0.61), ("Nezara viridula", 0.58)],
        ranking=[(BMSB, 0.61), ("Nezara viridula", 0.58), ("Sitophilus oryzae", 0.02)],
        evidence=Evidence.from_dict({"candidates": [{"text": text, "source": "classification", "label": None,
                                                     "score": 0.92, "method": "several",
                                                     "labels": [BMSB, "Nezara viridula"],
                                                     "alternatives": [{"label": BMSB, "score": 0.5},
                                                                      {"label": "Nezara viridula", "score": 0.5}]}]}))


def test_several_labels_are_several_checked_choices_in_a_multi_choice_config(vocabulary):
    control = control_for(MULTI_CONFIG, vocabulary)
    found = prediction_json(several_named(), VERSION, control)
    [choice] = [r for r in found["result"] if r["type"] == "choices"]
    assert choice["value"] == {"choices": [BMSB, "Nezara viridula"]}
    assert found["score"] == 0.58  # the weaker of the two
    lines = text_of(found).splitlines()
    assert lines[:2] == [f"Suggested: {BMSB}, 61%", "Suggested: Nezara viridula, 58%"]
    assert lines[2].startswith(f"Why {BMSB}: named by the MLLM beside 1 other label(s) in \"a brown marmorated")
    assert lines[3].startswith("Why Nezara viridula: named by the MLLM beside 1 other label(s) in ")
    assert any(line.startswith('- classification "a brown marmorated') and "no label: several, fits" in line
               for line in lines)


def test_several_labels_in_a_single_choice_config_are_none_with_both_as_candidates(vocabulary, shipped):
    found = prediction_json(several_named(), VERSION, shipped)
    [choice] = [r for r in found["result"] if r["type"] == "taxonomy"]
    assert choice["value"] == shipped.none_value() and found["score"] == 0.0
    lines = text_of(found).splitlines()
    assert lines[0] == ("Suggested: none of these. No single label: the MLLM named 2 labels side by side "
                        f"({BMSB}, Nezara viridula)")
    assert lines[-2].startswith(f"Closest labels: {BMSB} 61%, Nezara viridula 58%")
