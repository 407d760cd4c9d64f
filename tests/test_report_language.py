"""The PoC report in the project's language (issues 20 and 21): a project whose labeling config shows Japanese
names (plugin/*.ja.labeling-config.xml) gets its headings, cards and section introductions in Japanese and its
labels named as its reviewers saw them; the same reviews under the English config, in English. Both pages are
screenshotted in headless Chromium (tests/artifacts/report-language/)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import ROOT, english_left, screenshot
from prelabel.cli import main
from prelabel.pipeline.calibration import PRIOR_NOTE

ARTIFACTS = ROOT / "tests" / "artifacts" / "report-language"
BMSB, NEZARA = "Halyomorpha halys", "Nezara viridula"
VERSION = "prelabel-aaaa1111-bbbb2222"
# (pre-label, the reviewer's label) of each task
REVIEWS = [(BMSB, BMSB), (BMSB, BMSB), (BMSB, NEZARA), (NEZARA, NEZARA)]


def taxonomy(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "image", "type": "taxonomy", "value": {"taxonomy": [[label]]}}]


def reviewed_project(client, config: Path) -> int:
    project = client.projects.create(title=f"Report, {config.name[:30]}", label_config=config.read_text("utf-8"))
    client.projects.import_tasks(id=project.id, request=[{
        "data": {"image": f"/data/upload/{number}.jpg"},
        "predictions": [{"model_version": VERSION, "score": 0.9, "result": taxonomy(predicted)}],
        "meta": {"prelabel": {"model_version": VERSION, "state": "label", "label": predicted, "score": 0.9,
                              "scored_by": "prior"}},
        "annotations": [{"result": taxonomy(truth), "lead_time": 5.0}]}
        for number, (predicted, truth) in enumerate(REVIEWS)])
    return project.id


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_report_speaks_the_project_s_language(label_studio, tmp_path, language):
    config = ROOT / "plugin" / f"plant-quarantine-pests{'.ja' if language == 'ja' else ''}.labeling-config.xml"
    project_id = reviewed_project(label_studio.client(), config)
    env = {"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
           "PRELABEL_VOCAB": str(ROOT / "vocab" / "plant-quarantine-pests.yaml"), "PRELABEL_CLIP_MODEL": "",
           "PRELABEL_DATA_DIR": str(tmp_path / "var")}
    out = tmp_path / "report"
    done = CliRunner().invoke(main, ["report", "--project", str(project_id), "--out", str(out)], env=env)
    assert done.exit_code == 0, done.output
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["language"] == language and metrics["accuracy"]["top1"]["value"] == 0.75
    page = html.unescape((out / "report.html").read_text(encoding="utf-8"))
    if language == "ja":
        assert '<html lang="ja">' in page and "<h2>正解率</h2>" in page and "<h2>ラベル別</h2>" in page
        # Labels as the reviewers read them: the config's choice, the vocabulary label beside it.
        assert metrics["shown"][BMSB] == "クサギカメムシ"
        assert f"クサギカメムシ ({BMSB})" in page and f"ミナミアオカメムシ ({NEZARA})" in page
        assert "<h2>Accuracy</h2>" not in page
        # Every sentence in Japanese too, not only the headings: no English word but labels and names.
        text = re.sub(r"<style>.*?</style>|<head>.*?</head>|<code>.*?</code>|<[^>]+>", " ", page, flags=re.S)
        assert english_left(text, [*metrics["shown"], VERSION, "UTC", "Wilson", "Kish"]) == [], text
    else:
        assert '<html lang="en">' in page and "<h2>Accuracy</h2>" in page and metrics["shown"] == {}
        assert "クサギカメムシ" not in page
    assert page.count(PRIOR_NOTE[language]) == 2  # the prior made the scores: said in the reviewers' language
    shot = screenshot(out / "report.html", ARTIFACTS / f"report-{language}.png")
    print(f"\nreport screenshot ({language}): {ARTIFACTS / f'report-{language}.png'}")
    assert shot.shape[0] > 1500 and (shot < 100).any(axis=2).sum() > 20_000  # a long page of dark text
    if language == "ja":  # the headings drawn differently from the English page's
        english = ARTIFACTS / "report-en.png"
        if english.exists():
            from PIL import Image

            other = np.asarray(Image.open(english).convert("RGB"))
            top = min(200, shot.shape[0], other.shape[0])
            assert (shot[:top] != other[:top]).any()
