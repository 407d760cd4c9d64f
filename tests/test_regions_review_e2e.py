"""A region project end to end on a real Label Studio 1.23.2: `prelabel run --all` queues its tasks and a real
`prelabel worker` pre-labels them (the stand-in MLLM answers each photo's findings with their boxes as
fractions, PRELABEL_BOX_CONVENTION=xyxy-normalized), writes the regions into Label Studio and keeps their
evidence; two reviewers keep, move, relabel, delete and draw boxes through the API; the feedback jobs' work
(learning/feedback.py) and `prelabel report --project`; every figure by hand.

Boxes are in percent of the photo (64 x 48); each predicted box is 20 x 20 percent (400 square percent; IoU
does not change when one axis is scaled, so the figures below are those of any photo size).
"""

from __future__ import annotations

import io
import json
import os
import subprocess

import pytest
from redis import Redis
from rq.registry import FailedJobRegistry

from helpers import BIN, EXAMPLE_VOCAB, PALETTE, TEST_REDIS_URL, colour_of, image_project, invoke, is_stage2_image
from prelabel.jobs import queues
from prelabel.learning.feedback import record_feedback
from prelabel.learning.outcome import RegionSummary
from prelabel.learning.rules import Learning
from prelabel.learning.store import LearnedStore
from prelabel.pipeline.identity import model_version
from prelabel.settings import Settings
from prelabel.studio.client import LabelStudio
from prelabel.vocabulary.vocab import load_vocabulary
from stub_llm import StubLLM, grounding_answer, request_images

BMSB, NEZARA, RICE = "Halyomorpha halys", "Nezara viridula", "Sitophilus oryzae"
UNNAMED = "Not in the vocabulary"
WIDTH, HEIGHT = 64, 48  # the solid photos image_project writes
CONFIG = ('<View><Image name="image" value="$image"/><RectangleLabels name="region" toName="image">'
          f'<Label value="{BMSB}"/><Label value="{NEZARA}"/><Label value="{RICE}"/><Label value="{UNNAMED}"/>'
          '</RectangleLabels><TextArea name="prelabel_region_evidence" toName="image" perRegion="true" '
          'editable="false"/></View>')
COLOURS = {"a": "red", "b": "green", "c": "blue"}  # the stand-in tells the photos apart by colour
# Per task: predicted boxes (id, x, y, the label Prelabel gives, the MLLM's name) and what its reviewer leaves
# (id, x, y, label). "marble bug" is no name the vocabulary knows: its box is "Not in the vocabulary" until
# reviewers name it.
PREDICTED = {
    "a": [("keep", 0, 0, BMSB, "brown marmorated stink bug"), ("move", 30, 0, NEZARA, "southern green stink bug"),
          ("relabel", 60, 0, UNNAMED, "marble bug"), ("delete", 0, 60, RICE, "rice weevil")],
    "b": [("keep", 0, 0, BMSB, "brown marmorated stink bug"), ("relabel", 60, 0, UNNAMED, "marble bug")],
    "c": [("keep", 0, 0, BMSB, "brown marmorated stink bug")],
}
REVIEWED = {  # (reviewer, lead time s, boxes)
    # kept; moved 5 right (overlap 15 x 20 = 300, union 500: IoU 0.6); relabelled; deleted; one drawn
    "a": (0, 40.0, [("keep", 0, 0, BMSB), ("move", 35, 0, NEZARA), ("relabel", 60, 0, BMSB),
                    ("drawn", 60, 60, NEZARA)]),
    "b": (1, 8.0, [("keep", 0, 0, BMSB), ("relabel", 60, 0, BMSB)]),  # the second reviewer relabels too
    "c": (0, 6.0, [("keep", 0, 0, BMSB)]),  # left as it was
}


def rectangle(region_id, x, y, label):
    return {"id": region_id, "from_name": "region", "to_name": "image", "type": "rectanglelabels",
             "original_width": WIDTH, "original_height": HEIGHT, "image_rotation": 0,
             "value": {"x": x, "y": y, "width": 20, "height": 20, "rotation": 0, "rectanglelabels": [label]}}


def findings(body: dict) -> str:
    """The stand-in MLLM: the photo's findings (PREDICTED, by its colour) with boxes as fractions."""
    from PIL import Image

    images = request_images(body)
    if not images or is_stage2_image(body):
        return "none"  # no second look is asked of these names; if one were, it would learn nothing
    name = colour_of(images[0], {task: PALETTE[colour] for task, colour in COLOURS.items()})
    return grounding_answer("normalized", Image.open(io.BytesIO(images[0])).size,
                            [(text, (x / 100, y / 100, (x + 20) / 100, (y + 20) / 100))
                             for _, x, y, _, text in PREDICTED[name]])


@pytest.fixture(scope="module")
def reviewed(label_studio, tmp_path_factory):
    """The project pre-labelled by a worker and reviewed: (project id, annotation ids, store url, version)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('regions-review') / 'learned.sqlite'}"
    redis = Redis.from_url(TEST_REDIS_URL)
    redis.flushdb()
    project_id, tasks = image_project(label_studio, "Regions reviewed", CONFIG,
                                      {name: PALETTE[colour] for name, colour in COLOURS.items()}, "regions-review")
    with StubLLM(findings) as stub:
        env = {**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
               "REDIS_URL": TEST_REDIS_URL, "PRELABEL_LLM_BASE_URL": stub.url, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB),
               "PRELABEL_CLIP_MODEL": "", "PRELABEL_DATABASE_URL": url, "PRELABEL_LLM_RETRIES": "0",
               "PRELABEL_DATA_DIR": str(tmp_path_factory.mktemp("regions-review-var")),
               "PRELABEL_BOX_CONVENTION": "xyxy-normalized"}
        queued = invoke("run", "--project", str(project_id), "--all", "--no-wait", "--no-check", env=env)
        assert queued.exit_code == 0, queued.stderr
        worked = subprocess.run([str(BIN / "prelabel"), "worker", "--queues", queues.PREDICT, "--burst"], env=env,
                                capture_output=True, text=True, timeout=300)
        assert FailedJobRegistry(queue=queues.queue(redis, queues.PREDICT)).count == 0, worked.stderr
    redis.flushdb()
    settings = Settings.from_env({key: value for key, value in env.items() if key.startswith("PRELABEL_")})
    client = label_studio.client()
    reviewers = [client, label_studio.account("region-reviewer")[1]]  # each writes as itself: vouched
    annotations = {}
    for name, (who, lead_time, boxes) in REVIEWED.items():
        created = reviewers[who].annotations.create(id=tasks[name], lead_time=lead_time,
                                                    result=[rectangle(*box) for box in boxes])
        annotations[name] = created.id
    return project_id, tasks, annotations, url, settings


def test_the_worker_pre_labels_the_regions_with_the_region_version(label_studio, reviewed):
    """Each task holds one prediction, of the region project's version (the box convention in it), with each
    finding a box where the MLLM put it, named through the vocabulary or "Not in the vocabulary"."""
    project_id, tasks, _, _, settings = reviewed
    image_level = model_version(settings, load_vocabulary(settings.vocab), {})
    version = str(image_level.for_config(True, "xyxy-normalized"))
    assert version != str(image_level) != str(image_level.for_config(True, "yxyx-1000"))
    client = label_studio.client()
    assert client.projects.get(id=project_id).model_version == version
    for name, boxes in PREDICTED.items():
        [prediction] = client.predictions.list(task=tasks[name])
        assert prediction.model_version == version
        found = [(round(item["value"]["x"], 6), round(item["value"]["y"], 6), round(item["value"]["width"], 6),
                  round(item["value"]["height"], 6), item["value"]["rectanglelabels"], item["original_width"],
                  item["original_height"]) for item in prediction.result if item["type"] == "rectanglelabels"]
        assert found == [(x, y, 20, 20, [label], WIDTH, HEIGHT) for _, x, y, label, _ in boxes], name


def test_corrected_regions_teach_and_the_report_counts_them(label_studio, normalizer, reviewed, tmp_path):
    project_id, _, annotations, url, _ = reviewed
    studio = LabelStudio(label_studio.url, label_studio.token)
    learning = Learning(LearnedStore(url), normalizer, min_agreements=2)
    first = record_feedback(studio, learning, "ANNOTATION_CREATED", project_id, [annotations["a"]]).events[0]
    assert first.status == "regions" and first.vouched
    assert first.regions == RegionSummary(kept=1, moved=1, relabelled=1, deleted=1, drawn=1)
    # kept and moved confirm their names, the relabelled box teaches "marble bug" -> BMSB; the deleted and drawn
    # boxes teach no string
    assert sorted(first.evidence) == ["confirmation", "confirmation", "region_deleted", "region_drawn", "synonym"]
    assert first.changes == ()  # one reviewer: not yet
    second = record_feedback(studio, learning, "ANNOTATION_CREATED", project_id,
                             [annotations["b"], annotations["c"]]).events
    assert second[0].regions == RegionSummary(kept=1, relabelled=1)
    assert second[0].changes == (f"promoted: 'marble bug' -> {BMSB}",)  # two vouched reviewers agree
    assert second[1].regions == RegionSummary(kept=1)
    assert learning.store.synonyms_in_force() == [("marble bug", BMSB)]
    moved = learning.store.query("SELECT kind, string, label FROM annotation_evidence WHERE annotation_id = ? "
                                 "ORDER BY kind", (annotations["a"],))
    assert moved == [("confirmation", "brown marmorated stink bug", BMSB),
                     ("confirmation", "southern green stink bug", NEZARA), ("region_deleted", None, RICE),
                     ("region_drawn", None, NEZARA), ("synonym", "marble bug", BMSB)]

    env = {"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
           "PRELABEL_DATABASE_URL": url, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB)}
    done = invoke("report", "--project", str(project_id), "--out", str(tmp_path / "report"), env=env)
    assert done.exit_code == 0, done.stderr
    # predicted 7 (BMSB 3, Nezara 1, unnamed 2, rice weevil 1), reviewed 7 (BMSB 5, Nezara 2); right: BMSB 3 (kept),
    # Nezara 1 (moved)
    assert "regions: 57.1% of 7 predicted box(es) right, 57.1% of 7 reviewed box(es) found" in done.stderr
    assert "top-1 accuracy" not in done.stderr  # regions only: no image-level figure worth a line
    regions = json.loads((tmp_path / "report" / "metrics.json").read_text(encoding="utf-8"))["regions"]
    assert (regions["predicted"], regions["reviewed"], regions["kept"], regions["moved"], regions["relabelled"],
            regions["deleted"], regions["drawn"]) == (7, 7, 3, 1, 2, 1, 1)
    by_label = {entry["label"]: entry for entry in regions["labels"]}
    assert [entry["label"] for entry in regions["labels"]] == [BMSB, NEZARA, UNNAMED, RICE]
    assert (by_label[BMSB]["precision"]["value"], by_label[BMSB]["recall"]["value"]) == (1.0, 3 / 5)
    assert (by_label[NEZARA]["precision"]["value"], by_label[NEZARA]["recall"]["value"]) == (1.0, 1 / 2)
    assert (by_label[UNNAMED]["precision"]["value"], by_label[UNNAMED]["recall"]["value"]) == (0.0, None)
    assert (by_label[RICE]["precision"]["value"], by_label[RICE]["recall"]["value"]) == (0.0, None)
    assert (by_label[NEZARA]["drawn"], by_label[RICE]["deleted"]) == (1, 1)
    assert regions["relabellings"] == [{"predicted": UNNAMED, "reviewed": BMSB, "boxes": 2}]
    # left as they were: task c (6 s); changed: a and b (40 s, 8 s: median 24); 54 s over 7 reviewed boxes
    time = regions["reviewer_time"]
    assert (time["unchanged"], time["changed"]) == ({"tasks": 1, "median": 6.0}, {"tasks": 2, "median": 24.0})
    assert time["per_reviewed_box"] == pytest.approx(54 / 7)
