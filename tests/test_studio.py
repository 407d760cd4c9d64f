"""Talking to Label Studio: image URLs of every kind, the token's reach, and clear errors when it is away."""

from __future__ import annotations

import base64
import io
import json
from urllib.parse import urlencode

import pytest
import requests
from PIL import Image

from prelabel.studio import client as studio_client
from prelabel.studio.client import LabelStudio, StudioError, id_queries
from prelabel.studio.tasks import LISTED_IDS_CUT, MalformedTask, Task


def test_a_listed_task_read_into_its_record():
    """Label Studio lists versions and annotation ids comma-joined on SQLite and as lists on PostgreSQL; whole
    versions compare, never substrings; a cut list of ids is no list; what a listing left out reads empty."""
    sqlite = Task.from_json({"id": 7, "data": {"image": "a.jpg"}, "total_predictions": 2,
                             "predictions_model_versions": "prelabel-a-b-failed, x", "annotations_ids": "12,13",
                             "predictions": [{"id": 3, "model_version": "x", "result": [{"type": "choices"}, 5]},
                                             "junk", {"model_version": 4}]}, project=2)
    assert (sqlite.id, sqlite.project, sqlite.data, sqlite.total_predictions) == (7, 2, {"image": "a.jpg"}, 2)
    assert sqlite.holds("x") and sqlite.holds("prelabel-a-b-failed") and not sqlite.holds("prelabel-a-b")
    assert sqlite.annotation_ids == {12, 13} and sqlite.total_annotations == 0
    assert [(p.id, p.model_version, len(p.result)) for p in sqlite.predictions] == [(3, "x", 1), (None, None, 0)]
    postgres = Task.from_json({"id": 7, "predictions_model_versions": ["x"], "annotations_ids": [12, 13]}, project=2)
    assert postgres.versions == {"x"} and postgres.annotation_ids == {12, 13} and postgres.data is None
    cut = Task.from_json({"id": 7, "annotations_ids": "1," * (LISTED_IDS_CUT // 2)}, project=2)
    assert cut.annotation_ids is None and Task.from_json({"id": 7}, project=2).annotation_ids is None


@pytest.mark.parametrize(("value", "task_id", "message"), [
    ({"id": True, "data": {}}, None, "without an integer id (True)"),
    ({"id": "7", "data": {}}, None, "without an integer id ('7')"),
    ({"data": {}}, None, "without an integer id (None)"),
    (["not", "a", "task"], None, "not an object (list)"),
    ({"id": 7, "data": "a string"}, 7, "its data is not an object"),
])
def test_a_malformed_task_names_itself(value, task_id, message):
    with pytest.raises(MalformedTask) as raised:
        Task.from_json(value, project=2)
    assert raised.value.task_id == task_id and message in str(raised.value)


def test_image_urls_of_every_kind():
    studio = LabelStudio("http://ls.local:8080/", "token")
    assert studio.image_url("/data/upload/3/abc.jpg", 1) == "http://ls.local:8080/data/upload/3/abc.jpg"
    assert studio.image_url("/data/local-files/?d=batch1/a.jpg", 1) == (
        "http://ls.local:8080/data/local-files/?d=batch1/a.jpg")
    presigned = studio.image_url("s3://bucket/photos/a.jpg", 42)
    encoded = base64.urlsafe_b64encode(b"s3://bucket/photos/a.jpg").decode()
    assert presigned == f"http://ls.local:8080/tasks/42/presign/?fileuri={encoded}"
    assert studio.image_url("gs://b/x.png", 7).startswith("http://ls.local:8080/tasks/7/presign/")
    assert studio.image_url("https://cdn.example/x.jpg", 1) == "https://cdn.example/x.jpg"
    with pytest.raises(StudioError, match="needs its task id"):
        studio.image_url("azure-blob://c/x.jpg", None)


def test_settings_it_cannot_work_with():
    with pytest.raises(StudioError, match="LABEL_STUDIO_API_KEY is not set"):
        LabelStudio("http://ls.local:8080", "")
    with pytest.raises(StudioError, match="must start with http"):
        LabelStudio("ls.local:8080", "token")


def test_an_unreachable_label_studio_is_a_clear_error():
    studio = LabelStudio("http://127.0.0.1:9", "token", timeout=2)  # nothing listens on port 9
    with pytest.raises(StudioError, match=r"cannot fetch /data/upload/1.jpg: .*"):
        studio.fetch_image("/data/upload/1.jpg", 1)
    with pytest.raises(StudioError, match=r"Label Studio at http://127.0.0.1:9: cannot read project"):
        studio.project(1)


def test_uploaded_images_and_refusals_against_a_real_label_studio(label_studio):
    client = label_studio.client()
    project = client.projects.create(title="Upload test", label_config=(
        '<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
        '<Choice value="A"/></Choices></View>'))
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (1, 2, 3)).save(buffer, format="PNG")
    uploaded = requests.post(f"{label_studio.url}/api/projects/{project.id}/import", headers=label_studio.headers,
                             files={"file": ("photo.png", buffer.getvalue(), "image/png")}, timeout=30)
    assert uploaded.status_code == 201, uploaded.text
    [task] = list(client.tasks.list(project=project.id))
    assert task.data["image"].startswith("/data/upload/")
    studio = LabelStudio(label_studio.url, label_studio.token)
    assert studio.fetch_image(task.data["image"], task.id) == buffer.getvalue()
    with pytest.raises(StudioError, match=r"missing.png: HTTP [45]\d\d from"):  # 1.23.2 answers 500
        studio.fetch_image(f"/data/upload/{project.id}/missing.png", task.id)
    refused = LabelStudio(label_studio.url, "wrong-token")
    with pytest.raises(StudioError, match="HTTP 401"):
        refused.fetch_image(task.data["image"], task.id)


def test_predictions_the_config_cannot_show_are_never_written(label_studio):
    """Prelabel's Label Studio imports predictions on its memory-efficient path (local/labelstudio.py,
    IMPORT_FLAG: it recounts only the tasks written), which stores a prediction naming a control or a choice the
    labeling config lacks. The client checks them against the config itself, as the legacy path did: only those
    the config can show are written, and the count says so."""
    client = label_studio.client()
    project = client.projects.create(title="Config check", label_config=(
        '<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
        '<Choice value="A"/></Choices></View>'))
    tasks = [client.tasks.create(project=project.id, data={"image": f"/data/upload/{n}.jpg"}).id for n in range(4)]

    def prediction(task: int, control: str = "label", choice: str = "A") -> dict:
        return {"task": task, "model_version": "check", "score": 0.5, "result": [
            {"from_name": control, "to_name": "image", "type": "choices", "value": {"choices": [choice]}}]}

    unchecked = client.projects.import_predictions(id=project.id, request=[prediction(tasks[0], control="gone")])
    assert unchecked.created == 1  # the flag is on: Label Studio itself no longer checks
    studio = LabelStudio(label_studio.url, label_studio.token)
    written = studio.import_predictions(project.id, [
        prediction(tasks[1]), prediction(tasks[2], control="gone"), prediction(tasks[3], choice="B")])
    assert written == 1
    held = {task: len(list(client.predictions.list(task=task))) for task in tasks[1:]}
    assert held == {tasks[1]: 1, tasks[2]: 0, tasks[3]: 0}


def test_task_ids_are_read_a_few_hundred_at_a_time():
    """20,000 ids in one listing URL got HTTP 414 from Label Studio (a 20,000-task `prelabel run`): each query
    stays within the 4,094-byte request line gunicorn accepts, and together they select every id once."""
    ids = list(range(900_000, 920_000))
    queries = list(id_queries(ids + ids[:10]))
    assert max(len(urlencode({"query": query})) for query in queries) < 3_000
    selected = [task_id for query in queries for task_id in json.loads(query)["selectedItems"]["included"]]
    assert selected == ids


def test_a_listing_by_ids_spans_several_reads(label_studio, monkeypatch):
    client = label_studio.client()
    project = client.projects.create(title="Ids in reads", label_config=(
        '<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
        '<Choice value="A"/></Choices></View>'))
    client.projects.import_tasks(id=project.id, request=[{"image": f"http://example.com/{n}.jpg"} for n in range(5)])
    ids = [task.id for task in client.tasks.list(project=project.id)]
    monkeypatch.setattr(studio_client, "IDS_PER_READ", 2)
    studio = LabelStudio(label_studio.url, label_studio.token)
    listed = list(studio.list_tasks(project.id, "id,data", ids=ids))
    assert sorted(task.id for task in listed) == sorted(ids)
    assert studio.calls["read /api/tasks/"] == 3
