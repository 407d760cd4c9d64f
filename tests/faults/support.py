"""What the fault cases share: real worker processes, a real project in the session's Label Studio, job results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests
from redis import Redis
from rq import Worker
from rq.job import Job

from helpers import EXAMPLE_VOCAB, PALETTE, TEST_REDIS_URL, start_process, stop_process, wait_until
from prelabel.delivery.results import ResultStore
from prelabel.jobs import queues
from stub_llm import request_images

BIN = Path(sys.executable).parent
CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
          '<Choice value="Halyomorpha halys"/><Choice value="Nezara viridula"/></Choices></View>')


def choice(label: str) -> list[dict]:
    """An annotation's result: `label` chosen in CONFIG's choices."""
    return [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [label]}}]


def base_env(label_studio, data_dir: Path, **extra: str) -> dict[str, str]:
    """A worker's environment: the session's Label Studio, the test Redis, no CLIP, the example vocabulary."""
    return {**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
            "REDIS_URL": TEST_REDIS_URL, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_CLIP_MODEL": "",
            "PRELABEL_DATA_DIR": str(data_dir), "PRELABEL_STAGE2": "false", **extra}


# Photos of four colours and what the stand-in MLLM names for each (helpers.answer_by_colour).
COLOURS = {name: PALETTE[name] for name in ("red", "green", "blue", "yellow")}
ANSWERS = {"red": "BMSB", "green": "rice weevil", "blue": "maize weevil", "yellow": "codling moth"}


def stub_env(label_studio, stub, tmp_path: Path, redis_url: str = TEST_REDIS_URL, **extra: str) -> dict[str, str]:
    """A worker's environment answered by the stand-in MLLM, without retries (a failure shows at once), stage 2
    on."""
    return base_env(label_studio, tmp_path / "var", REDIS_URL=redis_url, PRELABEL_LLM_BASE_URL=stub.url,
                    PRELABEL_LLM_RETRIES="0", PRELABEL_STAGE2="true", **extra)


class WorkerProcess:
    """`prelabel worker` as its own process, its output in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, env: dict[str, str], log: Path, queue_names: str = queues.PREDICT, name: str = "faults"):
        self.log = log
        self.name = name
        self.process = start_process([str(BIN / "prelabel"), "worker", "--queues", queue_names, "--name", name],
                                     env, log)

    def wait_registered(self, redis: Redis) -> None:
        def registered() -> bool:
            assert self.process.poll() is None, self.log.read_text()
            return any(worker.name == self.name for worker in Worker.all(connection=redis))

        wait_until(registered, 120, what=f"worker {self.name} to register")

    def peak_rss_mb(self) -> float:
        """The process's peak resident memory so far (VmHWM), in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM in /proc")

    def stop(self) -> None:
        stop_process(self.process)


def predicted_by_a_worker(label_studio, project_id: int, env: dict[str, str], log: Path, name: str) -> dict:
    """Every task of the project predicted by a real worker (as `prelabel run` queues them): the job's result."""
    redis = Redis.from_url(TEST_REDIS_URL)
    redis.flushdb()
    worker = WorkerProcess(env, log, name=name)
    try:
        worker.wait_registered(redis)
        return finished(queue_project(redis, label_studio, project_id, env))
    finally:
        worker.stop()


def run_burst(env: dict[str, str], queue_names: str, name: str) -> str:
    """One `prelabel worker --burst`: runs what is queued, then exits. Returns its output."""
    done = subprocess.run([str(BIN / "prelabel"), "worker", "--queues", queue_names, "--burst", "--name", name],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def finished(job: Job, timeout: float = 180) -> dict:
    """The job's return value once it finished (a failed job fails the test with its traceback)."""
    def outcome():
        status = job.get_status(refresh=True)
        if status == "failed":
            latest = job.latest_result()
            raise AssertionError(f"job {job.id} failed: {latest.exc_string if latest else ''}")
        return status == "finished"

    wait_until(outcome, timeout, what=f"job {job.id}")
    return job.return_value()


def version_for(env: dict[str, str]) -> str:
    """The model_version a worker with this environment predicts as (a job must be queued with it)."""
    from prelabel.parts import Parts
    from prelabel.settings import Settings

    parts = Parts(Settings.from_env(env))
    try:
        return str(parts.in_force.current().model_version)
    finally:
        parts.close()


def always(name: str):
    """A stub-MLLM handler: every image is `name`; stage 2 says none."""
    answer = json.dumps({"description": f"A {name} on a leaf.", "classification": name, "candidates": [name]})
    return lambda body: answer if request_images(body) else "none"


def new_project(label_studio, title: str) -> int:
    return label_studio.client().projects.create(title=title, label_config=CONFIG).id


def upload(label_studio, project_id: int, files: dict[str, bytes]) -> dict[str, int]:
    """Files uploaded through Label Studio's import API (/data/upload/...): file name -> task id."""
    for name, data in files.items():
        response = requests.post(f"{label_studio.url}/api/projects/{project_id}/import", headers=label_studio.headers,
                                 files={"file": (name, data)}, timeout=120)
        assert response.status_code == 201, response.text
    return {task.data["image"].rsplit("/", 1)[-1].split("-", 1)[-1]: task.id
            for task in label_studio.client().tasks.list(project=project_id)}


def import_values(label_studio, project_id: int, values: list[str]) -> dict[str, int]:
    """Tasks whose image value is given as is (task data anyone with import rights controls): value -> id."""
    # Posted as ASCII JSON: a lone surrogate travels as its escape, as any JSON client may send it.
    response = requests.post(f"{label_studio.url}/api/projects/{project_id}/import",
                             headers={**label_studio.headers, "Content-Type": "application/json"},
                             data=json.dumps([{"image": value} for value in values]).encode(), timeout=300)
    assert response.status_code == 201, response.text[:500]
    return {task.data["image"]: task.id for task in label_studio.client().tasks.list(project=project_id)}


def queue_project(redis: Redis, label_studio, project_id: int, env: dict[str, str]) -> Job:
    """All the project's tasks in one prediction job, at the model_version a worker with `env` predicts as, the
    worker writing the predictions (as `prelabel run` queues them)."""
    ids = [task.id for task in label_studio.client().tasks.list(project=project_id)]
    version = version_for(env)
    results = ResultStore(redis)
    results.hand_over(version, ids)
    [job] = queues.enqueue_predictions(redis, results, project_id, ids, version)
    return job


def cancelled_then_failing() -> None:
    """A feedback job that is cancelled while it runs (as `rq cancel` does), then fails as when Label Studio is
    away: the worker must not retry it."""
    from rq import get_current_job

    get_current_job().cancel()
    raise RuntimeError("Label Studio away")
