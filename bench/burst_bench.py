"""A burst of reviewers through a real Label Studio 1.23.2: 200 concurrent /predict of one new task each.

Set-up (issue 24's interactive case), per run: the test harness's headless Label Studio (tests/labelstudio.py, as
bench/e2e_bench.py uses it), a fresh project of 200 new tasks (19 KB JPEGs served by Label Studio as local files,
e2e_bench's), the service as production runs it (`prelabel serve`, gunicorn, started as the tests start it:
tests/helpers.py's start_service; one process as `prelabel up` runs it, --serve-workers 2 as docker-compose.yml's),
ONE `prelabel worker`, the stub MLLM at --latency 0.3 s with PRELABEL_LLM_CONCURRENCY=16 (the limit: 16 / 0.3 =
53.3 tasks/s), Redis, a fresh Redis database and data directory each run (nothing cached from an earlier run).

What is sent: 200 POST /predict at once, each with one task as Label Studio's ML connector sends it (the task as
its API holds it, the project's labeling config, `project` as "<id>.<timestamp>"); a response that carries a
prediction is imported into Label Studio, which is what Label Studio does with it (the tests do the same:
tests/test_e2e_labelstudio.py's burst test); an empty one leaves the task to the worker, which writes its
prediction through the API. Measured: from the first request to the moment Label Studio's API holds a prediction
of the current model_version for every one of the 200 tasks (polled every --poll s). Target (issue 24): within 2 x
200 / limit = 7.5 s. Then, once no job waits or runs: exactly one prediction per task; how many jobs the worker
ran and how many tasks each took; and a repeated /predict for each task (idempotence: it must return the stored
prediction, not an empty answer).

Run: .venv/bin/python bench/burst_bench.py [--runs 3] [--tasks 200] [--latency 0.3] [--serve-workers 1]
[--redis-url redis://127.0.0.1:6379/9]. Min/median/max over the runs are printed with the load average.
Needs Redis (the database named is emptied) and Label Studio in .venvs-ls (make services).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path

import requests
from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

# e2e_bench (first of these) puts tests/ and backend/ on sys.path for the imports after it
from e2e_bench import REDIS_URL, answer, per_task, predictions, project, start_workers, stop_workers, worker_env
from helpers import start_service, stop_process
from labelstudio import start_label_studio
from prelabel.jobs import queues
from stub_llm import StubLLM

PREDICTION_QUEUES = (queues.INTERACTIVE, queues.PREDICT)


def idle(redis: Redis) -> bool:
    """No prediction job waits or runs, and no task waits in a burst set for its drain job."""
    return (all(queues.queue(redis, name).count == 0 and StartedJobRegistry(queue=queues.queue(redis, name)).count == 0
                for name in PREDICTION_QUEUES) and not redis.keys("prelabel:burst:*:tasks"))


def jobs_of(redis: Redis, project_id: int) -> tuple[list[int], int, float | None]:
    """(tasks of each finished prediction job of the project, failed jobs of the project, when the last finished
    job ended: a Unix time)."""
    done, failed, ended = [], 0, None
    for name in PREDICTION_QUEUES:
        queue = queues.queue(redis, name)
        for job in Job.fetch_many(FinishedJobRegistry(queue=queue).get_job_ids(), redis):
            if job is not None and job.meta.get("project") == project_id:
                result = job.return_value()
                done.append(result["tasks"] if isinstance(result, dict) and "tasks" in result else 0)
                if job.ended_at is not None:
                    at = job.ended_at.replace(tzinfo=job.ended_at.tzinfo or UTC).timestamp()
                    ended = at if ended is None else max(ended, at)
        failed += sum(1 for job in Job.fetch_many(FailedJobRegistry(queue=queue).get_job_ids(), redis)
                      if job is not None and job.meta.get("project") == project_id)
    return done, failed, ended


def burst(ls, backend_url: str, redis: Redis, count: int, folder: str, poll: float) -> dict:
    project_id = project(ls, f"burst {folder}", folder, count)
    client = ls.client()
    label_config = client.projects.get(id=project_id).label_config
    tasks = requests.get(f"{ls.url}/api/tasks/", params={"project": project_id, "page_size": count + 1},
                         headers=ls.headers, timeout=120).json()["tasks"]
    assert len(tasks) == count, len(tasks)
    stamp = int(time.time())
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=count))

    def open_task(task: dict) -> tuple[dict, float]:
        """What Label Studio does when a reviewer opens a task without a prediction: /predict for it (ml/
        api_connector.py's body), and a prediction in the answer stored."""
        body = {"tasks": [task], "model_version": None, "project": f"{project_id}.{stamp}",
                "label_config": label_config, "params": {"login": None, "password": None, "context": None}}
        found = session.post(f"{backend_url}/predict", json=body, timeout=300).json()
        if found["results"][0]:
            client.projects.import_predictions(id=project_id, request=[{**found["results"][0], "task": task["id"]}])
        return found, time.time()

    pool = ThreadPoolExecutor(count)
    started, wall = time.perf_counter(), time.time()
    answers = [pool.submit(open_task, task) for task in tasks]
    version = ""
    while True:
        if not version:
            version = next((a.result()[0]["model_version"] for a in answers if a.done() and not a.exception()), "")
        if version and len(per_task(predictions(ls, project_id), version)) == count:
            seconds = time.perf_counter() - started
            break
        if time.perf_counter() - started > 900 or any(a.done() and a.exception() for a in answers):
            errors = [repr(a.exception()) for a in answers if a.done() and a.exception()]
            raise RuntimeError(f"the burst did not finish: {errors[:3]}")
        time.sleep(poll)
    load = os.getloadavg()[0]
    responses = [a.result()[0] for a in answers]
    last_response = max(a.result()[1] for a in answers) - wall
    pool.shutdown()
    deadline = time.monotonic() + 300
    while not idle(redis) and time.monotonic() < deadline:
        time.sleep(0.5)
    held = per_task(predictions(ls, project_id), version)
    jobs, failed, ended = jobs_of(redis, project_id)
    stored = {p["task"]: p for p in predictions(ls, project_id) if p["model_version"] == version}

    def ask_again(task: dict) -> bool:
        """A repeated /predict (a response Label Studio lost, a second reviewer) returns the stored prediction."""
        body = {"tasks": [task], "project": f"{project_id}.{stamp}", "label_config": label_config}
        [again] = session.post(f"{backend_url}/predict", json=body, timeout=300).json()["results"]
        return bool(again) and again["model_version"] == version and again["result"] == stored[task["id"]]["result"]

    with ThreadPoolExecutor(16) as repeat:
        same = sum(repeat.map(ask_again, tasks))
    return {"seconds": seconds, "load": load, "version": version, "in_response": sum(
        1 for r in responses if r["results"][0]), "exactly_once": len(held) == count and set(held.values()) == {1},
        "jobs": jobs, "failed_jobs": failed, "repeated_same": same, "last_response": last_response,
        "last_job_ended": None if ended is None else ended - wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="runs, each on a fresh project (min/median/max)")
    parser.add_argument("--tasks", type=int, default=200, help="new tasks, one concurrent /predict each")
    parser.add_argument("--latency", type=float, default=0.3, help="the stub MLLM's seconds per answer")
    parser.add_argument("--serve-workers", type=int, default=1, help="gunicorn processes of `prelabel serve`")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between reads of Label Studio's API")
    parser.add_argument("--redis-url", default=REDIS_URL, help="a Redis database of the bench's own: emptied")
    args = parser.parse_args()
    limit = 16 / args.latency  # one worker, 16 MLLM slots
    target = 2 * args.tasks / limit
    print(f"target (issue 24): all {args.tasks} predictions in Label Studio within 2 x {args.tasks} / {limit:.1f} = "
          f"{target:.1f} s", flush=True)
    redis = Redis.from_url(args.redis_url)
    seconds = []
    with tempfile.TemporaryDirectory() as directory, StubLLM(answer, latency=args.latency) as stub:
        workdir = Path(directory)
        ls = start_label_studio(workdir / "ls", timeout=900)  # migrations take minutes on a loaded machine
        try:
            for attempt in range(args.runs):
                redis.flushdb()
                env = worker_env(ls, stub.url, args.redis_url, workdir / f"var-{attempt}")
                service, backend_url = start_service(env, workdir / f"serve-{attempt}.log", args.serve_workers)
                try:
                    workers = start_workers(env, [f"burst-{attempt}"], workdir)
                    try:
                        row = burst(ls, backend_url, redis, args.tasks, f"burst{attempt}", args.poll)
                    finally:
                        stop_workers(workers)
                finally:
                    stop_process(service)
                seconds.append(row["seconds"])
                jobs = row["jobs"]
                print(f"run {attempt + 1}: all {args.tasks} predictions in Label Studio after {row['seconds']:.1f} s "
                      f"({args.tasks / row['seconds']:.1f} tasks/s, {args.tasks / row['seconds'] / limit:.0%} of the "
                      f"limit; target {target:.1f} s: {'met' if row['seconds'] <= target else 'NOT met'}); "
                      f"load average {row['load']:.1f}; answered in the response {row['in_response']}, "
                      f"written by the worker {args.tasks - row['in_response']}; the worker ran {len(jobs)} jobs "
                      f"(tasks each: {sorted(jobs, reverse=True)}; failed jobs {row['failed_jobs']}); exactly one "
                      f"prediction per task: {row['exactly_once']}; a repeated /predict returned the stored "
                      f"prediction for {row['repeated_same']} of {args.tasks}", flush=True)
                print(f"    the last /predict answered after {row['last_response']:.1f} s; the worker's last job "
                      f"ended after " + ("?" if row["last_job_ended"] is None else f"{row['last_job_ended']:.1f} s")
                      + " (the rest, to all in Label Studio: the writer's bulk writes)", flush=True)
        finally:
            ls.stop()
    print(f"{len(seconds)} run(s): seconds min {min(seconds):.1f} / median {statistics.median(seconds):.1f} / max "
          f"{max(seconds):.1f} (target {target:.1f}); load average now {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
