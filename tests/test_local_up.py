"""`prelabel up` and `prelabel down` as a user runs them: real processes (its own Redis, Label Studio 1.23.2 from
.venvs-ls, `prelabel serve`, a worker) on free ports, a fresh up directory, the stub MLLM and the tiny CLIP.

The tests share one deployment, in file order: up pre-labels every task, a second up changes nothing, down
leaves no process behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio
from redis import Redis
from redis.exceptions import AuthenticationError

from helpers import (
    DEFECTS_VOCAB,
    EXAMPLE_VOCAB,
    ROOT,
    TINY_CLIP_CONFIG,
    invoke,
    open_to_others,
    predicted_label,
    solid_image,
)
from prelabel.local import processes
from prelabel.local.processes import Started
from stub_llm import StubLLM

BIN = Path(sys.executable).parent
COLOURS = {"red": (220, 20, 20), "green": (20, 220, 20), "blue": (20, 20, 220), "yellow": (220, 220, 20)}
ANSWER = json.dumps({"description": "A brown shield-shaped bug on a leaf.",
                     "classification": "brown marmorated stink bug", "candidates": ["stink bug"]})


@pytest.fixture(scope="module")
def stub():
    with StubLLM(lambda body: ANSWER) as server:
        yield server


@pytest.fixture(scope="module")
def deployment(stub, tmp_path_factory):
    """The environment and folders of one `up`; `down` at the end whatever happened."""
    base = tmp_path_factory.mktemp("up")
    photos = base / "site" / "photos"  # Label Studio serves the photos' parent: keep it small
    for name, colour in COLOURS.items():
        solid_image(photos / f"{name}.jpg", colour)
    env = {**os.environ, "PRELABEL_LLM_BASE_URL": stub.url, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB),
           "PRELABEL_CLIP_MODEL": str(TINY_CLIP_CONFIG), "PRELABEL_CLIP_PRETRAINED": "", "PRELABEL_DEVICE": "cpu",
           "PRELABEL_DATA_DIR": str(base / "var"), "PRELABEL_LABEL_STUDIO_VENV": str(ROOT / ".venvs-ls"),
           "HF_HUB_OFFLINE": "1"}
    redis_port = processes.free_port(0)
    command = [str(BIN / "prelabel"), "up", "--images", str(photos), "--dir", str(base / "up"),
               "--label-studio-port", "0", "--backend-port", "0", "--redis-port", str(redis_port)]
    yield {"env": env, "up": command, "dir": base / "up", "photos": photos, "redis_port": redis_port}
    subprocess.run([str(BIN / "prelabel"), "down", "--dir", str(base / "up")], env=env, timeout=120,
                   capture_output=True)


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)


def recorded(directory: Path) -> dict[str, Started]:
    data = json.loads((directory / "state.json").read_text())
    return {name: Started.from_dict(p) for name, p in data["processes"].items()}


def client(directory: Path) -> LabelStudio:
    studio = recorded(directory)["label-studio"]
    return LabelStudio(base_url=f"http://127.0.0.1:{studio.port}",
                       api_key=(directory / "label-studio-token").read_text().strip())


def project_state(directory: Path, project_id: int | None = None) -> dict:
    ls = client(directory)
    [project] = [p for p in ls.projects.list() if project_id in (None, p.id)]
    tasks = list(ls.tasks.list(project=project.id, fields="all"))
    return {"project": (project.id, project.title, project.model_version),
            "tasks": sorted((task.id, task.data["image"]) for task in tasks),
            "predictions": sorted((p.id, p.task, p.model_version) for p in ls.predictions.list(project=project.id)),
            "backends": [(b.id, b.url) for b in ls.ml.list(project=project.id)],
            "storages": [(s.id, s.path) for s in ls.import_storage.local.list(project=project.id)]}


def test_up_pre_labels_every_photo(deployment):
    # Two at once on a fresh directory, as a double click or two terminals do: one waits for the other, and
    # finds everything up (two Label Studio first starts on one database would race each other's migrations).
    both = [subprocess.Popen(deployment["up"], env=deployment["env"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True) for _ in range(2)]
    ended = [subprocess.CompletedProcess(p.args, p.returncode, *p.communicate(timeout=900)) for p in both]
    assert [p.returncode for p in both] == [0, 0], [e.stderr[-2000:] for e in ended]
    waited = [e for e in ended if "is at work on" in e.stderr and "waiting for it to finish" in e.stderr]
    [first] = [e for e in ended if e not in waited]
    [second] = waited
    assert "Everything was already up: nothing changed." in second.stderr
    directory = deployment["dir"]
    state = project_state(directory)
    (project_id, title, model_version), tasks = state["project"], state["tasks"]
    assert title == "Prelabel photos" and model_version.startswith("prelabel-")
    assert sorted(image.rsplit("/", 1)[-1] for _, image in tasks) == sorted(f"{name}.jpg" for name in COLOURS)
    ls = client(directory)
    for task_id, _ in tasks:
        [prediction] = list(ls.predictions.list(task=task_id))
        assert prediction.model_version == model_version
        assert predicted_label(prediction) == "Halyomorpha halys"
    # What runs where, and the login: where the password is kept, never the password itself.
    password_file = directory / "label-studio-password"
    assert f"/projects/{project_id}" in first.stderr and f"password in {password_file}" in first.stderr
    for secret in ("label-studio-password", "label-studio-token", "backend-password", "redis-password"):
        path = directory / secret
        assert path.stat().st_mode & 0o777 == 0o600, secret
        value = path.read_text().strip()
        assert value not in first.stdout + first.stderr, f"{secret} printed"
        assert not any(value in log.read_text(errors="replace") for log in (directory / "logs").iterdir()), secret
    assert set(recorded(directory)) == {"redis", "label-studio", "backend", "worker"}
    # Its own Redis on a port of its own, never the one on 6379, that answers nothing without its password.
    redis_port = recorded(directory)["redis"].port
    assert redis_port == deployment["redis_port"] != 6379  # the port asked for (--redis-port)
    with pytest.raises(AuthenticationError):
        Redis(port=redis_port).keys("*")
    assert Redis(port=redis_port, password=(directory / "redis-password").read_text().strip()).ping()
    # Label Studio's database (the token, the backend's password in clear) and everything else under the up
    # directory: its owner's alone.
    assert (directory / "label-studio" / "label_studio.sqlite3").exists()
    assert open_to_others(directory) == []


def test_a_second_up_changes_nothing(deployment):
    directory = deployment["dir"]
    before, processes_before = project_state(directory), recorded(directory)
    second = run(deployment["up"], deployment["env"])
    assert second.returncode == 0, second.stderr
    assert "Everything was already up: nothing changed." in second.stderr
    assert recorded(directory) == processes_before
    assert project_state(directory) == before


def test_a_second_vocabulary_gets_its_own_backend_and_leaves_the_first_project_alone(deployment):
    """Issue 21: a second `up --vocab <another>` rewired the first project to the other vocabulary."""
    import requests

    directory = deployment["dir"]
    [first] = client(directory).projects.list()
    before, processes_before = project_state(directory, first.id), recorded(directory)
    photos = deployment["photos"].parent / "castings"  # below the folder Label Studio serves
    for name in ("grey", "white"):
        solid_image(photos / f"{name}.jpg", (128, 128, 128) if name == "grey" else (250, 250, 250))
    env = {**deployment["env"], "PRELABEL_VOCAB": str(DEFECTS_VOCAB)}
    command = [str(BIN / "prelabel"), "up", "--images", str(photos), "--dir", str(directory),
               "--label-studio-port", "0", "--backend-port", "0"]
    second = run(command, env)
    assert second.returncode == 0, second.stderr
    now = recorded(directory)
    assert {name: now[name] for name in processes_before} == processes_before  # nothing of the first restarted
    assert set(now) - set(processes_before) == {"backend-1", "worker-1"}
    assert project_state(directory, first.id) == before  # same config, backend, model_version, predictions
    [other] = [p for p in client(directory).projects.list() if p.id != first.id]
    theirs = project_state(directory, other.id)
    assert theirs["backends"][0][1] == f"http://127.0.0.1:{now['backend-1'].port}"
    assert theirs["project"][2] not in (None, "", before["project"][2])
    assert len(theirs["predictions"]) == 2 and {p[2] for p in theirs["predictions"]} == {theirs["project"][2]}
    # The first backend refuses the other vocabulary's project, in one line, whoever asks.
    auth = ("prelabel", (directory / "backend-password").read_text().strip())
    refused = requests.post(f"http://127.0.0.1:{now['backend'].port}/predict", auth=auth, timeout=30, json={
        "tasks": [{"id": 1, "data": {"image": "x.jpg"}}], "project": f"{other.id}.1",
        "label_config": client(directory).projects.get(id=other.id).label_config})
    assert refused.status_code == 400 and "the project belongs to another vocabulary" in refused.text
    # A project keeps its vocabulary: the first photos cannot be moved to the second one.
    moved = run(deployment["up"], env)
    assert moved.returncode == 2 and "a project keeps its vocabulary" in moved.stderr
    assert project_state(directory, first.id) == before


def test_down_leaves_no_process_behind(deployment):
    directory = deployment["dir"]
    started = recorded(directory)
    assert all(processes.members(p) for p in started.values())
    stopped = run([str(BIN / "prelabel"), "down", "--dir", str(directory)], deployment["env"])
    assert stopped.returncode == 0, stopped.stderr
    assert f"{len(started)} process(es) stopped" in stopped.stderr and len(started) == 6
    assert {name: processes.members(p) for name, p in started.items()} == {name: [] for name in started}
    assert recorded(directory) == {}
    again = run([str(BIN / "prelabel"), "down", "--dir", str(directory)], deployment["env"])
    assert again.returncode == 0 and "nothing was running" in again.stderr


# ---- before anything starts ----------------------------------------------------------------------------------


def test_up_without_clip_installed_says_what_to_install_and_starts_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "open_clip", None)
    photos = tmp_path / "site" / "photos"
    solid_image(photos / "a.jpg", (220, 20, 20))
    result = invoke("up", "--images", str(photos), "--dir", str(tmp_path / "up"),
                    env={"PRELABEL_LLM_BASE_URL": "", "PRELABEL_CLIP_MODEL": str(TINY_CLIP_CONFIG),
                         "PRELABEL_DATA_DIR": str(tmp_path / "var")})
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("no MLLM: PRELABEL_LLM_BASE_URL is empty, so CLIP alone ranks the labels")
    assert "pip install 'prelabel[clip]'" in lines[-1] and lines[-1].startswith("Error:")
    assert not (tmp_path / "up" / "state.json").exists()


def test_up_says_what_to_set_when_the_clip_weights_cannot_be_downloaded(stub, tmp_path):
    """No network to the model hub (HF_HUB_OFFLINE): the worker stops, and `up` repeats its one line."""
    photos = tmp_path / "site" / "photos"
    solid_image(photos / "a.jpg", (220, 20, 20))
    env = {**os.environ, "PRELABEL_LLM_BASE_URL": stub.url, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB),
           "PRELABEL_CLIP_MODEL": "hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "PRELABEL_DEVICE": "cpu",
           "PRELABEL_DATA_DIR": str(tmp_path / "var"), "PRELABEL_LABEL_STUDIO_VENV": str(ROOT / ".venvs-ls"),
           "HF_HUB_OFFLINE": "1"}
    directory = tmp_path / "up"
    try:
        result = run([str(BIN / "prelabel"), "up", "--images", str(photos), "--dir", str(directory),
                      "--label-studio-port", "0", "--backend-port", "0"], env)
    finally:
        stopped = run([str(BIN / "prelabel"), "down", "--dir", str(directory)], env)
    assert result.returncode == 1, result.stderr
    assert "prelabel worker stopped: cannot load open_clip model" in result.stderr
    assert "set PRELABEL_CLIP_MODEL and PRELABEL_CLIP_PRETRAINED to a local model and checkpoint" in result.stderr
    assert f"prelabel down --dir {directory}" in result.stderr
    assert stopped.returncode == 0 and recorded(directory) == {}


def test_up_needs_photos(tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke("up", "--images", str(tmp_path / "empty"), "--dir", str(tmp_path / "up"))
    assert result.exit_code == 2 and "no photos there" in result.stderr


@pytest.mark.skipif(not processes.PROC.is_dir(), reason="process identity needs /proc")
def test_down_stops_only_what_up_started(tmp_path):
    """A recorded pid that now belongs to another process (another start time) is never signalled."""
    sleeper = processes.start("sleeper", [sys.executable, "-c", "import time; time.sleep(120)"], dict(os.environ),
                              tmp_path / "sleeper.log")
    try:
        impostor = Started("sleeper", sleeper.pid, sleeper.start_time - 1, sleeper.command, sleeper.log)
        assert not processes.alive(impostor)
        assert processes.stop(impostor) == []
        assert processes.alive(sleeper)
    finally:
        assert processes.stop(sleeper) == [sleeper.pid]
    assert not processes.alive(sleeper) and processes.members(sleeper) == []
