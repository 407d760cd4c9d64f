"""metrics.json is written from the report's typed records in one place (report/jsonfile.py) and reads back into
the same records: the figures of a sampled two-version report with failures, and of a region project."""

from __future__ import annotations

import json

import pytest

import test_report_regions as regions_example
import test_report_words as words_example
from prelabel.report import figures, jsonfile, output
from prelabel.report.document import ReportMetrics, Weighted
from prelabel.report.parse import read_tasks
from prelabel.report.records import Attempt

V1, V2 = words_example.V1, words_example.V2
# What users read: metrics.json's keys, in the order the file has them.
KEYS = ["accuracy", "classes", "averages", "none", "confusion", "confusions", "ablation", "stages_on", "methods",
        "unmatched", "calibration", "reviewer_time", "cost", "seen_other_version", "failures", "generated",
        "source", "model_version", "versions", "weighted", "sample", "counts", "outside_vocabulary",
        "vocabulary_known", "annotation_policy", "none_choice", "currency", "language", "shown", "auto_accepted",
        "compare", "policies"]


def sampled_report() -> figures.Report:
    stored = [(7, V2, Attempt(True, "stage1:timeout", {"mllm_calls": 3})), (7, V2, Attempt(False, None, {}))]
    records = read_tasks(words_example.export(True), "None of these")
    return figures.build(records, figures.Options(
        model_version=V2, compare=(V1, V2), vocabulary=frozenset({V1}), prompt_price=0.15, completion_price=0.6,
        shown=words_example.SHOWN, teaching={2: [("BMSB", words_example.BMSB)]}), stored)


def region_report() -> figures.Report:
    return figures.build(read_tasks(json.loads(json.dumps(regions_example.EXPORT)), "None of these"),
                         figures.Options())


@pytest.mark.parametrize("made", [sampled_report, region_report])
def test_metrics_json_reads_back_into_the_same_records(made, tmp_path):
    report = made()
    text = output.write(report, tmp_path)["metrics"].read_text(encoding="utf-8")
    assert text == jsonfile.dumps(report.metrics)
    read = jsonfile.loads(ReportMetrics, text)
    assert read == report.metrics and jsonfile.dumps(read) == text
    document = json.loads(text)
    regions = report.metrics.regions is not None
    assert list(document) == KEYS[:29] + (["regions"] if regions else []) + KEYS[29:]


def test_the_file_keeps_its_shape():
    document = json.loads(jsonfile.dumps(sampled_report().metrics))
    # Keys made from integers (k, margins), a comparison's paired test among its own figures, policies by code
    assert list(document["accuracy"]["top_k"]) == ["1", "2", "3", "5"]
    assert list(document["accuracy"]["more_tasks"]) == ["3", "5"]
    assert list(document["compare"])[:5] == ["first", "second", "tasks", "both_right", "only_first_right"]
    assert document["compare"]["p_value"] <= 1 and "paired" not in document["compare"]
    weighted = [policy for policy in document["policies"] if policy["code"] == "weighted"]  # 3 + 3 + 2 + 1 of 30
    assert weighted == [{"code": "weighted", "sample": "2026-01-05T00:00:00Z-seed7", "sampled": 9,
                         "population": 30, "outside_sample": 0}]
    read = jsonfile.loads(ReportMetrics, json.dumps(document))
    assert [policy for policy in read.policies if isinstance(policy, Weighted)] == [
        Weighted("2026-01-05T00:00:00Z-seed7", 9, 30, 0)]
    assert document["failures"]["by_cause"] == [{"cause": "stage1:timeout", "first_pass": 1, "still": 0}]
    assert "regions" not in document


def test_a_changed_file_is_refused_not_misread():
    document = json.loads(jsonfile.dumps(sampled_report().metrics))
    for change in ({"accuracy": {**document["accuracy"], "top_2": {}}},  # a key no record has
                   {"weighted": 1},  # an integer where a bool belongs
                   {"policies": [{"code": "no such policy"}]}):
        with pytest.raises(ValueError):
            jsonfile.loads(ReportMetrics, json.dumps({**document, **change}))
