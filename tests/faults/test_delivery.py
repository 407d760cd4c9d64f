"""Fault catalogue, delivery: exactly once and never a silent no-op when Label Studio's answer to a write lies
(stored, then a 500; stored, then no answer), when it holds a duplicate, and when it stores fewer predictions
than it was sent; one task Label Studio cannot list, or that Prelabel cannot read, costs only itself. The real
Label Studio, behind a real HTTP proxy (studio_proxy.py) where it must misbehave; the real Redis; the worker's own
writer (BatchWriter, in process: the process boundary plays no part there), and a real worker for whole jobs."""

from __future__ import annotations

import json

import pytest
import requests
from redis import Redis

from faults.studio_proxy import StudioProxy
from faults.support import CONFIG, WorkerProcess, always, base_env, finished, import_values, new_project, version_for
from helpers import PALETTE, TEST_REDIS_URL, image_project, start_service, stop_process, wait_until
from prelabel.delivery.columns import ColumnQueue
from prelabel.delivery.ledger import Ledger
from prelabel.delivery.results import ResultStore
from prelabel.delivery.writer import BatchWriter, Outgoing
from prelabel.jobs import queues
from prelabel.pipeline.identity import ModelVersion
from prelabel.studio.client import LabelStudio
from prelabel.studio.predictions import StudioPrediction
from prelabel.workers import WorkerRegistry
from stub_llm import StubLLM

VERSION = ModelVersion("0badc0de", "5eedf00d")


def prediction(choice: str = "Halyomorpha halys", control: str = "label") -> StudioPrediction:
    return StudioPrediction(VERSION, 0.9, ({"from_name": control, "to_name": "image", "type": "choices",
                                            "value": {"choices": [choice]}},))


def tasks_of(label_studio, title: str, count: int) -> list[int]:
    project_id = new_project(label_studio, title)
    ids = import_values(label_studio, project_id, [f"https://photos.example/{title}/{n}.jpg" for n in range(count)])
    return [project_id, *ids.values()]


def versions_held(label_studio, task_ids: list[int]) -> dict[int, list[str]]:
    client = label_studio.client()
    return {task_id: [p.model_version for p in client.predictions.list(task=task_id)] for task_id in task_ids}


def write(studio: LabelStudio, redis_conn, project_id: int, items: list[Outgoing]) -> Ledger:
    """What a worker does with its predictions: hand them to its writer, which writes them and closes."""
    ledger = Ledger(redis_conn)
    writer = BatchWriter(studio, ResultStore(redis_conn), ledger, column_queue=ColumnQueue(redis_conn))
    writer.submit(project_id, items)
    writer.close()
    return ledger


@pytest.fixture
def proxy(label_studio):
    found = StudioProxy(label_studio.url)
    yield found
    found.close()


@pytest.mark.parametrize("lie", ["500", "hang"])
def test_a_write_label_studio_stored_but_did_not_confirm_is_never_written_twice(label_studio, redis_conn, proxy,
                                                                               lie):
    """Label Studio commits the bulk write, then its gateway answers 500 (or nothing before the writer gives up):
    no automatic retry; what Label Studio holds is read back, and each of the 20 tasks has exactly one
    prediction. (The SDK's own retries made it three each.)"""
    project_id, *task_ids = tasks_of(label_studio, f"Lying write {lie}", 20)
    proxy.after_commit, proxy.hang_seconds = lie, 6.0
    studio = LabelStudio(proxy.url, label_studio.token, timeout=2.0)
    ledger = write(studio, redis_conn, project_id, [Outgoing(task_id, prediction()) for task_id in task_ids])
    assert proxy.writes == 1
    assert versions_held(label_studio, task_ids) == {task_id: [str(VERSION)] for task_id in task_ids}
    assert ledger.waiting(str(VERSION), project_id, task_ids) == 0  # confirmed: the reconciler has nothing to do


def test_a_write_that_stored_nothing_and_failed_is_left_to_the_reconciler(label_studio, redis_conn, proxy):
    """The contrary case: the write failed and Label Studio holds nothing. Nothing is confirmed, the reason is
    kept for `prelabel run`, and the next write (the reconciler's, read back first) stores each prediction once."""
    project_id, *task_ids = tasks_of(label_studio, "Failed write", 3)
    proxy.unlistable = set()
    studio = LabelStudio(proxy.url, label_studio.token, timeout=2.0)
    proxy.refuse_writes = True
    writer_items = [Outgoing(task_id, prediction()) for task_id in task_ids]
    ledger = write(studio, redis_conn, project_id, writer_items)
    assert ledger.waiting(str(VERSION), project_id, task_ids) == 3
    assert "HTTP 500" in (ledger.why(project_id) or "") and "holds 0 of the 3" in (ledger.why(project_id) or "")
    proxy.refuse_writes = False
    ledger = write(studio, redis_conn, project_id, writer_items)
    assert versions_held(label_studio, task_ids) == {task_id: [str(VERSION)] for task_id in task_ids}
    assert ledger.why(project_id) is None


def test_a_duplicate_found_is_removed(label_studio, redis_conn):
    """A task holding one version twice (stored by a lying write before this check): the next write through it
    removes the second and writes nothing."""
    project_id, *task_ids = tasks_of(label_studio, "Duplicate", 2)
    client = label_studio.client()
    for _ in range(2):
        client.projects.import_predictions(id=project_id, request=[prediction().to_json(task=task_ids[0])])
    assert len(versions_held(label_studio, task_ids)[task_ids[0]]) == 2
    studio = LabelStudio(label_studio.url, label_studio.token)
    write(studio, redis_conn, project_id, [Outgoing(task_id, prediction()) for task_id in task_ids])
    assert versions_held(label_studio, task_ids) == {task_id: [str(VERSION)] for task_id in task_ids}
    assert studio.calls["write predictions"] == 1 and studio.calls["delete prediction"] == 1


def test_a_write_label_studio_stores_none_of_is_a_failure_with_its_reason(label_studio, redis_conn):
    """The choices control renamed after the predictions were made: Label Studio answers 201 {"created": 0}.
    That is a failure naming the control, never "written"; nothing is confirmed."""
    project_id, *task_ids = tasks_of(label_studio, "Renamed control", 6)
    label_studio.client().projects.update(id=project_id, label_config=CONFIG.replace('"label"', '"kind"'))
    studio = LabelStudio(label_studio.url, label_studio.token)
    ledger = write(studio, redis_conn, project_id, [Outgoing(task_id, prediction()) for task_id in task_ids])
    assert versions_held(label_studio, task_ids) == {task_id: [] for task_id in task_ids}
    assert ledger.waiting(str(VERSION), project_id, task_ids) == 6
    why = ledger.why(project_id) or ""
    assert "stored 0 of 6" in why and "no control 'label'" in why, why


@pytest.fixture(scope="module")
def worker(label_studio, tmp_path_factory):
    """A real worker answering every image "Halyomorpha halys" (stub MLLM): (its environment, the stub)."""
    folder = tmp_path_factory.mktemp("delivery-worker")
    with StubLLM(always("Halyomorpha halys")) as stub:
        env = base_env(label_studio, folder / "var", PRELABEL_LLM_BASE_URL=stub.url)
        process = WorkerProcess(env, folder / "worker.log", f"{queues.INTERACTIVE},{queues.PREDICT}", "delivery")
        try:
            process.wait_registered(Redis.from_url(TEST_REDIS_URL))
            yield env, stub
        finally:
            process.stop()


def run_job(redis: Redis, env: dict[str, str], project_id: int, task_ids: list[int]) -> dict:
    """The tasks in one job, as `prelabel run` queues them (the worker writes the predictions): its result."""
    results = ResultStore(redis)
    version = version_for(env)
    results.hand_over(version, task_ids)
    [job] = queues.enqueue_predictions(redis, results, project_id, sorted(task_ids), version)
    return finished(job)


def test_one_task_label_studio_cannot_list_costs_only_itself(label_studio, redis_conn, worker):
    """Label Studio accepts a lone surrogate in task data on import, then answers 500 to every task list with the
    data that includes it. The job reads its tasks in halves until the bad one is isolated: it fails with its
    reason, the others are predicted and written. (Before: the whole job failed on every retry.)"""
    env, _ = worker
    project_id, good = image_project(label_studio, "Unlistable task", CONFIG,
                                     {name: PALETTE[name] for name in ("red", "green", "blue")}, "unlistable")
    bad = requests.post(f"{label_studio.url}/api/projects/{project_id}/import",
                        headers={**label_studio.headers, "Content-Type": "application/json"},
                        data=json.dumps([{"image": "/data/local-files/?d=unlistable/red.jpg", "note": "\ud800"}]),
                        timeout=60)
    assert bad.status_code == 201, bad.text[:300]
    listed = requests.get(f"{label_studio.url}/api/tasks/", headers=label_studio.headers, timeout=60,
                          params={"project": project_id, "fields": "all", "include": "id"}).json()["tasks"]
    [bad_id] = {task["id"] for task in listed} - set(good.values())
    outcome = run_job(redis_conn, env, project_id, [*good.values(), bad_id])
    assert outcome["labelled"] == 3 and list(outcome["failed"]) == [bad_id], outcome
    assert "HTTP 500 to any task list that includes this task" in outcome["failed"][bad_id]
    version = version_for(env)
    wait_until(lambda: versions_held(label_studio, list(good.values())) == {
        task_id: [version] for task_id in good.values()}, 60, what="the good tasks' predictions")


def test_a_task_prelabel_cannot_read_costs_only_itself(label_studio, proxy):
    """A task list whose entries are not what Label Studio's API promises (one task's data a string; entries
    without an id), as a proxy or another Label Studio version could answer: the malformed task is a problem with
    its reason (the job fails it alone), the others are read; an entry without an id is left out."""
    project_id, *task_ids = tasks_of(label_studio, "Malformed task", 3)
    proxy.malformed = {task_ids[1]: "not an object"}
    proxy.stray = [{"data": {"image": "/data/upload/1/x.jpg"}}, "a string", {"id": True, "data": {}}]
    studio = LabelStudio(proxy.url, label_studio.token)
    found, problems = studio.read_tasks(project_id, "id,data,predictions_model_versions", task_ids)
    assert sorted(found) == [task_ids[0], task_ids[2]] and problems == {task_ids[1]: "its data is not an object"}
    assert found[task_ids[0]].data["image"].startswith("https://photos.example/Malformed task/")
    assert sorted(task.id for task in studio.list_tasks(project_id, "id", ids=task_ids)) == [task_ids[0], task_ids[2]]


def test_a_result_made_for_another_labeling_config_is_not_delivered(label_studio, redis_conn, worker):
    """Results are kept for the labeling config they were made for: after the choices control is renamed (and
    the predictions deleted), the worker predicts again for the new control instead of writing kept results
    that name the old one (Label Studio dropped those silently for 7 days: "6 prediction(s) in Label Studio" for
    none)."""
    env, _ = worker
    project_id, ids = image_project(label_studio, "Config changed", CONFIG,
                                    {name: PALETTE[name] for name in ("red", "green")}, "config-changed")
    task_ids = list(ids.values())
    version = version_for(env)
    run_job(redis_conn, env, project_id, task_ids)
    wait_until(lambda: versions_held(label_studio, task_ids) == {t: [version] for t in task_ids}, 60,
               what="the first predictions")
    client = label_studio.client()
    for task_id in task_ids:
        for found in client.predictions.list(task=task_id):
            client.predictions.delete(id=found.id)
    client.projects.update(id=project_id, label_config=CONFIG.replace('"label"', '"kind"'))
    # The worker read the config seconds ago (it reads it at most every 30 s): this job delivers the kept results,
    # and Label Studio refuses them; that is said, and makes the worker read the config again.
    run_job(redis_conn, env, project_id, task_ids)
    # The first job's writer may still be setting the project's model_version when the predictions are deleted
    # above; Label Studio then refuses that update, and the ledger notes it first: wait for the refusal itself.
    why = wait_until(lambda: "stored 0 of 2" in (noted := Ledger(redis_conn).why(project_id) or "") and noted, 60,
                     what="the refusal to be noted")
    assert "no control 'label'" in why, why
    outcome = run_job(redis_conn, env, project_id, task_ids)
    assert outcome["reused"] == 0 and outcome["labelled"] == 2, outcome  # predicted again, for the new config
    wait_until(lambda: versions_held(label_studio, task_ids) == {t: [version] for t in task_ids}, 60,
               what="the new predictions")
    assert {p.result[0]["from_name"] for t in task_ids for p in client.predictions.list(task=t)} == {"kind"}


def test_a_result_for_a_predict_that_posted_other_data_is_not_stranded(label_studio, redis_conn, worker, tmp_path):
    """A /predict posting data that differs from Label Studio's: the worker keeps its result under Label Studio's
    data, which the waiting request never finds. When the request gives up, the task enters the ledger, and the
    reconciler writes the result Label Studio lacks (before: nobody ever did)."""
    env, _ = worker
    project_id, ids = image_project(label_studio, "Stranded", CONFIG, {"red": PALETTE["red"]}, "stranded")
    service, url = start_service({**env, "PRELABEL_SYNC_BUDGET": "3", "PRELABEL_RECONCILE_AFTER": "1"},
                                 tmp_path / "serve.log")
    try:
        wait_until(lambda: WorkerRegistry(redis_conn).serving().get(queues.INTERACTIVE), 30,
                   what="the worker to be counted (the request waits for it)")
        task = label_studio.client().tasks.get(id=ids["red"])
        posted = {"id": task.id, "project": project_id, "data": {**task.data, "extra": "posted, not stored"}}
        answer = requests.post(f"{url}/predict", timeout=60, json={
            "tasks": [posted], "label_config": CONFIG, "project": f"{project_id}.1700000000"})
        assert answer.status_code == 200 and answer.json()["results"] == [[]]
        version = version_for(env)
        wait_until(lambda: versions_held(label_studio, [ids["red"]]) == {ids["red"]: [version]}, 90,
                   what="the reconciler to write the stranded result")
    finally:
        stop_process(service)
