"""A worker keeps its MLLM slots full across job boundaries (prelabel.jobs.headstart, issue 24): once every image
of the running bulk job is under way, the next queued job's first images start in the slots left free, and that
job takes them when it starts. A real worker process, the real Label Studio and Redis, the stand-in MLLM's
request log: when each call arrived, against when rq says the running job ended."""

from __future__ import annotations

import json
import threading

from rq.job import Job

from faults.support import CONFIG, WorkerProcess, base_env, finished, version_for
from helpers import PALETTE, colour_of, image_project, wait_until
from prelabel.delivery.results import ResultStore
from prelabel.jobs import queues
from prelabel.metrics import Metrics
from stub_llm import StubLLM, request_images

# Solid photos the stand-in tells apart by colour; each job's last one ("held") is answered only once the test
# releases it, so that the job cannot end before the test has seen what the worker asked meanwhile.
COLOURS = {**{name: PALETTE[name] for name in ("red", "blue", "magenta", "green", "yellow", "cyan")},
           "white": (240, 240, 240)}
JOBS = {"first": ["red", "blue"], "second": ["green", "yellow", "cyan"], "third": ["red", "magenta"],
        "cancelled": ["white"]}
HELD = ("blue", "magenta")
ANSWER = json.dumps({"description": "A BMSB on a leaf.", "classification": "BMSB", "candidates": ["BMSB"]})


class Mllm:
    """Every photo is BMSB; a held one waits for its release; `seen[colour]` is set once a photo is asked about."""

    def __init__(self) -> None:
        self.release = {colour: threading.Event() for colour in HELD}
        self.seen = {colour: threading.Event() for colour in COLOURS}

    def __call__(self, body: dict) -> str:
        colour = colour_of(request_images(body)[0], COLOURS)
        self.seen[colour].set()
        if colour in self.release:
            self.release[colour].wait(60)  # without a head start the test then fails on the order, a minute late
        return ANSWER


def asked(stub: StubLLM) -> list[tuple[float, str]]:
    """(arrival, colour) of each call the stand-in received."""
    return [(at, colour_of(request_images(body)[0], COLOURS))
            for at, body in zip(list(stub.arrived), list(stub.requests), strict=True)]


def test_the_next_jobs_first_images_start_before_the_running_job_ends(label_studio, tmp_path, redis_conn):
    """Two slots; four jobs of one project queued before the worker starts. The first job's red photo is
    answered at once and its blue one held: the second job's first photo is asked about meanwhile, so before the
    first job ends, and the second job takes that answer (no second call, none from the cache). The fourth job is
    cancelled after its photo started in the third job's free slot: that one call is all it costs, and nothing
    of it is written. Every other task ends with exactly one prediction."""
    photos = {f"{job}-{colour}": COLOURS[colour] for job, colours in JOBS.items() for colour in colours}
    project_id, ids = image_project(label_studio, "Head start", CONFIG, photos, "head-start")
    mllm = Mllm()
    with StubLLM(mllm) as stub:
        env = base_env(label_studio, tmp_path / "var", PRELABEL_LLM_BASE_URL=stub.url, PRELABEL_LLM_RETRIES="0",
                       PRELABEL_LLM_CONCURRENCY="2")
        version, results = version_for(env), ResultStore(redis_conn)
        jobs: dict[str, Job] = {}
        for job, colours in JOBS.items():
            task_ids = [ids[f"{job}-{colour}"] for colour in colours]
            results.hand_over(version, task_ids)
            [jobs[job]] = queues.enqueue_predictions(redis_conn, results, project_id, task_ids, version)
        worker = WorkerProcess(env, tmp_path / "worker.log", name="head-start")
        try:
            assert mllm.seen["green"].wait(90), "the second job's photo was not asked about while blue waited"
            mllm.release["blue"].set()
            first, second = finished(jobs["first"]), finished(jobs["second"])
            jobs["first"].refresh()
            arrivals = asked(stub)
            green = next(at for at, colour in arrivals if colour == "green")
            assert green < jobs["first"].ended_at.timestamp(), (arrivals, jobs["first"].ended_at)
            assert first["labelled"] == 2 and second["labelled"] == 3 and second["cached"] == 0, second

            assert mllm.seen["white"].wait(90), "the fourth job's photo was not asked about while magenta waited"
            jobs["cancelled"].cancel()
            mllm.release["magenta"].set()
            assert finished(jobs["third"])["labelled"] == 2
            metrics = Metrics(redis_conn)
            wait_until(lambda: metrics.counters().get("head_start_dropped_total") == 1, 60,
                       what="the cancelled job's started photo dropped")
        finally:
            for event in mllm.release.values():
                event.set()
            worker.stop()
        # Each photo asked about once (the third job's red is the first's, from the cache): those started early
        # were not asked again by their job.
        assert sorted(colour for _, colour in asked(stub)) == sorted(set(COLOURS)), asked(stub)

    client = label_studio.client()
    delivered = [task_id for name, task_id in ids.items() if not name.startswith("cancelled")]

    def written() -> bool:
        return all(len(client.predictions.list(task=task_id)) >= 1 for task_id in delivered)

    wait_until(written, 60, what="every delivered task's prediction in Label Studio")
    held = {name: [p.model_version for p in client.predictions.list(task=task_id)] for name, task_id in ids.items()}
    assert all(held[name] == [version] for name in ids if not name.startswith("cancelled")), held
    assert held["cancelled-white"] == [], held
