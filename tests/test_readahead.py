"""Reading the next job's tasks and first images while the current job runs (prelabel.jobs.readahead), against
the real Label Studio and Redis: what is read is what the job would have read, handed over once and only to
that job."""

from __future__ import annotations

from helpers import PALETTE, image_project
from prelabel.delivery.results import ResultStore
from prelabel.jobs import queues
from prelabel.jobs.readahead import TASK_FIELDS, ReadAheads
from prelabel.studio.client import LabelStudio
from prelabel.workers import WorkerRegistry

CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
          '<Choice value="Halyomorpha halys"/></Choices></View>')
VERSION = "prelabel-0000aaaa-11111111"


def test_the_next_jobs_tasks_and_first_images_are_read_ahead(label_studio, redis_conn):
    project_id, ids = image_project(label_studio, "Read ahead", CONFIG,
                                    {name: PALETTE[name] for name in ("red", "green", "blue")}, "ahead")
    task_ids = sorted(ids.values())
    [job] = queues.enqueue_predictions(redis_conn, ResultStore(redis_conn), project_id, task_ids, VERSION)
    studio = LabelStudio(label_studio.url, label_studio.token)
    ahead = ReadAheads(studio, redis_conn, WorkerRegistry(redis_conn), images=2)
    ahead.start(None, lambda project: "image" if project == project_id else None)
    ahead.join(timeout=60)
    assert studio.calls["read /api/tasks/"] == 1 and studio.calls["fetch image"] == 2
    values = {task.id: task.data["image"] for task in studio.list_tasks(project_id, "id,data", ids=task_ids)}
    images = ahead.images(values)
    assert sorted(images) == task_ids[:2]
    assert all(image == studio.fetch_image(values[t], t, project_id) for t, image in images.items())
    assert ahead.images(values) == {}  # handed over once
    assert ahead.tasks(job, project_id, task_ids[:2]) is None  # not the tasks read: read again
    reads = studio.calls["read /api/tasks/"]
    ahead.start(None, lambda project: None)
    ahead.join(timeout=60)
    assert studio.calls["read /api/tasks/"] == reads  # a job is read ahead once, by one worker
    redis_conn.delete(f"prelabel:read-ahead:{job.id}")
    ahead.start(None, lambda project: None)
    ahead.join(timeout=60)
    found, problems = ahead.tasks(job, project_id, task_ids)
    expected, _ = studio.read_tasks(project_id, TASK_FIELDS, task_ids)
    assert found == expected and problems == {}
    assert ahead.tasks(job, project_id, task_ids) is None  # handed over once
