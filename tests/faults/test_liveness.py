"""Fault catalogue, liveness: nothing is lost when a worker dies, Redis forgets, a response is lost, Label
Studio is away, or every service thread waits. Real Label Studio, Redis, `prelabel serve` and workers; the
stub MLLM; a loopback TCP proxy to cut Label Studio off from a worker."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from redis import Redis
from rq.job import Job

from faults.support import ANSWERS, COLOURS, stub_env
from helpers import (
    EXAMPLE_VOCAB,
    PALETTE,
    TEST_REDIS_URL,
    TcpProxy,
    answer_by_colour,
    image_project,
    invoke,
    start_service,
    start_worker,
    stop_process,
    wait_until,
)
from prelabel.delivery.results import ResultStore
from prelabel.jobs import bursts, queues
from prelabel.parts import Parts
from prelabel.settings import Settings
from prelabel.studio.labelconfig import make_label_config
from prelabel.vocabulary.vocab import load_vocabulary
from prelabel.workers import WorkerRegistry


@pytest.fixture
def redis():
    connection = Redis.from_url(TEST_REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()


def current_version(env: dict[str, str]) -> str:
    return str(Parts(Settings.from_env(env)).in_force.current().model_version)


def predicted(label_studio, task_ids: list[int], version: str) -> bool:
    client = label_studio.client()
    return all(any(p.model_version == version for p in client.predictions.list(task=task_id))
               for task_id in task_ids)


def queue_like_prelabel_run(redis: Redis, project_id: int, task_ids: list[int], version: str) -> list[Job]:
    results = ResultStore(redis)
    results.hand_over(version, task_ids)
    return queues.enqueue_predictions(redis, results, project_id, task_ids, version)


def test_a_killed_workers_job_is_run_by_another_worker(label_studio, stub_llm, redis, tmp_path):
    """SIGKILL mid-job: rq finds the job abandoned once its short heartbeat lapses, and retries it; another
    worker predicts every task. The design bound is PRELABEL_ABANDONED_AFTER, plus the cleanup's period (half of
    it), plus the first retry interval (5 s), plus the work itself: 65 s by default (67 s measured), 27 s with
    the shortest TTL a worker accepts, used here."""
    stub_llm.handler = answer_by_colour(ANSWERS)
    stub_llm.latency = 1.5
    config = make_label_config(load_vocabulary(EXAMPLE_VOCAB))
    project_id, ids = image_project(label_studio, "Killed worker", config, COLOURS, "killed")
    env = stub_env(label_studio, stub_llm, tmp_path, PRELABEL_LLM_CONCURRENCY="1", PRELABEL_ABANDONED_AFTER="15")
    version = current_version(env)
    first = start_worker(env, "doomed", tmp_path / "doomed.log")
    [job] = queue_like_prelabel_run(redis, project_id, list(ids.values()), version)
    wait_until(lambda: job.get_status(refresh=True) == "started" and stub_llm.calls >= 1, 60,
               what="the job to be under way")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=20)
    killed = time.monotonic()
    second = start_worker(env, "survivor", tmp_path / "survivor.log")
    try:
        wait_until(lambda: predicted(label_studio, list(ids.values()), version), 180,
                   what="every task predicted by the surviving worker")
        print(f"every task predicted {time.monotonic() - killed:.0f} s after the kill")
        # The dead worker is no longer counted; the survivor is.
        assert WorkerRegistry(redis).serving() == {name: 1 for name in queues.QUEUES}
    finally:
        stop_process(second)


def test_a_heartbeat_ttl_shorter_than_three_beats_is_refused_in_one_line(tmp_path):
    """A TTL that a busy machine's late beat could outlast would have live jobs taken for abandoned and run
    twice: the worker refuses to start, before it connects to anything."""
    answer = invoke("worker", "--name", "hasty", env={"PRELABEL_ABANDONED_AFTER": "10", "REDIS_URL": TEST_REDIS_URL,
                                                      "PRELABEL_DATA_DIR": str(tmp_path)})
    assert answer.exit_code != 0
    assert answer.stderr.strip().splitlines()[-1].endswith(
        "PRELABEL_ABANDONED_AFTER=10: expected at least 15 seconds (workers beat every 5 s)")


def test_workers_are_counted_again_after_redis_forgets_them(label_studio, stub_llm, redis, tmp_path):
    """Redis restarted empty (here: its database emptied under a live worker): rq's registration is gone, the
    heartbeat is back within seconds, and the worker still takes jobs."""
    env = stub_env(label_studio, stub_llm, tmp_path)
    worker = start_worker(env, "forgotten", tmp_path / "worker.log", queues=queues.FEEDBACK)
    try:
        redis.flushdb()
        wait_until(lambda: WorkerRegistry(redis).serving().get(queues.FEEDBACK) == 1, 30,
                   what="the worker's heartbeat after the flush")
        job = queues.enqueue_feedback(redis, "START_TRAINING", None, [])
        wait_until(lambda: job.get_status(refresh=True) == "finished", 60, what="the worker to take a job")
    finally:
        stop_process(worker)


def test_a_response_nobody_received_is_written_by_the_reconciler(label_studio, stub_llm, redis, tmp_path):
    """Label Studio gave up on /predict (its caller went away) after the service had claimed the answer: the
    ledger makes a worker check Label Studio and write the prediction."""
    stub_llm.handler = answer_by_colour(ANSWERS)
    stub_llm.latency = 2.0
    config = make_label_config(load_vocabulary(EXAMPLE_VOCAB))
    project_id, ids = image_project(label_studio, "Lost response", config, {"red": PALETTE["red"]}, "lost")
    env = stub_env(label_studio, stub_llm, tmp_path, PRELABEL_RECONCILE_AFTER="2", PRELABEL_SYNC_BUDGET="30",
                   PRELABEL_ABANDONED_AFTER="15")
    version = current_version(env)
    service, url = start_service(env, tmp_path / "serve.log")
    worker = start_worker(env, "reconciler", tmp_path / "worker.log")
    try:
        task = label_studio.client().tasks.get(id=ids["red"])
        body = {"tasks": [{"id": task.id, "data": task.data, "project": project_id}], "label_config": config,
                "project": f"{project_id}.1700000000"}
        with pytest.raises(requests.ReadTimeout):
            requests.post(f"{url}/predict", json=body, timeout=0.5)  # the caller gives up at once
        wait_until(lambda: predicted(label_studio, [ids["red"]], version), 90,
                   what="the reconciler to write the lost prediction")
        assert len(list(label_studio.client().predictions.list(task=ids["red"]))) == 1
    finally:
        stop_process(worker)
        stop_process(service)


def test_label_studio_away_for_a_while_leaves_no_gap(label_studio, stub_llm, redis, tmp_path):
    """Label Studio unreachable when the job runs: nothing is stored as done, the job is retried within
    seconds, and once Label Studio is back every task gets its prediction."""
    stub_llm.handler = answer_by_colour(ANSWERS)
    config = make_label_config(load_vocabulary(EXAMPLE_VOCAB))
    project_id, ids = image_project(label_studio, "Away for a while", config, COLOURS, "away")
    proxy = TcpProxy(int(label_studio.url.rsplit(":", 1)[1]))
    env = stub_env(label_studio, stub_llm, tmp_path, LABEL_STUDIO_URL=proxy.url)
    version = current_version(env)
    proxy.cut()
    worker = start_worker(env, "patient", tmp_path / "worker.log")
    try:
        [job] = queue_like_prelabel_run(redis, project_id, list(ids.values()), version)
        wait_until(lambda: job.get_status(refresh=True) == "scheduled", 60, what="the first try to fail")
        assert "Label Studio at http://127.0.0.1" in (tmp_path / "worker.log").read_text()  # why, in its log
        assert all(ResultStore(redis).get(version, task_id, "") is None for task_id in ids.values())
        proxy.restore()
        wait_until(lambda: predicted(label_studio, list(ids.values()), version), 120,
                   what="every task once Label Studio is back")
    finally:
        proxy.cut()
        stop_process(worker)


def tasks_waiting(redis) -> list[int]:
    """The tasks queued interactive requests left for a drain job (a burst of one-task requests shares one)."""
    jobs = queues.queue(redis, queues.INTERACTIVE).jobs
    return [task for job in jobs for task in bursts.waiting(redis, queues.INTERACTIVE, job.kwargs["project_id"],
                                                            job.kwargs["model_version"])]


def test_health_answers_while_every_waiting_request_waits(label_studio, stub_llm, redis, tmp_path):
    """Interactive /predict requests wait up to the budget for workers; however many there are, /health (Label
    Studio gives it one second) is answered while they all still wait."""
    env = stub_env(label_studio, stub_llm, tmp_path, PRELABEL_SYNC_BUDGET="15")
    service, url = start_service(env, tmp_path / "serve.log")
    registry = WorkerRegistry(redis)
    stop = threading.Event()

    def pretend_a_worker() -> None:  # counted as serving, but takes nothing: every interactive request waits
        while not stop.wait(1):
            registry.beat("pretend", list(queues.QUEUES))

    registry.beat("pretend", list(queues.QUEUES))
    threading.Thread(target=pretend_a_worker, daemon=True).start()
    config = make_label_config(load_vocabulary(EXAMPLE_VOCAB))
    try:
        with ThreadPoolExecutor(10) as pool:
            waiting = [pool.submit(requests.post, f"{url}/predict", timeout=60, json={
                "tasks": [{"id": 1000 + n, "data": {"image": f"/data/upload/1/{n}.jpg"}, "project": 1}],
                "label_config": config, "project": "1.1"}) for n in range(10)]
            wait_until(lambda: len(tasks_waiting(redis)) >= 6, 30, what="the requests to be waiting")
            health = requests.get(f"{url}/health", timeout=5)
            still_waiting = sum(not future.done() for future in waiting)
            assert health.status_code == 200 and still_waiting >= 6
            answers = [future.result() for future in waiting]
        assert all(answer.status_code == 200 and answer.json()["results"] == [[]] for answer in answers)
    finally:
        stop.set()
        stop_process(service)
