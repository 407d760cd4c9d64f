"""The Label Studio test harness works: a real 1.23.2 server, a project, a local image, predictions, annotations."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from labelstudio import LabelStudio

LABEL_CONFIG = (
    '<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
    '<Choice value="Halyomorpha halys"/><Choice value="Sitophilus oryzae"/></Choices></View>'
)


def choices_result(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [label]}}]


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def image(label_studio: LabelStudio) -> tuple[str, bytes]:
    """A PNG under files_root, as the task URL Label Studio serves it from."""
    # Served only from a subdirectory of LOCAL_FILES_DOCUMENT_ROOT that a Local Files storage points at.
    directory = label_studio.files_root / "images"
    directory.mkdir(exist_ok=True)
    content = png_bytes()
    (directory / "bug.png").write_bytes(content)
    return "/data/local-files/?d=images/bug.png", content


@pytest.fixture(scope="module")
def task(label_studio: LabelStudio, image: tuple[str, bytes]) -> tuple[int, int]:
    """(project id, task id) of a one-task project whose task shows the PNG."""
    client = label_studio.client()
    project = client.projects.create(title="harness", label_config=LABEL_CONFIG, model_version="v1")
    client.import_storage.local.create(project=project.id, path=str(label_studio.files_root / "images"))
    response = client.projects.import_tasks(
        id=project.id, request=[{"data": {"image": image[0]}}], return_task_ids=True
    )
    (task_id,) = response.task_ids
    return project.id, task_id


def test_task_is_imported(label_studio: LabelStudio, task: tuple[int, int], image: tuple[str, bytes]) -> None:
    project_id, task_id = task
    client = label_studio.client()
    assert client.tasks.get(id=task_id).data == {"image": image[0]}
    assert [t.id for t in client.tasks.list(project=project_id)] == [task_id]
    assert client.projects.get(id=project_id).model_version == "v1"


def test_image_is_served_with_the_token(label_studio: LabelStudio, image: tuple[str, bytes]) -> None:
    url, content = image
    response = requests.get(label_studio.url + url, headers=label_studio.headers, timeout=10)
    assert response.status_code == 200
    assert response.content == content
    assert requests.get(label_studio.url + url, timeout=10).status_code in (401, 403)  # not without the token


def test_prediction_round_trip(label_studio: LabelStudio, task: tuple[int, int]) -> None:
    _, task_id = task
    client = label_studio.client()
    created = client.predictions.create(
        task=task_id, result=choices_result("Halyomorpha halys"), score=0.8, model_version="v1"
    )
    listed = client.predictions.list(task=task_id)
    assert [p.id for p in listed] == [created.id]
    assert listed[0].score == pytest.approx(0.8)
    assert listed[0].model_version == "v1"
    assert listed[0].result[0]["value"] == {"choices": ["Halyomorpha halys"]}


def test_annotation_round_trip(label_studio: LabelStudio, task: tuple[int, int]) -> None:
    _, task_id = task
    client = label_studio.client()
    created = client.annotations.create(id=task_id, result=choices_result("Sitophilus oryzae"))
    listed = client.annotations.list(id=task_id)
    assert [a.id for a in listed] == [created.id]
    assert listed[0].result[0]["value"] == {"choices": ["Sitophilus oryzae"]}
