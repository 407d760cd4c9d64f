"""Feedback jobs through real RQ workers at once, reading real annotations back from a real Label Studio, on
SQLite and on PostgreSQL: every piece of evidence is counted exactly once, whatever the interleaving."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from rq.registry import FailedJobRegistry

from helpers import EXAMPLE_VOCAB, TEST_REDIS_URL
from prelabel.jobs import queues
from prelabel.learning.rows import EvidenceRow
from prelabel.learning.rules import Learning
from prelabel.learning.store import LearnedStore
from prelabel.vocabulary.normalize import Normalizer
from prelabel.vocabulary.vocab import load_vocabulary

BIN = Path(sys.executable).parent
BMSB = "Halyomorpha halys"
CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
          '<Choice value="Halyomorpha halys"/><Choice value="Nezara viridula"/></Choices></View>')
TASKS = 24
WORKERS = 3


def choice(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [label]}}]


@pytest.fixture(scope="module")
def annotated(label_studio):
    """A project of TASKS tasks, each annotated BMSB by one of three reviewers (no backend: no webhooks)."""
    client = label_studio.client()
    project = client.projects.create(title="Feedback at once", label_config=CONFIG)
    client.projects.import_tasks(id=project.id, request=[{"image": f"/data/upload/{i}.jpg"} for i in range(TASKS)])
    tasks = [task.id for task in client.tasks.list(project=project.id)]
    # Each reviewer writes as itself: only then does Label Studio vouch for who wrote what (learning/feedback.py).
    reviewers = [client] + [label_studio.account(f"reviewer{i}")[1] for i in range(2)]
    annotations = {}
    for number, task in enumerate(tasks):
        created = reviewers[number % 3].annotations.create(id=task, result=choice(BMSB))
        annotations[created.id] = task
    return project.id, annotations, reviewers


def run_workers(env: dict) -> list[str]:
    """WORKERS real `prelabel worker --burst` processes on the feedback queue, all at once."""
    processes = [subprocess.Popen([str(BIN / "prelabel"), "worker", "--queues", queues.FEEDBACK, "--burst",
                                   "--name", f"feedback-{i}"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for i in range(WORKERS)]
    return [process.communicate(timeout=600)[0] for process in processes]


def test_many_feedback_jobs_at_once_count_each_annotation_once(store_url, annotated, label_studio, tmp_path):
    project_id, annotations, reviewers = annotated
    url = store_url
    store = LearnedStore(url)
    # What prediction jobs kept for each task: the MLLM said a string the vocabulary does not know, and BMSB.
    store.save_prediction_evidence([EvidenceRow(
        task_id=task, project_id=project_id, model_version="v1", vocabulary_version="x", label=None,
        evidence={"candidates": [
            {"text": "marble bug", "source": "classification", "label": None, "method": "none"},
            {"text": "BMSB", "source": "candidate", "label": BMSB, "method": "alias"},
            {"text": "A bug on a leaf.", "source": "description", "label": None, "method": "ambiguous"}]})
        for task in annotations.values()])
    redis = Redis.from_url(TEST_REDIS_URL)
    redis.flushdb()
    queue = queues.queue(redis, queues.FEEDBACK)
    ids = list(annotations)
    for annotation_id in ids:
        queues.enqueue_feedback(redis, "ANNOTATION_CREATED", project_id, [annotation_id])
    for annotation_id in ids[::3]:  # Label Studio sends UPDATED too: the same evidence must not count twice
        queues.enqueue_feedback(redis, "ANNOTATION_UPDATED", project_id, [annotation_id])
    env = {**os.environ, "REDIS_URL": TEST_REDIS_URL, "LABEL_STUDIO_URL": label_studio.url,
           "LABEL_STUDIO_API_KEY": label_studio.token, "PRELABEL_DATABASE_URL": url,
           "PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_CLIP_MODEL": "", "PRELABEL_LLM_BASE_URL": "",
           "PRELABEL_DATA_DIR": str(tmp_path)}
    logs = run_workers(env)
    assert FailedJobRegistry(queue=queue).count == 0, "\n".join(logs)
    assert sum(log.count("Job OK") for log in logs) == len(ids) + len(ids[::3])

    counts = dict(store.query("SELECT kind, count(*) FROM annotation_evidence GROUP BY kind"))
    assert counts == {"synonym": TASKS, "confirmation": TASKS}
    per_annotation = store.query("SELECT annotation_id, count(*) FROM annotation_evidence GROUP BY annotation_id")
    assert sorted(per_annotation) == sorted((a, 2) for a in ids)
    assert store.synonyms_in_force() == [("marble bug", BMSB)]
    learning = Learning(store, Normalizer(load_vocabulary(EXAMPLE_VOCAB)))
    assert [change.what for change in learning.changes()] == ["promoted"]  # promoted once, however many jobs raced
    review = learning.review()
    assert review.pending == review.conflicts == ()  # the synonym is in force, nothing else

    # Reviewers delete all but two annotations: their evidence is retracted, and the rule no longer holds.
    client = label_studio.client()
    for annotation_id in ids[2:]:
        client.annotations.delete(id=annotation_id)
        queues.enqueue_feedback(redis, "ANNOTATIONS_DELETED", project_id, [annotation_id])
    logs = run_workers(env)
    assert FailedJobRegistry(queue=queue).count == 0, "\n".join(logs)
    counts = dict(store.query("SELECT kind, count(*) FROM annotation_evidence GROUP BY kind"))
    assert counts == {"synonym": 2, "confirmation": 2}
    assert store.synonyms_in_force() == []
    assert [change.what for change in learning.changes()] == ["demoted", "promoted"]
    # Put the annotations back for the other database's run.
    for annotation_id in ids[2:]:
        task = annotations.pop(annotation_id)
        created = reviewers[len(annotations) % 3].annotations.create(id=task, result=choice(BMSB))
        annotations[created.id] = task
    redis.flushdb()
