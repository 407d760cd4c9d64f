"""Ids from outside: a project id or a task id is a positive 64-bit integer (a JSON integer, not a boolean), and
a project named as text ('12', or '12.1699999999' as Label Studio sends it) in ASCII digits only. str.isdigit()
takes '²' and '١٢' for digits that int() then refuses: those were a 500, and `true` was project 1. The real
service and Redis; nothing else is needed (nothing may be queued)."""

from __future__ import annotations

import pytest

from faults.support import CONFIG
from helpers import EXAMPLE_VOCAB, TEST_REDIS_URL
from prelabel.jobs import bursts, queues
from prelabel.service.app import create_app
from prelabel.settings import Settings

NO_PROJECT_IDS = ["²", "١٢", "12²", "１２", "9" * 5000, "-3", "", " 7", True, False, 0, -1, 2 ** 63, 1.5, None, [7],
                  {"id": 7}]
NO_TASK_IDS = [True, False, "3", "٣", 1.0, 0, -2, 2 ** 63, None, [4]]


@pytest.fixture
def client(tmp_path, redis_conn):
    settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), redis_url=TEST_REDIS_URL, clip_model="",
                                 data_dir=str(tmp_path))
    return create_app(settings).test_client()


def queued(redis_conn, name: str) -> list:
    return queues.queue(redis_conn, name).jobs


@pytest.mark.parametrize("project", NO_PROJECT_IDS, ids=repr)
def test_a_project_that_is_no_ascii_integer_is_a_400_and_queues_nothing(client, redis_conn, project):
    task = {"id": 5, "data": {"image": "/data/upload/1/a.jpg"}, "project": project}
    response = client.post("/predict", json={"tasks": [task], "label_config": CONFIG, "project": project})
    assert response.status_code == 400 and response.json["error"].startswith("no project")
    assert queued(redis_conn, queues.PREDICT) == []


def test_label_studios_own_project_names_still_work(client, redis_conn):
    for number, project in enumerate(("7", "7.1699999999", 7), 1):
        task = {"id": number, "data": {"image": "/data/upload/1/a.jpg"}}
        body = {"tasks": [task], "label_config": CONFIG, "project": project}
        assert client.post("/predict", json=body).status_code == 200
    assert {job.kwargs["project_id"] for job in queued(redis_conn, queues.PREDICT)} == {7}


def test_task_ids_that_are_no_integers_get_an_empty_answer_each(client, redis_conn):
    tasks = [{"id": value, "data": {"image": "/data/upload/1/a.jpg"}} for value in NO_TASK_IDS]
    tasks.append({"id": 11, "data": {"image": "/data/upload/1/b.jpg"}})
    response = client.post("/predict", json={"tasks": tasks, "label_config": CONFIG, "project": "7"})
    assert response.status_code == 200 and response.json["results"] == [[]] * len(tasks)
    [job] = queued(redis_conn, queues.PREDICT)  # a burst's drain job: the tasks wait in the project's set
    waiting = bursts.waiting(redis_conn, queues.PREDICT, 7, job.kwargs["model_version"])
    assert waiting == [11]  # the one task Label Studio could have made


@pytest.mark.parametrize("project", ["²", "١٢", True, {"id": "²"}, {"id": True}], ids=repr)
def test_a_webhook_project_that_is_no_integer_is_no_project(client, redis_conn, project):
    body = {"action": "ANNOTATION_CREATED", "project": project, "annotation": {"id": 55}}
    assert client.post("/webhook", json=body).status_code == 202
    [job] = queued(redis_conn, queues.FEEDBACK)
    assert job.args == ("ANNOTATION_CREATED", None, [55])  # the job reads the annotation's project back


def test_webhook_annotation_ids_that_are_no_integers_are_not_taken(client, redis_conn):
    junk = [{"id": value} for value in NO_TASK_IDS]
    answer = client.post("/webhook", json={"action": "ANNOTATIONS_DELETED", "project": 7, "annotations": junk})
    assert answer.status_code == 400 and "without annotation ids" in answer.json["error"]
    body = {"action": "ANNOTATIONS_DELETED", "project": "7.1", "annotations": [*junk, {"id": 9}]}
    assert client.post("/webhook", json=body).status_code == 202
    [job] = queued(redis_conn, queues.FEEDBACK)
    assert job.args == ("ANNOTATIONS_DELETED", 7, [9])
