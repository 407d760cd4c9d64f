"""Fault catalogue, slow work: a job's deadline, so that slow images (a dripping download, an MLLM that does not
answer) cost only their own tasks and never hold a job past it. A real worker, the real Label Studio and Redis,
a real HTTP server dripping its bytes (listener.py), the stand-in MLLM over real HTTP."""

from __future__ import annotations

import io
import threading

from PIL import Image
from redis import Redis

from faults.listener import Listener
from faults.support import (
    WorkerProcess,
    always,
    base_env,
    finished,
    import_values,
    new_project,
    queue_project,
    upload,
)
from helpers import TEST_REDIS_URL, wait_until
from stub_llm import StubLLM, request_images

DEADLINE = 6  # seconds: PRELABEL_JOB_DEADLINE for these jobs
DRIP = 0.7  # seconds between the bytes a dripping server sends: its ~70-byte PNG takes ~50 s


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
    answer, release = always("BMSB"), threading.Event()

    def slow_for_blue(body: dict) -> str:
        images = request_images(body)
        if images and Image.open(io.BytesIO(images[0])).convert("RGB").getpixel((0, 0))[2] > 150:
            release.wait(120)  # an MLLM that does not answer this photo (until the test ends)
        return answer(body)

    with Listener() as dripping, StubLLM(slow_for_blue) as stub:
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
