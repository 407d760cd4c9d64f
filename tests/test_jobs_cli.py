"""The failed-job registry as a user sees it (`prelabel jobs`), with a real Redis and a real worker process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rq.registry import FailedJobRegistry

from helpers import EXAMPLE_VOCAB, TEST_REDIS_URL, invoke
from prelabel.jobs import queues
from prelabel.jobs.delivery import ResultStore
from prelabel.parts import Parts
from prelabel.settings import Settings
from prelabel.studio.labelconfig import Control

PRELABEL = str(Path(sys.executable).parent / "prelabel")


def environment(tmp_path) -> dict[str, str]:
    return {"REDIS_URL": TEST_REDIS_URL, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_CLIP_MODEL": "",
            "PRELABEL_LLM_BASE_URL": "", "PRELABEL_DATA_DIR": str(tmp_path),
            "LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "unused"}


def run(tmp_path, *args: str):
    return invoke(*args, env=environment(tmp_path))


def run_worker(tmp_path, queue_name: str) -> subprocess.CompletedProcess:
    """A real worker process: it forks rq's scheduler and installs signal handlers, so it runs apart."""
    return subprocess.run([PRELABEL, "worker", "--queues", queue_name, "--burst"],
                          env={**os.environ, **environment(tmp_path)}, capture_output=True, text=True, timeout=300)


def test_a_job_for_another_model_version_fails_at_once_and_is_listed(tmp_path, redis_conn):
    tasks = [{"id": 1, "data": {"image": "/data/upload/1.jpg"}}, {"id": 2, "data": {"image": "/data/upload/2.jpg"}}]
    [job] = queues.enqueue_predictions(redis_conn, 5, tasks, Control(), "prelabel-00000000-00000000")
    assert job.meta == {"project": 5, "total": 2, "done": 0}  # progress lives in job.meta
    assert queues.enqueue_predictions(redis_conn, 5, tasks, Control(), "prelabel-00000000-00000000") == []
    worker = run_worker(tmp_path, queues.PREDICT)
    assert worker.returncode == 0, worker.stderr
    registry = FailedJobRegistry(queue=queues.queue(redis_conn, queues.PREDICT))
    assert registry.get_job_ids() == [job.id]  # failed for good: no retries for a settings mismatch
    listed = run(tmp_path, "jobs")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert "prelabel-predict: 0 queued, 0 running, 1 failed" in lines
    [failure] = [line for line in lines if line.startswith("  failed ")]
    assert job.id in failure and "pre-label 2 task(s) of project 5" in failure
    assert "VersionMismatch: this worker predicts as prelabel-" in failure
    requeued = run(tmp_path, "jobs", "--requeue")
    assert f"  requeued {job.id}" in requeued.stdout
    assert registry.count == 0 and len(queues.queue(redis_conn, queues.PREDICT)) == 1


def test_run_needs_a_choice_of_tasks_and_a_reachable_label_studio(tmp_path, redis_conn):
    both = run(tmp_path, "run", "--project", "1")
    assert both.exit_code == 2 and "give either --all or --tasks" in both.stderr
    bad = run(tmp_path, "run", "--project", "1", "--tasks", "1,x")
    assert bad.exit_code == 2 and "expected comma-separated integers" in bad.stderr
    away = run(tmp_path, "run", "--project", "1", "--all")
    assert away.exit_code == 1
    assert "Label Studio at http://127.0.0.1:9: cannot read project" in away.stderr


def test_a_job_queued_before_a_vocabulary_change_predicts_at_the_version_in_force(tmp_path, redis_conn):
    """A synonym promoted while jobs wait changes only the vocabulary part of model_version: the tasks are
    still wanted, so the job predicts (and would write) at the version in force instead of failing."""
    in_force = Parts(Settings.from_env(environment(tmp_path))).in_force.current().model_version
    current, older = str(in_force), f"prelabel-00000000-{in_force.settings}"
    tasks = [{"id": 1, "data": {"image": "/data/upload/1.jpg"}}]
    ResultStore(redis_conn).hand_over(older, [1])
    [job] = queues.enqueue_predictions(redis_conn, 5, tasks, Control(), older)
    assert run_worker(tmp_path, queues.PREDICT).returncode == 0
    job.refresh()
    assert job.get_status() == "finished"
    outcome = job.return_value()
    assert outcome["model_version"] == current
    assert "unavailable" in outcome["failed"][1]["image"]  # Label Studio is not running: that task only fails
    assert ResultStore(redis_conn).get(current, 1) == (True, None)
    assert ResultStore(redis_conn).handed_over(current, 1)  # the hand-over follows the task to the new version
