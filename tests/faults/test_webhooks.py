"""/webhook is unauthenticated: a spoofed deletion must change nothing while the annotation exists, and a flood
must queue one job per distinct effect, within a bound. Real Label Studio, Redis, PostgreSQL, worker processes."""

from __future__ import annotations

import signal

import pytest
from redis import Redis
from rq.registry import ScheduledJobRegistry

from faults.support import CONFIG, base_env, choice, run_burst
from helpers import (
    EXAMPLE_VOCAB,
    TEST_REDIS_URL,
    fresh_postgres_database,
)
from prelabel.jobs import queues
from prelabel.jobs.worker import run_worker
from prelabel.learning.feedback import record_feedback
from prelabel.learning.outcome import FeedbackEvent, FeedbackOutcome
from prelabel.learning.rows import EvidenceRow
from prelabel.learning.rules import Learning, Verdict
from prelabel.learning.store import LearnedStore
from prelabel.parts import Parts
from prelabel.pipeline.identity import ModelVersion
from prelabel.service.app import create_app
from prelabel.settings import Settings
from prelabel.studio.client import LabelStudio as Studio
from prelabel.studio.predictions import StudioPrediction
from prelabel.vocabulary.normalize import Normalizer
from prelabel.vocabulary.vocab import load_vocabulary

BMSB = "Halyomorpha halys"


def feedback_results(redis: Redis) -> list[FeedbackOutcome]:
    queue = queues.queue(redis, queues.FEEDBACK)
    registry = queue.finished_job_registry
    return [FeedbackOutcome.from_json(queue.fetch_job(job_id).return_value()) for job_id in registry.get_job_ids()]


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


@pytest.mark.parametrize("body", [
    b'{"action": ["ANNOTATION_CREATED"], "annotation": {"id": 1}}',
    b'{"action": {"x": 1}, "annotation": {"id": 1}}',
    b'{"action": "ANNOTATIONS_DELETED", "annotations": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b"[" * 100_000 + b"]" * 100_000,
], ids=["action-list", "action-object", "nested-ids", "nested-body"])
def test_malformed_webhook_bodies_are_a_400_not_a_500(app, redis_conn, body):
    answer = app.test_client().post("/webhook", data=body, content_type="application/json")
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert "Traceback" not in answer.get_data(as_text=True)
    assert queues.queue(redis_conn, queues.FEEDBACK).count == 0


def test_a_webhook_naming_more_annotations_than_the_cap_is_refused(app, redis_conn):
    """A 1,000,000-id ANNOTATIONS_DELETED (17 MB) was accepted and read back id by id for hours."""
    client = app.test_client()
    many = {"action": "ANNOTATIONS_DELETED", "project": {"id": 7},
            "annotations": [{"id": n} for n in range(1, 1_000_001)]}
    answer = client.post("/webhook", json=many)
    assert answer.status_code == 413 and "at most 100000" in answer.json["error"]
    assert queues.queue(redis_conn, queues.FEEDBACK).count == 0
    odd = {"action": "ANNOTATIONS_DELETED", "annotations": 5}  # not a list: no id, not a 500
    assert client.post("/webhook", json=odd).status_code == 400


def test_feedback_results_are_kept_minutes_not_days(app, redis_conn):
    """What a finished feedback job says is in the log and the learned store too; a flood of forged webhooks
    must not keep its results in Redis for a week."""
    answer = app.test_client().post("/webhook", json={"action": "ANNOTATION_CREATED", "annotation": {"id": 9}})
    [job] = queues.queue(redis_conn, queues.FEEDBACK).jobs
    assert job.id == answer.json["job"] and job.result_ttl == 600


def test_setup_queues_one_model_version_update_per_project_and_version(app, redis_conn):
    """300 /setup calls for one project (Label Studio sends one at each project open and config save) queued 300
    jobs on the interactive queue, kept a year when they failed: now one, whose failure is kept a day, on the
    prediction queue (the interactive one is kept for reviewers waiting)."""
    client = app.test_client()
    for _ in range(300):
        assert client.post("/setup", json={"project": "7.1699999999", "schema": CONFIG}).status_code == 200
    [job] = queues.queue(redis_conn, queues.PREDICT).jobs
    assert job.func_name == "prelabel.jobs.predict.sync_model_version" and job.failure_ttl == 24 * 3600
    assert client.post("/setup", json={"project": 8, "schema": CONFIG}).status_code == 200
    assert queues.queue(redis_conn, queues.PREDICT).count == 2  # another project is another update
    assert queues.queue(redis_conn, queues.INTERACTIVE).count == 0


def test_the_webhook_id_cap_and_the_result_keep_time_are_settings(tmp_path, redis_conn):
    """Limits an operator may need to move: a project with more annotations than the default cap deletes them in
    one webhook (PRELABEL_WEBHOOK_MAX_IDS); Redis memory against MLLM calls again (PRELABEL_RESULT_DAYS)."""
    settings = Settings.from_env({"PRELABEL_WEBHOOK_MAX_IDS": "10", "PRELABEL_RESULT_DAYS": "0.5"},
                                 vocab=str(EXAMPLE_VOCAB), redis_url=TEST_REDIS_URL, clip_model="",
                                 data_dir=str(tmp_path))
    client = create_app(settings).test_client()
    body = {"action": "ANNOTATIONS_DELETED", "project": {"id": 7}, "annotations": [{"id": n} for n in range(1, 12)]}
    answer = client.post("/webhook", json=body)
    assert answer.status_code == 413 and "at most 10 " in answer.json["error"]
    assert "PRELABEL_WEBHOOK_MAX_IDS" in answer.json["error"]
    body["annotations"] = body["annotations"][:10]
    assert client.post("/webhook", json=body).status_code == 202
    parts = Parts(settings)
    try:
        parts.results.put("prelabel-0badc0de-5eedf00d", 3, "made-from", StudioPrediction(
            ModelVersion("0badc0de", "5eedf00d"), 0.9, ()))
        assert 43_000 < redis_conn.ttl("prelabel:result:prelabel-0badc0de-5eedf00d") <= 43_200
    finally:
        parts.close()


def test_a_bulk_deletion_is_split_into_jobs_with_a_deadline(app, redis_conn):
    """100,000 annotations in one ANNOTATIONS_DELETED: 20 jobs of at most 5,000, each ended by a 300 s deadline,
    so other work comes between them and none holds a worker for long."""
    many = {"action": "ANNOTATIONS_DELETED", "project": {"id": 7},
            "annotations": [{"id": n} for n in range(1, 100_001)]}
    answer = app.test_client().post("/webhook", json=many)
    assert answer.status_code == 202 and len(answer.json["jobs"]) == 20
    jobs = queues.queue(redis_conn, queues.FEEDBACK).jobs
    assert sorted(n for job in jobs for n in job.args[2]) == list(range(1, 100_001))
    assert {(len(job.args[2]), job.timeout) for job in jobs} == {(5000, 300)}


def test_a_cancelled_feedback_job_is_not_retried(tmp_path, redis_conn):
    """rq's cancel on a running job that then fails (Label Studio away): it used to be retried 5 times all the
    same. A real PrelabelWorker runs it, in process."""
    settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), redis_url=TEST_REDIS_URL, clip_model="",
                                 data_dir=str(tmp_path))
    job = queues.queue(redis_conn, queues.FEEDBACK).enqueue("faults.support.cancelled_then_failing",
                                                            retry=queues.RETRY)
    # rq's worker installs SIGTERM and SIGINT handlers in its process: this pytest's, here. Put pytest's back, so
    # a later test (or Ctrl-C) is not taken for a worker's shutdown request.
    handlers = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        run_worker(settings, [queues.FEEDBACK], burst=True, name="cancel-test")
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    assert job.get_status(refresh=True) in ("canceled", "failed")
    assert ScheduledJobRegistry(queue=queues.queue(redis_conn, queues.FEEDBACK)).count == 0
    assert queues.queue(redis_conn, queues.FEEDBACK).count == 0


# ---- spoofed deletions against the real Label Studio -----------------------------------------------------------

@pytest.fixture(scope="module")
def annotated(label_studio, tmp_path_factory):
    """Three tasks annotated Halyomorpha halys by two reviewers; the MLLM had said "marble bug" for each."""
    client = label_studio.client()
    project = client.projects.create(title="Spoofed webhooks", label_config=CONFIG)
    client.projects.import_tasks(id=project.id, request=[{"image": f"/data/upload/{i}.jpg"} for i in range(3)])
    tasks = [task.id for task in client.tasks.list(project=project.id)]
    other = label_studio.account("sec-reviewer")[1]  # each writes as itself (learning/feedback.py)
    annotations = [reviewer.annotations.create(id=task, result=choice(BMSB)).id
                   for task, reviewer in zip(tasks, (client, other, client), strict=True)]
    database = fresh_postgres_database("sec_webhooks")
    LearnedStore(database).save_prediction_evidence([EvidenceRow(
        task_id=task, project_id=project.id, model_version="v1", vocabulary_version="x", label=None,
        evidence={"candidates": [{"text": "marble bug", "source": "classification", "label": None,
                                  "method": "none"}]}) for task in tasks])
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
    [result] = [r for r in feedback_results(redis) if r.action == "ANNOTATIONS_DELETED"]
    assert [event.status for event in result.events] == ["still exists"] * 3
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
    deleted = [r for r in feedback_results(redis) if r.action == "ANNOTATIONS_DELETED"
               and r.events[0].status == "deleted"]
    assert len(deleted) == 1 and any("demoted" in change for change in deleted[0].events[0].changes)


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
    assert result.events == (FeedbackEvent(987654, "not found"),)
    # The job started, so the same webhook is news again (an update after a read must be read too).
    assert client.post("/webhook", json=body).status_code == 202


def test_a_100000_id_deletion_reads_label_studio_by_page_not_by_id(label_studio, tmp_path):
    """ANNOTATIONS_DELETED naming 3 recorded annotations (one really deleted) among 100,000 ids: it was read back
    id by id (~6,000 requests to Label Studio per try, until the job's timeout). Now the ids no evidence came from
    are answered from the learned store, and the recorded ones are read with their tasks: one call per page."""
    client = label_studio.client()
    project = client.projects.create(title="Bulk deletion", label_config=CONFIG)
    client.projects.import_tasks(id=project.id, request=[{"image": f"/data/upload/{i}.jpg"} for i in range(3)])
    tasks = [task.id for task in client.tasks.list(project=project.id)]
    real = [client.annotations.create(id=task, result=choice(BMSB)).id for task in tasks]
    learning = Learning(LearnedStore(f"sqlite:///{tmp_path / 'learned.sqlite'}"),
                        Normalizer(load_vocabulary(EXAMPLE_VOCAB)))
    for annotation, task in zip(real, tasks, strict=True):
        learning.record(annotation, task, project.id, 1, [Verdict("synonym", "marble bug", BMSB)])
    client.annotations.delete(id=real[2])
    forged = [n for n in range(10_000_000, 10_100_000) if n not in real][:100_000 - 3]
    studio = Studio(label_studio.url, label_studio.token)
    result = record_feedback(studio, learning, "ANNOTATIONS_DELETED", project.id, [*real, *forged])
    assert [e.status for e in result.events] == ["still exists", "still exists", "deleted"]
    assert result.not_recorded == 100_000 - 3
    assert dict(studio.calls) == {"read /api/tasks/": 1}
