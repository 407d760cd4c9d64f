"""`prelabel predict` as a user runs it (in process), the stub LLM over HTTP (`prelabel vocab describe`:
test_cli_vocab.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from helpers import EXAMPLE_VOCAB, TINY_CLIP_CONFIG, answer_by_colour, invoke, solid_image
from prelabel.pipeline.calibration import prior
from prelabel.pipeline.result import Finding

PRELABEL = str(Path(sys.executable).parent / "prelabel")


def run(tmp_path, stub, *args: str, **env: str):
    environ = {"PRELABEL_DATA_DIR": str(tmp_path / "var"), "PRELABEL_CLIP_MODEL": str(TINY_CLIP_CONFIG),
               "PRELABEL_CLIP_PRETRAINED": "", "PRELABEL_DEVICE": "cpu", "PRELABEL_LLM_RETRIES": "0",
               "PRELABEL_LLM_BASE_URL": stub.url if stub else "", **env}
    return invoke(*args, env=environ)


def test_predict_writes_label_studio_tasks_and_a_summary(tmp_path, stub_llm):
    stub_llm.handler = answer_by_colour({"red": "BMSB", "green": "RAW:not json at all", "blue": "rice weevil"})
    images = tmp_path / "photos"
    solid_image(images / "a.jpg", (220, 20, 20))
    solid_image(images / "sub" / "b.jpg", (20, 220, 20))
    solid_image(images / "c.jpg", (20, 20, 220))
    (images / "d.jpg").write_bytes(b"corrupt")
    (images / "notes.txt").write_text("not an image")
    out = tmp_path / "tasks.json"
    completed = run(tmp_path, stub_llm, "predict", "--vocab", str(EXAMPLE_VOCAB), str(images), "--out", str(out),
                    "--image-root", str(tmp_path))
    assert completed.exit_code == 0, completed.stderr
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert [t["data"]["image"] for t in tasks] == [
        "/data/local-files/?d=photos/a.jpg", "/data/local-files/?d=photos/c.jpg", "/data/local-files/?d=photos/d.jpg",
        "/data/local-files/?d=photos/sub/b.jpg"]
    # Predictions fit the config `prelabel vocab labelconfig` prints: the taxonomy, and the evidence for reviewers.
    first = tasks[0]["predictions"][0]
    assert first["model_version"].startswith("prelabel-")
    choice, evidence = first["result"]
    assert choice == {"id": "prelabel", "from_name": "label", "to_name": "image", "type": "taxonomy",
                      "value": {"taxonomy": [["Halyomorpha halys"]]}}
    assert evidence["from_name"] == "prelabel_evidence" and evidence["readonly"] is True
    assert evidence["value"]["text"][0].startswith("Suggested: Halyomorpha halys, ")
    assert 0 < first["score"] <= 1
    assert tasks[1]["predictions"][0]["result"][0]["value"]["taxonomy"] == [["Sitophilus oryzae"]]
    # An unreadable image: the evidence says why, under the failure version (Label Studio asks again).
    [failed] = tasks[2]["predictions"]
    assert failed["model_version"] == first["model_version"] + "-failed"
    assert "image" in tasks[2]["meta"]["prelabel"]["errors"]
    assert [r["type"] for r in failed["result"]] == ["textarea"]
    assert failed["result"][0]["value"]["text"][0].startswith("Not pre-labelled: the image could not be used")
    malformed = tasks[3]["meta"]["prelabel"]
    assert malformed["errors"]["stage1"].startswith("malformed") and malformed["state"] == "failed"
    assert set(tasks[0]["meta"]["prelabel"]["stage_scores"]) == {"mllm", "clip_image", "fused", "final"}
    err = completed.stderr
    assert "images: 4, labelled: 2, failed: 2 {'image:unreadable': 1, 'stage1:malformed': 1}" in err
    assert "MLLM calls: 3 (retries 0), cache hits: 0, tokens: " in err
    assert "failed: " in err and "d.jpg" in err
    # The same images again: every answer comes from the cache.
    again = run(tmp_path, stub_llm, "predict", "--vocab", str(EXAMPLE_VOCAB), str(images), "--out", str(out))
    assert again.exit_code == 0
    assert "MLLM calls: 1 (retries 0), cache hits: 2" in again.stderr  # only the malformed one is asked again
    assert stub_llm.calls == 4  # 3 first run + the malformed one asked again (malformed answers are not cached)


def test_predict_without_mllm_or_clip_switches(tmp_path, stub_llm):
    stub_llm.handler = answer_by_colour({"red": "BMSB"})
    image = solid_image(tmp_path / "x.jpg", (220, 20, 20))
    out = tmp_path / "t.json"
    clip_only = run(tmp_path, stub_llm, "predict", "--vocab", str(EXAMPLE_VOCAB), str(image), "--out", str(out),
                    "--no-mllm")
    assert clip_only.exit_code == 0 and stub_llm.calls == 0
    assert set(json.loads(out.read_text())[0]["meta"]["prelabel"]["stage_scores"]) == {"clip_image", "fused", "final"}
    mllm_only = run(tmp_path, stub_llm, "predict", "--vocab", str(EXAMPLE_VOCAB), str(image), "--out", str(out),
                    "--no-clip")
    assert mllm_only.exit_code == 0
    task = json.loads(out.read_text())[0]
    # The score is the prior's probability for an alias match, as the task's meta says it was found.
    found = Finding.from_dict(task["meta"]["prelabel"]["finding"])
    assert found is not None and found.way == "alias" and task["data"]["image"] == str(image)
    assert task["predictions"][0]["score"] == pytest.approx(prior().probability(found), abs=1e-3)


def test_predict_fits_the_project_s_own_config(tmp_path, stub_llm):
    stub_llm.handler = answer_by_colour({"red": "BMSB", "green": "rice weevil"})
    red, green = solid_image(tmp_path / "r.jpg", (220, 20, 20)), solid_image(tmp_path / "g.jpg", (20, 220, 20))
    config = tmp_path / "config.xml"
    config.write_text('<View><Image name="photo" value="$url"/><Choices name="pest" toName="photo">'
                      '<Choice value="クサギカメムシ" alias="Halyomorpha halys"/><Choice value="Nothing" '
                      'alias="None of these"/></Choices></View>', encoding="utf-8")
    out = tmp_path / "t.json"
    completed = run(tmp_path, stub_llm, "predict", "--vocab", str(EXAMPLE_VOCAB), str(red), str(green),
                    "--out", str(out), "--label-config", str(config))
    assert completed.exit_code == 0, completed.stderr
    by_file = {Path(task["data"]["url"]).name: task["predictions"][0] for task in json.loads(out.read_text())}
    assert by_file["r.jpg"]["result"] == [{"id": "prelabel", "from_name": "pest", "to_name": "photo",
                                           "type": "choices", "value": {"choices": ["Halyomorpha halys"]}}]
    # Sitophilus oryzae has no choice in this config: the none choice, and no evidence (no TextArea for it).
    assert by_file["g.jpg"]["result"][0]["value"] == {"choices": ["None of these"]}
    assert by_file["g.jpg"]["score"] == 0.0
    config.write_text("<View><Image name='i' value='$i'/></View>", encoding="utf-8")
    refused = run(tmp_path, stub_llm, "predict", "--vocab", str(EXAMPLE_VOCAB), str(red), "--out", str(out),
                  "--label-config", str(config))
    assert refused.exit_code == 2 and "--label-config" in refused.stderr
    assert "no <Choices>, <Taxonomy> or <RectangleLabels>" in refused.stderr


def test_predict_bad_arguments_exit_2(tmp_path, stub_llm):
    image = solid_image(tmp_path / "x.jpg", (1, 2, 3))
    out = str(tmp_path / "t.json")
    missing = run(tmp_path, stub_llm, "predict", "--vocab", str(EXAMPLE_VOCAB), str(tmp_path / "nope"), "--out", out)
    assert missing.exit_code == 2 and "no such file or directory" in missing.stderr
    bad_vocab = tmp_path / "bad.yaml"
    bad_vocab.write_text("domain: d\nlabels: {}\n")
    completed = run(tmp_path, stub_llm, "predict", "--vocab", str(bad_vocab), str(image), "--out", out)
    assert completed.exit_code == 2 and "labels: expected a list of labels" in completed.stderr
    bad_model = run(tmp_path, stub_llm, "predict", "--vocab", str(EXAMPLE_VOCAB), str(image), "--out", out,
                    PRELABEL_CLIP_MODEL="No-Such-Model")
    assert bad_model.exit_code == 2 and "No-Such-Model" in bad_model.stderr
    bad_setting = run(tmp_path, stub_llm, "predict", "--vocab", str(EXAMPLE_VOCAB), str(image), "--out", out,
                      PRELABEL_LLM_CONCURRENCY="many")
    assert bad_setting.exit_code == 2 and "PRELABEL_LLM_CONCURRENCY='many': expected int" in bad_setting.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outside = run(tmp_path, stub_llm, "predict", "--vocab", str(EXAMPLE_VOCAB), str(image), "--out", out,
                  "--image-root", str(elsewhere))
    assert outside.exit_code == 2 and "is not under --image-root" in outside.stderr
    no_images = run(tmp_path, stub_llm, "predict", "--out", out)
    assert no_images.exit_code == 2
    assert not Path(out).exists()


def test_unreachable_mllm_fails_every_image_and_the_run_says_where(tmp_path):
    image = solid_image(tmp_path / "x.jpg", (220, 20, 20))
    out = tmp_path / "t.json"
    completed = run(tmp_path, None, "predict", "--vocab", str(EXAMPLE_VOCAB), str(image), "--out", str(out),
                    PRELABEL_LLM_BASE_URL="http://127.0.0.1:9/v1", PRELABEL_LLM_TIMEOUT="2")
    assert completed.exit_code == 1, completed.stderr
    assert "stage errors: {'stage1:connection': 1}" in completed.stderr
    failed = json.loads(out.read_text())[0]["meta"]["prelabel"]
    assert failed["state"] == "failed" and failed["ranking"]  # listed as failed; CLIP's ranking kept as evidence
    assert "failed: " in completed.stderr and "x.jpg" in completed.stderr
    last = completed.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: every image failed (stage1:connection 1)")
    assert "http://127.0.0.1:9/v1" in last and "PRELABEL_LLM_BASE_URL" in last


def test_cached_answers_are_counted_and_a_new_endpoint_asks_again(tmp_path, stub_llm):
    stub_llm.handler = answer_by_colour({"red": "BMSB"})
    image = solid_image(tmp_path / "x.jpg", (220, 20, 20))
    args = ("predict", "--vocab", str(EXAMPLE_VOCAB), str(image), "--out", str(tmp_path / "t.json"), "--no-clip")
    first = run(tmp_path, stub_llm, *args)
    assert first.exit_code == 0, first.stderr
    assert "answered from the MLLM cache" not in first.stderr
    calls = stub_llm.calls
    again = run(tmp_path, stub_llm, *args)
    assert again.exit_code == 0 and stub_llm.calls == calls
    assert "1 of 1 image(s) answered from the MLLM cache" in again.stderr
    # The same model name at another address is another model: its answer is not the cache's, and a dead one
    # fails the run instead of reporting the old answer.
    dead = run(tmp_path, stub_llm, *args, PRELABEL_LLM_BASE_URL="http://127.0.0.1:9/v1", PRELABEL_LLM_TIMEOUT="2")
    assert dead.exit_code == 1 and "every image failed" in dead.stderr, dead.stderr
    assert "answered from the MLLM cache" not in dead.stderr


def test_settings_lists_every_variable():
    completed = invoke("settings")
    for name in ("PRELABEL_LLM_BASE_URL", "PRELABEL_CLIP_MODEL", "REDIS_URL", "LABEL_STUDIO_API_KEY"):
        assert f"{name}=" in completed.stdout
