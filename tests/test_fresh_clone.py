"""The quick start as a new user runs it: `git clone` (the committed HEAD), `make demo`, `make up IMAGES=...`, then
`make down`, in a clone with its own fresh .venv.

What it may reuse from this machine, as a user may: Label Studio's venv (PRELABEL_LABEL_STUDIO_VENV pointing at
.venvs-ls, which `make test` installs). The MLLM is the stub; CLIP is off (PRELABEL_CLIP_MODEL empty), so the
clone installs the core only: installing the `clip` extra (torch) costs minutes and gigabytes per run, and CLIP
under `prelabel up` is covered by test_local_up.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from label_studio_sdk import LabelStudio

from helpers import ROOT
from stub_llm import StubLLM

pytestmark = pytest.mark.clone

ANSWER = json.dumps({"description": "A brown shield-shaped bug on a leaf.",
                     "classification": "Halyomorpha halys", "candidates": []})
# The caller's make, venv and Python path, and the test run's data folder (tests/conftest.py), must not leak into
# the new user's shell: the clone keeps its data in its own var/, as a new user's would.
LEAKS = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PRELABEL_DATA_DIR")


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    path = tmp_path_factory.mktemp("fresh") / "prelabel"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(path)], check=True, timeout=120)
    yield path
    shutil.rmtree(path, ignore_errors=True)  # its .venv is hundreds of MB


@pytest.fixture(scope="module")
def env():
    with StubLLM(lambda body: ANSWER) as stub:
        environ = {name: value for name, value in os.environ.items() if name not in LEAKS}
        yield {**environ, "PRELABEL_LLM_BASE_URL": stub.url, "PRELABEL_CLIP_MODEL": "",
               "PRELABEL_LABEL_STUDIO_VENV": str(ROOT / ".venvs-ls"), "HF_HUB_OFFLINE": "1"}


def make(clone, env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", *args], cwd=clone, env=env, capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)


def test_make_demo_normalises_the_examples_offline(clone, env):
    demo = make(clone, env, "demo")
    assert demo.returncode == 0, demo.stderr[-3000:]
    results = [json.loads(line) for line in demo.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len((clone / "examples" / "answers.txt").read_text(encoding="utf-8").splitlines())
    assert any(result["label"] for result in results)
    assert "make up IMAGES=DIR" in demo.stderr
    assert not (clone / ".venv" / ".installed-clip").exists()  # the core only


def test_make_up_pre_labels_the_example_images(clone, env):
    try:
        up = make(clone, env, "up", "IMAGES=examples/images")
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
        down = make(clone, env, "down")
    assert down.returncode == 0 and "4 process(es) stopped" in down.stderr, down.stderr
