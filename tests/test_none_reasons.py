"""Every reason a reviewer reads for "none", in each configuration: the MLLM alone, CLIP alone, and both (issue 20:
MLLM-only nones used to say "no stage ran: neither an MLLM nor CLIP is configured" above the MLLM's own words)."""

from __future__ import annotations

import json

import pytest

from helpers import answer_by_colour, solid_image
from prelabel.pipeline.factory import build_pipeline
from prelabel.pipeline.result import ImageInput
from prelabel.vocabulary.vocab import load_vocabulary
from test_pipeline import RED, settings_for

NO_STAGE = "no stage ran"


def _answer(classification: str, *candidates: str, description: str = "A leaf photographed outdoors.") -> str:
    return json.dumps({"description": description, "classification": classification,
                       "candidates": list(candidates)})


# (stage-1 answer, stage-2 reply, the reason's expected start)
NONE_CASES = {
    "explicit none": (_answer("none"), "Halyomorpha halys",
                      "the MLLM saw nothing from the label list (it answered 'none')"),
    "not in the vocabulary, stage 2 none": (_answer("house cat", "house cat"), "none",
                                            "no name the MLLM used is in the vocabulary, and stage 2 answered"),
    "group word": (_answer("weevil", "weevil"), "none", "'weevil' fits 3 labels and nothing named one of them"),
    "alternatives": (_answer("either a rice weevil or a maize weevil"), "none",
                     "'either a rice weevil or a maize weevil' names no label for sure (alternatives"),
    "denied": (_answer("no BMSB on this leaf"), "none",
               "'no BMSB on this leaf' names no label for sure (negated: the name is denied)"),
    "vetoed": (_answer("Halyomorpha halis"), "none", "stage 2 answered 'none', which contradicts the weaker match"),
    "several": (_answer("a BMSB and a rice weevil"), "none",
                "no single label: the MLLM named 2 labels side by side"),
}


def _predict(tmp_path, tiny_clip, stub, **overrides):
    settings = settings_for(tmp_path, stub, **overrides)
    pipeline = build_pipeline(settings, load_vocabulary(settings.vocab),
                              clip=tiny_clip if settings.clip_model else None)
    path = solid_image(tmp_path / "red.jpg", RED)
    [result] = pipeline.predict([ImageInput(str(path), path.read_bytes, ref=1)])
    return result


@pytest.mark.parametrize("case", sorted(NONE_CASES))
@pytest.mark.parametrize("clip", [False, True], ids=["mllm-only", "mllm-and-clip"])
def test_each_none_says_why_with_the_mllm(tmp_path, tiny_clip, stub_llm, case, clip):
    answer, stage2, reason = NONE_CASES[case]
    stub_llm.handler = answer_by_colour({"red": answer}, stage2=stage2)
    result = _predict(tmp_path, tiny_clip, stub_llm, **({} if clip else {"clip_model": ""}))
    assert (result.state, result.label) == ("none", None)
    assert result.reason.startswith(reason), result.reason
    assert NO_STAGE not in result.reason
    assert ("fused" in result.stage_scores) is clip


def test_nothing_named_without_stage_2_says_so(tmp_path, tiny_clip, stub_llm):
    stub_llm.handler = answer_by_colour({"red": _answer("house cat", "house cat")})
    result = _predict(tmp_path, tiny_clip, stub_llm, clip_model="", stage2=False)
    assert (result.state, result.reason) == ("none", "no name the MLLM used is in the vocabulary")


def test_clip_alone_always_ranks_and_only_no_stage_at_all_says_no_stage_ran(tmp_path, tiny_clip):
    clip_only = _predict(tmp_path, tiny_clip, None)
    assert clip_only.state == "label" and clip_only.reason == "CLIP alone (no MLLM configured)"
    neither = _predict(tmp_path, tiny_clip, None, clip_model="")
    assert (neither.state, neither.label) == ("none", None)
    assert neither.reason == "no stage ran: neither an MLLM nor CLIP is configured"
