"""Fault catalogue, Redis: a worker survives Redis going away at any moment and comes back under its name; a
worker restarted under the name of one that was killed is not refused. Real `prelabel worker` processes, the
real Redis behind a loopback TCP proxy (helpers.TcpProxy) that is cut and restored, the real Label Studio, the
stub MLLM."""

from __future__ import annotations

import json
import os
import signal
import time
from urllib.parse import urlsplit

from redis import Redis

from faults.support import version_for
from helpers import (
    EXAMPLE_VOCAB,
    PALETTE,
    TEST_REDIS_URL,
    TcpProxy,
    answer_by_colour,
    image_project,
    start_worker,
    stop_process,
    wait_until,
)
from prelabel.delivery.results import ResultStore
from prelabel.jobs import queues
from prelabel.studio.labelconfig import make_label_config
from prelabel.vocabulary.vocab import load_vocabulary
from prelabel.workers import WorkerRegistry

COLOURS = {name: PALETTE[name] for name in ("red", "green", "blue", "yellow")}
ANSWERS = {"red": "BMSB", "green": "rice weevil", "blue": "maize weevil", "yellow": "codling moth"}


def through(proxy: TcpProxy) -> str:
    """The test Redis URL, reached through the proxy."""
    database = urlsplit(TEST_REDIS_URL).path or "/0"
    return f"redis://127.0.0.1:{proxy.port}{database}"


def environment(label_studio, stub, tmp_path, redis_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
            "REDIS_URL": redis_url, "PRELABEL_LLM_BASE_URL": stub.url, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB),
            "PRELABEL_CLIP_MODEL": "", "PRELABEL_DATA_DIR": str(tmp_path / "var"), "PRELABEL_LLM_RETRIES": "0",
            **extra}


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
    env = environment(label_studio, stub_llm, tmp_path, through(proxy), PRELABEL_LLM_CONCURRENCY="1")
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
    named ..."); once Prelabel's heartbeat for it has lapsed, the name is free again."""
    env = environment(label_studio, stub_llm, tmp_path, TEST_REDIS_URL)
    first = start_worker(env, "phoenix", tmp_path / "first.log", queues=queues.FEEDBACK)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=20)
    registry = WorkerRegistry(Redis.from_url(TEST_REDIS_URL))
    assert redis_conn.exists("rq:worker:phoenix")  # what rq still holds
    wait_until(lambda: not registry.alive("phoenix"), 60, what="the heartbeat to lapse")
    second = start_worker(env, "phoenix", tmp_path / "second.log", queues=queues.FEEDBACK)
    try:
        job = queues.enqueue_feedback(redis_conn, "START_TRAINING", None, [])
        wait_until(lambda: job.get_status(refresh=True) == "finished", 60, what="the restarted worker to take a job")
    finally:
        stop_process(second)
