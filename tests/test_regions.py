"""Region projects (issue 26), without Label Studio: boxes read from real provider answers in each convention,
mapped exactly onto the original image (rotated by its EXIF orientation, resized), clipped, dropped with their
reasons, merged; each named through the normaliser; the image-level label derived from them; Label Studio's
rectanglelabels JSON. Through the real pipeline and the stub MLLM over HTTP. Label Studio and Chromium:
test_regions_studio.py."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from helpers import EXAMPLE_VOCAB, ROOT, is_stage2_image
from prelabel.pipeline.boxes import (
    NORMALIZED,
    PIXELS,
    QWEN,
    YXYX_1000,
    convention_of,
    detect_convention,
    place,
    smart_resize,
    to_percent,
)
from prelabel.pipeline.factory import build_pipeline
from prelabel.pipeline.mllm import MLLMError, parse_stage1_regions
from prelabel.pipeline.result import LABEL, NONE, BoxFinding, ImageInput, ImagePrediction
from prelabel.settings import Settings
from prelabel.studio.labelconfig import DEFAULT_UNNAMED_REGION, read_label_config
from prelabel.studio.predictions import studio_prediction
from prelabel.vocabulary.vocab import load_vocabulary
from stub_llm import grounding_answer, request_images

BMSB = "Halyomorpha halys"
SENT = (600, 400)  # what both test photos are sent as (PRELABEL_IMAGE_MAX_SIDE=600)
# What the stand-in sees, as fractions of the picture it is sent (left, top, right, bottom): a stink bug, a beetle
# no vocabulary label names, the bug written twice, a box past the picture's edge and a box with no area.
OBJECTS = [("brown marmorated stink bug", (0.25, 0.25, 0.5, 0.5)), ("mystery beetle", (0.5, 0.75, 0.75, 1.0)),
           ("BMSB", (0.25, 0.25, 0.5, 0.5)), ("stink bug", (1.25, 1.25, 1.5, 1.5)),
           ("speck", (0.75, 0.5, 0.75, 0.5))]
PROVIDERS = {"qwen2.5-vl": QWEN, "gemini": YXYX_1000, "pixels": PIXELS, "normalized": NORMALIZED}


def photo(path: Path, upright: tuple[int, int], orientation: int | None = None) -> Path:
    """A JPEG whose upright picture (as a browser shows it) has a red patch over the stink bug's box: stored
    turned the other way with EXIF `orientation` 6 when given, so only an upright reading finds the patch."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", upright, (70, 140, 60))
    width, height = upright
    ImageDraw.Draw(image).rectangle([width * 0.25, height * 0.25, width * 0.5 - 1, height * 0.5 - 1],
                                    fill=(220, 30, 30))
    exif = Image.Exif()
    if orientation == 6:  # stored turned 90° anticlockwise; the viewer turns it clockwise back upright
        image = image.transpose(Image.Transpose.ROTATE_90)
        exif[0x0112] = 6
    image.save(path, format="JPEG", quality=95, exif=exif.tobytes())
    return path


def photos(folder: Path) -> list[Path]:
    return [photo(folder / "rotated.jpg", (1200, 800), orientation=6), photo(folder / "resized.jpg", (900, 600))]


def grounding(provider: str, objects: list | None = None, second_look: str = "none"):
    """A stub handler: the stand-in answers with `objects` (OBJECTS) in `provider`'s convention, for the picture
    it got; asked to choose among labels after seeing a region's crop, `second_look`."""
    from PIL import Image

    def handler(body: dict) -> str:
        images = request_images(body)
        if not images:
            return "none"
        if is_stage2_image(body):
            return second_look
        return grounding_answer(provider, Image.open(io.BytesIO(images[0])).size, objects or OBJECTS)

    return handler


def region_pipeline(tmp_path, stub, convention: str):
    settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), data_dir=str(tmp_path / f"var-{convention}"),
                                 llm_base_url=stub.url, clip_model="", llm_retries=0, image_max_side=600,
                                 box_convention=convention)
    return build_pipeline(settings, load_vocabulary(settings.vocab))


def regions_of(tmp_path, stub, provider: str, convention: str) -> dict[str, ImagePrediction]:
    stub.handler = grounding(provider)
    pipeline = region_pipeline(tmp_path, stub, convention)
    found = pipeline.predict([ImageInput(str(path), path.read_bytes, ref=path.stem, regions=True)
                              for path in photos(tmp_path)])
    pipeline.close()
    return {prediction.ref: prediction for prediction in found}


# ---- through the pipeline: each provider's convention, a rotated and a resized photo -------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_convention_lands_exactly_on_the_original(tmp_path, stub_llm, provider):
    found = regions_of(tmp_path, stub_llm, provider, PROVIDERS[provider])
    assert {picture.size for picture in _sent_pictures(stub_llm)} == {SENT}  # both sent upright, 600 x 400
    for name, size in (("rotated", (1200, 800)), ("resized", (900, 600))):
        prediction = found[name]
        assert prediction.image_size == size  # the original's pixels, upright: Label Studio's original_width/height
        assert [(r.x, r.y, r.width, r.height, r.name, r.label) for r in prediction.regions or []] == [
            (25.0, 25.0, 25.0, 25.0, "brown marmorated stink bug", BMSB),
            (50.0, 75.0, 25.0, 25.0, "mystery beetle", None)]  # exact: no rounding on the way
        assert prediction.regions_dropped == {"duplicate": 1, "outside": 1, "degenerate": 1}
        assert (prediction.state, prediction.label) == (LABEL, BMSB)  # the image-level label from the regions
        assert prediction.score == prediction.regions[0].score > 0
        assert prediction.regions[1].score == 0.0  # no label: no probability of one
    # One stage-1 call per photo: the regions decide (no image-level stage 2), and no name fits several labels.
    assert stub_llm.calls == 2
    assert '"bbox_2d"' in stub_llm.requests[0]["messages"][0]["content"][1]["text"] or provider in (
        "gemini", "normalized")


def _sent_pictures(stub):
    from PIL import Image

    return [Image.open(io.BytesIO(request_images(body)[0])) for body in stub.requests if not is_stage2_image(body)]


def test_a_name_that_fits_several_labels_gets_a_second_look_at_its_crop(tmp_path, stub_llm):
    """Stage 2 with the image, on the box alone: the MLLM chooses among exactly the labels "stink bug" fits."""
    from PIL import Image

    stub_llm.handler = grounding("gemini", [("stink bug", (0.25, 0.25, 0.5, 0.5))], second_look="Nezara viridula")
    pipeline = region_pipeline(tmp_path, stub_llm, YXYX_1000)
    [prediction] = pipeline.predict([ImageInput("r.jpg", photos(tmp_path)[0].read_bytes, ref=1, regions=True)])
    [region] = prediction.regions or []
    assert (region.label, region.method, prediction.label) == ("Nezara viridula", "image_choice", "Nezara viridula")
    assert 0 < region.score == prediction.score
    [asked] = [body for body in stub_llm.requests if is_stage2_image(body)]
    assert Image.open(io.BytesIO(request_images(asked)[0])).size == (150, 100)  # the box of the 600 x 400 photo
    text = asked["messages"][0]["content"][1]["text"]
    assert "Halyomorpha halys" in text and "Nezara viridula" in text and "stink bug" in text
    stub_llm.reset()
    [again] = region_pipeline(tmp_path, stub_llm, YXYX_1000).predict(
        [ImageInput("r.jpg", photos(tmp_path)[0].read_bytes, ref=1, regions=True)])
    assert again.regions == prediction.regions and stub_llm.calls == 0  # both looks come from the MLLM cache


class SeeingClip:
    """The tiny open_clip model, recording each picture it is given (its size and its centre's colour)."""

    def __init__(self, clip):
        self.clip, self.seen = clip, []

    def __getattr__(self, name):
        return getattr(self.clip, name)

    def encode_images(self, images):
        self.seen.extend((image.size, image.getpixel((image.width // 2, image.height // 2))) for image in images)
        return self.clip.encode_images(images)


def test_clip_sees_each_regions_crop_and_its_evidence_says_what_it_saw(tmp_path, stub_llm, tiny_clip):
    """CLIP on: each box's crop of the picture sent (not the whole photo) is fused with the box's name, as the
    image level fuses the photo with the first guess; the region keeps the MLLM's label (CLIP re-ranks, never
    names) and its evidence line says what CLIP saw on the crop."""
    from prelabel.pipeline.result import Region
    from prelabel.studio.evidence import region_line

    stub_llm.handler = grounding("gemini")
    settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), data_dir=str(tmp_path / "var"),
                                 llm_base_url=stub_llm.url, clip_model="tiny-clip.json", llm_retries=0,
                                 image_max_side=600, box_convention=YXYX_1000)
    seeing = SeeingClip(tiny_clip)
    pipeline = build_pipeline(settings, load_vocabulary(settings.vocab), clip=seeing)
    [with_clip] = pipeline.predict([ImageInput("r.jpg", photos(tmp_path)[0].read_bytes, ref=1, regions=True)])
    pipeline.close()
    crops = [(size, colour) for size, colour in seeing.seen if size != SENT]
    # The stink bug's box over the red patch, the beetle's over the green leaf: 150 x 100 of the 600 x 400 sent.
    assert [size for size, _ in crops] == [(150, 100), (150, 100)]
    (red, green, _), (red2, green2, _) = crops[0][1], crops[1][1]
    assert red > 180 > green and green2 > 100 > red2
    assert SENT in {size for size, _ in seeing.seen}  # the image-level fusion still sees the whole photo
    bug, beetle = with_clip.regions or []
    assert (bug.label, beetle.label, with_clip.label) == (BMSB, None, BMSB)
    assert bug.clip is not None and beetle.clip is not None and bug.clip[0] in pipeline.vocabulary.label_values
    assert 0 < bug.score == with_clip.score <= 1 and beetle.score == 0.0
    line = region_line(bug)
    assert line.startswith('"brown marmorated stink bug" -> Halyomorpha halys') and (
        f"CLIP on the crop: {bug.clip[0]}" in line)
    assert "CLIP on the crop" in region_line(beetle)
    assert Region.from_dict(bug.to_dict()) == bug  # kept with the evidence as it was
    without = regions_of(tmp_path, stub_llm, "gemini", YXYX_1000)["rotated"]  # CLIP off: no CLIP in the line
    assert without.regions and without.regions[0].clip is None and "CLIP" not in region_line(without.regions[0])
    assert "clip" not in without.regions[0].to_dict()


def test_a_regions_clip_margin_is_scored_by_the_calibration_as_at_the_image_level(normalizer):
    """CLIP's margin on the crop enters the region's Finding: a model that weighs CLIP's margin scores a region
    CLIP agrees with above one it does not, exactly as its logistic says; the MLLM's label stays."""
    import numpy as np

    from prelabel.pipeline.calibration import FEATURES, Calibration
    from prelabel.pipeline.regions import name_regions

    labels = normalizer.vocabulary.label_values
    weighs_clip = Calibration(tuple(2.0 if name in ("clip_on", "clip_margin") else 0.0 for name in FEATURES), 0.0,
                              {"exact": 100}, "test")

    def region_with(favoured: str, calibration: Calibration):
        def crop_look(box, name):
            return np.array([0.9 if label == favoured else 0.1 / (len(labels) - 1) for label in labels])

        [region], _ = name_regions([BoxFinding("Halyomorpha halys", (0.1, 0.1, 0.5, 0.5))], {}, NORMALIZED,
                                   SENT, normalizer, calibration, len(labels), None, crop_look, labels)
        return region

    agrees, disagrees = region_with(BMSB, weighs_clip), region_with("Nezara viridula", weighs_clip)
    assert (agrees.label, disagrees.label) == (BMSB, BMSB)  # CLIP never renames what the MLLM named
    assert agrees.clip == (BMSB, 0.9) and disagrees.clip == ("Nezara viridula", 0.9)
    rest = 0.1 / (len(labels) - 1)  # each other label's share of CLIP's distribution
    # The model's logit is 2 (CLIP on) + 2 x the margin: 0.9 less the best other label's share, or the reverse.
    assert agrees.score == pytest.approx(1 / (1 + np.exp(-(2 + 2 * (0.9 - rest)))), abs=1e-4)
    assert disagrees.score == pytest.approx(1 / (1 + np.exp(-(2 + 2 * (rest - 0.9)))), abs=1e-4)
    assert agrees.score > disagrees.score


def test_auto_reads_the_convention_off_each_answer(tmp_path, stub_llm):
    for provider in ("gemini", "normalized", "pixels"):  # box_2d; numbers within 0-1; anything else
        (tmp_path / provider).mkdir()
        found = regions_of(tmp_path / provider, stub_llm, provider, "auto")["rotated"]
        assert next((r.x, r.y, r.width, r.height) for r in found.regions or []) == (25.0, 25.0, 25.0, 25.0)


def test_nothing_found_is_an_honest_none_and_the_rest_of_the_project_is_unchanged(tmp_path, stub_llm):
    stub_llm.handler = lambda body: "```json\n[]\n```"
    pipeline = region_pipeline(tmp_path, stub_llm, "auto")
    [prediction] = pipeline.predict([ImageInput("r.jpg", photos(tmp_path)[1].read_bytes, ref=1, regions=True)])
    assert (prediction.state, prediction.label, prediction.regions) == (NONE, None, [])
    assert prediction.reason == "no region: the MLLM found nothing in the image"


# ---- reading answers ------------------------------------------------------------------------------------------------

def test_a_cut_off_answer_keeps_every_complete_finding():
    answer = ('{"description": "bugs", "classification": "BMSB", "candidates": ["BMSB"], "findings": ['
              '{"label": "BMSB", "bbox": [0.1, 0.1, 0.2, 0.2]}, {"label": "weevil", "bbox": [0.3, 0.3, 0.')
    parsed = parse_stage1_regions(answer)
    assert parsed.findings == (BoxFinding("BMSB", (0.1, 0.1, 0.2, 0.2), "bbox"),)
    assert dict(parsed.skipped) == {"cut_off": 1}
    assert parse_stage1_regions(json.dumps(parsed.to_dict())) == parsed  # what the cache keeps reads back the same
    with pytest.raises(MLLMError, match="malformed"):
        parse_stage1_regions('[{"box_2d": [10, 20, 3')  # cut before any finding: a failure, asked again later


@pytest.mark.parametrize("answer, names", [
    ('Sure! ```json\n[{"box_2d": [1, 2, 3, 4], "label": "a"}, {"box_2d": [1, 2], "label": "b"}]\n```', ["a"]),
    ('<think>boxes {"x"}</think>{"findings": [{"name": "a", "bbox": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}}]}',
     ["a"]),
    ('{"findings": [{"label": "a", "bbox_2d": ["1", "2", "3", "4"]}, {"label": "", "bbox_2d": [1, 2, 3, 4]}, '
     '{"label": "c", "bbox_2d": [1, 2, "x", 4]}, {"label": "d", "bbox_2d": [1, 2, NaN, 4]}]}', ["a"]),
])
def test_findings_are_read_however_they_are_written(answer, names):
    parsed = parse_stage1_regions(answer)
    assert [finding.name for finding in parsed.findings] == names
    assert all(finding.box == (1.0, 2.0, 3.0, 4.0) for finding in parsed.findings)
    assert dict(parsed.skipped).get("malformed", 0) == answer.count("label") + answer.count('"name"') - len(names)


@pytest.mark.parametrize("hostile, kept", [
    ('{"a":[' * 30000, 0),  # nested past the JSON decoder's depth
    ("[" + '{"label": "x", "bbox": [1, 2, 3, 4]},' * 10000, 100),  # thousands of boxes, cut off: the first 100
    ('{"findings": [' + '{"label": "a", "bbox": [1, 2, 3,' * 20000, 0),  # every finding cut
])
def test_hostile_answers_cost_a_clear_failure_or_a_bounded_read(hostile, kept):
    try:
        parsed = parse_stage1_regions(hostile)
    except MLLMError as exc:
        assert kept == 0 and exc.cause == "malformed"
    else:
        assert len(parsed.findings) == kept and dict(parsed.skipped) == {"cut_off": 1}


def test_conversions_by_hand():
    finding = BoxFinding("x", (147, 98, 294, 196), "bbox_2d")
    assert smart_resize(400, 600) == (392, 588)  # Qwen2.5-VL's picture of a 600 x 400 photo
    assert to_percent(finding, QWEN, SENT) == (25.0, 25.0, 50.0, 50.0)
    assert to_percent(finding, PIXELS, SENT) == (24.5, 24.5, 49.0, 49.0)
    assert to_percent(BoxFinding("x", (250, 100, 500, 300)), YXYX_1000, SENT) == (10.0, 25.0, 30.0, 50.0)
    assert to_percent(BoxFinding("x", (0.5, 0.5, 0.25, 0.25)), NORMALIZED, SENT) == (25.0, 25.0, 50.0, 50.0)
    dropped: dict[str, int] = {}
    placed = place([BoxFinding("x", (-10, -10, 60, 40)), BoxFinding("y", (590, 10, 700, 20)),
                    BoxFinding("z", (10, 10, 10.5, 50))], PIXELS, SENT, dropped)
    assert [box for _, box in placed] == [(0.0, 0.0, 10.0, 10.0), (590 / 6, 2.5, 100 - 590 / 6, 2.5)]
    assert dropped == {"degenerate": 1}  # half a pixel wide


def test_check_tells_the_convention_where_the_numbers_can():
    assert detect_convention([0.1, 0.2, 0.5, 0.9], (1024, 768)) == NORMALIZED
    assert detect_convention([100, 200, 1010, 700], (1024, 768)) == PIXELS
    assert detect_convention([100, 200, 900, 700], (1024, 768)) is None  # fits the 0-1000 grid and pixels
    assert convention_of([BoxFinding("a", (1, 2, 3, 4), "box_2d")], "auto") == YXYX_1000


# ---- Label Studio's JSON -------------------------------------------------------------------------------------------

def test_the_prediction_carries_one_standard_region_per_finding(tmp_path, stub_llm):
    found = regions_of(tmp_path, stub_llm, "gemini", YXYX_1000)["rotated"]
    vocabulary = load_vocabulary(EXAMPLE_VOCAB)
    config = (ROOT / "plugin" / "plant-quarantine-pests.regions.labeling-config.xml").read_text(encoding="utf-8")
    control = read_label_config(config, vocabulary).control
    from prelabel.pipeline.identity import ModelVersion

    version = ModelVersion.parse("prelabel-0123abcd-89abcdef")
    assert version is not None
    result = studio_prediction(found, version, control).to_json()["result"]
    by_id = {(item["id"], item["type"]): item for item in result}
    assert by_id[("prelabel", "taxonomy")]["value"] == {"taxonomy": [[BMSB]]}  # the choice, from the regions
    first, second = by_id[("prelabel-r1", "rectanglelabels")], by_id[("prelabel-r2", "rectanglelabels")]
    assert first == {"id": "prelabel-r1", "from_name": "region", "to_name": "image", "type": "rectanglelabels",
                     "original_width": 1200, "original_height": 800, "image_rotation": 0,
                     "score": found.regions[0].score,
                     "value": {"x": 25.0, "y": 25.0, "width": 25.0, "height": 25.0, "rotation": 0,
                               "rectanglelabels": [BMSB]}}
    assert second["value"]["rectanglelabels"] == [DEFAULT_UNNAMED_REGION] and second["score"] == 0.0
    line = by_id[("prelabel-r1", "textarea")]["value"]["text"][0]
    assert line.startswith('"brown marmorated stink bug" -> Halyomorpha halys:')
    unnamed = by_id[("prelabel-r2", "textarea")]["value"]["text"][0]
    assert unnamed.startswith('"mystery beetle" -> no vocabulary label (')
    evidence = by_id[("prelabel-evidence", "textarea")]["value"]["text"][0]
    assert "Regions (2):" in evidence
    assert "Boxes left out: 1 too small to be a box, 1 duplicates, 1 outside the photo" in evidence
    alone = read_label_config('<View><Image name="im" value="$u"/><RectangleLabels name="b" toName="im">'
                              f'<Label value="{BMSB}"/></RectangleLabels></View>', vocabulary).control
    result = studio_prediction(found, version, alone).to_json()["result"]
    assert [(item["type"], item["value"]["rectanglelabels"]) for item in result] == [
        ("rectanglelabels", [BMSB]), ("rectanglelabels", [])]  # no choice to fill; the unnamed box has no label
    from prelabel.studio.columns import list_columns

    columns = list_columns(studio_prediction(found, version, alone), alone)  # the task list's column: the boxes'
    assert columns == {"prelabel_suggested": BMSB, "prelabel_score": round(found.score, 2)}


# ---- prelabel check --regions ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("provider, told", [("gemini", YXYX_1000), ("normalized", NORMALIZED), ("pixels", PIXELS),
                                            ("qwen2.5-vl", QWEN)])
def test_check_tells_which_convention_the_model_writes(tmp_path, stub_llm, provider, told):
    """The drawing's bug is where prelabel check knows it is: the reading that puts the model's box on it is the
    convention, also where the numbers fit both pixels and the 0-1000 grid (Gemini's 380..620 here)."""
    from PIL import Image

    from helpers import invoke
    from prelabel.pipeline.probe import BUG
    from stub_llm import request_text

    def handler(body: dict) -> str:
        if '"findings"' not in request_text(body):
            return json.dumps({"description": "a bug on a leaf", "classification": "stink bug", "candidates": []})
        return grounding_answer(provider, Image.open(io.BytesIO(request_images(body)[0])).size, [("stink bug", BUG)])

    stub_llm.handler = handler
    result = invoke("check", "--regions", env={
        "PRELABEL_DATA_DIR": str(tmp_path / "var"), "PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_CLIP_MODEL": "",
        "PRELABEL_LLM_BASE_URL": stub_llm.url, "PRELABEL_LLM_MODEL": "stub-vision"})
    assert result.exit_code == 0, result.output
    boxes = next(line for line in result.stdout.splitlines() if line.startswith("boxes"))
    assert f"1 box(es), written as {told} " in boxes and f"set PRELABEL_BOX_CONVENTION={told}" in boxes
