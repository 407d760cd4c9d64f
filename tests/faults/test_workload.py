"""Fault catalogue, slow work: a job's deadline, so that slow images (a dripping download, an MLLM that does not
answer) cost only their own tasks and never hold a job past it; the interactive queue's own worker slot, so a
reviewer's retrieve keeps its time while bulk and feedback work fill the worker. Real workers and service, the
real Label Studio and Redis, a real HTTP server dripping its bytes (listener.py), the stand-in MLLM over real
HTTP."""

from __future__ import annotations

import io
import threading
import time

import requests
from PIL import Image
from redis import Redis

from faults.listener import Listener
from faults.support import (
    CONFIG,
    WorkerProcess,
    always,
    base_env,
    finished,
    import_values,
    new_project,
    queue_project,
    upload,
    version_for,
)
from helpers import TEST_REDIS_URL, image_project, start_service, start_worker, stop_process, wait_until
from prelabel.delivery.results import ResultStore
from prelabel.jobs import queues
from stub_llm import StubLLM, request_images

DEADLINE = 6  # seconds: PRELABEL_JOB_DEADLINE for these jobs
DRIP = 0.7  # seconds between the bytes a dripping server sends: its ~70-byte PNG takes ~50 s


RED, BLUE = (220, 20, 20), (20, 20, 220)


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_slow_images_cost_only_their_own_tasks_and_the_job_ends_by_its_deadline(label_studio, tmp_path):
    """Two ordinary photos, one the MLLM never answers for, four a server drips a byte every 0.7 s (more than the
    two download slots): each slow one fails its own task by PRELABEL_JOB_DEADLINE, saying so; the ordinary two
    are labelled and written; the job finishes (not fails) within seconds of the deadline. Without the deadline
    the drips alone held it ~100 s (two rounds of ~50 s; 16 drips held one 240 s, issue 25)."""
    project_id = new_project(label_studio, "Slow images")
    upload(label_studio, project_id, {"red-1.png": png((220, 20, 20)), "red-2.png": png((220, 20, 20)),
                                      "blue.png": png((20, 20, 220))})
    release = threading.Event()
    with Listener() as dripping, StubLLM(silent_for_blue(release)) as stub:
        drips = [f"{dripping.origin}/slow-{n}.png" for n in range(4)]
        for url in drips:
            dripping.route(url.removeprefix(dripping.origin), body=png((220, 20, 20)), drip=DRIP,
                           headers={"Content-Type": "image/png"})
        ids = import_values(label_studio, project_id, drips)
        env = base_env(label_studio, tmp_path / "var", PRELABEL_LLM_BASE_URL=stub.url, PRELABEL_LLM_RETRIES="0",
                       PRELABEL_LLM_TIMEOUT="120", PRELABEL_IMAGE_TIMEOUT="120", PRELABEL_FETCH_CONCURRENCY="2",
                       PRELABEL_IMAGE_HOSTS=f"127.0.0.1:{dripping.port}", PRELABEL_JOB_DEADLINE=str(DEADLINE))
        redis = Redis.from_url(TEST_REDIS_URL)
        redis.flushdb()
        worker = WorkerProcess(env, tmp_path / "worker.log", name="slow-images")
        try:
            worker.wait_registered(redis)
            job = queue_project(redis, label_studio, project_id, env)
            outcome = finished(job, timeout=120)
            job.refresh()
            took = (job.ended_at - job.started_at).total_seconds()
        finally:
            release.set()
            worker.stop()
    assert took < DEADLINE + 15, f"the job took {took:.1f} s"
    by_name = {name: task_id for name, task_id in ids.items() if not name.startswith(dripping.origin)}
    blue = next(task_id for name, task_id in by_name.items() if name.endswith("blue.png"))
    assert outcome["tasks"] == 7 and outcome["labelled"] == 2, outcome
    assert sorted(outcome["failed"]) == sorted([blue, *(ids[url] for url in drips)]), outcome
    for reason in outcome["failed"].values():
        assert f"the job's deadline passed (PRELABEL_JOB_DEADLINE: {DEADLINE} s)" in reason, reason
    assert "the MLLM did not answer" in outcome["failed"][blue]
    assert outcome["failures_by_cause"] == {"image:unavailable": 4, "stage1:deadline": 1}, outcome
    client = label_studio.client()
    ordinary = [task_id for task_id in by_name.values() if task_id != blue]

    def written() -> bool:
        held = [[p.result for p in client.predictions.list(task=task_id)] for task_id in ordinary]
        return all(len(results) == 1 and results[0][0]["value"]["choices"] == ["Halyomorpha halys"]
                   for results in held)

    wait_until(written, 60, what="the ordinary tasks' predictions in Label Studio")


def silent_for_blue(release: threading.Event):
    """A stub-MLLM handler: every photo is BMSB, but a blue one is answered only once `release` is set."""
    answer = always("BMSB")

    def handler(body: dict) -> str:
        images = request_images(body)
        if images and Image.open(io.BytesIO(images[0])).convert("RGB").getpixel((0, 0))[2] > 150:
            release.wait(120)
        return answer(body)

    return handler


def chosen(results: list) -> list[str] | None:
    """The choices of a /predict answer's one prediction; None when it holds none."""
    return results[0]["result"][0]["value"]["choices"] if results and results[0] else None


def retrieve(url: str, label_studio, project_id: int, task_id: int) -> tuple[float, list]:
    """A reviewer opens a new task: Label Studio's /predict for it, (seconds to the answer, its results)."""
    task = label_studio.client().tasks.get(id=task_id)
    started = time.monotonic()
    answer = requests.post(f"{url}/predict", timeout=120, json={
        "tasks": [{"id": task.id, "data": task.data}], "project": f"{project_id}.1700000000", "label_config": CONFIG})
    took = time.monotonic() - started
    assert answer.status_code == 200, answer.text[:500]
    return took, answer.json()["results"]


def test_a_reviewers_retrieve_keeps_its_time_during_a_bulk_run_and_a_100000_id_deletion(label_studio, tmp_path,
                                                                                       redis_conn):
    """One worker (every queue), its main slot held by a bulk job whose MLLM does not answer, 20 deletion jobs
    (a 100,000-id ANNOTATIONS_DELETED) and a model_version update waiting behind it: a reviewer's retrieve is
    answered with its prediction in its usual time (the un-loaded retrieve's, measured first, with a generous
    factor), by the worker's interactive slot, which takes none of that work. Without the slot it waited for
    the bulk job (PRELABEL_SYNC_BUDGET, then `[]`)."""
    photos = {"open-0": RED, "open-1": RED, "open-2": RED, **{f"bulk-{n}": BLUE for n in range(6)}}
    project_id, ids = image_project(label_studio, "Retrieve under load", CONFIG, photos, "retrieve-under-load")
    bulk = [ids[name] for name in photos if name.startswith("bulk")]
    release = threading.Event()
    with StubLLM(silent_for_blue(release)) as stub:
        env = base_env(label_studio, tmp_path / "var", PRELABEL_LLM_BASE_URL=stub.url, PRELABEL_LLM_RETRIES="0",
                       PRELABEL_LLM_TIMEOUT="120", PRELABEL_SYNC_BUDGET="60")
        service, url = start_service(env, tmp_path / "serve.log")
        worker = start_worker(env, "one-worker", tmp_path / "worker.log")
        try:
            # The first retrieve warms the service and the worker up (7.2 s, against 0.2 s after, measured):
            # the usual time is the second's.
            assert chosen(retrieve(url, label_studio, project_id, ids["open-0"])[1]) == ["Halyomorpha halys"]
            unloaded, results = retrieve(url, label_studio, project_id, ids["open-1"])
            assert chosen(results) == ["Halyomorpha halys"], results
            version = version_for(env)
            store = ResultStore(redis_conn)
            store.hand_over(version, bulk)
            [job] = queues.enqueue_predictions(redis_conn, store, project_id, bulk, version)
            wait_until(lambda: job.get_status(refresh=True) == "started", 60, what="the bulk job to start")
            deletion = requests.post(f"{url}/webhook", timeout=120, json={
                "action": "ANNOTATIONS_DELETED", "project": {"id": project_id},
                "annotations": [{"id": n} for n in range(1, 100_001)]})
            assert deletion.status_code == 202 and len(deletion.json()["jobs"]) == 20
            assert requests.post(f"{url}/setup", timeout=60, json={"project": str(project_id),
                                                                   "schema": CONFIG}).status_code == 200
            loaded, results = retrieve(url, label_studio, project_id, ids["open-2"])
            assert chosen(results) == ["Halyomorpha halys"], results
            # The load was there all along: the bulk job still runs, the rest still waits behind it.
            assert job.get_status(refresh=True) == "started"
            assert queues.queue(redis_conn, queues.FEEDBACK).count == 20
            assert queues.queue(redis_conn, queues.PREDICT).count == 1  # the model_version update
            assert loaded < 20 * unloaded, f"{loaded:.2f} s under load, {unloaded:.2f} s without"
            release.set()
            feedback = queues.queue(redis_conn, queues.FEEDBACK)
            wait_until(lambda: feedback.finished_job_registry.count == 20, 120, what="the 20 deletion jobs")
            assert job.get_status(refresh=True) == "finished" and feedback.failed_job_registry.count == 0
            assert job.return_value()["labelled"] == len(bulk)
        finally:
            release.set()
            stop_process(worker)
            stop_process(service)
