"""The pipeline with real parts: the stub LLM over HTTP through the openai client, the tiny open_clip model,
SQLite cache, real JPEG files. Each stage on, off, and failing."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from helpers import EXAMPLE_VOCAB, TINY_CLIP_CONFIG, answer_by_colour, solid_image
from prelabel.pipeline.calibration import prior
from prelabel.pipeline.decision import final_scores
from prelabel.pipeline.factory import build_pipeline
from prelabel.pipeline.identity import ModelVersion
from prelabel.pipeline.result import ImageInput
from prelabel.settings import Settings
from prelabel.vocabulary.vocab import load_vocabulary
from stub_llm import request_images, request_text

RED, GREEN, BLUE = (220, 20, 20), (20, 220, 20), (20, 20, 220)


def settings_for(tmp_path, stub=None, **overrides) -> Settings:
    values = {"vocab": str(EXAMPLE_VOCAB), "data_dir": str(tmp_path / "var"),
              "llm_base_url": stub.url if stub else "", "clip_model": str(TINY_CLIP_CONFIG), "clip_pretrained": "",
              "device": "cpu", "llm_retries": 1}
    values.update(overrides)
    return Settings.from_env({}, **values)


def pipeline_for(tmp_path, tiny_clip, stub=None, **overrides):
    settings = settings_for(tmp_path, stub, **overrides)
    return build_pipeline(settings, load_vocabulary(settings.vocab), clip=tiny_clip if settings.clip_model else None)


def inputs(tmp_path, *colours) -> list[ImageInput]:
    paths = [solid_image(tmp_path / f"img{i}.jpg", colour) for i, colour in enumerate(colours)]
    return [ImageInput(str(path), path.read_bytes, ref=path.name) for path in paths]


def test_named_labels_win_and_every_stage_score_is_kept(tmp_path, tiny_clip, stub_llm):
    stub_llm.handler = answer_by_colour({"red": "BMSB", "green": "これはコクゾウムシの成虫です",
                                         "blue": "rice weevils"})
    pipeline = pipeline_for(tmp_path, tiny_clip, stub_llm)
    results = pipeline.predict(inputs(tmp_path, RED, GREEN, BLUE))
    assert [r.label for r in results] == ["Halyomorpha halys", "Sitophilus zeamais", "Sitophilus oryzae"]
    assert [r.ref for r in results] == ["img0.jpg", "img1.jpg", "img2.jpg"]
    for result in results:
        assert set(result.stage_scores) == {"mllm", "clip_image", "fused", "final"}
        assert 0 < result.score <= 1
        assert result.ranking[0] == (result.label, result.score)
        assert result.evidence.to_dict()["fusion_features"] == ["description", "guess", "image"]
        assert not result.errors
    assert results[0].evidence.to_dict()["candidates"][0] == {"text": "BMSB", "source": "classification",
                                                    "label": "Halyomorpha halys", "score": 0.97, "method": "alias",
                                                    "alternatives": []}
    assert [c["source"] for c in results[0].evidence.to_dict()["candidates"]] == ["classification", "candidate",
                                                                        "description"]
    assert stub_llm.calls == 3  # one stage-1 call per image, no stage 2: every answer was decisive


def test_stage2_asks_for_one_label_when_stage1_is_unsure(tmp_path, tiny_clip, stub_llm):
    stub_llm.handler = answer_by_colour({"red": "a small snout beetle in stored grain"}, stage2="Sitophilus zeamais")
    pipeline = pipeline_for(tmp_path, tiny_clip, stub_llm)
    [result] = pipeline.predict(inputs(tmp_path, RED))
    assert result.label == "Sitophilus zeamais"
    assert result.evidence.to_dict()["stage2"] == {"answer": "Sitophilus zeamais", "label": "Sitophilus zeamais",
                                         "method": "exact", "score": 1.0}
    stage2_request = stub_llm.requests[1]
    prompt = stage2_request["messages"][0]["content"]
    assert "Sitophilus zeamais (maize weevil; コクゾウムシ)" in prompt and "snout beetle" in prompt
    assert stub_llm.calls == 2


def test_stage2_can_be_switched_off_and_its_none_is_an_honest_none(tmp_path, tiny_clip, stub_llm):
    stub_llm.handler = answer_by_colour({"red": "an unknown speck"}, stage2="none")
    [with_stage2] = pipeline_for(tmp_path, tiny_clip, stub_llm).predict(inputs(tmp_path, RED))
    assert with_stage2.evidence.to_dict()["stage2"]["label"] is None and "mllm" not in with_stage2.stage_scores
    # Nothing the MLLM said names a label: CLIP ranks the runner-ups for the reviewer, but decides nothing.
    assert (with_stage2.state, with_stage2.label) == ("none", None)
    assert "no name the MLLM used is in the vocabulary" in with_stage2.reason
    assert len(with_stage2.ranking) == 5 and not with_stage2.failed
    stub_llm.reset()
    [without] = pipeline_for(tmp_path / "b", tiny_clip, stub_llm, stage2=False).predict(inputs(tmp_path, RED))
    assert without.evidence.stage2 is None and stub_llm.calls == 1 and without.state == "none"


def test_clip_never_turns_an_explicit_none_into_a_label(tmp_path, tiny_clip, stub_llm):
    """The MLLM called the image a house cat, none of the labels: CLIP's softmax, however peaked, is no label,
    and stage 2 is not asked to overrule an explicit none (it would be asked to find something)."""
    stub_llm.handler = answer_by_colour({"red": '{"description": "A house cat on a sofa.", "classification": '
                                                '"none", "candidates": ["house cat"]}'}, stage2="Halyomorpha halys")
    [result] = pipeline_for(tmp_path, tiny_clip, stub_llm).predict(inputs(tmp_path, RED))
    assert (result.state, result.label, result.score) == ("none", None, 0.0)
    assert stub_llm.calls == 1 and result.evidence.stage2 is None
    assert result.reason == "the MLLM saw nothing from the label list (it answered 'none')"
    assert result.stage_scores["fused"]  # CLIP ran, and its ranking is kept as evidence
    [clip_only] = pipeline_for(tmp_path / "c", tiny_clip, None).predict(inputs(tmp_path, RED))
    assert clip_only.state == "label" and clip_only.reason == "CLIP alone (no MLLM configured)"


def test_stage2_vetoes_a_fuzzy_match_it_contradicts(tmp_path, tiny_clip, stub_llm):
    """ヒメマルカツオブシムシ is not in the vocabulary; one letter from a regulated species. Stage 2 says none:
    the fuzzy match is kept in the evidence, vetoed, and the reviewer gets an honest none."""
    stub_llm.handler = answer_by_colour({"red": "Halyomorpha halis"}, stage2="none")
    [vetoed] = pipeline_for(tmp_path, tiny_clip, stub_llm).predict(inputs(tmp_path, RED))
    assert [c["method"] for c in vetoed.evidence.to_dict()["candidates"][:1]] == ["fuzzy"]
    assert vetoed.evidence.to_dict()["vetoed"] == ["Halyomorpha halys"]
    assert (vetoed.state, vetoed.label) == ("none", None)
    assert "contradicts the weaker match to Halyomorpha halys" in vetoed.reason
    stub_llm.reset()
    stub_llm.handler = answer_by_colour({"red": "Halyomorpha halis"}, stage2="Halyomorpha halys")
    [confirmed] = pipeline_for(tmp_path / "b", tiny_clip, stub_llm).predict(inputs(tmp_path, RED))
    assert (confirmed.state, confirmed.label) == ("label", "Halyomorpha halys") and not confirmed.evidence.vetoed
    stub_llm.reset()
    stub_llm.handler = answer_by_colour({"red": "Halyomorpha halis"}, stage2="Nezara viridula")
    [overruled] = pipeline_for(tmp_path / "c", tiny_clip, stub_llm).predict(inputs(tmp_path, RED))
    assert overruled.label == "Nezara viridula" and overruled.evidence.to_dict()["vetoed"] == ["Halyomorpha halys"]


def test_a_generic_name_alone_is_no_decision(tmp_path, tiny_clip, stub_llm):
    stub_llm.handler = answer_by_colour({"red": "weevil"}, stage2="a weevil")
    [result] = pipeline_for(tmp_path, tiny_clip, stub_llm).predict(inputs(tmp_path, RED))
    assert (result.state, result.label) == ("none", None)
    assert result.reason.startswith("'weevil' fits 3 labels")
    assert set(result.stage_scores["mllm"]) == {"Sitophilus zeamais", "Sitophilus oryzae", "Sitophilus granarius"}


WEEVILS = {"Sitophilus zeamais", "Sitophilus oryzae", "Sitophilus granarius"}


def test_a_group_word_goes_to_stage_2_with_the_image_as_a_multiple_choice(tmp_path, tiny_clip, stub_llm):
    """"weevil" fits three labels that differ in what the picture shows: the MLLM looks again, with exactly those
    three as its choices, and the evidence says so (never "exact match")."""
    stub_llm.handler = answer_by_colour({"red": "weevil"}, stage2="Halyomorpha halys",
                                        stage2_image="Sitophilus oryzae")
    [result] = pipeline_for(tmp_path, tiny_clip, stub_llm).predict(inputs(tmp_path, RED))
    assert (result.state, result.label) == ("label", "Sitophilus oryzae")
    assert result.reason == "chosen by the MLLM from 3 candidates after seeing the image"
    assert result.evidence.stage2.to_dict() == {"answer": "Sitophilus oryzae", "label": "Sitophilus oryzae",
                                         "method": "image_choice", "score": 1.0, "with_image": True,
                                         "candidates": 3}
    assert stub_llm.calls == 2  # stage 1, then the multiple choice; no text-only stage 2
    question = stub_llm.requests[1]
    assert len(request_images(question)) == 1  # the picture itself goes with the question
    listed = [line[2:].split(" (")[0] for line in request_text(question).splitlines() if line.startswith("- ")]
    assert set(listed) == WEEVILS  # exactly the proposal's candidates, nothing else of the 30 labels
    assert result.stage_scores["mllm"]["Sitophilus oryzae"] > max(
        score for label, score in result.stage_scores["mllm"].items() if label != "Sitophilus oryzae")


@pytest.mark.parametrize("reply", ["none", "Halyomorpha halys", "I cannot tell"])
def test_stage_2_with_the_image_may_answer_none_and_never_outside_its_list(tmp_path, tiny_clip, stub_llm, reply):
    stub_llm.handler = answer_by_colour({"red": "weevil"}, stage2_image=reply)
    [result] = pipeline_for(tmp_path, tiny_clip, stub_llm).predict(inputs(tmp_path, RED))
    assert (result.state, result.label) == ("none", None), result.reason
    assert result.evidence.stage2.label is None and result.evidence.stage2.with_image
    assert set(result.stage_scores["mllm"]) == WEEVILS  # the group word's little weight, for the ranking only


def test_a_malformed_answer_fails_that_stage_only(tmp_path, tiny_clip, stub_llm):
    stub_llm.handler = answer_by_colour({"red": "RAW:I think it is a bug, sorry no JSON", "green": "BMSB"})
    results = pipeline_for(tmp_path, tiny_clip, stub_llm).predict(inputs(tmp_path, RED, GREEN))
    broken, fine = results
    assert broken.errors["stage1"].startswith("malformed:")
    # A failure, tried again later (malformed answers are not cached); CLIP's ranking is kept as evidence.
    assert broken.failed and broken.label is None and broken.ranking
    assert broken.reason == "the MLLM did not answer (malformed)"
    assert broken.evidence.to_dict()["fusion_features"] == ["image"]
    assert broken.usage["mllm_calls"] == 1 and broken.usage["prompt_tokens"] > 0  # the failed call is paid for
    assert fine.label == "Halyomorpha halys" and not fine.errors


def test_unusable_images_fail_alone(tmp_path, tiny_clip, stub_llm):
    stub_llm.handler = answer_by_colour({"red": "BMSB"})
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")

    def unreachable() -> bytes:
        raise ConnectionError("http://ls.example/data/upload/1.jpg: connection refused")

    items = [*inputs(tmp_path, RED), ImageInput(str(corrupt), corrupt.read_bytes),
             ImageInput("http://ls.example/data/upload/1.jpg", unreachable)]
    good, bad, gone = pipeline_for(tmp_path, tiny_clip, stub_llm).predict(items)
    assert good.label == "Halyomorpha halys"
    assert bad.failed and bad.failure_cause == "image:unreadable" and "corrupt.jpg" in bad.errors["image"]
    assert gone.failed and gone.failure_cause == "image:unavailable" and "connection refused" in gone.errors["image"]
    assert stub_llm.calls == 1


def test_clip_only_and_mllm_only(tmp_path, tiny_clip, stub_llm):
    clip_only = pipeline_for(tmp_path, tiny_clip, None)
    [result] = clip_only.predict(inputs(tmp_path, RED))
    assert set(result.stage_scores) == {"clip_image", "fused", "final"}
    assert result.stage_scores["final"] == pytest.approx(result.stage_scores["fused"], rel=1e-4)
    assert result.stage_scores["fused"] == pytest.approx(result.stage_scores["clip_image"], rel=1e-4)
    # CLIP alone is measured by nothing the prior was fitted on: chance among the labels, with CLIP's margin kept.
    assert result.finding.way == "clip" and result.finding.clip_margin >= 0
    assert result.score == pytest.approx(1 / len(clip_only.vocabulary.label_values))
    stub_llm.handler = answer_by_colour({"red": "Halyomorpha halys"})
    mllm_only = pipeline_for(tmp_path, tiny_clip, stub_llm, clip_model="")
    assert mllm_only.clip is None
    [result] = mllm_only.predict(inputs(tmp_path, RED))
    assert set(result.stage_scores) == {"mllm", "final"}
    # The score is the shipped prior's probability for how the label was found: named exactly by the
    # classification, and again by the candidate and the description.
    assert result.label == "Halyomorpha halys"
    assert (result.finding.way, result.finding.source, result.finding.support) == ("exact", "classification", 3)
    assert result.score == pytest.approx(prior().probability(result.finding)) and 0.5 < result.score < 1
    assert result.finding.clip_margin is None  # CLIP off


def test_query_features_are_switchable(tmp_path, tiny_clip, stub_llm):
    stub_llm.handler = answer_by_colour({"red": "BMSB"})
    pipeline = pipeline_for(tmp_path, tiny_clip, stub_llm, fusion_features="description,guess")
    [result] = pipeline.predict(inputs(tmp_path, RED))
    assert result.evidence.to_dict()["fusion_features"] == ["description", "guess"]
    assert result.stage_scores["fused"] != result.stage_scores["clip_image"]
    with pytest.raises(ValueError, match="unknown feature"):
        pipeline_for(tmp_path, tiny_clip, stub_llm, fusion_features="image,smell")


def test_final_score_combines_stages():
    fused, mllm = np.array([0.7, 0.3]), np.array([0.0, 1.0])
    assert np.allclose(final_scores(fused, mllm, 0.4), [0.28, 0.72])  # an exactly named label outweighs CLIP
    assert final_scores(fused, None, 0.4) is fused
    assert final_scores(None, mllm, 0.4) is mllm
    assert final_scores(None, None, 0.4) is None


def test_second_run_is_served_from_the_cache_after_a_restart(tmp_path, tiny_clip, stub_llm):
    stub_llm.handler = answer_by_colour({"red": "BMSB", "green": "rice weevil"})
    images = inputs(tmp_path, RED, GREEN)
    first = pipeline_for(tmp_path, tiny_clip, stub_llm).predict(images)
    assert stub_llm.calls == 2
    restarted = pipeline_for(tmp_path, tiny_clip, stub_llm)  # new client, new SQLite connection, same data_dir
    second = restarted.predict(images)
    assert stub_llm.calls == 2
    assert restarted.mllm.stats.cache_hits == 2 and restarted.mllm.stats.calls == 0
    assert [r.label for r in second] == [r.label for r in first]
    assert all(r.cached for r in second)


def test_concurrency_is_bounded(tmp_path, tiny_clip, stub_llm):
    in_flight, peak, lock = 0, 0, threading.Lock()
    answer = answer_by_colour({"red": "BMSB", "green": "BMSB", "blue": "BMSB"})

    def counting(body):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.2)
        with lock:
            in_flight -= 1
        return answer(body)

    stub_llm.handler = counting
    colours = [(20, 20, 110 + i * 10) for i in range(12)]
    results = pipeline_for(tmp_path, tiny_clip, stub_llm, llm_concurrency=3).predict(inputs(tmp_path, *colours))
    assert len(results) == 12 and all(r.label == "Halyomorpha halys" for r in results)
    assert peak == 3


def test_model_version_follows_vocabulary_and_settings(tmp_path, tiny_clip, stub_llm):
    base = pipeline_for(tmp_path, tiny_clip, stub_llm)
    assert base.model_version == pipeline_for(tmp_path, tiny_clip, stub_llm).model_version
    assert str(base.model_version).startswith(f"prelabel-{load_vocabulary(EXAMPLE_VOCAB).version[:8]}-")
    assert ModelVersion.parse(str(base.model_version)) == base.model_version
    assert ModelVersion.parse("prelabel-v1") is None and ModelVersion.parse("other-0123abcd-0123abcd") is None
    assert base.model_version != pipeline_for(tmp_path, tiny_clip, stub_llm, clip_weight=0.9).model_version
    assert base.model_version != pipeline_for(tmp_path, tiny_clip, stub_llm, llm_model="other").model_version
    changed = tmp_path / "changed.yaml"
    changed.write_text(EXAMPLE_VOCAB.read_text(encoding="utf-8").replace("[BMSB]", "[BMSB, marmorated bug]"),
                       encoding="utf-8")
    assert base.model_version != pipeline_for(tmp_path, tiny_clip, stub_llm, vocab=str(changed)).model_version


def test_memory_holds_only_the_images_in_flight(tmp_path, tiny_clip, stub_llm):
    """However many images are given, only the threads' share plus two CLIP batches are loaded at once."""
    stub_llm.handler = answer_by_colour({"blue": "BMSB"})
    path = solid_image(tmp_path / "one.jpg", (20, 20, 220))
    loaded, outstanding, peak, lock = 0, 0, 0, threading.Lock()

    def load() -> bytes:
        nonlocal loaded, outstanding, peak
        with lock:
            loaded += 1
            outstanding += 1
            peak = max(peak, outstanding)
        return path.read_bytes()

    def done(_) -> None:
        nonlocal outstanding
        with lock:
            outstanding -= 1

    tiny_clip.batch_size, old = 4, tiny_clip.batch_size
    try:
        pipeline = pipeline_for(tmp_path, tiny_clip, stub_llm, llm_concurrency=2)
        results = pipeline.predict([ImageInput(f"img{i}", load, ref=i) for i in range(40)], progress=done)
    finally:
        tiny_clip.batch_size = old
    assert [r.ref for r in results] == list(range(40)) and loaded == 40
    assert peak <= 2 + 2 * 4  # not 40
