"""Contract tests of every endpoint through Flask's test client, against the real Redis (no models loaded)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from rq.job import Job

from helpers import EXAMPLE_VOCAB, TEST_REDIS_URL, wait_until
from prelabel.delivery.ledger import persistence_warning
from prelabel.delivery.results import ResultStore, made_from
from prelabel.jobs import bursts, queues
from prelabel.service.app import create_app
from prelabel.service.routes import RECENT_FAILURE
from prelabel.settings import Settings
from prelabel.studio.predictions import StudioPrediction
from prelabel.workers import WorkerRegistry

CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
          '<Choice value="Halyomorpha halys"/><Choice value="Sitophilus oryzae" alias="SO"/><Choice value="Cat"/>'
          '</Choices></View>')


def make_app(tmp_path, redis_conn, **overrides):
    settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), redis_url=TEST_REDIS_URL, clip_model="",
                                 data_dir=str(tmp_path), **overrides)
    return create_app(settings)


@pytest.fixture
def app(tmp_path, redis_conn):
    return make_app(tmp_path, redis_conn)


@pytest.fixture
def client(app):
    return app.test_client()


def version(app) -> str:
    return str(app.extensions["prelabel"].parts.in_force.current().model_version)


def tasks(*ids: int) -> list[dict]:
    return [{"id": i, "project": 7, "data": {"image": f"/data/upload/7/{i}.jpg"}} for i in ids]


def test_health_is_instant_and_says_when_no_worker_serves(client, app, redis_conn):
    # The test Redis keeps nothing on disk (scripts/ensure-redis.sh): /health says so too.
    volatile = [warning] if (warning := persistence_warning(redis_conn)) else []
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {
        "status": "UP", "model_class": "Prelabel", "model_version": version(app),
        "workers": {"prelabel-interactive": 0, "prelabel-predict": 0, "prelabel-feedback": 0},
        "warnings": ["no worker serves prelabel-interactive, prelabel-predict, prelabel-feedback: start one with "
                     "`prelabel worker`", *volatile]}
    WorkerRegistry(redis_conn).beat("w1", ["prelabel-interactive", "prelabel-predict", "prelabel-feedback"])
    served = client.get("/health").json
    assert served["workers"] == {"prelabel-interactive": 1, "prelabel-predict": 1, "prelabel-feedback": 1}
    assert served.get("warnings", []) == volatile


def test_health_says_when_redis_keeps_no_append_only_file(tmp_path):
    """Without an append-only file, a Redis restart loses the queued jobs and the ledger: /health says so, and
    says nothing once Redis keeps one (real redis-servers, one of each)."""
    import shutil
    import subprocess
    from functools import partial

    from redis import Redis

    from labelstudio import free_port

    said = []
    for appendonly in ("no", "yes"):
        port = free_port()
        server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                                   "127.0.0.1", "--save", "", "--appendonly", appendonly, "--dir", str(tmp_path)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(partial(_answers, Redis(port=port)), 30, what="redis-server")
            settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), clip_model="", data_dir=str(tmp_path),
                                         redis_url=f"redis://127.0.0.1:{port}/0")
            said.append(create_app(settings).test_client().get("/health").json["warnings"])
        finally:
            server.terminate()
            server.wait(timeout=10)
    assert any("no append-only file" in warning and "--appendonly yes" in warning for warning in said[0])
    assert not any("append-only" in warning for warning in said[1])


def _answers(redis) -> bool:
    from redis.exceptions import RedisError

    try:
        return bool(redis.ping())
    except RedisError:
        return False


def test_health_answers_with_redis_gone(tmp_path):
    settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), clip_model="", data_dir=str(tmp_path),
                                 redis_url="redis://127.0.0.1:9/0")  # nothing listens on port 9
    app = create_app(settings)
    health = app.test_client().get("/health")
    assert health.status_code == 200 and "Redis" in health.json["warnings"][0]
    setup = app.test_client().post("/setup", json={"schema": CONFIG, "project": "3.1700000000"})
    assert setup.status_code == 200  # the model_version sync is skipped, not the answer
    for path, body in (("/predict", {"tasks": tasks(1), "label_config": CONFIG}),
                       ("/webhook", {"action": "START_TRAINING", "project": {"id": 1}})):
        response = app.test_client().post(path, json=body)
        assert response.status_code == 503, path
        assert "the job queue (Redis at redis://127.0.0.1:9/0) is unreachable" in response.json["error"]


def test_setup_returns_the_model_version_and_reports_label_mismatches(client, app, redis_conn):
    response = client.post("/setup", json={"project": "3.1700000000", "schema": CONFIG, "hostname": "http://ls",
                                           "access_token": "x", "extra_params": {}})
    assert response.status_code == 200
    body = response.json
    assert body["model_version"] == version(app)
    assert body["config"]["missing_from_vocabulary"] == ["Cat"]
    assert len(body["config"]["missing_from_config"]) == 28
    queued = queues.queue(redis_conn, queues.PREDICT).jobs
    assert [(j.func_name, j.args) for j in queued] == [("prelabel.jobs.predict.sync_model_version", (3, version(app)))]


@pytest.mark.parametrize("schema, message", [
    ("", "the labeling config is empty"),
    ("<View><Text name='t' value='$t'/><Choices name='c' toName='t'><Choice value='x'/></Choices></View>",
     "no <Choices>, <Taxonomy> or <RectangleLabels> whose toName is an <Image>"),
    ("<View><Image", "cannot be parsed"),
])
def test_setup_rejects_configs_it_cannot_label(client, schema, message):
    response = client.post("/setup", json={"project": "1.1", "schema": schema})
    assert response.status_code == 400
    assert message in response.json["error"]


@pytest.mark.parametrize("path", ["/setup", "/predict", "/webhook"])
def test_bad_json_is_a_400(client, path):
    response = client.post(path, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json == {"error": "expected a JSON object body"}
    assert client.post(path, json=[1, 2]).status_code == 400


@pytest.mark.parametrize("body", [{"tasks": "nope"}, {}])
def test_predict_rejects_a_body_without_a_task_list(client, body):
    response = client.post("/predict", json={**body, "label_config": CONFIG, "project": "7.1"})
    assert response.status_code == 400 and "integer 'id'" in response.json["error"]


def test_predict_needs_a_project(client):
    response = client.post("/predict", json={"tasks": [{"id": 1, "data": {}}], "label_config": CONFIG})
    assert response.status_code == 400 and "no project" in response.json["error"]


def test_one_bad_task_costs_only_itself(client, redis_conn):
    """Task data that is not an object, ids Label Studio cannot have made: an empty answer each, the rest go on."""
    bad = [{"id": 1, "data": "not an object"}, {"id": 2 ** 63, "data": {}}, {"id": True, "data": {}},
           {"id": "3", "data": {}}, "not a task", {"id": 4, "data": {"image": "/data/upload/7/\ud800.jpg"}}]
    response = client.post("/predict", json={"tasks": bad, "label_config": CONFIG, "project": "7.1"})
    assert response.status_code == 200 and response.json["results"] == [[]] * 6
    [job] = queues.queue(redis_conn, queues.PREDICT).jobs
    assert job.kwargs["project_id"] == 7
    # the only usable one: its data is read back from Label Studio
    assert bursts.waiting(redis_conn, queues.PREDICT, 7, job.kwargs["model_version"]) == [4]


def test_predict_answers_known_results_once_and_queues_the_rest(client, app, redis_conn):
    store = ResultStore(redis_conn)
    prediction = {"model_version": version(app), "score": 0.9, "result": [{"value": {"choices": ["SO"]}}]}
    none = {"model_version": version(app), "score": 0.0, "result": []}  # looked, nothing fits
    store.put(version(app), 1, made_from(tasks(1)[0]["data"], CONFIG), StudioPrediction.from_json(prediction))
    store.put(version(app), 2, made_from(tasks(2)[0]["data"], CONFIG), StudioPrediction.from_json(none))
    response = client.post("/predict", json={"tasks": tasks(1, 2, 3, 4), "label_config": CONFIG, "project": "7.1"})
    assert response.status_code == 200
    assert response.json["results"] == [prediction, none, [], []]  # one item per task, in order
    assert response.json["model_version"] == version(app)
    [job] = queues.queue(redis_conn, queues.PREDICT).jobs  # no worker is running: nothing waits, all is queued
    assert job.kwargs == {"queue_name": queues.PREDICT, "project_id": 7, "model_version": version(app)}
    assert bursts.waiting(redis_conn, queues.PREDICT, 7, version(app)) == [3, 4]
    assert store.handed_over(version(app), 3) and store.handed_over(version(app), 4)
    # Both answers are in the ledger: the reconciler checks later that Label Studio stored them.
    assert redis_conn.zcard("prelabel:ledger") == 2
    # Asked again at once: 1 and 2 were answered, and are answered again (idempotent: Label Studio asks again
    # only when it did not store the first); 3 and 4 are pending in a live job.
    again = client.post("/predict", json={"tasks": tasks(1, 2, 3, 4), "label_config": CONFIG, "project": "7.1"})
    assert again.json["results"] == [prediction, none, [], []]
    assert len(queues.queue(redis_conn, queues.PREDICT).jobs) == 1
    assert redis_conn.zcard("prelabel:ledger") == 2  # the same two deliveries, checked later


def test_a_request_for_several_tasks_never_waits_on_a_failed_one(client, app, redis_conn):
    """A failed task has no prediction, so Label Studio's list page asks for it with the page's other tasks: such
    a request hands it to the workers, never waits on it, and leaves it alone moments after it failed."""
    WorkerRegistry(redis_conn).beat("w1", list(queues.QUEUES))  # a request of two new tasks would wait
    store, now = ResultStore(redis_conn), time.time()
    store.mark_failed(version(app), 1, now)
    store.mark_failed(version(app), 2, now - RECENT_FAILURE - 1)
    response = client.post("/predict", json={"tasks": tasks(1, 2), "label_config": CONFIG, "project": "7.1"})
    assert response.json["results"] == [[], []]
    assert queues.queue(redis_conn, queues.INTERACTIVE).jobs == []  # nothing waited on
    assert bursts.waiting(redis_conn, queues.PREDICT, 7, version(app)) == [2]  # 1 failed moments ago
    assert store.handed_over(version(app), 2) and not store.handed_over(version(app), 1)
    store.put(version(app), 2, made_from(tasks(2)[0]["data"], CONFIG),
              StudioPrediction.from_json({"model_version": version(app), "score": 0.9, "result": []}))
    assert list(store.failed_at(version(app), [1, 2])) == [1]  # healed: no longer a failed task


def test_a_task_a_worker_is_writing_is_not_answered_too(client, app, redis_conn):
    """A worker's writer holds the task's claim: the response leaves it to the writer (never both)."""
    store = ResultStore(redis_conn)
    kept = StudioPrediction.from_json({"model_version": version(app), "score": 0.9, "result": []})
    store.put(version(app), 1, made_from(tasks(1)[0]["data"], CONFIG), kept)
    assert store.claim(version(app), 1)
    response = client.post("/predict", json={"tasks": tasks(1), "label_config": CONFIG, "project": "7.1"})
    assert response.json["results"] == [[]]
    store.release(version(app), [1])
    assert client.post("/predict", json={"tasks": tasks(1), "label_config": CONFIG,
                                         "project": "7.1"}).json["results"] == [kept.to_json()]
    assert not store.claim(version(app), 1)  # the response's claim keeps writers off in turn


def test_posted_data_cannot_take_another_callers_result(client, app, redis_conn):
    """Results are kept with the task data Label Studio holds: a caller posting other data for a task gets
    nothing computed from Label Studio's data, and the task is queued (the worker reads the real data)."""
    store = ResultStore(redis_conn)
    real = tasks(1)[0]
    store.put(version(app), 1, made_from(real["data"], CONFIG),
              StudioPrediction.from_json({"model_version": version(app), "score": 1, "result": []}))
    forged = {**real, "data": {"image": "http://attacker.example/cat.jpg"}}
    response = client.post("/predict", json={"tasks": [forged], "label_config": CONFIG, "project": "7.1"})
    assert response.json["results"] == [[]]
    [job] = queues.queue(redis_conn, queues.PREDICT).jobs
    assert bursts.waiting(redis_conn, queues.PREDICT, 7, version(app)) == [1]
    assert "attacker" not in json.dumps(job.kwargs)


def test_small_requests_arriving_together_wait_for_one_job(client, app, redis_conn):
    """Twenty one-task requests are one job; the job, when it starts, takes them all (up to a job's worth), and a
    request after that take queues a job of its own: no task waits without one."""
    for task_id in range(1, 21):
        client.post("/predict", json={"tasks": tasks(task_id), "label_config": CONFIG, "project": "7.1"})
    [job] = queues.queue(redis_conn, queues.PREDICT).jobs
    results = ResultStore(redis_conn)
    assert bursts.take(redis_conn, results, job, queues.PREDICT, 7, version(app)) == list(range(1, 21))
    assert Job.fetch(job.id, connection=redis_conn).meta["task_ids"] == list(range(1, 21))  # a retry's tasks
    assert bursts.take(redis_conn, results, job, queues.PREDICT, 7, version(app)) == list(range(1, 21))
    client.post("/predict", json={"tasks": tasks(21, 3), "label_config": CONFIG, "project": "7.1"})
    [_, later] = queues.queue(redis_conn, queues.PREDICT).jobs
    assert bursts.waiting(redis_conn, queues.PREDICT, 7, version(app)) == [21]  # 3 is pending in the first job
    assert bursts.take(redis_conn, results, later, queues.PREDICT, 7, version(app)) == [21]
    assert bursts.waiting(redis_conn, queues.PREDICT, 7, version(app)) == []


def test_oversize_batches_are_split_into_jobs(client, redis_conn):
    response = client.post("/predict", json={"tasks": tasks(*range(1, 1001)), "label_config": CONFIG})
    assert response.status_code == 200
    assert response.json["results"] == [[]] * 1000
    queued = queues.queue(redis_conn, queues.PREDICT).jobs
    assert len(queued) == 16 and sum(len(j.kwargs["task_ids"]) for j in queued) == 1000
    huge = json.dumps({"tasks": [], "label_config": "x" * (65 * 1024 * 1024)})
    too_big = client.post("/predict", data=huge, content_type="application/json")
    assert too_big.status_code == 413 and "error" in too_big.json


def test_predict_with_a_config_it_cannot_label(client):
    response = client.post("/predict", json={"tasks": tasks(1), "label_config": "<View></View>"})
    assert response.status_code == 400 and "no <Choices>" in response.json["error"]


def test_webhook_queues_feedback_at_once(client, redis_conn):
    created = {"action": "ANNOTATION_CREATED", "project": {"id": 7, "label_config": CONFIG},
               "annotation": {"id": 55, "task": 3, "result": []}, "task": {"id": 3, "data": {}}}
    response = client.post("/webhook", json=created)
    assert response.status_code == 202 and response.json["status"] == "queued"
    job = Job.fetch(response.json["job"], connection=redis_conn)
    assert (job.func_name, job.args) == ("prelabel.jobs.feedback.handle_feedback", ("ANNOTATION_CREATED", 7, [55]))
    deleted = client.post("/webhook", json={"action": "ANNOTATIONS_DELETED", "project": {"id": 7},
                                           "annotations": [{"id": 55}, {"id": 56}]})
    assert Job.fetch(deleted.json["job"], connection=redis_conn).args == ("ANNOTATIONS_DELETED", 7, [55, 56])
    train = client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 7}})
    assert train.status_code == 202
    accepted = client.post("/webhook", json={"action": "ANNOTATIONS_CREATED", "project": {"id": 7},
                                            "annotation": [{"id": 60, "task": 1}, {"id": 61, "task": 2}]})
    assert Job.fetch(accepted.json["job"], connection=redis_conn).args == ("ANNOTATIONS_CREATED", 7, [60, 61])
    assert len(queues.queue(redis_conn, queues.FEEDBACK).jobs) == 4


def test_webhook_ignores_unknown_events_and_refuses_empty_ones(client, redis_conn):
    assert client.post("/webhook", json={"action": "PROJECT_UPDATED"}).json == {
        "status": "ignored", "action": "PROJECT_UPDATED"}
    assert client.post("/webhook", json={"action": "TASKS_CREATED", "tasks": []}).json["status"] == "ignored"
    empty = client.post("/webhook", json={"action": "ANNOTATION_UPDATED", "project": {"id": 1}})
    assert empty.status_code == 400 and "without annotation ids" in empty.json["error"]
    assert len(queues.queue(redis_conn, queues.FEEDBACK).jobs) == 0


def test_basic_auth(tmp_path, redis_conn):
    app = make_app(tmp_path, redis_conn, basic_auth_user="ls", basic_auth_pass="secret")
    client = app.test_client()

    def auth(user: str, password: str) -> dict:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    denied = client.get("/health")
    assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/health", headers=auth("ls", "wrong")).status_code == 401
    assert client.post("/predict", json={"tasks": []}, headers=auth("x", "secret")).status_code == 401
    assert client.get("/health", headers=auth("ls", "secret")).status_code == 200
    assert client.get("/metrics", headers=auth("ls", "secret")).status_code == 200
    # Label Studio's webhooks carry no auth: accepted, and only ever a hint (the job reads the annotation back).
    assert client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1}}).status_code == 202


def test_versions_and_metrics(client, app):
    assert client.get("/versions").json == {"versions": [version(app)]}
    client.get("/health")
    client.post("/predict", json={"tasks": tasks(9), "label_config": CONFIG})
    text = client.get("/metrics").data.decode()
    assert 'prelabel_requests_total{endpoint="health",status="200"} 1' in text
    assert 'prelabel_requests_total{endpoint="predict",status="200"} 1' in text
    assert 'prelabel_jobs_queued{queue="prelabel-predict"} 1' in text
    assert 'prelabel_request_seconds_count{endpoint="health"} 1' in text
    assert "prelabel_workers" not in text  # no worker has ever beaten


def test_a_broken_vocabulary_stops_the_start(tmp_path, redis_conn):
    from prelabel.vocabulary.vocab import VocabError

    broken = tmp_path / "broken.yaml"
    broken.write_text("domain: d\nlabels: [\n", encoding="utf-8")
    with pytest.raises(VocabError, match="malformed YAML"):
        create_app(Settings.from_env({}, vocab=str(broken), clip_model=""))


def test_importing_the_service_loads_no_model_library():
    """gunicorn imports the service in every process it starts: it must stay light (no openai, torch, numpy)."""
    import subprocess
    import sys

    code = ("import sys, prelabel.service.app; "
            "print(sorted(m for m in ('openai', 'torch', 'open_clip', 'numpy') if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
