"""The quick start as a new user runs it: `git clone` (the committed HEAD), `make demo`, `make up IMAGES=...`, then
`make down`, in a clone with its own fresh .venv. The commands run in the background from collection on
(tests/quickstart.py, started by tests/conftest.py); these tests, run last, check what they did."""

from __future__ import annotations

import json

import pytest
from label_studio_sdk import LabelStudio

from quickstart import QUICK_START, QuickStart

pytestmark = pytest.mark.clone


@pytest.fixture(scope="module")
def quick_start(request: pytest.FixtureRequest) -> QuickStart:
    return request.config.stash[QUICK_START]


def test_make_demo_normalises_the_examples_offline(quick_start):
    cloned = quick_start.cloned.result()
    assert cloned.returncode == 0, cloned.stderr
    demo = quick_start.demo.result()
    assert demo.returncode == 0, demo.stderr[-3000:]
    results = [json.loads(line) for line in demo.stdout.splitlines() if line.startswith("{")]
    clone = quick_start.clone
    assert len(results) == len((clone / "examples" / "answers.txt").read_text(encoding="utf-8").splitlines())
    assert any(result["label"] for result in results)
    assert "make up IMAGES=DIR" in demo.stderr
    assert not (clone / ".venv" / ".installed-clip").exists()  # the core only


def test_make_up_pre_labels_the_example_images(quick_start):
    clone = quick_start.clone
    try:
        up = quick_start.up.result()
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-3000:]
        assert not (clone / ".venv" / ".installed-clip").exists()  # CLIP off: no torch
        directory = clone / "var" / "up"
        state = json.loads((directory / "state.json").read_text())
        studio = LabelStudio(base_url=f"http://127.0.0.1:{state['processes']['label-studio']['port']}",
                             api_key=(directory / "label-studio-token").read_text().strip())
        [project] = list(studio.projects.list())
        tasks = list(studio.tasks.list(project=project.id))
        assert len(tasks) == len(list((clone / "examples" / "images").glob("*.jpg")))
        versions = [p.model_version for p in studio.predictions.list(project=project.id)]
        assert versions == [project.model_version] * len(tasks)
    finally:
        down = quick_start.down()
    assert down.returncode == 0 and "4 process(es) stopped" in down.stderr, down.stderr
