"""Bulk write-back against the real Label Studio: exactly once however many write at once or again, the
superseded predictions of tasks nobody annotated removed, and a worker's writer that gathers its jobs'
predictions, writes an interactive job's at once, and loses nothing when Label Studio refuses a write."""

from __future__ import annotations

import threading

from redis import Redis

from helpers import PALETTE, TEST_REDIS_URL, image_project, wait_until
from prelabel.delivery.columns import ColumnQueue
from prelabel.delivery.ledger import Ledger
from prelabel.delivery.reconciler import reconcile
from prelabel.delivery.results import ResultStore, made_from
from prelabel.delivery.writer import BatchWriter, Outgoing, write_batch
from prelabel.studio.client import LabelStudio
from prelabel.studio.predictions import StudioPrediction

CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
          '<Choice value="Halyomorpha halys"/><Choice value="Nezara viridula"/></Choices></View>')
V1, V2 = "prelabel-0000aaaa-11111111", "prelabel-0000bbbb-11111111"


def prediction(version: str, label: str = "Halyomorpha halys") -> StudioPrediction:
    return StudioPrediction.from_json({"model_version": version, "score": 0.9, "result": [{
        "from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [label]}}]})


def failure(version: str) -> StudioPrediction:
    return StudioPrediction.from_json({"model_version": f"{version}-failed", "score": 0.0, "result": []})


def versions(label_studio, task_id: int) -> list[str]:
    return sorted(p.model_version for p in label_studio.client().predictions.list(task=task_id))


def test_many_writers_at_once_and_again_write_each_prediction_once(label_studio, redis_conn):
    colours = {f"c{n}": (n * 20, 100, 200 - n * 20) for n in range(8)}
    project_id, ids = image_project(label_studio, "Writers at once", CONFIG, colours, "writers")
    items = [Outgoing(task_id, prediction(V1)) for task_id in ids.values()]
    outcomes, errors = [], []

    def write() -> None:  # each writer as a worker process has it: its own client, the shared Redis
        try:
            studio = LabelStudio(label_studio.url, label_studio.token)
            outcomes.append(write_batch(studio, ResultStore(Redis.from_url(TEST_REDIS_URL)), project_id, items))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    writers = [threading.Thread(target=write) for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert not errors
    assert sum(outcome.written for outcome in outcomes) == len(items)
    # A retried job writes the same batch again: Label Studio already holds it, nothing is written twice.
    again = write_batch(LabelStudio(label_studio.url, label_studio.token), ResultStore(redis_conn), project_id, items)
    assert (again.written, again.present) == (0, len(items))
    assert all(versions(label_studio, task_id) == [V1] for task_id in ids.values())


def test_a_new_version_removes_superseded_predictions_of_unannotated_tasks(label_studio, redis_conn):
    project_id, ids = image_project(label_studio, "Superseded", CONFIG,
                                    {"free": PALETTE["red"], "annotated": PALETTE["green"],
                                     "failed": PALETTE["blue"]}, "superseded")
    studio, results = LabelStudio(label_studio.url, label_studio.token), ResultStore(redis_conn)
    write_batch(studio, results, project_id, [Outgoing(ids["free"], prediction(V1)),
                                              Outgoing(ids["annotated"], prediction(V1))])
    label_studio.client().annotations.create(id=ids["annotated"], result=list(prediction(V1).result))
    write_batch(studio, results, project_id, [Outgoing(ids["failed"], failure(V1))])
    outcome = write_batch(studio, results, project_id, [Outgoing(task_id, prediction(V2)) for task_id in ids.values()])
    assert (outcome.written, outcome.superseded) == (3, 2)
    assert versions(label_studio, ids["free"]) == [V2]
    assert versions(label_studio, ids["annotated"]) == [V1, V2]  # a reviewer worked from it: kept
    assert versions(label_studio, ids["failed"]) == [V2]  # the failure it replaces goes too
    # A later failure never replaces a real prediction, nor is written beside it.
    later = write_batch(studio, results, project_id, [Outgoing(ids["free"], failure(V2))])
    assert (later.written, later.present) == (0, 1)


def test_keep_superseded_keeps_every_version(label_studio, redis_conn):
    project_id, ids = image_project(label_studio, "Keep them", CONFIG, {"kept": PALETTE["yellow"]}, "kept")
    studio, results = LabelStudio(label_studio.url, label_studio.token), ResultStore(redis_conn)
    write_batch(studio, results, project_id, [Outgoing(ids["kept"], prediction(V1))])
    outcome = write_batch(studio, results, project_id, [Outgoing(ids["kept"], prediction(V2))], keep_superseded=True)
    assert (outcome.written, outcome.superseded) == (1, 0)
    assert versions(label_studio, ids["kept"]) == [V1, V2]


def test_the_writer_gathers_several_jobs_predictions_into_one_bulk_write(label_studio, redis_conn):
    project_id, ids = image_project(label_studio, "Across jobs", CONFIG,
                                    {"first": PALETTE["red"], "second": PALETTE["green"]}, "across")
    studio, results = LabelStudio(label_studio.url, label_studio.token), ResultStore(redis_conn)
    made_current = []
    writer = BatchWriter(studio, results, Ledger(redis_conn), after_write=lambda *pair: made_current.append(pair),
                         max_wait=60, column_queue=ColumnQueue(redis_conn))
    writer.submit(project_id, [Outgoing(ids["first"], prediction(V1))])  # one job ends...
    writer.submit(project_id, [Outgoing(ids["second"], prediction(V1))])  # ...the next hands over its first
    assert Ledger(redis_conn).waiting(V1, project_id, ids.values()) == 2  # handed over: in the ledger until written
    writer.close()  # a worker leaving writes what waits
    assert studio.calls["write predictions"] == 1
    assert all(versions(label_studio, task_id) == [V1] for task_id in ids.values())
    assert Ledger(redis_conn).waiting(V1, project_id, ids.values()) == 0
    assert made_current == [(project_id, V1)]


def test_an_interactive_job_and_the_last_job_before_idling_are_written_at_once(label_studio, redis_conn):
    project_id, ids = image_project(label_studio, "At once", CONFIG,
                                    {"opened": PALETTE["cyan"], "last": PALETTE["yellow"]}, "atonce")
    writer = BatchWriter(LabelStudio(label_studio.url, label_studio.token), ResultStore(redis_conn), Ledger(redis_conn),
                         max_wait=600, column_queue=ColumnQueue(redis_conn))
    try:  # each written within 60 s, though a bulk prediction may wait 600 s here
        writer.submit(project_id, [Outgoing(ids["opened"], prediction(V1))], urgent=True)
        wait_until(lambda: versions(label_studio, ids["opened"]) == [V1], 60, what="the interactive prediction")
        writer.submit(project_id, [Outgoing(ids["last"], prediction(V1))])
        writer.flush()  # the worker found no next job
        wait_until(lambda: versions(label_studio, ids["last"]) == [V1], 60, what="the last job's prediction")
    finally:
        writer.close()


def test_a_write_label_studio_refuses_is_written_by_the_reconciler(label_studio, redis_conn):
    project_id, ids = image_project(label_studio, "Refused", CONFIG, {"refused": PALETTE["magenta"]}, "refused")
    results, studio = ResultStore(redis_conn), LabelStudio(label_studio.url, label_studio.token)
    [task] = studio.list_tasks(project_id, "id,data", ids=[ids["refused"]])
    results.put(V1, ids["refused"], made_from(task.data, CONFIG), prediction(V1))  # what the job kept
    refusing = LabelStudio(label_studio.url, "not-a-valid-token")
    writer = BatchWriter(refusing, results, Ledger(redis_conn), column_queue=ColumnQueue(redis_conn))
    writer.submit(project_id, [Outgoing(ids["refused"], prediction(V1))], urgent=True)
    writer.close()
    assert refusing.calls and versions(label_studio, ids["refused"]) == []
    assert Ledger(redis_conn).waiting(V1, project_id, [ids["refused"]]) == 1  # kept, not lost
    for entry in redis_conn.zrange("prelabel:ledger", 0, -1):  # its time comes (CLAIM_TTL later)
        redis_conn.zadd("prelabel:ledger", {entry: 0})
    requeued = []
    done = reconcile(studio, results, Ledger(redis_conn), lambda *lost: requeued.append(lost))
    assert done.written == 1 and versions(label_studio, ids["refused"]) == [V1] and not requeued
    assert label_studio.client().projects.get(id=project_id).model_version == V1  # as the writer would have set
    assert Ledger(redis_conn).waiting(V1, project_id, [ids["refused"]]) == 0


def test_a_failure_meeting_its_tasks_real_prediction_in_one_batch_is_dropped(label_studio, redis_conn):
    project_id, ids = image_project(label_studio, "Failure then success", CONFIG, {"healed": PALETTE["red"]}, "met")
    outcome = write_batch(LabelStudio(label_studio.url, label_studio.token), ResultStore(redis_conn), project_id,
                          [Outgoing(ids["healed"], failure(V1)), Outgoing(ids["healed"], prediction(V1))])
    assert outcome.written == 1 and versions(label_studio, ids["healed"]) == [V1]


def test_no_bulk_write_carries_more_than_max_items(label_studio, redis_conn):
    project_id, ids = image_project(label_studio, "Capped", CONFIG,
                                    {"a": PALETTE["red"], "b": PALETTE["green"], "c": PALETTE["blue"]}, "capped")
    studio = LabelStudio(label_studio.url, label_studio.token)
    writer = BatchWriter(studio, ResultStore(redis_conn), Ledger(redis_conn), max_items=2, max_wait=60,
                         column_queue=ColumnQueue(redis_conn))
    writer.submit(project_id, [Outgoing(task_id, prediction(V1)) for task_id in ids.values()])
    writer.close()
    assert studio.calls["write predictions"] == 2  # 2 + 1
    assert all(versions(label_studio, task_id) == [V1] for task_id in ids.values())


def test_the_reconciler_removes_a_double_two_answers_at_once_left(label_studio, redis_conn):
    """Two /predict for one new task at once are both answered (idempotent), and Label Studio stores both: when
    the response's ledger entry falls due, the reconciler leaves one."""
    project_id, ids = image_project(label_studio, "Answered twice", CONFIG, {"twice": PALETTE["red"]}, "twice")
    client, studio = label_studio.client(), LabelStudio(label_studio.url, label_studio.token)
    for _ in range(2):  # what Label Studio does with each response
        client.projects.import_predictions(id=project_id, request=[prediction(V1).to_json(task=ids["twice"])])
    Ledger(redis_conn).add(V1, project_id, [ids["twice"]], due_in=0)
    done = reconcile(studio, ResultStore(redis_conn), Ledger(redis_conn), lambda *lost: None)
    assert done.doubles == 1 and done.confirmed == 1
    assert versions(label_studio, ids["twice"]) == [V1]
