"""The local stack (`prelabel up`) as safe as a deployment: files its owner's alone, a Redis nobody else can push a
job onto, and local files read from disk only inside the task's project's storages.

`up` as a whole runs in tests/test_local_up.py (one real deployment, whose files and Redis are checked there too);
here each part runs alone, against the real redis-server, the real Label Studio and a real worker.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import AuthenticationError, ResponseError
from rq import Queue

from faults.support import CONFIG, always, base_env, import_values, predicted_by_a_worker
from helpers import image_project, open_to_others, solid_image, wait_until
from prelabel.local import processes, services
from prelabel.local.state import State
from stub_llm import StubLLM, request_images


def test_up_redis_has_a_password_and_no_other_process_can_push_a_job(tmp_path):
    """RQ keeps jobs pickled: a job pushed onto a queue runs its payload as the worker. `up`'s Redis answers
    nothing without the password (no push, no read), listens on loopback only, and its password is on no command
    line (any local user reads /proc/<pid>/cmdline) and in no file others can read."""
    state = State.load(tmp_path / "up")
    password = state.redis_password
    started = services.launch_redis(state.directory / "redis", processes.free_port(), password, os.environ.copy(),
                                    state.logs / "redis.log")
    try:
        ours = Redis(port=started.port, password=password)
        services.wait_redis(started, ours)
        stranger = Redis(port=started.port)
        with pytest.raises((AuthenticationError, ResponseError), match=r"(?i)auth"):
            Queue("prelabel-feedback", connection=stranger).enqueue("os.system", "touch /tmp/pwned")
        with pytest.raises((AuthenticationError, ResponseError), match=r"(?i)auth"):
            stranger.keys("*")
        assert ours.keys("*") == []  # nothing was queued
        assert ours.config_get("bind")["bind"] == "127.0.0.1"
        assert password not in Path(f"/proc/{started.pid}/cmdline").read_text()
        assert open_to_others(state.directory) == []
    finally:
        processes.stop(started)


def test_processes_of_up_make_files_only_their_owner_reads_and_older_ones_are_closed(tmp_path):
    """Label Studio's database holds the API token and the backend's password in clear: every process `up` starts
    runs under umask 077, whatever the caller's umask; what an earlier `up` left readable is closed on the next."""
    state = State.load(tmp_path / "up")
    state.secret("backend-password")
    data = state.directory / "label-studio"
    previous = os.umask(0o022)
    try:
        # What an earlier version left: the database 0644 in 0755 folders.
        data.mkdir()
        (data / "label_studio.sqlite3").write_text("token")
        child = processes.start("maker", ["sh", "-c", "mkdir made && echo secret > made/db && echo x > top"],
                                os.environ.copy(), state.logs / "maker.log", cwd=state.directory)
    finally:
        os.umask(previous)
    wait_until(lambda: not processes.members(child), 30, what="the shell to finish")  # it exits by itself
    made = [state.directory / "made", state.directory / "made" / "db", state.directory / "top",
            state.logs / "maker.log"]
    assert {path.name: oct(path.stat().st_mode & 0o777) for path in made} == {
        "made": "0o700", "db": "0o600", "top": "0o600", "maker.log": "0o600"}
    assert sorted(path.name for path in state.lock_down()) == ["label-studio", "label_studio.sqlite3"]
    assert open_to_others(state.directory) == []


def test_a_worker_reads_no_local_file_outside_the_tasks_project_storage(label_studio, tmp_path):
    """A task naming a private photo that lies under Label Studio's document root but in no storage of its project
    (Label Studio answers 404 for it) is not read from disk nor sent to the MLLM; its failure says exactly what a
    task naming no file at all says, so nobody learns what exists there. The project's own photo is labelled."""
    project_id, ids = image_project(label_studio, "Local storage only", CONFIG, {"leaf": (200, 30, 30)},
                                    "stack-storage")
    private = label_studio.files_root / "stack-private"
    solid_image(private / "secret.jpg", (30, 200, 30))
    outside = {name: f"/data/local-files/?d=stack-private/{name}.jpg" for name in ("secret", "missing")}
    found = import_values(label_studio, project_id, list(outside.values()))
    ids |= {name: found[value] for name, value in outside.items()}
    with StubLLM(always("BMSB")) as stub:
        env = base_env(label_studio, tmp_path / "var", PRELABEL_LLM_BASE_URL=stub.url,
                       PRELABEL_LOCAL_FILES_ROOT=str(label_studio.files_root))
        outcome = predicted_by_a_worker(label_studio, project_id, env, tmp_path / "worker.log", "local-storage")
        sent = [image for body in stub.requests for image in request_images(body)]
    assert outcome["labelled"] == 1 and set(outcome["failed"]) == {ids["secret"], ids["missing"]}, outcome
    assert len(sent) == 1  # the leaf alone reached the MLLM
    secret, missing = outcome["failed"][ids["secret"]], outcome["failed"][ids["missing"]]
    assert secret.replace("secret", "NAME") == missing.replace("missing", "NAME"), (secret, missing)
    assert "404" in secret
