"""/webhook is unauthenticated: a spoofed deletion must change nothing while the annotation exists, and a flood
must queue one job per distinct effect, within a bound. Real Label Studio, Redis, PostgreSQL, worker processes."""

from __future__ import annotations

import pytest
from redis import Redis

from faults.support import CONFIG, base_env, run_burst
from helpers import EXAMPLE_VOCAB, TEST_REDIS_URL, fresh_postgres_database
from prelabel.jobs import queues
from prelabel.learning.store import LearnedStore
from prelabel.service.app import create_app
from prelabel.settings import Settings

BMSB = "Halyomorpha halys"


def choice(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [label]}}]


def feedback_results(redis: Redis) -> list[dict]:
    queue = queues.queue(redis, queues.FEEDBACK)
    registry = queue.finished_job_registry
    return [queue.fetch_job(job_id).return_value() for job_id in registry.get_job_ids()]


# ---- floods (the service and Redis; no worker needed) -----------------------------------------------------------

@pytest.fixture
def app(tmp_path, redis_conn):
    settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), redis_url=TEST_REDIS_URL, clip_model="",
                                 data_dir=str(tmp_path), feedback_queue_max=50)
    return create_app(settings)


def test_a_flood_of_identical_webhooks_queues_one_job(app, redis_conn):
    client = app.test_client()
    body = {"action": "ANNOTATIONS_DELETED", "project": {"id": 7}, "annotations": [{"id": 55}, {"id": 56}]}
    answers = [client.post("/webhook", json=body) for _ in range(200)]
    assert answers[0].status_code == 202
    assert {(a.status_code, a.json["status"]) for a in answers[1:]} == {(200, "duplicate")}
    # The effect, not the bytes, is what counts: junk fields and another order name the same job.
    for number in range(100):
        junk = {"action": "START_TRAINING", "project": {"id": 7}, "nonce": number}
        assert client.post("/webhook", json=junk).status_code in (200, 202)
    reordered = {**body, "annotations": [{"id": 56}, {"id": 55}], "extra": "x" * 1000}
    assert client.post("/webhook", json=reordered).json["status"] == "duplicate"
    jobs = queues.queue(redis_conn, queues.FEEDBACK).jobs
    assert sorted(job.args[0] for job in jobs) == ["ANNOTATIONS_DELETED", "START_TRAINING"]


def test_the_feedback_queue_is_bounded_with_a_clear_503(app, redis_conn):
    client = app.test_client()
    answers = [client.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": {"id": 1},
                                             "annotation": {"id": number}}) for number in range(1, 81)]
    codes = [answer.status_code for answer in answers]
    assert codes == [202] * 50 + [503] * 30
    assert answers[-1].json["error"] == ("the feedback queue is full (50 jobs waiting, "
                                         "PRELABEL_FEEDBACK_QUEUE_MAX=50): ANNOTATION_CREATED not queued, "
                                         "try again later")
    assert queues.queue(redis_conn, queues.FEEDBACK).count == 50
    # A refused webhook leaves no marker: once there is room, the same webhook is queued.
    queues.queue(redis_conn, queues.FEEDBACK).empty()
    last = {"action": "ANNOTATION_CREATED", "project": {"id": 1}, "annotation": {"id": 80}}
    assert client.post("/webhook", json=last).status_code == 202


def test_failed_feedback_jobs_are_kept_days_not_a_month(app, redis_conn):
    answer = app.test_client().post("/webhook", json={"action": "START_TRAINING", "project": {"id": 3}})
    [job] = queues.queue(redis_conn, queues.FEEDBACK).jobs
    assert job.id == answer.json["job"] and job.failure_ttl == 3 * 24 * 3600


# ---- spoofed deletions against the real Label Studio -----------------------------------------------------------

@pytest.fixture(scope="module")
def annotated(label_studio, tmp_path_factory):
    """Three tasks annotated Halyomorpha halys by two reviewers; the MLLM had said "marble bug" for each."""
    client = label_studio.client()
    project = client.projects.create(title="Spoofed webhooks", label_config=CONFIG)
    client.projects.import_tasks(id=project.id, request=[{"image": f"/data/upload/{i}.jpg"} for i in range(3)])
    tasks = [task.id for task in client.tasks.list(project=project.id)]
    me = client.users.whoami().id
    other = client.users.create(username="sec-reviewer", email="sec-reviewer@example.com",
                                password="sec-reviewer-password").id
    annotations = [client.annotations.create(id=task, result=choice(BMSB), completed_by=reviewer).id
                   for task, reviewer in zip(tasks, (me, other, me), strict=True)]
    database = fresh_postgres_database("sec_webhooks")
    LearnedStore(database).save_prediction_evidence([{
        "task_id": task, "project_id": project.id, "model_version": "v1", "vocabulary_version": "x", "label": None,
        "evidence": {"candidates": [{"text": "marble bug", "source": "classification", "label": None,
                                     "method": "none"}]}} for task in tasks])
    data_dir = tmp_path_factory.mktemp("webhooks")
    settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), redis_url=TEST_REDIS_URL, clip_model="",
                                 data_dir=str(data_dir), database_url=database, label_studio_url=label_studio.url,
                                 label_studio_api_key=label_studio.token)
    env = base_env(label_studio, data_dir, PRELABEL_DATABASE_URL=database)
    return project.id, annotations, create_app(settings), env


def test_a_spoofed_deletion_changes_nothing_while_the_annotation_exists(annotated, label_studio):
    project_id, annotations, app, env = annotated
    redis = Redis.from_url(TEST_REDIS_URL)
    redis.flushdb()
    client = app.test_client()
    in_force = app.extensions["prelabel"].parts.in_force
    before = str(in_force.current().model_version)
    for annotation_id in annotations:
        assert client.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": {"id": project_id},
                                             "annotation": {"id": annotation_id}}).status_code == 202
    run_burst(env, queues.FEEDBACK, "webhooks-1")
    store = app.extensions["prelabel"].parts.store
    assert store.synonyms_in_force() == [("marble bug", BMSB)]
    promoted = str(in_force.current().model_version)
    assert promoted != before
    evidence = store.query("SELECT count(*) FROM annotation_evidence")

    # Anyone can post this: Label Studio sends webhooks without credentials.
    spoof = {"action": "ANNOTATIONS_DELETED", "project": {"id": project_id},
             "annotations": [{"id": annotation_id} for annotation_id in annotations]}
    assert client.post("/webhook", json=spoof).status_code == 202
    run_burst(env, queues.FEEDBACK, "webhooks-2")
    [result] = [r for r in feedback_results(redis) if r["action"] == "ANNOTATIONS_DELETED"]
    assert [event["status"] for event in result["events"]] == ["still exists"] * 3
    assert store.synonyms_in_force() == [("marble bug", BMSB)]
    assert str(in_force.current().model_version) == promoted
    assert store.query("SELECT count(*) FROM annotation_evidence") == evidence
    assert [what for (what,) in store.query("SELECT what FROM changes ORDER BY id")] == ["promoted"]

    # Really deleted in Label Studio: now the same webhook retracts, and the synonym (2 < 3) is demoted.
    label_studio.client().annotations.delete(id=annotations[2])
    real = {**spoof, "annotations": [{"id": annotations[2]}]}
    assert client.post("/webhook", json=real).status_code == 202
    run_burst(env, queues.FEEDBACK, "webhooks-3")
    assert store.synonyms_in_force() == []
    assert str(in_force.current().model_version) == before
    deleted = [r for r in feedback_results(redis) if r["action"] == "ANNOTATIONS_DELETED"
               and r["events"][0]["status"] == "deleted"]
    assert len(deleted) == 1 and any("demoted" in change for change in deleted[0]["events"][0]["changes"])


def test_a_webhook_for_an_annotation_that_never_existed_records_nothing(annotated):
    project_id, _, app, env = annotated
    redis = Redis.from_url(TEST_REDIS_URL)
    redis.flushdb()
    client = app.test_client()
    body = {"action": "ANNOTATION_CREATED", "project": {"id": project_id}, "annotation": {"id": 987654}}
    assert client.post("/webhook", json=body).status_code == 202
    assert client.post("/webhook", json=body).json["status"] == "duplicate"  # the first is still waiting
    run_burst(env, queues.FEEDBACK, "webhooks-4")
    [result] = feedback_results(redis)
    assert result["events"] == [{"annotation": 987654, "status": "not found", "changes": []}]
    # The job started, so the same webhook is news again (an update after a read must be read too).
    assert client.post("/webhook", json=body).status_code == 202
