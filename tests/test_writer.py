"""Bulk write-back against the real Label Studio: exactly once however many write at once or again, and the
superseded predictions of tasks nobody annotated removed."""

from __future__ import annotations

import threading

from redis import Redis

from helpers import PALETTE, TEST_REDIS_URL, image_project
from prelabel.jobs.delivery import ResultStore
from prelabel.jobs.writer import Outgoing, write_batch
from prelabel.studio.client import LabelStudio

CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
          '<Choice value="Halyomorpha halys"/><Choice value="Nezara viridula"/></Choices></View>')
V1, V2 = "prelabel-0000aaaa-11111111", "prelabel-0000bbbb-11111111"


def prediction(version: str, label: str = "Halyomorpha halys") -> dict:
    return {"model_version": version, "score": 0.9, "result": [{
        "from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [label]}}]}


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
    label_studio.client().annotations.create(id=ids["annotated"], result=prediction(V1)["result"])
    write_batch(studio, results, project_id, [Outgoing(ids["failed"], {**prediction(V1), "result": [],
                                                                        "model_version": f"{V1}-failed"})])
    outcome = write_batch(studio, results, project_id, [Outgoing(task_id, prediction(V2)) for task_id in ids.values()])
    assert (outcome.written, outcome.superseded) == (3, 2)
    assert versions(label_studio, ids["free"]) == [V2]
    assert versions(label_studio, ids["annotated"]) == [V1, V2]  # a reviewer worked from it: kept
    assert versions(label_studio, ids["failed"]) == [V2]  # the failure it replaces goes too
    # A later failure never replaces a real prediction, nor is written beside it.
    failure = write_batch(studio, results, project_id, [Outgoing(ids["free"], {**prediction(V2), "result": [],
                                                                              "model_version": f"{V2}-failed"})])
    assert (failure.written, failure.present) == (0, 1)


def test_keep_superseded_keeps_every_version(label_studio, redis_conn):
    project_id, ids = image_project(label_studio, "Keep them", CONFIG, {"kept": PALETTE["yellow"]}, "kept")
    studio, results = LabelStudio(label_studio.url, label_studio.token), ResultStore(redis_conn)
    write_batch(studio, results, project_id, [Outgoing(ids["kept"], prediction(V1))])
    outcome = write_batch(studio, results, project_id, [Outgoing(ids["kept"], prediction(V2))], keep_superseded=True)
    assert (outcome.written, outcome.superseded) == (1, 0)
    assert versions(label_studio, ids["kept"]) == [V1, V2]
