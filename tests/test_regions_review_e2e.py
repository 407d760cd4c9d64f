"""A region project reviewed on a real Label Studio 1.23.2: Prelabel's region predictions (studio_prediction)
written through its API and their evidence kept as prediction jobs keep it (jobs/predict.evidence_row), two
reviewers who keep, move, relabel, delete and draw boxes through
the API, the feedback jobs' work (learning/feedback.py) and `prelabel report --project`; every figure by hand.

Boxes are in percent of an 800x600 image; each predicted box is 20 x 20 (400 square percent).
"""

from __future__ import annotations

import json

import pytest

from helpers import EXAMPLE_VOCAB, invoke
from prelabel.jobs.predict import evidence_row
from prelabel.learning.feedback import record_feedback
from prelabel.learning.rules import Learning
from prelabel.learning.store import LearnedStore
from prelabel.pipeline.identity import ModelVersion
from prelabel.pipeline.result import LABEL, ImagePrediction, Region
from prelabel.studio.client import LabelStudio
from prelabel.studio.labelconfig import read_label_config
from prelabel.studio.predictions import studio_prediction

BMSB, NEZARA, RICE = "Halyomorpha halys", "Nezara viridula", "Sitophilus oryzae"
UNNAMED = "Not in the vocabulary"
VERSION = "prelabel-0123abcd-4567cdef"
CONFIG = ('<View><Image name="image" value="$image"/><RectangleLabels name="region" toName="image">'
          f'<Label value="{BMSB}"/><Label value="{NEZARA}"/><Label value="{RICE}"/><Label value="{UNNAMED}"/>'
          '</RectangleLabels><TextArea name="prelabel_region_evidence" toName="image" perRegion="true" '
          'editable="false"/></View>')
# Per task: predicted boxes (id, x, y, label, the MLLM's name) and what its reviewer leaves (id, x, y, label).
# "marble bug" is no name the vocabulary knows: its box is "Not in the vocabulary" until reviewers name it.
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
             "original_width": 800, "original_height": 600, "image_rotation": 0,
             "value": {"x": x, "y": y, "width": 20, "height": 20, "rotation": 0, "rectanglelabels": [label]}}


@pytest.fixture(scope="module")
def reviewed(label_studio, normalizer, tmp_path_factory):
    """The project predicted, its evidence kept, and reviewed: (project id, annotation ids, store url)."""
    client = label_studio.client()
    project = client.projects.create(title="Regions reviewed", label_config=CONFIG)
    client.projects.import_tasks(id=project.id, request=[{"image": f"/data/upload/{name}.jpg"} for name in PREDICTED])
    tasks = {task.data["image"].rsplit("/", 1)[1][0]: task.id for task in client.tasks.list(project=project.id)}
    url = f"sqlite:///{tmp_path_factory.mktemp('regions-review') / 'learned.sqlite'}"
    store = LearnedStore(url)
    control = read_label_config(CONFIG, normalizer.vocabulary).control
    version = ModelVersion.parse(VERSION)
    assert version is not None
    for name, boxes in PREDICTED.items():
        # Each finding's name through the normaliser, written and kept as a prediction job does.
        regions = [Region(x, y, 20, 20, text, found.label, 0.8, found.method)
                   for _, x, y, _, text in boxes for found in [normalizer.normalize(text)]]
        assert [region.label or UNNAMED for region in regions] == [label for _, _, _, label, _ in boxes]
        prediction = ImagePrediction(f"{name}.jpg", tasks[name], BMSB, 0.8, state=LABEL, regions=regions,
                                     image_size=(800, 600))
        written = studio_prediction(prediction, version, control)
        client.predictions.create(task=tasks[name], model_version=VERSION, score=written.score,
                                  result=list(written.result))
        store.save_prediction_evidence([evidence_row(prediction, project.id, VERSION, "v")])
    reviewers = [client, label_studio.account("region-reviewer")[1]]  # each writes as itself: vouched
    annotations = {}
    for name, (who, lead_time, boxes) in REVIEWED.items():
        created = reviewers[who].annotations.create(id=tasks[name], lead_time=lead_time,
                                                    result=[rectangle(*box) for box in boxes])
        annotations[name] = created.id
    return project.id, annotations, url


def test_corrected_regions_teach_and_the_report_counts_them(label_studio, normalizer, reviewed, tmp_path):
    project_id, annotations, url = reviewed
    studio = LabelStudio(label_studio.url, label_studio.token)
    learning = Learning(LearnedStore(url), normalizer, min_agreements=2)
    first = record_feedback(studio, learning, "ANNOTATION_CREATED", project_id, [annotations["a"]])["events"][0]
    assert first["status"] == "regions" and first["vouched"]
    assert first["regions"] == {"kept": 1, "moved": 1, "relabelled": 1, "deleted": 1, "drawn": 1}
    # kept and moved confirm their names, the relabelled box teaches "marble bug" -> BMSB; the deleted and drawn
    # boxes teach no string
    assert sorted(first["evidence"]) == ["confirmation", "confirmation", "region_deleted", "region_drawn",
                                         "synonym"]
    assert first["changes"] == []  # one reviewer: not yet
    second = record_feedback(studio, learning, "ANNOTATION_CREATED", project_id,
                             [annotations["b"], annotations["c"]])["events"]
    assert second[0]["regions"] == {"kept": 1, "moved": 0, "relabelled": 1, "deleted": 0, "drawn": 0}
    assert second[0]["changes"] == [f"promoted: 'marble bug' -> {BMSB}"]  # two vouched reviewers agree
    assert second[1]["regions"] == {"kept": 1, "moved": 0, "relabelled": 0, "deleted": 0, "drawn": 0}
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
