"""Large vocabularies: each prompt carries a shortlist, not every label (the stub MLLM counts what it is sent)."""

from __future__ import annotations

import json

import numpy as np
import yaml

from helpers import TINY_CLIP_CONFIG, solid_image
from prelabel.pipeline.calibration import prior
from prelabel.pipeline.factory import build_pipeline
from prelabel.pipeline.result import ImageInput
from prelabel.pipeline.shortlist import image_shortlist
from prelabel.settings import Settings
from prelabel.vocabulary.vocab import load_vocabulary
from stub_llm import request_text

WORDS = ["amber", "basalt", "cobalt", "dune", "ember", "fjord", "garnet", "harbor", "indigo", "jasper", "kelp",
         "lagoon", "marble", "nectar", "onyx", "pewter", "quartz", "russet", "sable", "topaz"]


def big_vocabulary(tmp_path, count: int = 60):
    labels = [{"label": f"Genus{n:03d} species", "common": {"en": [f"{WORDS[n % 20]} {WORDS[n // 20]} mite"]}}
              for n in range(count)]
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump({"domain": "big", "labels": labels}), encoding="utf-8")
    return path


def stage1_labels(body: dict) -> list[str]:
    text = request_text(body)
    listed = text.split("Here are the class labels: ", 1)[1].split("\n", 1)[0]
    return [label.strip() for label in listed.split(",")]


def pipeline_for(tmp_path, tiny_clip, stub, **overrides):
    settings = Settings.from_env({}, **{"vocab": str(big_vocabulary(tmp_path)), "data_dir": str(tmp_path / "var"),
                                        "llm_base_url": stub.url, "clip_model": str(TINY_CLIP_CONFIG),
                                        "clip_pretrained": "", "device": "cpu", "llm_retries": 0, **overrides})
    return build_pipeline(settings, load_vocabulary(settings.vocab), clip=tiny_clip)


def test_stage1_carries_clips_shortlist_and_a_label_outside_it_is_still_found(tmp_path, tiny_clip, stub_llm):
    image = solid_image(tmp_path / "a.jpg", (120, 60, 30))
    pipeline = pipeline_for(tmp_path, tiny_clip, stub_llm, shortlist_size=10)
    # CLIP's first label for this image, worked out here from the model and the class features.
    from PIL import Image

    row = tiny_clip.encode_images([Image.open(image).convert("RGB")])[0]
    ranked = image_shortlist(pipeline.vocabulary.label_values, pipeline.class_matrix(), row, 60)
    outside = ranked[-1]  # the label CLIP ranks last: surely not in a shortlist of 10
    stub_llm.handler = lambda body: json.dumps({"description": "a mite", "classification": outside,
                                                "candidates": [outside]})
    [result] = pipeline.predict([ImageInput(str(image), image.read_bytes)])
    sent = stage1_labels(stub_llm.requests[0])
    assert len(sent) == 10 and sent[0] == ranked[0]
    assert "the right one may be missing" in request_text(stub_llm.requests[0])
    assert result.label == outside and result.evidence.to_dict()["shortlist"] == sent


def test_prompt_text_does_not_grow_with_the_vocabulary(tmp_path, tiny_clip, stub_llm):
    stub_llm.handler = lambda body: (json.dumps({"description": "a mite", "classification": "mite",
                                                 "candidates": ["mite"]}) if "image_url" in json.dumps(body)
                                     else "none")
    image = solid_image(tmp_path / "a.jpg", (120, 60, 30))
    small = tmp_path / "small"
    small.mkdir()
    pipeline_for(small, tiny_clip, stub_llm, shortlist_above=1000).predict([ImageInput(str(image), image.read_bytes)])
    full = [len(request_text(body)) for body in stub_llm.requests]
    stub_llm.reset()
    pipeline_for(tmp_path, tiny_clip, stub_llm, shortlist_size=10).predict([ImageInput(str(image), image.read_bytes)])
    shortlisted = [len(request_text(body)) for body in stub_llm.requests]
    assert len(full) == len(shortlisted) == 2  # stage 1 and stage 2 ("mite" is generic: stage 2 is asked)
    assert shortlisted[0] < full[0]
    # "mite" is a group word: stage 2 asks again with the image, about exactly the labels it fits, however many
    # labels the vocabulary has and whether stage 1 was shortlisted or not.
    stage2 = request_text(stub_llm.requests[1])
    assert shortlisted[1] == full[1] and "choose the one class from this list" in stage2
    assert 2 <= stage2.count("\n- ") <= 10


def test_text_only_stage_2_lists_clips_shortlist_when_stage_1_named_nothing(tmp_path, tiny_clip, stub_llm):
    stub_llm.handler = lambda body: (json.dumps({"description": "an unknown speck", "classification": "speck",
                                                 "candidates": []}) if "image_url" in json.dumps(body) else "none")
    image = solid_image(tmp_path / "a.jpg", (120, 60, 30))
    small = tmp_path / "small"
    small.mkdir()
    pipeline_for(small, tiny_clip, stub_llm, shortlist_above=1000).predict([ImageInput(str(image), image.read_bytes)])
    full = [len(request_text(body)) for body in stub_llm.requests]
    stub_llm.reset()
    pipeline_for(tmp_path, tiny_clip, stub_llm, shortlist_size=10).predict([ImageInput(str(image), image.read_bytes)])
    shortlisted = [len(request_text(body)) for body in stub_llm.requests]
    assert len(full) == len(shortlisted) == 2 and shortlisted[1] < full[1] / 3
    stage2 = request_text(stub_llm.requests[1])
    assert stage2.count("\n- ") == 10 and "choose the one class" not in stage2  # text only: CLIP's best 10


def test_the_cache_key_follows_the_shortlist(tmp_path, tiny_clip, stub_llm):
    stub_llm.handler = lambda body: json.dumps({"description": "x", "classification": "Genus001 species",
                                                "candidates": []})
    image = solid_image(tmp_path / "a.jpg", (10, 200, 90))
    pipeline_for(tmp_path, tiny_clip, stub_llm, shortlist_size=10).predict([ImageInput(str(image), image.read_bytes)])
    pipeline_for(tmp_path, tiny_clip, stub_llm, shortlist_size=10).predict([ImageInput(str(image), image.read_bytes)])
    assert stub_llm.calls == 1  # the same shortlist: served from the cache
    pipeline_for(tmp_path, tiny_clip, stub_llm, shortlist_size=12).predict([ImageInput(str(image), image.read_bytes)])
    assert stub_llm.calls == 2  # another shortlist is another question


def test_without_clip_a_large_vocabulary_is_named_freely(tmp_path, stub_llm):
    stub_llm.handler = lambda body: json.dumps({"description": "x", "classification": "amber basalt mite",
                                                "candidates": []})
    image = solid_image(tmp_path / "a.jpg", (10, 200, 90))
    settings = Settings.from_env({}, vocab=str(big_vocabulary(tmp_path)), data_dir=str(tmp_path / "var"),
                                 llm_base_url=stub_llm.url, clip_model="", llm_retries=0)
    pipeline = build_pipeline(settings, load_vocabulary(settings.vocab))
    [result] = pipeline.predict([ImageInput(str(image), image.read_bytes)])
    assert "class labels" not in request_text(stub_llm.requests[0])
    assert result.label == "Genus020 species" and result.finding is not None and result.finding.way == "exact"
    assert np.isclose(result.score, prior().probability(result.finding))  # the probability of an exact match
