"""`prelabel report --export` on small hand-made exports (click's CliRunner: the process boundary does not
matter here). Every expected figure is worked out by hand in a comment."""

from __future__ import annotations

import csv
import html
import json
import re

import pytest
from click.testing import CliRunner

from prelabel.cli import main
from prelabel.learning.rows import EvidenceRow
from prelabel.learning.store import LearnedStore

V1, V2 = "prelabel-aaaa-1111", "prelabel-bbbb-2222"
VOCAB = """domain: defects
labels:
  - label: 傷
    common: {en: [scratch]}
  - label: 汚れ
    common: {en: [stain]}
  - label: へこみ
    common: {en: [dent]}
"""


def choice(label: str, name: str = "label") -> list[dict]:
    return [{"from_name": name, "to_name": "image", "type": "choices", "value": {"choices": [label]}}]


def annotation(label: str | None, lead_time: float | None = None, number: int = 1, cancelled: bool = False,
               updated: str = "2026-01-02T00:00:00Z", prediction: dict | None = None) -> dict:
    return {"id": number, "result": [] if label is None else choice(label), "was_cancelled": cancelled,
            "lead_time": lead_time, "created_at": updated, "updated_at": updated, "prediction": prediction or {}}


def prediction(label: str | None, score: float, version: str = V1, evidence_field: bool = False) -> dict:
    result = [] if label is None else choice(label)
    if evidence_field:  # newer Prelabel versions add a read-only textarea with the evidence next to the choice
        result.append({"from_name": "evidence", "to_name": "image", "type": "textarea",
                       "value": {"text": ["MLLM said: scratch"]}})
    return {"id": 1, "model_version": version, "score": score, "result": result,
            "created_at": "2026-01-01T00:00:00Z"}


def evidence(label: str | None, scores: dict[str, dict[str, float]], text: str, method: str,
             version: str = V1, usage: dict | None = None) -> dict:
    found = {"model_version": version, "label": label, "score": scores.get("final", {}).get(label),
             "ranking": [[k, v] for k, v in scores.get("final", {}).items()], "stage_scores": scores,
             "evidence": {"candidates": [{"text": text, "source": "classification",
                                          "label": label if method not in ("none", "ambiguous") else None,
                                          "score": 1.0, "method": method, "alternatives": []}],
                          "stage2": None}, "errors": {}}
    if usage:
        found["usage"] = usage
    return found


def task(task_id: int, truth: list[dict], predictions: list[dict], meta: dict | None = None) -> dict:
    return {"id": task_id, "project": 3, "data": {"image": f"/data/local-files/?d=p/{task_id}.jpg"},
            "annotations": truth, "predictions": predictions, "meta": meta or {}}


def run(tmp_path, *args: str, vocab: bool = True):
    env = {"PRELABEL_DATA_DIR": str(tmp_path / "var"), "PRELABEL_VOCAB": str(tmp_path / "missing.yaml")}
    if vocab:
        (tmp_path / "defects.yaml").write_text(VOCAB, encoding="utf-8")
        env["PRELABEL_VOCAB"] = str(tmp_path / "defects.yaml")
    return CliRunner().invoke(main, ["report", *args], env=env, catch_exceptions=False)


def write(tmp_path, tasks, name: str = "export.json"):
    path = tmp_path / name
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return path


# Eight reviewed tasks: 5 accepted (1-4, 8), 3 corrected (5: 傷 -> 汚れ, 6: Prelabel said none but 汚れ,
# 7: 汚れ -> the reviewer's none); a ninth with only a cancelled annotation; a tenth with a label outside the
# vocabulary (錆, rust).
SCORES_RIGHT = {"mllm": {"傷": 1.0}, "clip_image": {"汚れ": 0.5, "傷": 0.3}, "fused": {"傷": 0.6},
                "final": {"傷": 0.9, "汚れ": 0.2}}
EXPORT = [
    task(1, [annotation("傷", 4.0)], [prediction("傷", 0.9, evidence_field=True)],
         {"prelabel": evidence("傷", SCORES_RIGHT, "scratch", "alias",
                               usage={"mllm_calls": 1, "cache_hits": 0, "prompt_tokens": 800,
                                      "completion_tokens": 40, "seconds": 2.0})}),
    task(2, [annotation("傷", 6.0)], [prediction("傷", 0.8)],
         {"prelabel": evidence("傷", SCORES_RIGHT, "傷", "exact",
                               usage={"mllm_calls": 1, "cache_hits": 1, "prompt_tokens": 0,
                                      "completion_tokens": 0, "seconds": 0.5})}),
    task(3, [annotation("汚れ", 5.0)], [prediction("汚れ", 0.7)]),
    task(4, [annotation("へこみ", 3.0)], [prediction("へこみ", 0.95)]),
    task(5, [annotation("汚れ", 20.0)], [prediction("傷", 0.6)],
         {"prelabel": evidence("傷", SCORES_RIGHT, "scrach", "fuzzy")}),
    task(6, [annotation("汚れ", 30.0)], [],
         {"prelabel": evidence(None, {"clip_image": {"汚れ": 0.4}, "fused": {"汚れ": 0.4}, "final": {}},
                               "a mark on metal", "none")}),
    task(7, [annotation("None of these", 25.0)], [prediction("汚れ", 0.3)]),
    task(8, [annotation("へこみ", 2.0, number=8)], [prediction("へこみ", 0.92)]),
    task(9, [annotation(None, 1.0, cancelled=True)], [prediction("傷", 0.5)]),
    task(10, [annotation("錆", 40.0)], [prediction("汚れ", 0.4)]),
]


def test_report_from_an_export_file(tmp_path):
    out = tmp_path / "report"
    completed = run(tmp_path, "--export", str(write(tmp_path, EXPORT)), "--out", str(out),
                    "--prompt-price", "0.5", "--completion-price", "2")
    assert completed.exit_code == 0, completed.output
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    # 9 counted tasks (task 9 only cancelled); right: 1, 2, 3, 4, 8 = 5 of 9
    top1 = metrics["accuracy"]["top1"]
    assert (top1["value"], top1["n"]) == (pytest.approx(5 / 9), 9) and not metrics["weighted"]
    assert metrics["model_version"] == V1 and metrics["counts"]["cancelled_only"] == 1
    classes = {c["label"]: c for c in metrics["classes"]}
    # 傷: given on 1, 2, 5 (right on 1, 2): P 2/3; reviewed 傷 on 1, 2: R 1. 汚れ: given on 3, 7, 10 (right on 3):
    # P 1/3; reviewed 汚れ on 3, 5, 6: R 1/3. (none): said on 6 (wrong), reviewed on 7.
    assert (classes["傷"]["precision"], classes["傷"]["recall"]) == (pytest.approx(2 / 3), 1.0)
    assert (classes["汚れ"]["precision"], classes["汚れ"]["recall"]) == (pytest.approx(1 / 3), pytest.approx(1 / 3))
    assert (classes["(none)"]["support"], classes["(none)"]["predicted"]) == (1, 1)
    assert (classes["錆"]["support"], classes["錆"]["recall"]) == (1, 0.0)
    assert metrics["outside_vocabulary"] == [{"label": "錆", "tasks": 1}]
    assert metrics["none"]["missed_labels"] == 1 and metrics["none"]["label_where_none"] == 1
    # Ablation over tasks 1, 2, 5, 6 (stage scores kept). MLLM: 傷 on 1, 2 right, 傷 on 5 wrong, none on 6 wrong
    # (2/4); CLIP image: 汚れ on 1, 2 wrong, on 5 and 6 right (2/4); fused: 傷 1, 2 right, 傷 5 wrong, 汚れ 6 right
    # (3/4); final = the delivered prediction: 1, 2 right (2/4).
    assert {stage: e["value"] for stage, e in metrics["ablation"].items()} == {
        "mllm": 0.5, "clip_image": 0.5, "fused": 0.75, "final": 0.5}
    methods = {e["method"]: (e["tasks"], e["accuracy"]["value"]) for e in metrics["methods"]}
    assert methods == {"alias": (1, 1.0), "exact": (1, 1.0), "fuzzy": (1, 0.0), "none": (1, 0.0)}
    assert metrics["unmatched"] == [{"string": "a mark on metal", "tasks": 1, "reviewed_as": [["汚れ", 1]]}]
    # Lead times: accepted 4, 6, 5, 3, 2 (median 4); corrected 20, 30, 25, 40 (median 27.5); accepted share 5/9:
    # 5/9 * 4 + 4/9 * 27.5 = 2.2222 + 12.2222 = 14.4444 s; no task without a pre-label, so a correction is the
    # baseline: 1000 * (27.5 - 14.4444) = 13,055.6 s
    time = metrics["reviewer_time"]
    assert (time["accepted"]["median"], time["corrected"]["median"]) == (4.0, 27.5)
    assert time["saved_per_1000_seconds"] == pytest.approx(13_055.56, abs=0.01)
    # Usage on tasks 1 and 2: prompt (800 + 0) / 2 = 400, completion 20 per image:
    # 1000 * (400 * 0.5 + 20 * 2) / 1e6 = 0.24 per 1,000 images
    assert metrics["cost"]["price_per_1000_images"] == pytest.approx(0.24)
    # Auto-accept over the 8 scored pre-labels (task 6 said none). By score: 4 (0.95), 8 (0.92), 1 (0.9),
    # 2 (0.8), 3 (0.7) all right; 5 (0.6) wrong. >= 0.7 is 5 of 5 right, but its Wilson lower bound is
    # 5 / (5 + z^2) = 56.6%: not enough for 95%. At 100% the bound reaches 95% from n / (n + z^2) >= 0.95, n >= 73:
    # 68 more above 0.7, where 5 of the 9 reviewed tasks fall: 68 * 9 / 5 = 122.4, so 123 more reviewed tasks
    accept = metrics["calibration"]["auto_accept"]
    assert accept["recommended"] is None and metrics["calibration"]["threshold"] is None
    assert (accept["settle"]["threshold"], accept["settle"]["tasks"], accept["settle"]["more_tasks"]) == (0.7, 5, 123)
    assert accept["settle"]["low"] == pytest.approx(5 / (5 + 1.959964**2), abs=1e-6)
    assert "Not enough to recommend a threshold" in (out / "report.html").read_text(encoding="utf-8")
    with (out / "tasks.csv").open(encoding="utf-8-sig") as file:
        rows = {int(r["task_id"]): r for r in csv.DictReader(file)}
    assert sorted(rows) == [1, 2, 3, 4, 5, 6, 7, 8, 10]
    assert (rows[5]["predicted"], rows[5]["annotation"], rows[5]["correct"], rows[5]["status"]) == (
        "傷", "汚れ", "0", "corrected")
    assert (rows[1]["method"], rows[1]["fused_label"], rows[1]["lead_time"], rows[1]["prompt_tokens"]) == (
        "alias", "傷", "4.0", "800")
    assert rows[6]["predicted"] == "(none)" and rows[7]["annotation"] == "(none)"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "@font-face" in page and "unicode-range" in page and "傷" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 4
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing to fetch: opens offline
    assert "top-1 accuracy 55.6%" in completed.output


def test_quick_export_uses_the_prediction_each_annotation_kept(tmp_path):
    # Label Studio's quick export lists predictions by id; annotation.prediction keeps what the reviewer saw.
    tasks = [task(1, [annotation("傷", prediction=prediction("傷", 0.9))], [7]),
             task(2, [annotation("汚れ", prediction=prediction("傷", 0.8))], [8])]
    completed = run(tmp_path, "--export", str(write(tmp_path, tasks)), "--out", str(tmp_path / "r"))
    assert completed.exit_code == 0, completed.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["accuracy"]["top1"]["value"] == 0.5 and metrics["model_version"] == V1  # 1 of 2


def test_prelabel_predict_output_with_annotations(tmp_path):
    # `prelabel predict` writes no task ids and no prediction when it says none; meta.prelabel has it all.
    tasks = [{"data": {"image": "a.jpg"}, "predictions": [prediction("傷", 0.9)],
              "meta": {"prelabel": {**evidence("傷", SCORES_RIGHT, "scratch", "alias"), "scored_by": "prior"}},
              "annotations": [annotation("傷")]},
             {"data": {"image": "b.jpg"}, "predictions": [],
              "meta": {"prelabel": evidence(None, {}, "nothing", "none")}, "annotations": [annotation(None)]},
             {"data": {"image": "c.jpg"}, "predictions": [prediction("汚れ", 0.9)],
              "meta": {"prelabel": evidence("汚れ", {}, "stain", "alias")}}]
    completed = run(tmp_path, "--export", str(write(tmp_path, tasks)), "--out", str(tmp_path / "r"))
    assert completed.exit_code == 0, completed.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    # a.jpg right, b.jpg: none said and none reviewed (an empty submission): right; c.jpg not reviewed
    assert metrics["accuracy"]["top1"]["value"] == 1.0 and metrics["counts"]["rows"] == 2
    assert metrics["none"]["said_none_right"] == 1
    # The shipped prior made a.jpg's score: the report says what such a score is, where it shows scores.
    assert metrics["calibration"]["by_prior"] == 1
    page = html.unescape((tmp_path / "r" / "report.html").read_text(encoding="utf-8"))
    assert page.count("prior: the normaliser's precision, not yet measured on this project") == 2


def test_a_sample_weights_the_strata_back(tmp_path):
    # Sample design: 傷 10 tasks (2 sampled), 汚れ 4 (4 sampled), none 6 (2 sampled, 1 reviewed so far),
    # へこみ 3 (1 sampled, not reviewed yet: no weight, and the report says it does not cover those 3 tasks).
    def mark(stratum):
        return {"prelabel_sample": {"id": "2026-01-05T00:00:00Z-seed7", "seed": 7, "model_version": V1,
                                    "stratum": stratum, "strata": [
                                        {"label": "傷", "population": 10, "sampled": 2},
                                        {"label": "汚れ", "population": 4, "sampled": 4},
                                        {"label": None, "population": 6, "sampled": 2},
                                        {"label": "へこみ", "population": 3, "sampled": 1}]}}
    tasks = [task(1, [annotation("傷")], [prediction("傷", 0.9)], mark("傷")),
             task(2, [annotation("汚れ")], [prediction("傷", 0.9)], mark("傷")),
             *[task(3 + i, [annotation("汚れ")], [prediction("汚れ", 0.9)], mark("汚れ")) for i in range(4)],
             task(7, [annotation(None)], [], {**mark(None), "prelabel": evidence(None, {}, "x", "none")}),
             task(8, [annotation("へこみ")], [prediction("傷", 0.9)])]  # reviewed outside the sample: left out
    path = write(tmp_path, tasks)
    completed = run(tmp_path, "--export", str(path), "--out", str(tmp_path / "r"))
    assert completed.exit_code == 0, completed.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    # weights: 傷 10/2 = 5, 汚れ 4/4 = 1, none 6/1 = 6: (5 * 1 + 4 * 1 + 6 * 1) / (10 + 4 + 6) = 15/20 = 0.75;
    # Kish n_eff = 20^2 / (2 * 25 + 4 + 36) = 4.4444
    top1 = metrics["accuracy"]["top1"]
    assert (top1["value"], top1["n"], top1["n_effective"]) == (0.75, 7, pytest.approx(400 / 90))
    assert metrics["weighted"] and metrics["counts"]["outside_sample"] == 1
    assert {s["label"]: s["weight"] for s in metrics["sample"]["strata"]} == {
        "傷": 5.0, "汚れ": 1.0, "(none)": 6.0, "へこみ": None}
    assert metrics["sample"]["unreviewed_population"] == 3
    assert {"code": "unreviewed_strata", "tasks": 3} in metrics["policies"]  # records the page words
    assert any(policy["code"] == "weighted" for policy in metrics["policies"])
    # 汚れ recall, weighted: reviewed 汚れ are task 2 (weight 5, missed) and 3-6 (weight 1, found): 4 / 9
    assert {c["label"]: c["recall"] for c in metrics["classes"]}["汚れ"] == pytest.approx(4 / 9)
    assert "weighted estimates for the whole project" in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    plain = run(tmp_path, "--export", str(path), "--out", str(tmp_path / "p"), "--unweighted")
    unweighted = json.loads((tmp_path / "p" / "metrics.json").read_text(encoding="utf-8"))
    assert unweighted["accuracy"]["top1"]["value"] == pytest.approx(6 / 8) and not unweighted["weighted"]
    assert plain.exit_code == 0


def test_several_annotations_latest_first_or_majority(tmp_path):
    tasks = [task(1, [annotation("傷", number=1, updated="2026-01-01T00:00:00Z"),
                      annotation("汚れ", number=2, updated="2026-01-03T00:00:00Z"),
                      annotation("傷", number=3, updated="2026-01-02T00:00:00Z")], [prediction("傷", 0.9)])]
    path = write(tmp_path, tasks)
    found = {}
    for policy in ("latest", "first", "majority"):
        assert run(tmp_path, "--export", str(path), "--out", str(tmp_path / policy), "--annotations", policy
                   ).exit_code == 0
        found[policy] = json.loads((tmp_path / policy / "metrics.json").read_text())["accuracy"]["top1"]["value"]
    # latest (updated last): 汚れ, wrong; first: 傷, right; majority: 傷 (2 of 3), right
    assert found == {"latest": 0.0, "first": 1.0, "majority": 1.0}


def test_compare_two_model_versions(tmp_path):
    # 6 tasks both versions predicted: V1 right on 1, 2; V2 right on 1, 3, 4, 5. Only V1: task 2 (1);
    # only V2: 3, 4, 5 (3): difference (3 - 1) / 6 = 0.3333; McNemar: P(X <= 1 | Bin(4, 1/2)) = 5/16, p = 10/16
    truth = ["傷", "傷", "汚れ", "汚れ", "へこみ", "へこみ"]
    first = ["傷", "傷", "傷", "傷", "傷", "傷"]
    second = ["傷", "汚れ", "汚れ", "汚れ", "へこみ", "汚れ"]
    tasks = [task(i + 1, [annotation(t)], [prediction(a, 0.5, V1), prediction(b, 0.5, V2)])
             for i, (t, a, b) in enumerate(zip(truth, first, second, strict=True))]
    completed = run(tmp_path, "--export", str(write(tmp_path, tasks)), "--out", str(tmp_path / "r"),
                    "--compare", V1, V2)
    assert completed.exit_code == 0, completed.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    compared = metrics["compare"]
    assert (compared["first_accuracy"], compared["second_accuracy"]) == (pytest.approx(2 / 6), pytest.approx(4 / 6))
    assert compared["difference"] == pytest.approx(1 / 3) and compared["p_value"] == 10 / 16
    assert [(c["task_id"], c["verdict"]) for c in compared["changed"]] == [
        (2, "broken"), (3, "fixed"), (4, "fixed"), (5, "fixed"), (6, "still wrong")]
    assert metrics["model_version"] == V2
    assert f"{V1} vs {V2}" in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")


def test_evidence_from_the_learned_store(tmp_path):
    # The workers keep evidence in the store and write no prediction when Prelabel says none: task 2.
    store = LearnedStore(f"sqlite:///{tmp_path / 'var' / 'learned.sqlite'}")
    store.save_prediction_evidence([
        EvidenceRow(1, 3, V1, "v", "傷", {"candidates": [{"text": "scratch", "source": "classification", "label": "傷",
                                                          "score": 0.97, "method": "alias", "alternatives": []}],
                                          "stage2": None, "stage_scores": SCORES_RIGHT, "errors": {}}),
        EvidenceRow(2, 3, V1, "v", None, {"candidates": [], "stage_scores": {"clip_image": {"汚れ": 0.4}}, "errors": {},
                                          "stage2": {"answer": "none", "label": None, "method": "none", "score": 0}}),
        EvidenceRow(1, 99, "other", "v", "傷", {"candidates": [], "stage2": None, "stage_scores": {}, "errors": {}})])
    tasks = [task(1, [annotation("傷")], [prediction("傷", 0.9)]), task(2, [annotation("汚れ")], [])]
    completed = run(tmp_path, "--export", str(write(tmp_path, tasks)), "--out", str(tmp_path / "r"))
    assert completed.exit_code == 0, completed.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["counts"]["rows"] == 2 and metrics["none"]["missed_labels"] == 1  # task 2: said none
    assert metrics["versions"] == {V1: 2}  # the other project's row is not ours
    assert {e["method"] for e in metrics["methods"]} == {"alias", "none"}
    assert metrics["ablation"]["clip_image"]["value"] == 0.5  # 汚れ on task 1 wrong, on task 2 right


@pytest.mark.parametrize(("content", "message"), [
    ("task_id,label\n1,傷\n", "is not JSON"),
    ('{"tasks": []}', "expected a JSON list of tasks, found a JSON dict"),
    ('[{"id": 1, "image": "a.jpg", "label": "傷", "annotation_id": 3}]', "looks like a JSON-MIN export"),
    ('[{"data": {}, "annotations": {}}]', "'annotations' and 'predictions' must be lists"),
])
def test_an_export_in_a_wrong_format_exits_2(tmp_path, content, message):
    path = tmp_path / "export.json"
    path.write_text(content, encoding="utf-8")
    completed = run(tmp_path, "--export", str(path))
    assert completed.exit_code == 2 and message in completed.output
    assert "export the project as JSON" in completed.output


def test_no_annotations_exits_2(tmp_path):
    tasks = [task(1, [], [prediction("傷", 0.9)]), task(2, [annotation("傷", cancelled=True)], [])]
    completed = run(tmp_path, "--export", str(write(tmp_path, tasks)))
    assert completed.exit_code == 2
    assert "no annotated tasks" in completed.output and "1 with cancelled annotations only" in completed.output


def test_an_unknown_model_version_exits_2(tmp_path):
    completed = run(tmp_path, "--export", str(write(tmp_path, EXPORT)), "--model-version", "prelabel-nope")
    assert completed.exit_code == 2
    assert "model_version prelabel-nope" in completed.output and f"{V1} (9 task(s))" in completed.output
    compared = run(tmp_path, "--export", str(write(tmp_path, EXPORT)), "--compare", V1, "prelabel-nope")
    assert compared.exit_code == 2 and "prelabel-nope" in compared.output


def test_arguments(tmp_path):
    assert run(tmp_path).exit_code == 2  # neither --project nor --export
    assert run(tmp_path, "--export", str(tmp_path / "none.json")).exit_code == 2
    bad_vocab = tmp_path / "bad.yaml"
    bad_vocab.write_text("labels: {}\n", encoding="utf-8")
    completed = run(tmp_path, "--export", str(write(tmp_path, EXPORT)), "--vocab", str(bad_vocab))
    assert completed.exit_code == 2 and "bad.yaml" in completed.output


def test_without_a_vocabulary_labels_outside_it_are_unknown(tmp_path):
    completed = run(tmp_path, "--export", str(write(tmp_path, EXPORT)), "--out", str(tmp_path / "r"), vocab=False)
    assert completed.exit_code == 0, completed.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["outside_vocabulary"] == [] and not metrics["vocabulary_known"]
    assert {"code": "outside_unknown"} in metrics["policies"]
    assert "vocabulary was not available" in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")


def test_failed_tasks_are_their_own_state(tmp_path):
    # A Label Studio failure prediction is written as "<version>-failed" with no choice; the store keeps every
    # attempt. Task 1 answered (no attempt in the store: its record is its one attempt); task 2 failed twice
    # (timeouts, 5 calls each) and a reviewer labelled it by hand; task 3 failed (a server error, 1 call), then
    # was answered; task 4 failed (the image unavailable, no call) and nobody reviewed it.
    version = "prelabel-0123abcd-4567cdef"
    store = LearnedStore(f"sqlite:///{tmp_path / 'var' / 'learned.sqlite'}")

    def attempt(task_id, label, cause=None, calls=1, tokens=0):
        state = "failed" if cause else "label"
        errors = {cause.split(":")[0]: cause.split(":")[1] + ": detail"} if cause else {}
        store.save_prediction_evidence([EvidenceRow(
            task_id=task_id, project_id=3, model_version=version, vocabulary_version="v",
            label=label, failure_cause=cause, evidence={
                "candidates": [], "stage2": None, "stage_scores": {}, "errors": errors, "state": state,
                "usage": {"mllm_calls": calls, "cache_hits": 0, "prompt_tokens": tokens, "completion_tokens": 0}})])

    attempt(2, None, "stage1:timeout", calls=5)
    attempt(2, None, "stage1:timeout", calls=5)
    attempt(3, None, "stage1:server_error")
    attempt(3, "傷", tokens=900)
    attempt(4, None, "image:unavailable", calls=0)
    tasks = [task(1, [annotation("傷", 4.0)], [prediction("傷", 0.9, version)]),
             task(2, [annotation("汚れ", 30.0)], [{**prediction(None, 0.0, version + "-failed")}]),
             task(3, [annotation("傷", 5.0)], [prediction("傷", 0.8, version)]),
             task(4, [], [prediction(None, 0.0, version + "-failed")])]
    completed = run(tmp_path, "--export", str(write(tmp_path, tasks)), "--out", str(tmp_path / "r"),
                    "--prompt-price", "1", "--completion-price", "1")
    assert completed.exit_code == 0, completed.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["versions"] == {version: 3}  # the failure is its version's, not a version of its own
    # Accuracy over the answered tasks 1 and 3 only: 2 of 2; task 2 is not "Prelabel said none"
    top1 = metrics["accuracy"]["top1"]
    assert (top1["value"], top1["n"], metrics["counts"]["failed"]) == (1.0, 2, 1)
    assert metrics["none"]["said_none"] == 0
    failures = metrics["failures"]
    # first attempt: tasks 2, 3, 4 failed of 4 (75%); after retries 2 and 4 (50%); task 3 healed
    assert (failures["tasks"], failures["first_pass"], failures["still"], failures["healed"]) == (4, 3, 2, 1)
    assert failures["by_cause"] == [{"cause": "image:unavailable", "first_pass": 1, "still": 1},
                                    {"cause": "stage1:timeout", "first_pass": 1, "still": 1},
                                    {"cause": "stage1:server_error", "first_pass": 1, "still": 0}]
    assert (failures["reviewed"], failures["labelled_by_hand"]) == (1, 1)
    # Every call counts: 5 + 5 + 1 + 0 failed, 1 answered (task 1 kept no usage): 12 calls over 3 tasks
    cost = metrics["cost"]
    assert (cost["failed"]["attempts"], cost["failed"]["mllm_calls"], cost["totals"]["mllm_calls"]) == (4, 11, 12)
    assert metrics["reviewer_time"]["accepted"]["tasks"] == 2  # the failed task is not "accepted"
    assert metrics["reviewer_time"]["without_prelabel"]["median"] == 30.0  # labelled by hand
    with (tmp_path / "r" / "tasks.csv").open(encoding="utf-8-sig") as file:
        rows = {int(r["task_id"]): r for r in csv.DictReader(file)}
    assert (rows[2]["predicted"], rows[2]["status"], rows[2]["failure"]) == (
        "(failed)", "labelled by hand", "stage1:timeout")
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Failures</h2>" in page and "75.0%" in page and "stage1:timeout" in page and " USD" in page


def test_compare_leaves_out_the_tasks_that_taught_the_synonyms(tmp_path):
    from prelabel.learning.rules import Learning, Verdict
    from prelabel.vocabulary.normalize import Normalizer
    from prelabel.vocabulary.vocab import load_vocabulary

    (tmp_path / "defects.yaml").write_text(VOCAB, encoding="utf-8")
    store = LearnedStore(f"sqlite:///{tmp_path / 'var' / 'learned.sqlite'}")
    learning = Learning(store, Normalizer(load_vocabulary(tmp_path / "defects.yaml")), min_agreements=3)
    # Reviewers corrected V1's none on tasks 1-3 (two reviewers, three annotations): "scrape mark" -> 傷 is
    # promoted, and V2 uses it. Task 4's "rub mark" is taught by one annotation only: pending, not in force.
    for number, reviewer in ((1, 7), (2, 8), (3, 7)):
        learning.record(number, number, 3, reviewer, [Verdict("synonym", "scrape mark", "傷")])
    learning.record(4, 4, 3, 7, [Verdict("synonym", "rub mark", "傷")])
    assert store.synonyms_in_force() == [("scrape mark", "傷")]
    tasks = [task(i, [annotation("傷")], [prediction(None if i <= 3 else "傷", 0.5, V1), prediction("傷", 0.9, V2)])
             for i in range(1, 7)]
    completed = run(tmp_path, "--export", str(write(tmp_path, tasks)), "--out", str(tmp_path / "r"),
                    "--compare", V1, V2)
    assert completed.exit_code == 0, completed.output
    compared = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))["compare"]
    # Graded on its teachers, V2 would be +3 tasks "fixed"; on tasks 4-6 both are right: no difference
    assert (compared["tasks"], compared["difference"], compared["changed"]) == (3, 0.0, [])
    assert compared["left_out_teaching"] == 3 and compared["taught"] == [{"string": "scrape mark", "label": "傷"}]
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "3</b> reviewed task(s) left out because their annotations taught" in page


def test_a_project_whose_every_reviewed_task_failed_still_gets_its_report(tmp_path):
    version = "prelabel-0123abcd-4567cdef"
    tasks = [task(1, [annotation("傷", 3.0)], [prediction(None, 0.0, version + "-failed")])]
    completed = run(tmp_path, "--export", str(write(tmp_path, tasks)), "--out", str(tmp_path / "r"))
    assert completed.exit_code == 0, completed.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    assert (metrics["accuracy"]["top1"]["n"], metrics["failures"]["still"], metrics["failures"]["tasks"]) == (0, 1, 1)
    assert "Prelabel answered none of the reviewed tasks" in (tmp_path / "r" / "report.html").read_text(
        encoding="utf-8")
