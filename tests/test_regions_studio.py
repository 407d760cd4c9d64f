"""Region pre-labels in Label Studio 1.23.2 (issue 26): the real pipeline, the stand-in MLLM answering boxes as
Qwen2.5-VL, Gemini and a schema-following API write them, for a photo stored turned (EXIF orientation 6) and one
larger than what is sent; the predictions imported into a project with the shipped region config, read back
through Label Studio's API (exact percentages), and the labeling page opened in Chromium with the boxes and
their labels (tests/artifacts/reviewer/regions-*.png; PRELABEL_UPDATE_DOCS=1 also writes docs/regions.png)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers import EXAMPLE_VOCAB, ROOT
from labelstudio import LabelStudio
from prelabel.pipeline.factory import build_pipeline
from prelabel.pipeline.result import ImageInput
from prelabel.settings import Settings
from prelabel.studio.labelconfig import DEFAULT_UNNAMED_REGION, read_label_config
from prelabel.studio.predictions import import_task, local_files_url
from prelabel.vocabulary.vocab import load_vocabulary
from test_regions import BMSB, grounding, photos
from test_reviewer_page import ARTIFACTS, EVIDENCE, page  # noqa: F401 (the logged-in browser page fixture)

PROVIDERS = {"qwen2.5-vl": "qwen2.5-vl", "gemini": "yxyx-1000", "normalized": "xyxy-normalized"}
SIZES = {"rotated": (1200, 800), "resized": (900, 600)}  # the originals, upright


@pytest.fixture(scope="module")
def project(label_studio: LabelStudio, stub_llm_module, tmp_path_factory) -> dict:
    """A project with the shipped region config; per provider, both photos pre-labelled and imported."""
    vocabulary = load_vocabulary(EXAMPLE_VOCAB)
    config = (ROOT / "plugin" / "plant-quarantine-pests.regions.labeling-config.xml").read_text(encoding="utf-8")
    control = read_label_config(config, vocabulary).control
    client = label_studio.client()
    tasks, version = [], None
    for provider, convention in PROVIDERS.items():
        folder = label_studio.files_root / "regions" / provider
        folder.mkdir(parents=True, exist_ok=True)
        stub_llm_module.handler = grounding(provider)
        settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), llm_base_url=stub_llm_module.url, clip_model="",
                                     data_dir=str(tmp_path_factory.mktemp(f"var-{provider}")), llm_retries=0,
                                     image_max_side=600, box_convention=convention)
        pipeline = build_pipeline(settings, vocabulary)
        found = pipeline.predict([ImageInput(str(path), path.read_bytes, ref=path, regions=True)
                                  for path in photos(folder)])
        pipeline.close()
        version = pipeline.model_version
        tasks += [import_task(p, local_files_url(p.ref, label_studio.files_root), version, control) for p in found]
    made = client.projects.create(title="Regions", label_config=config, model_version=str(version))
    client.import_storage.local.create(project=made.id, path=str(label_studio.files_root / "regions"))
    client.projects.import_tasks(id=made.id, request=tasks)
    ids = {f"{Path(task.data['image']).parent.name}/{Path(task.data['image']).stem}": task.id
           for task in client.tasks.list(project=made.id)}
    return {"id": made.id, "tasks": ids}


@pytest.fixture(scope="module")
def stub_llm_module():
    from stub_llm import StubLLM

    with StubLLM() as server:
        yield server


def test_the_regions_land_where_they_should(label_studio, project):
    """Read back through Label Studio's API: every provider's boxes at the same exact percentages of the
    original, its upright size, the label or the config's unnamed label, the choice derived from them."""
    client = label_studio.client()
    assert len(project["tasks"]) == len(PROVIDERS) * len(SIZES)
    for name, task_id in project["tasks"].items():
        [prediction] = client.predictions.list(task=task_id)
        result = prediction.result
        boxes = [item for item in result if item["type"] == "rectanglelabels"]
        width, height = SIZES[name.split("/")[1]]
        assert [(item["value"]["x"], item["value"]["y"], item["value"]["width"], item["value"]["height"],
                 item["value"]["rectanglelabels"], item["original_width"], item["original_height"])
                for item in boxes] == [(25.0, 25.0, 25.0, 25.0, [BMSB], width, height),
                                       (50.0, 75.0, 25.0, 25.0, [DEFAULT_UNNAMED_REGION], width, height)], name
        assert boxes[0]["score"] > 0 and boxes[1]["score"] == 0.0
        choice = next(item for item in result if item["type"] == "taxonomy")
        assert choice["value"] == {"taxonomy": [[BMSB]]}
        assert prediction.score == boxes[0]["score"]


def test_the_labeling_page_shows_the_boxes_and_their_labels(page, label_studio, project):  # noqa: F811
    """The turned photo in Chromium: the boxes drawn over it (the stink bug's over the red patch, which only an
    upright reading of the photo finds), the regions listed with their labels."""
    task = project["tasks"]["gemini/rotated"]
    page.goto(f"{label_studio.url}/projects/{project['id']}/data?task={task}")
    page.wait_for_selector(EVIDENCE)
    page.wait_for_selector(f"text={BMSB}")
    page.wait_for_timeout(800)  # the image's layout settles after the controls appear
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "regions-gemini-rotated.png"
    page.screenshot(path=str(shot))
    if os.environ.get("PRELABEL_UPDATE_DOCS") == "1":
        shutil.copyfile(shot, ROOT / "docs" / "regions.png")
    listed = page.evaluate("""() => [...document.querySelectorAll('[class*="outliner-item"], [class*="region-item"]')]
        .map((e) => e.innerText.trim()).filter((t) => t)""")
    assert any(BMSB in text for text in listed) and any(DEFAULT_UNNAMED_REGION in text for text in listed), listed
    # Where the stink bug's box is drawn: the image on screen, and the red patch's centre inside the box.
    image = page.evaluate("""() => { const i = [...document.querySelectorAll('img')].find(
        (e) => e.naturalWidth > 500); if (!i) return null; const r = i.getBoundingClientRect();
        return {left: r.left, top: r.top, width: r.width, height: r.height,
                natural: [i.naturalWidth, i.naturalHeight]}; }""")
    assert image is not None and image["natural"] == [1200, 800]  # the browser shows the photo upright
