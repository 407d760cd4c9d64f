"""End to end against a real Label Studio 1.23.2: the backend under gunicorn (`prelabel serve`), a real
`prelabel worker` process, the real Redis; the MLLM is the stub server, CLIP the tiny model.

The tests run in file order and share one project: connect, bulk predictions, one interactive task,
`prelabel run`, no duplicates on re-predicting, then a reviewer's correction reaching a feedback job.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from redis import Redis
from rq.job import Job
from rq.registry import FinishedJobRegistry, StartedJobRegistry

from helpers import (
    EXAMPLE_VOCAB,
    TEST_REDIS_URL,
    TINY_CLIP_CONFIG,
    answer_by_colour,
    solid_image,
    start_service,
    start_worker,
    stop_process,
    wait_until,
)
from prelabel.delivery.results import ResultStore
from prelabel.jobs import queues
from prelabel.learning.store import LearnedStore
from stub_llm import StubLLM

BIN = Path(sys.executable).parent
CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image" choice="single">'
          '<Choice value="Halyomorpha halys"/><Choice value="Sitophilus oryzae"/><Choice value="Sitophilus zeamais"/>'
          '</Choices></View>')
COLOURS = {"red": (220, 20, 20), "green": (20, 220, 20), "blue": (20, 20, 220),
           "red2": (200, 40, 30), "green2": (30, 200, 40)}
EXPECTED = {"red": "Halyomorpha halys", "green": "Sitophilus oryzae", "blue": "Sitophilus zeamais",
            "red2": "Halyomorpha halys", "green2": "Sitophilus oryzae"}


def idle(redis: Redis) -> bool:
    """No prediction job waits or runs."""
    return all(queues.queue(redis, name).count == 0 and StartedJobRegistry(queue=queues.queue(redis, name)).count == 0
               for name in (queues.INTERACTIVE, queues.PREDICT))


@pytest.fixture(scope="module")
def redis():
    connection = Redis.from_url(TEST_REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture(scope="module")
def stub():
    answers = {"red": "BMSB", "green": "rice weevil", "blue": "これはコクゾウムシです", "yellow": "brown marble bug"}
    with StubLLM(answer_by_colour(answers)) as server:
        yield server


@pytest.fixture(scope="module")
def env(label_studio, stub, redis, tmp_path_factory) -> dict[str, str]:
    return {**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
            "REDIS_URL": TEST_REDIS_URL, "PRELABEL_LLM_BASE_URL": stub.url, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB),
            "PRELABEL_CLIP_MODEL": str(TINY_CLIP_CONFIG), "PRELABEL_CLIP_PRETRAINED": "", "PRELABEL_DEVICE": "cpu",
            "PRELABEL_DATA_DIR": str(tmp_path_factory.mktemp("prelabel-var")), "PRELABEL_SYNC_BUDGET": "60",
            "PRELABEL_SYNC_TASKS": "2"}


@pytest.fixture(scope="module")
def backend_url(env, tmp_path_factory):
    process, url = start_service(env, tmp_path_factory.mktemp("serve") / "serve.log")
    yield url
    stop_process(process)


@pytest.fixture(scope="module")
def worker(env, redis, tmp_path_factory):
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    process = start_worker(env, "e2e-worker", log)
    yield log
    stop_process(process)


@pytest.fixture(scope="module")
def project(label_studio):
    client = label_studio.client()
    created = client.projects.create(title="Prelabel end to end", label_config=CONFIG)
    folder = label_studio.files_root / "e2e"
    for name, colour in COLOURS.items():
        solid_image(folder / f"{name}.jpg", colour)
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    client.import_storage.local.create(project=created.id, path=str(folder))
    names = [*COLOURS, "broken"]
    client.projects.import_tasks(id=created.id, request=[{"image": f"/data/local-files/?d=e2e/{n}.jpg"} for n in names])
    ids = {task.data["image"].split("/")[-1].removesuffix(".jpg"): task.id
           for task in client.tasks.list(project=created.id)}
    assert set(ids) == set(names)
    return created.id, ids


def predictions_of(label_studio, task_id: int) -> list:
    return list(label_studio.client().predictions.list(task=task_id))


def current_version(backend_url) -> str:
    return requests.get(f"{backend_url}/versions", timeout=5).json()["versions"][0]


def retrieve(label_studio, project_id: int, task_ids: list[int]) -> None:
    label_studio.client().actions.create(id="retrieve_tasks_predictions", project=project_id,
                                         selected_items={"all": False, "included": task_ids})


def test_connecting_the_backend_sets_the_project_model_version(label_studio, backend_url, worker, project):
    project_id, _ = project
    client = label_studio.client()
    client.ml.create(project=project_id, url=backend_url, title="Prelabel", is_interactive=False)
    version = current_version(backend_url)
    wait_until(lambda: client.projects.get(id=project_id).model_version == version, 60,
               what="project.model_version to become the backend's")
    hooks = list(client.webhooks.list(project=project_id))
    assert any(hook.url == f"{backend_url}/webhook" for hook in hooks)


def job_results(redis: Redis, queue_name: str) -> list[dict]:
    queue = queues.queue(redis, queue_name)
    found = [queue.fetch_job(i).return_value() for i in FinishedJobRegistry(queue=queue).get_job_ids()]
    return [result for result in found if isinstance(result, dict) and "tasks" in result]


def test_bulk_predictions_are_written_by_the_worker(label_studio, backend_url, worker, project, redis):
    project_id, ids = project
    version = current_version(backend_url)
    selected = [ids["red"], ids["green"], ids["blue"], ids["broken"]]
    retrieve(label_studio, project_id, selected)  # more than PRELABEL_SYNC_TASKS: handed to the worker
    for name in ("red", "green", "blue"):
        found = wait_until(lambda n=name: predictions_of(label_studio, ids[n]), 120, what=f"prediction of {name}")
        [prediction] = found
        assert prediction.model_version == version
        assert prediction.result[0]["value"]["choices"] == [EXPECTED[name]]
        assert 0 < prediction.score <= 1
    [outcome] = wait_until(lambda: job_results(redis, queues.PREDICT), 60, what="the prediction job's result")
    assert (outcome["tasks"], outcome["labelled"], outcome["delivering"]) == (4, 3, 3)
    assert set(outcome["failed"]) == {ids["broken"]} and "could not be used" in outcome["failed"][ids["broken"]]
    assert outcome["failures_by_cause"] == {"image:unreadable": 1}
    # The failure is not written (nobody waits on it): the task has no prediction, so opening it asks again.
    assert predictions_of(label_studio, ids["broken"]) == []
    assert list(ResultStore(redis).failed_at(version, [ids["broken"]])) == [ids["broken"]]  # when, for /predict
    assert "not pre-labelled" in worker.read_text()  # the reason is logged
    # Asked again for a task the worker wrote (a reviewer opens it; Label Studio lost nothing here, but a second
    # Label Studio or a race asks): the stored prediction, not an empty answer, once the writer let go of the task
    # (its claim, held while it writes, was kept for 120 s before issue 24: the wait below is 60).
    [written] = predictions_of(label_studio, ids["green"])
    wait_until(lambda: not redis.exists(f"prelabel:claim:{version}:{ids['green']}"), 60, what="the writer's claim")
    task = label_studio.client().tasks.get(id=ids["green"])
    again = requests.post(f"{backend_url}/predict", timeout=30, json={
        "tasks": [{"id": task.id, "data": task.data}], "label_config": CONFIG, "project": f"{project_id}.1"})
    [answer] = again.json()["results"]
    assert answer["model_version"] == written.model_version and answer["result"] == written.result


def test_a_handful_of_tasks_is_answered_in_the_response(label_studio, backend_url, worker, project, redis):
    project_id, ids = project
    retrieve(label_studio, project_id, [ids["red2"]])  # returns once /predict has answered
    found = predictions_of(label_studio, ids["red2"])
    assert [p.result[0]["value"]["choices"] for p in found] == [[EXPECTED["red2"]]]
    # The worker that computed it has finished its job and wrote nothing itself: the response delivered it.
    [outcome] = wait_until(lambda: job_results(redis, queues.INTERACTIVE), 60, what="the interactive job")
    assert outcome["tasks"] == 1 and outcome["delivering"] == 0
    assert len(predictions_of(label_studio, ids["red2"])) == 1
    # Asked again (a response Label Studio lost, a second reviewer): the same prediction, not an empty answer.
    task = label_studio.client().tasks.get(id=ids["red2"])
    again = requests.post(f"{backend_url}/predict", timeout=30, json={
        "tasks": [{"id": task.id, "data": task.data}], "label_config": CONFIG, "project": f"{project_id}.1"})
    [answer] = again.json()["results"]
    assert answer["model_version"] == found[0].model_version and answer["result"] == found[0].result


def test_prelabel_run_queues_the_rest_and_shows_progress(label_studio, env, worker, project):
    project_id, ids = project
    completed = subprocess.run([str(BIN / "prelabel"), "run", "--project", str(project_id), "--all"], env=env,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    # green2 is new; broken failed before and is tried again (a failure is never "already pre-labelled").
    assert f"project {project_id}: 2 task(s) queued in 1 job(s), 4 already pre-labelled" in completed.stderr
    assert ("done: 2 task(s): 1 labelled, 1 failed (image:unreadable 1); 1 prediction(s) in Label Studio; the "
            "failed ones hold no prediction: Prelabel tries again when one is opened" in completed.stderr)
    [prediction] = predictions_of(label_studio, ids["green2"])
    assert prediction.result[0]["value"]["choices"] == [EXPECTED["green2"]]
    assert predictions_of(label_studio, ids["broken"]) == []  # its failure is counted, not written
    again = subprocess.run([str(BIN / "prelabel"), "run", "--project", str(project_id), "--tasks",
                            str(ids["green2"])], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 task(s) queued in 0 job(s), 1 already pre-labelled" in again.stderr


def test_re_predicting_never_duplicates(label_studio, backend_url, worker, project, redis):
    project_id, ids = project
    retrieve(label_studio, project_id, list(ids.values()))  # /predict has queued whatever it would queue
    wait_until(lambda: idle(redis), 60, what="every queued prediction job to finish")
    version = current_version(backend_url)
    for name, task_id in ids.items():
        versions = [p.model_version for p in predictions_of(label_studio, task_id)]
        # Label Studio asks only for the tasks without the current version: broken alone, a one-task /predict,
        # which is answered with its failure (one, the earlier ones removed).
        assert versions == ([f"{version}-failed"] if name == "broken" else [version]), name


def test_a_failed_image_heals_once_it_is_back(label_studio, backend_url, worker, project, redis):
    """The image was unreadable; the file is fixed: the next Retrieve predicts it, and the failure goes."""
    project_id, ids = project
    solid_image(label_studio.files_root / "e2e" / "broken.jpg", (20, 20, 220))
    retrieve(label_studio, project_id, [ids["broken"]])
    [prediction] = wait_until(lambda: [p for p in predictions_of(label_studio, ids["broken"])
                                       if p.model_version == current_version(backend_url)], 60, what="the heal")
    assert prediction.result[0]["value"]["choices"] == [EXPECTED["blue"]]
    wait_until(lambda: len(predictions_of(label_studio, ids["broken"])) == 1, 60,
               what="the superseded failure prediction to be removed")


def test_deleted_predictions_come_back(label_studio, env, worker, project, stub):
    """What Label Studio holds decides what is delivered: a prediction deleted there is written again, from the
    kept result (no MLLM call)."""
    project_id, ids = project
    client = label_studio.client()
    for prediction in predictions_of(label_studio, ids["red"]):
        client.predictions.delete(id=prediction.id)
    calls = stub.calls
    # --no-check: `prelabel check` would ask the stub its own question first
    completed = subprocess.run([str(BIN / "prelabel"), "run", "--project", str(project_id), "--all", "--no-check"],
                               env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert "1 task(s) queued" in completed.stderr
    [prediction] = predictions_of(label_studio, ids["red"])
    assert prediction.result[0]["value"]["choices"] == [EXPECTED["red"]]
    assert stub.calls == calls


def test_a_correction_reaches_a_feedback_job(label_studio, backend_url, worker, project, redis):
    _, ids = project
    client = label_studio.client()
    client.annotations.create(id=ids["red"], result=[{
        "from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["Sitophilus oryzae"]}}])

    def feedback():
        registry = FinishedJobRegistry(queues.FEEDBACK, connection=redis)
        found = [queues.queue(redis, queues.FEEDBACK).fetch_job(i).return_value() for i in registry.get_job_ids()]
        return [event for result in found if result for event in result["events"]]

    [event] = wait_until(feedback, 60, what="the feedback job")
    assert event["status"] == "corrected"
    assert (event["label"], event["predicted"], event["task"]) == ("Sitophilus oryzae", "Halyomorpha halys",
                                                                   ids["red"])
    assert event["evidence"] == ["synonym"]  # "BMSB" -> Sitophilus oryzae: pending, and a conflict for the expert


def test_accepting_pre_labels_in_bulk_confirms_them(label_studio, worker, project, redis):
    """Label Studio's "predictions to annotations" action sends ANNOTATIONS_CREATED: each is a confirmation."""
    project_id, ids = project
    label_studio.client().actions.create(id="predictions_to_annotations", project=project_id,
                                         selected_items={"all": False, "included": [ids["blue"], ids["green"]]})

    def confirmations():
        registry = FinishedJobRegistry(queues.FEEDBACK, connection=redis)
        results = [queues.queue(redis, queues.FEEDBACK).fetch_job(i).return_value() for i in registry.get_job_ids()]
        return [event for result in results if result and result["action"] == "ANNOTATIONS_CREATED"
                for event in result["events"]]

    events = wait_until(lambda: len(found := confirmations()) == 2 and found, 60, what="ANNOTATIONS_CREATED")
    assert {(e["task"], e["status"], e["label"]) for e in events} == {
        (ids["blue"], "confirmed", EXPECTED["blue"]), (ids["green"], "confirmed", EXPECTED["green"])}


def test_reviewers_teach_a_synonym_that_re_predictions_use(label_studio, backend_url, worker, project, env, redis):
    """The MLLM says a string the vocabulary does not know; three reviewers (two people) annotate it as
    Halyomorpha halys; the synonym is promoted, the version moves, and a new prediction uses it."""
    project_id, _ = project
    client = label_studio.client()
    folder = label_studio.files_root / "e2e"
    shades = [(220, 220, 20), (210, 215, 30), (225, 210, 25), (215, 225, 15)]
    for number, colour in enumerate(shades):
        solid_image(folder / f"yellow{number}.jpg", colour)
    client.projects.import_tasks(id=project_id, request=[{"image": f"/data/local-files/?d=e2e/yellow{n}.jpg"}
                                                         for n in range(4)])
    yellow = sorted(task.id for task in client.tasks.list(project=project_id) if "yellow" in task.data["image"])
    before = current_version(backend_url)
    retrieve(label_studio, project_id, yellow[:3])
    for task_id in yellow[:3]:
        wait_until(lambda t=task_id: predictions_of(label_studio, t), 120, what=f"prediction of task {task_id}")
    colleague = label_studio.account("second-reviewer")[1]  # each writes as itself (learning/feedback.py)
    annotations = [reviewer.annotations.create(id=task_id, result=[{
        "from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["Halyomorpha halys"]}}]).id
        for task_id, reviewer in zip(yellow[:3], (client, colleague, client), strict=True)]
    after = wait_until(lambda: (v := current_version(backend_url)) != before and v, 90,
                       what="the learned synonym to change the model_version")
    store = LearnedStore(f"sqlite:///{Path(env['PRELABEL_DATA_DIR']).resolve() / 'learned.sqlite'}")
    assert store.synonyms_in_force() == [("brown marble bug", "Halyomorpha halys")]
    retrieve(label_studio, project_id, [yellow[3]])  # one task: answered interactively, with the new version
    [prediction] = predictions_of(label_studio, yellow[3])
    assert prediction.model_version == after
    assert prediction.result[0]["value"]["choices"] == ["Halyomorpha halys"]
    kept = store.prediction_evidence(yellow[3])
    assert kept is not None and kept.model_version == after
    assert kept.evidence["candidates"][0] == {
        "text": "brown marble bug", "source": "classification", "label": "Halyomorpha halys", "score": 0.95,
        "method": "learned", "alternatives": []}
    # A reviewer deletes one annotation: Label Studio's ANNOTATIONS_DELETED webhook retracts its evidence, the
    # rule no longer holds (2 < 3), the synonym is demoted and the model_version goes back.
    client.annotations.delete(id=annotations[2])
    wait_until(lambda: current_version(backend_url) == before, 90, what="the demotion to restore the version")
    assert store.synonyms_in_force() == []
    assert [what for _, what, *_ in store.query("SELECT at, what FROM changes ORDER BY id")] == ["promoted", "demoted"]


def test_a_burst_of_single_task_requests_becomes_few_jobs(label_studio, backend_url, worker, project, redis):
    """50 reviewers open 50 new tasks at once (50 concurrent /predict of one task each; the images are
    `project`'s): the tasks are predicted in a few batches, not 50 one-task jobs (prelabel.jobs.bursts), and each
    ends with exactly one prediction in Label Studio (answered in the response or written by the worker)."""
    client = label_studio.client()
    created = client.projects.create(title="Burst", label_config=CONFIG)
    client.import_storage.local.create(project=created.id, path=str(label_studio.files_root / "e2e"))
    names = [*COLOURS]
    client.projects.import_tasks(id=created.id, request=[
        {"image": f"/data/local-files/?d=e2e/{names[n % len(names)]}.jpg", "n": n} for n in range(50)])
    task_ids = sorted(task.id for task in client.tasks.list(project=created.id))
    client.ml.create(project=created.id, url=backend_url, title="Prelabel", is_interactive=False)
    version = current_version(backend_url)
    data = {task.id: task.data for task in client.tasks.list(project=created.id)}

    def open_task(task_id: int) -> None:
        """What Label Studio does when a reviewer opens a task without a prediction: /predict for it, and the
        answer stored (50 at once through Label Studio's own API is more than its test server takes)."""
        answer = requests.post(f"{backend_url}/predict", timeout=120, json={
            "tasks": [{"id": task_id, "data": data[task_id]}], "label_config": CONFIG,
            "project": f"{created.id}.1"}).json()
        if answer["results"][0]:
            client.projects.import_predictions(id=created.id, request=[{**answer["results"][0], "task": task_id}])

    with ThreadPoolExecutor(50) as pool:
        list(pool.map(open_task, task_ids))

    def held() -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for prediction in requests.get(f"{label_studio.url}/api/predictions/", params={"project": created.id},
                                       headers=label_studio.headers, timeout=30).json():
            found.setdefault(prediction["task"], []).append(prediction["model_version"])
        return found

    wait_until(lambda: idle(redis) and len(held()) == 50, 120, what="every task of the burst to be predicted")
    assert held() == {task_id: [version] for task_id in task_ids}
    jobs = [job for name in (queues.INTERACTIVE, queues.PREDICT)
            for job in Job.fetch_many(FinishedJobRegistry(queue=queues.queue(redis, name)).get_job_ids(), redis)
            if job is not None and job.meta.get("project") == created.id]
    assert sum(job.return_value()["tasks"] for job in jobs) == 50
    assert len(jobs) <= 10, [job.meta.get("total") for job in jobs]
