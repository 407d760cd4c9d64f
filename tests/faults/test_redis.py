"""Fault catalogue, Redis: a worker survives Redis going away at any moment and comes back under its name; a
worker restarted under the name of one that was killed is not refused. Real `prelabel worker` processes, the
real Redis behind a loopback TCP proxy (helpers.TcpProxy) that is cut and restored, the real Label Studio, the
stub MLLM."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from urllib.parse import urlsplit

from redis import Redis

from faults.support import ANSWERS, COLOURS, import_values, new_project, stub_env, version_for
from helpers import (
    BIN,
    EXAMPLE_VOCAB,
    TEST_REDIS_URL,
    TcpProxy,
    answer_by_colour,
    image_project,
    invoke,
    start_process,
    start_worker,
    stop_process,
    wait_until,
)
from prelabel.delivery.results import ResultStore
from prelabel.jobs import queues
from prelabel.studio.labelconfig import make_label_config
from prelabel.vocabulary.vocab import load_vocabulary
from prelabel.workers import WorkerRegistry


def through(proxy: TcpProxy) -> str:
    """The test Redis URL, reached through the proxy."""
    database = urlsplit(TEST_REDIS_URL).path or "/0"
    return f"redis://127.0.0.1:{proxy.port}{database}"


def predicted(label_studio, task_ids: list[int], version: str) -> bool:
    client = label_studio.client()
    return all([p.model_version for p in client.predictions.list(task=task_id)] == [version] for task_id in task_ids)


def last_beat(redis: Redis, name: str) -> float:
    raw = redis.hget("prelabel:workers", name)
    return json.loads(raw)["seen"] if raw else 0.0


def test_a_worker_survives_redis_going_away_as_a_job_ends(label_studio, stub_llm, redis_conn, tmp_path):
    """Redis cut while idle, then again as a job ends (the last image answered, its result about to be kept):
    the worker does not quit (rq's loop did: "found an unhandled exception, quitting"); it waits for Redis with
    backoff, comes back under its name in the heartbeat /health counts, and the job is retried to the end:
    every task has exactly one prediction."""
    stub_llm.handler = answer_by_colour(ANSWERS)
    stub_llm.latency = 1.0
    config = make_label_config(load_vocabulary(EXAMPLE_VOCAB))
    project_id, ids = image_project(label_studio, "Redis away", config, COLOURS, "redis-away")
    proxy = TcpProxy(urlsplit(TEST_REDIS_URL).port or 6379)
    env = stub_env(label_studio, stub_llm, tmp_path, through(proxy), PRELABEL_LLM_CONCURRENCY="1")
    version = version_for({**env, "REDIS_URL": TEST_REDIS_URL})
    worker = start_worker(env, "outlasting", tmp_path / "worker.log", queues=queues.PREDICT)
    registry = WorkerRegistry(redis_conn)
    try:
        log = tmp_path / "worker.log"
        proxy.cut()  # idle: the worker waits on its queue
        wait_until(lambda: "could not connect to Redis" in log.read_text() or "Redis went away" in log.read_text(),
                   60, what="the worker to notice")
        proxy.restore()
        restored = time.time()
        wait_until(lambda: last_beat(redis_conn, "outlasting") > restored, 30, what="the worker to beat again")
        results = ResultStore(redis_conn)
        task_ids = list(ids.values())
        results.hand_over(version, task_ids)
        queues.enqueue_predictions(redis_conn, results, project_id, task_ids, version)
        wait_until(lambda: stub_llm.calls >= len(task_ids), 120, what="the last image to be asked about")
        noticed = log.read_text().count("Redis went away")
        proxy.cut()  # as the job ends
        cut = time.monotonic()
        wait_until(lambda: log.read_text().count("Redis went away") > noticed, 30, what="the worker to notice")
        proxy.restore()
        wait_until(lambda: predicted(label_studio, task_ids, version), 180, what="every task predicted")
        print(f"every task predicted {time.monotonic() - cut:.0f} s after the cut")
        assert worker.poll() is None, log.read_text()[-3000:]
        assert registry.serving() == {queues.PREDICT: 1}
        assert "Redis is back: the worker goes on" in log.read_text()
    finally:
        proxy.cut()
        stop_process(worker)


def test_a_worker_restarted_under_a_killed_ones_name_is_not_refused(label_studio, stub_llm, redis_conn, tmp_path):
    """rq keeps a killed worker's registration for minutes and refused its name ("There exists an active worker
    named ..." for 488 s); its process on this host being gone, the name is free again at once."""
    env = stub_env(label_studio, stub_llm, tmp_path, TEST_REDIS_URL)
    first = start_worker(env, "phoenix", tmp_path / "first.log", queues=queues.FEEDBACK)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=20)
    registry = WorkerRegistry(Redis.from_url(TEST_REDIS_URL))
    assert redis_conn.exists("rq:worker:phoenix") and registry.alive("phoenix")  # what rq still holds
    second = start_worker(env, "phoenix", tmp_path / "second.log", queues=queues.FEEDBACK)
    try:
        job = queues.enqueue_feedback(redis_conn, "START_TRAINING", None, [])
        wait_until(lambda: job.get_status(refresh=True) == "finished", 60, what="the restarted worker to take a job")
    finally:
        stop_process(second)


def test_a_run_whose_redis_restarted_empty_ends_in_one_line(label_studio, redis_conn, tmp_path):
    """Redis restarted without its data while `prelabel run` follows its jobs: not a traceback but one line, with
    the command that finishes the work."""
    project_id = new_project(label_studio, "Redis forgot")
    import_values(label_studio, project_id, [f"https://photos.example/forgot/{n}.jpg" for n in range(3)])
    env = {"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
           "REDIS_URL": TEST_REDIS_URL, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_CLIP_MODEL": "",
           "PRELABEL_DATA_DIR": str(tmp_path / "var")}
    queue = queues.queue(redis_conn, queues.PREDICT)

    def forget_once_queued() -> None:  # no worker runs: the run follows its queued job until Redis forgets it
        wait_until(lambda: len(queue) > 0, 120, what="the run's job")
        redis_conn.flushdb()

    forgetting = threading.Thread(target=forget_once_queued, daemon=True)
    forgetting.start()
    done = invoke("run", "--project", str(project_id), "--all", "--no-check", env=env)
    forgetting.join(timeout=10)
    assert done.exit_code == 1, done.output
    [error] = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert "Redis lost this run's jobs" in error and f"`prelabel run --project {project_id} --all`" in error
    assert "Traceback" not in done.output


def test_a_supervised_worker_that_dies_comes_back(label_studio, stub_llm, redis_conn, tmp_path):
    """`prelabel up` runs its worker with --supervise: a worker that dies (here SIGKILL, as the OOM killer does)
    is started again under its name and takes jobs; stopping the supervisor stops it for good."""
    env = stub_env(label_studio, stub_llm, tmp_path, TEST_REDIS_URL)
    log = tmp_path / "worker.log"
    supervisor = start_process([str(BIN / "prelabel"), "worker", "--supervise", "--queues", queues.FEEDBACK,
                                "--name", "lazarus"], env, log)
    try:
        wait_until(lambda: registered_pid(redis_conn, "lazarus"), 120, what="the worker to register")
        first = registered_pid(redis_conn, "lazarus")
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: registered_pid(redis_conn, "lazarus") not in (None, first), 120,
                   what="the worker to be started again")
        assert supervisor.poll() is None and "killed by signal 9" in log.read_text()
        job = queues.enqueue_feedback(redis_conn, "START_TRAINING", None, [])
        wait_until(lambda: job.get_status(refresh=True) == "finished", 60, what="the new worker to take a job")
    finally:
        stop_process(supervisor)
    assert supervisor.returncode is not None


def registered_pid(redis: Redis, name: str) -> int | None:
    """The pid rq registered for the worker of this name, while it lives."""
    from rq import Worker

    found = [worker for worker in Worker.all(connection=redis) if worker.name == name]
    return found[0].pid if found and found[0].death_date is None else None
