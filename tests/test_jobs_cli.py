"""The failed-job registry as a user sees it (`prelabel jobs`), with a real Redis and a real worker process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rq.registry import FailedJobRegistry

from helpers import EXAMPLE_VOCAB, PALETTE, ROOT, TEST_REDIS_URL, answer_by_colour, image_project, invoke
from prelabel.delivery.results import ResultStore
from prelabel.jobs import queues
from prelabel.parts import Parts
from prelabel.settings import Settings

PRELABEL = str(Path(sys.executable).parent / "prelabel")
CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
          '<Choice value="Halyomorpha halys"/><Choice value="Sitophilus oryzae"/></Choices></View>')


def environment(tmp_path) -> dict[str, str]:
    return {"REDIS_URL": TEST_REDIS_URL, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_CLIP_MODEL": "",
            "PRELABEL_LLM_BASE_URL": "", "PRELABEL_DATA_DIR": str(tmp_path),
            "LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "unused"}


def run(tmp_path, *args: str):
    return invoke(*args, env=environment(tmp_path))


def run_worker(tmp_path, queue_name: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A real worker process: it forks rq's scheduler and installs signal handlers, so it runs apart."""
    return subprocess.run([PRELABEL, "worker", "--queues", queue_name, "--burst"],
                          env={**os.environ, **(env or environment(tmp_path))}, capture_output=True, text=True,
                          timeout=300)


def test_a_job_for_another_model_version_fails_at_once_and_is_listed(tmp_path, redis_conn):
    results = ResultStore(redis_conn)
    [job] = queues.enqueue_predictions(redis_conn, results, 5, [1, 2], "prelabel-00000000-00000000")
    assert job.meta == {"project": 5, "total": 2, "done": 0}  # progress lives in job.meta
    assert queues.enqueue_predictions(redis_conn, results, 5, [1, 2], "prelabel-00000000-00000000") == []  # pending
    worker = run_worker(tmp_path, queues.PREDICT)
    assert worker.returncode == 0, worker.stderr
    registry = FailedJobRegistry(queue=queues.queue(redis_conn, queues.PREDICT))
    assert registry.get_job_ids() == [job.id]  # failed for good: no retries for a settings mismatch
    listed = run(tmp_path, "jobs")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert ("prelabel-predict: 0 worker(s), 0 queued, 0 running, 1 failed -- no worker serves it: start "
            "`prelabel worker`") in lines
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


def test_a_job_queued_before_a_vocabulary_change_predicts_at_the_version_in_force(tmp_path, redis_conn,
                                                                                 label_studio, stub_llm):
    """A synonym promoted while jobs wait changes only the vocabulary part of model_version: the tasks are
    still wanted, so the job predicts and writes them at the version in force instead of failing."""
    stub_llm.handler = answer_by_colour({"red": "BMSB"})
    project_id, ids = image_project(label_studio, "Vocabulary moved on", CONFIG, {"red": PALETTE["red"]}, "moved")
    env = {**environment(tmp_path), "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
           "PRELABEL_LLM_BASE_URL": stub_llm.url}
    in_force = Parts(Settings.from_env(env)).in_force.current().model_version
    current, older = str(in_force), f"prelabel-00000000-{in_force.settings}"
    results = ResultStore(redis_conn)
    results.hand_over(older, [ids["red"]])
    [job] = queues.enqueue_predictions(redis_conn, results, project_id, [ids["red"]], older)
    assert run_worker(tmp_path, queues.PREDICT, env).returncode == 0
    job.refresh()
    assert job.get_status() == "finished", job.latest_result()
    outcome = job.return_value()
    assert (outcome["model_version"], outcome["labelled"], outcome["delivering"]) == (current, 1, 1)
    [prediction] = label_studio.client().predictions.list(task=ids["red"])
    assert prediction.model_version == current  # the hand-over followed the task to the new version


def test_a_command_without_a_data_directory_writes_nothing_into_the_checkout(redis_conn):
    """The learned store a command opens by default lands in the test run's own PRELABEL_DATA_DIR
    (tests/conftest.py), not in the checkout's var/, which a later `prelabel up` would read."""
    before = {path: path.stat().st_mtime_ns for path in (ROOT / "var").rglob("*")} if (ROOT / "var").exists() else {}
    away = invoke("run", "--project", "1", "--all", env={
        "REDIS_URL": TEST_REDIS_URL, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_CLIP_MODEL": "",
        "PRELABEL_LLM_BASE_URL": "", "LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "unused"})
    assert away.exit_code == 1  # Label Studio is away; the learned store was opened all the same
    assert (Path(os.environ["PRELABEL_DATA_DIR"]) / "learned.sqlite").exists()
    after = {path: path.stat().st_mtime_ns for path in (ROOT / "var").rglob("*")} if (ROOT / "var").exists() else {}
    assert after == before


def test_a_run_where_every_task_failed_says_so_with_the_endpoint():
    from collections import Counter

    from prelabel.jobs.bulk import Outcome
    from prelabel.pipeline.summary import every_image_failed

    settings = Settings.from_env({"PRELABEL_LLM_BASE_URL": "http://user:secret-pw@10.0.0.7:8000/v1"})
    outcome = Outcome(tasks=4, causes=Counter({"stage1:connection": 3, "image:unreadable": 1}), cached=0)
    assert outcome.summary() == ("done: 4 task(s): 0 labelled, 4 failed (stage1:connection 3, image:unreadable 1); "
                                 "0 prediction(s) in Label Studio; the failed ones hold no prediction: Prelabel "
                                 "tries again when one is opened, and on the next run")
    line = every_image_failed(outcome.tasks, outcome.causes, settings)
    assert line is not None and line.startswith("every image failed (stage1:connection 3, image:unreadable 1): ")
    assert "http://user:***@10.0.0.7:8000/v1" in line and "PRELABEL_LLM_BASE_URL" in line
    assert "secret-pw" not in line
    # Images that could not be read name no endpoint; a run where one task worked is no failure of the run.
    assert "endpoint" not in str(every_image_failed(2, {"image:unreadable": 2}, settings))
    assert every_image_failed(4, {"stage1:connection": 3}, settings) is None
    assert every_image_failed(0, {}, settings) is None
    cached = Outcome(tasks=2, labelled=2, delivered=2, cached=2)
    assert cached.summary().endswith("; 2 MLLM answer(s) from the cache (PRELABEL_DATA_DIR/mllm-cache.sqlite)")
