"""What corrected regions teach, on SQLite and on PostgreSQL: a relabelled box like a corrected choice (the same
screening and promotion rule), a moved box nothing about names, a drawn box nothing at all."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from prelabel.learning.feedback import record_feedback
from prelabel.learning.outcome import RegionSummary
from prelabel.learning.regions import predicted_boxes, region_verdicts, region_words
from prelabel.learning.rows import EvidenceRow
from prelabel.learning.rules import Learning, Verdict
from prelabel.learning.store import LearnedStore
from prelabel.studio.boxes import Box, match
from prelabel.studio.labelconfig import make_label_config, read_label_config
from prelabel.studio.tasks import HeldPrediction, Task

BMSB, NEZARA = "Halyomorpha halys", "Nezara viridula"
UNNAMED = "Not in the vocabulary"


def said(text, normalizer, box):
    """A region as the workers keep it (pipeline/result.py's Region JSON)."""
    found = normalizer.normalize(text)
    return {"x": box.x, "y": box.y, "width": box.width, "height": box.height, "name": text, "label": found.label,
            "score": found.score, "method": found.method}


def label_of(stored):
    return None if stored in (None, UNNAMED) else stored


def lessons(normalizer, predicted, reviewed, words):
    # kept in the opposite order to Label Studio's: regions pair with boxes by where they are, not by order
    evidence = {"regions": [said(words[box.region_id], normalizer, box) for box in reversed(predicted)
                            if box.region_id in words]}
    return region_verdicts(match(predicted, reviewed), region_words(evidence, predicted), label_of,
                           set(normalizer.vocabulary.label_values).__contains__, normalizer)


def test_each_kind_of_correction_teaches_what_it_says(normalizer):
    predicted = [Box(0, 0, 10, 10, NEZARA, region_id="relabelled"),
                 Box(20, 0, 10, 10, BMSB, region_id="moved"),
                 Box(40, 0, 10, 10, UNNAMED, region_id="named"),
                 Box(60, 0, 10, 10, BMSB, region_id="deleted"),
                 Box(80, 0, 10, 10, BMSB, region_id="not-there")]
    reviewed = [Box(0, 0, 10, 10, BMSB), Box(23, 0, 10, 10, BMSB), Box(40, 0, 10, 10, BMSB),
                Box(0, 50, 10, 10, NEZARA), Box(80, 0, 10, 10, UNNAMED)]
    words = {"relabelled": "marble bug", "moved": "BMSB", "named": "brown marmorated beetle", "deleted": "BMSB"}
    found = lessons(normalizer, predicted, reviewed, words)
    assert found == [
        Verdict("synonym", "marble bug", BMSB),  # relabelled: the MLLM's name -> the reviewer's label
        Verdict("confirmation", "BMSB", BMSB),  # moved: its label confirmed, no lesson from the move
        Verdict("synonym", "brown marmorated beetle", BMSB),  # a box without a label that the reviewer named
        Verdict("nothing_fits"),  # the reviewer said no vocabulary label fits this box
        Verdict("region_deleted", label=BMSB),
        Verdict("region_drawn", label=NEZARA),  # drawn: no MLLM name, nothing learned
    ]


def test_a_relabelled_box_goes_through_the_screening(normalizer):
    # "bug" is too generic to be a name; a box whose evidence was not kept has no name to teach.
    found = lessons(normalizer, [Box(0, 0, 10, 10, NEZARA, region_id="a"), Box(50, 0, 10, 10, NEZARA, region_id="b")],
                    [Box(0, 0, 10, 10, BMSB), Box(50, 0, 10, 10, BMSB)], {"a": "bug"})
    assert found == [Verdict("no_evidence", label=BMSB)]


def test_the_prediction_the_reviewer_worked_on():
    def prediction(prediction_id, version, x):
        return {"id": prediction_id, "model_version": version, "result": [
            {"id": "r", "from_name": "region", "type": "rectanglelabels",
             "value": {"x": x, "y": 0, "width": 5, "height": 5, "rectanglelabels": [BMSB]}}]}

    predictions = [HeldPrediction.from_json(p) for p in (
        prediction(1, "prelabel-a-1", 1), prediction(2, "prelabel-b-2", 2), {"id": 3, "result": []})]
    assert predicted_boxes(predictions, "region", "prelabel-a-1")[0].x == 1  # the kept evidence's version
    assert predicted_boxes(predictions, "region", "prelabel-c-3")[0].x == 2  # else the latest with boxes
    assert predicted_boxes(predictions, "other", None) == []


def test_relabelled_boxes_promote_under_the_same_rule(store_url, normalizer):
    learning = Learning(LearnedStore(store_url), normalizer, min_agreements=3)
    relabel = lessons(normalizer, [Box(0, 0, 10, 10, NEZARA, region_id="a")], [Box(1, 0, 10, 10, BMSB)],
                      {"a": "marble bug"})
    assert relabel == [Verdict("synonym", "marble bug", BMSB)]
    # Three annotations by one vouched reviewer: not yet (two reviewers needed); a second reviewer promotes it.
    for annotation in (1, 2, 3):
        assert learning.record(annotation, annotation, 1, 7, relabel) == []
    assert learning.record(4, 4, 1, 8, relabel) == [f"promoted: 'marble bug' -> {BMSB}"]
    # An annotation whose author Label Studio cannot vouch for sends the string back to the expert...
    assert learning.record(5, 5, 1, None, relabel) == [f"demoted: 'marble bug' -> {BMSB}"]
    # ... until it is deleted.
    assert learning.retract(5) == [f"promoted: 'marble bug' -> {BMSB}"]


@pytest.mark.parametrize("evidence", [None, {}, {"regions": "x"}, {"regions": [1, {"name": "a"}, {"x": 0, "y": 0,
                                      "width": 5, "height": 5}, {"x": 0, "y": 0, "width": 5, "height": 5, "name": " "},
                                      {"x": 50, "y": 50, "width": 5, "height": 5, "name": "far away"}]}])
def test_region_words_of_odd_evidence_are_empty(evidence):
    assert region_words(evidence, [Box(0, 0, 5, 5, BMSB)]) == {}


class RegionStudio:
    """The reads a feedback job makes in a region project: the annotation, its project, its task's predictions."""

    def __init__(self, config, annotation, predictions):
        self.config, self.annotation_read, self.predictions = config, annotation, predictions

    def annotation(self, annotation_id):
        return self.annotation_read

    def project(self, project_id):
        return SimpleNamespace(id=project_id, label_config=self.config)

    def list_tasks(self, project_id, include, ids=None):
        return [Task.from_json({"id": ids[0], "predictions": self.predictions}, project_id)]


def test_a_layout_with_a_choice_and_regions_learns_from_both(tmp_path, normalizer):
    """The shipped region layout: the image-level choice is judged as ever, each box beside it."""
    config = make_label_config(normalizer.vocabulary, regions=True)
    box = Box(10, 10, 20, 20)
    store = LearnedStore(f"sqlite:///{tmp_path / 'learned.sqlite'}")
    store.save_prediction_evidence([EvidenceRow(
        task_id=5, project_id=2, model_version="prelabel-a-1", vocabulary_version="v", label=NEZARA,
        evidence={"candidates": [{"text": "southern green stink bug", "source": "classification",
                                  "label": NEZARA, "method": "exact"}],
                  "regions": [said("marble bug", normalizer, box)]})])

    def region(label):
        return {"id": "prelabel-r1", "from_name": "region", "to_name": "image", "type": "rectanglelabels",
                "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rotation": 0, "rectanglelabels": [label]}}

    control = read_label_config(config, normalizer.vocabulary).control  # 16 labels: a <Taxonomy>
    choice = {"id": "prelabel", "from_name": control.from_name, "to_name": "image", "type": control.kind,
              "value": control.value(BMSB)}
    evidence_line = {**region(BMSB), "from_name": "prelabel_region_evidence", "type": "textarea",
                     "value": {"x": 10, "y": 10, "width": 20, "height": 20, "text": ["\"marble bug\" -> none"]}}
    annotation = SimpleNamespace(id=9, task=5, project=2, completed_by=7, updated_by=7, was_cancelled=False,
                                 result=[choice, region(BMSB), evidence_line])
    studio = RegionStudio(config, annotation, [{"id": 1, "model_version": "prelabel-a-1",
                                                "result": [region(UNNAMED)]}])
    learning = Learning(store, normalizer, min_agreements=3)
    event = record_feedback(studio, learning, "ANNOTATION_CREATED", 2, [9]).events[0]
    assert (event.status, event.label, event.predicted) == ("corrected", BMSB, NEZARA)
    assert event.regions == RegionSummary(relabelled=1)
    assert sorted(store.query("SELECT kind, string, label FROM annotation_evidence")) == [
        ("synonym", "marble bug", BMSB), ("synonym", "southern green stink bug", BMSB)]
