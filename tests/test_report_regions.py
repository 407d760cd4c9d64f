"""The report of a region project, from a Label Studio export: every figure computed by hand in the comments."""

from __future__ import annotations

import json
from dataclasses import asdict

from prelabel.report import figures, output
from prelabel.report.parse import read_tasks

VERSION = "prelabel-aaaa-1111"


def box(x, y, w, h, label, region_id):
    return {"id": region_id, "from_name": "region", "to_name": "image", "type": "rectanglelabels",
            "original_width": 800, "original_height": 600, "image_rotation": 0,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]}}


def task(task_id, predicted, reviewed, lead_time):
    return {"id": task_id, "data": {"image": f"/data/{task_id}.jpg"},
            "predictions": [{"model_version": VERSION, "score": 0.7, "result": predicted}],
            "annotations": [{"id": 100 + task_id, "result": reviewed, "lead_time": lead_time,
                             "created_at": "2026-12-07T06:00:00Z"}]}


EXPORT = [
    # kept (A), relabelled (B -> C), moved (A: 80 / 120 = IoU 0.67), and one drawn (B): 30 s
    task(1, [box(0, 0, 10, 10, "A", "p1"), box(20, 20, 10, 10, "B", "p2"), box(50, 50, 10, 10, "A", "p3")],
         [box(0, 0, 10, 10, "A", "p1"), box(20, 20, 10, 10, "C", "p2"), box(52, 50, 10, 10, "A", "p3"),
          box(80, 80, 10, 10, "B", "r4")], 30.0),
    task(2, [box(0, 0, 10, 10, "A", "p1")], [box(0, 0, 10, 10, "A", "p1")], 10.0),  # kept: 10 s
    task(3, [box(10, 10, 20, 20, "B", "p1")], [], 20.0),  # deleted: 20 s
]


def test_the_region_figures_of_a_reviewed_project(tmp_path):
    records = read_tasks(json.loads(json.dumps(EXPORT)), "None of these")
    built = figures.build(records, figures.Options(source="an export"))
    regions = built.metrics.regions
    # predicted A 3, B 2; reviewed A 3, B 1, C 1; right: the three A boxes (two kept, one moved)
    assert (regions.tasks, regions.predicted, regions.reviewed) == (3, 5, 5)
    assert (regions.kept, regions.moved, regions.relabelled, regions.deleted, regions.drawn) == (
        2, 1, 1, 1, 1)
    assert (regions.precision.value, regions.recall.value) == (3 / 5, 3 / 5)
    assert regions.precision.low < 0.6 < regions.precision.high
    by_label = {entry.label: entry for entry in regions.labels}
    assert [entry.label for entry in regions.labels] == ["A", "B", "C"]  # most reviewed boxes first
    assert (by_label["A"].precision.value, by_label["A"].recall.value) == (1.0, 1.0)
    assert (by_label["B"].precision.value, by_label["B"].recall.value) == (0.0, 0.0)
    assert (by_label["B"].predicted, by_label["B"].drawn, by_label["B"].deleted) == (2, 1, 1)
    assert by_label["C"].precision.value is None and by_label["C"].recall.value == 0.0  # none predicted
    assert [asdict(entry) for entry in regions.relabellings] == [{"predicted": "B", "reviewed": "C", "boxes": 1}]
    # left as they were: task 2 (10 s); changed: tasks 1 and 3 (30 s, 20 s: median 25); 60 s over 5 boxes
    assert asdict(regions.reviewer_time) == {"unchanged": {"tasks": 1, "median": 10.0},
                                             "changed": {"tasks": 2, "median": 25.0},
                                             "tasks": 3, "seconds": 60.0, "per_reviewed_box": 12.0}
    paths = output.write(built, tmp_path)
    page = paths["html"].read_text(encoding="utf-8")
    assert "<h2>Regions</h2>" in page and "of the 5 predicted boxes right" in page
    assert regions.image_level is False and "This project labels regions only" in page
    assert "<b>B</b> &rarr; <b>C</b> (1)" in page
    assert json.loads(paths["metrics"].read_text(encoding="utf-8"))["regions"]["drawn"] == 1


def test_an_image_level_project_has_no_region_figures():
    choice = [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["A"]}}]
    export = [{**task(1, choice, choice, 5.0)}]
    built = figures.build(read_tasks(export, "None of these"), figures.Options())
    assert built.metrics.regions is None
    assert built.metrics.accuracy.top1.value == 1.0
