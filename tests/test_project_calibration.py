"""A project's own calibration without `prelabel calibrate` (issue 20): once a project has enough reviewed
pre-labels, real feedback jobs (a real `prelabel worker`, annotations read back from a real Label Studio) refit its
model into the learned store (SQLite and PostgreSQL); the service and a worker then score that project's tasks with
it, under that project's own model_version, while another project on the same backend keeps the prior."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from redis import Redis
from rq.registry import FailedJobRegistry

from helpers import EXAMPLE_VOCAB, TEST_REDIS_URL
from prelabel.jobs import queues
from prelabel.jobs.context import WorkerContext
from prelabel.learning.outcome import FeedbackOutcome, RefitOutcome
from prelabel.learning.rows import EvidenceRow
from prelabel.learning.store import LearnedStore
from prelabel.parts import Parts
from prelabel.pipeline.calibration import PRIOR, PROJECT, Calibration, fit, prior
from prelabel.pipeline.identity import ModelVersion
from prelabel.pipeline.result import Finding, ImageInput
from prelabel.service.app import create_app
from prelabel.settings import Settings

BIN = Path(sys.executable).parent
BMSB, NEZARA = "Halyomorpha halys", "Nezara viridula"
CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
          f'<Choice value="{BMSB}"/><Choice value="{NEZARA}"/></Choices></View>')
AFTER = 6  # PRELABEL_CALIBRATE_AFTER for the test: the default (200) would cost minutes of annotations
# Project A's 8 pre-labels: how each label was found, and what its reviewer chose.
EXACT, FUZZY = Finding("exact", "classification", 1.0, 2, 0, 2), Finding("fuzzy", "classification", 0.9, 1, 1, 2)
REVIEWED = [(EXACT, BMSB)] * 5 + [(FUZZY, NEZARA)] * 2 + [(FUZZY, BMSB)]


def choice(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [label]}}]


@pytest.fixture(scope="module")
def projects(label_studio):
    """Project A, its tasks annotated as REVIEWED says; project B, one task annotated (no backend: no webhooks)."""
    client = label_studio.client()
    made = {}
    for name, labels in (("A", [label for _, label in REVIEWED]), ("B", [BMSB])):
        project = client.projects.create(title=f"Own calibration {name}", label_config=CONFIG)
        client.projects.import_tasks(id=project.id, request=[{"image": f"/data/upload/{i}.jpg"}
                                                             for i in range(len(labels))])
        tasks = sorted(task.id for task in client.tasks.list(project=project.id))
        made[name] = (project.id, tasks, [client.annotations.create(id=task, result=choice(label)).id
                                          for task, label in zip(tasks, labels, strict=True)])
    return made


def run_worker(env: dict, redis: Redis, queue: str) -> None:
    done = subprocess.run([str(BIN / "prelabel"), "worker", "--queues", queue, "--burst"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert FailedJobRegistry(queue=queues.queue(redis, queue)).count == 0, done.stdout + done.stderr


def predicted(pipeline, stub_llm) -> object:
    stub_llm.handler = lambda body: json.dumps({"classification": BMSB, "candidates": [BMSB], "description": ""})
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buffer, format="PNG")
    [found] = pipeline.predict([ImageInput("a.png", lambda: buffer.getvalue(), ref=1)])
    return found


def test_a_project_s_reviews_fit_its_own_scores_and_another_project_keeps_the_prior(
        store_url, projects, label_studio, stub_llm, tmp_path):
    store = LearnedStore(store_url)
    (a_id, a_tasks, a_annotations), (b_id, b_tasks, b_annotations) = projects["A"], projects["B"]
    # What prediction jobs kept: every task pre-labelled BMSB, each with the Finding its score came from.
    store.save_prediction_evidence([EvidenceRow(
        task_id=task, project_id=project, model_version="v1", vocabulary_version="x", label=BMSB,
        evidence={"state": "label", "score": 0.9, "finding": finding.to_dict(), "candidates": []})
        for project, tasks, findings in ((a_id, a_tasks, [f for f, _ in REVIEWED]), (b_id, b_tasks, [REVIEWED[0][0]]))
        for task, finding in zip(tasks, findings, strict=True)])
    redis = Redis.from_url(TEST_REDIS_URL)
    redis.flushdb()
    env = {**os.environ, "REDIS_URL": TEST_REDIS_URL, "LABEL_STUDIO_URL": label_studio.url,
           "LABEL_STUDIO_API_KEY": label_studio.token, "PRELABEL_DATABASE_URL": store_url,
           "PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_CLIP_MODEL": "", "PRELABEL_LLM_BASE_URL": stub_llm.url,
           "PRELABEL_DATA_DIR": str(tmp_path), "PRELABEL_CALIBRATE_AFTER": str(AFTER)}
    jobs = [queues.enqueue_feedback(redis, "ANNOTATION_CREATED", project, [annotation])
            for project, annotations in ((a_id, a_annotations), (b_id, b_annotations)) for annotation in annotations]
    run_worker(env, redis, queues.FEEDBACK)  # one worker, one job at a time: the reviews arrive in order
    done = [FeedbackOutcome.from_json(job.latest_result().return_value).calibration  # type: ignore[union-attr]
            for job in jobs]
    assert [found[a_id].version is not None for found in done[:len(REVIEWED)]] == [
        False] * (AFTER - 1) + [True] + [False] * (len(REVIEWED) - AFTER)  # fitted at AFTER; again at twice that
    assert done[AFTER - 2][a_id] == RefitOutcome(AFTER - 1, refit_at=AFTER)
    assert done[-1][b_id] == RefitOutcome(1, refit_at=AFTER)
    stored = store.calibration(a_id)
    assert stored is not None and stored[1] == AFTER and store.calibration(b_id) is None
    own = Calibration.from_dict(json.loads(stored[0]))
    refit = fit([f for f, _ in REVIEWED[:AFTER]], [label == BMSB for _, label in REVIEWED[:AFTER]], "test")
    assert own.coefficients == refit.coefficients and own.intercept == refit.intercept  # fitted on the verdicts

    settings = Settings.from_env({"PRELABEL_LLM_BASE_URL": stub_llm.url, "PRELABEL_DATABASE_URL": store_url,
                                  "PRELABEL_CALIBRATE_AFTER": str(AFTER)}, vocab=str(EXAMPLE_VOCAB), clip_model="",
                                 redis_url=TEST_REDIS_URL, data_dir=str(tmp_path / "var"))
    service, worker = create_app(settings).test_client(), WorkerContext(Parts(settings))
    version = {project: service.post("/setup", json={"project": f"{project}.1", "schema": CONFIG}).get_json()[
        "model_version"] for project in (a_id, b_id)}
    assert version[a_id] != version[b_id] == service.get("/versions").get_json()["versions"][0]
    own_pipeline, other = worker.pipeline(a_id), worker.pipeline(b_id)
    assert own_pipeline.calibration == own and str(own_pipeline.model_version) == version[a_id]
    assert other.calibration == prior() and str(other.model_version) == version[b_id]
    # The same answer, scored by each project's model: A's measured on its reviews, B's the prior.
    mine, theirs = predicted(own_pipeline, stub_llm), predicted(other, stub_llm)
    assert (mine.label, mine.scored_by, theirs.scored_by) == (BMSB, PROJECT, PRIOR)
    assert mine.score == pytest.approx(own.probability(mine.finding), abs=1e-9) != theirs.score
    assert theirs.score == pytest.approx(prior().probability(theirs.finding), abs=1e-9)
    # A job queued under the deployment's version before the refit is served at the project's own.
    assert any(alike.same_settings(ModelVersion.parse(version[b_id])) for alike in worker.versions_alike(a_id))
    worker.close()
    redis.flushdb()
