"""Credentials planted in every setting that holds one (Redis and PostgreSQL URLs, the Label Studio token, Basic
auth, the MLLM key), then looked for in HTTP responses, logs, job results and CLI errors: never found."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
import requests
from redis import Redis

from faults.support import (
    BIN,
    base_env,
    new_project,
    predicted_by_a_worker,
    upload,
)
from helpers import EXAMPLE_VOCAB, TEST_REDIS_URL, invoke, solid_image, wait_until
from labelstudio import free_port
from prelabel.jobs import queues
from prelabel.redact import Redactor, redact_url
from stub_llm import StubLLM

REDIS_PASSWORD = "redis-pw-Zq81x"
PG_PASSWORD = "pg-pw-Kd72m"
BASIC_PASSWORD = "basic-pw-Hx55c"
LS_TOKEN = "ls-token-Wp39v-0123456789abcdef01234567"
LLM_KEY = "sk-llm-key-Rt64j"
SECRETS = (REDIS_PASSWORD, PG_PASSWORD, BASIC_PASSWORD, LS_TOKEN, LLM_KEY)


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_the_redaction_helper():
    redact = Redactor([BASIC_PASSWORD, "none", ""])
    assert redact_url(f"redis://:{REDIS_PASSWORD}@redis:6379/0") == "redis://:***@redis:6379/0"
    assert redact_url(f"postgresql://postgres:{PG_PASSWORD}@db/x") == "postgresql://postgres:***@db/x"
    text = f"auth {BASIC_PASSWORD} at redis://u:{REDIS_PASSWORD}@h/0 and none of it"
    assert redact(text) == "auth *** at redis://u:***@h/0 and none of it"  # short "secrets" are no secrets


@pytest.fixture
def service(tmp_path):
    """`prelabel serve` (gunicorn) whose Redis is away, every credential set; its log in a file."""
    port = free_port()
    env = {**os.environ, "REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:9/0", "PRELABEL_VOCAB": str(EXAMPLE_VOCAB),
           "PRELABEL_DATA_DIR": str(tmp_path / "var"), "PRELABEL_CLIP_MODEL": "", "BASIC_AUTH_USER": "ls",
           "BASIC_AUTH_PASS": BASIC_PASSWORD, "LABEL_STUDIO_API_KEY": LS_TOKEN, "PRELABEL_LLM_API_KEY": LLM_KEY}
    log = tmp_path / "serve.log"
    process = subprocess.Popen([str(BIN / "prelabel"), "serve", "--host", "127.0.0.1", "--port", str(port),
                                "--workers", "1"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    auth = ("ls", BASIC_PASSWORD)

    def up() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return requests.get(f"{url}/health", auth=auth, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(up, 60, what="prelabel serve")
    yield url, auth, log
    os.killpg(process.pid, 15)
    process.wait(timeout=30)


def test_the_503_body_and_the_log_hold_no_redis_password(service):
    url, auth, log = service
    # /webhook needs no credentials: anyone may read its answer.
    answer = requests.post(f"{url}/webhook", json={"action": "START_TRAINING", "project": {"id": 1}}, timeout=30)
    assert answer.status_code == 503
    assert "redis://:***@127.0.0.1:9/0" in answer.json()["error"]
    # A config this backend serves (one of its labels among the choices): it reaches the queue, which is away.
    config = ('<View><Image name="i" value="$i"/><Choices name="c" toName="i">'
              '<Choice value="Halyomorpha halys"/></Choices></View>')
    task = {"id": 1, "data": {"i": "/data/upload/1/a.png"}}
    body = {"tasks": [task], "label_config": config, "project": "1.1"}
    predicted = requests.post(f"{url}/predict", auth=auth, timeout=30, json=body)
    assert predicted.status_code == 503
    assert leaked(answer.text + predicted.text) == []
    text = log.read_text()
    assert "unreachable" in text  # the error was logged, masked
    assert leaked(text) == []


def test_cli_errors_hold_no_database_password():
    for url in (f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:1/sec_nowhere",  # nothing listens
                f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:5432/sec_absent"):  # no such database
        result = invoke("vocab", "review", "--vocab", str(EXAMPLE_VOCAB), env={"PRELABEL_DATABASE_URL": url})
        assert result.exit_code == 2
        assert "cannot open the learned store postgresql://postgres:***@127.0.0.1" in result.stderr
        assert leaked(result.stdout + result.stderr) == []


def test_cli_errors_hold_no_label_studio_credentials():
    result = invoke("run", "--project", "1", "--all", env={
        "LABEL_STUDIO_URL": f"http://admin:{BASIC_PASSWORD}@127.0.0.1:9", "LABEL_STUDIO_API_KEY": LS_TOKEN,
        "REDIS_URL": TEST_REDIS_URL, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_CLIP_MODEL": ""})
    assert result.exit_code != 0
    assert "Label Studio at http://admin:***@127.0.0.1:9" in result.stderr
    assert leaked(result.stdout + result.stderr) == []


def test_failed_jobs_and_worker_logs_hold_no_label_studio_password(tmp_path, label_studio):
    """A LABEL_STUDIO_URL with a password (a proxy's Basic auth), and Label Studio away: the job fails, and
    neither the traceback rq keeps nor the log shows the password."""
    redis = Redis.from_url(TEST_REDIS_URL)
    redis.flushdb()
    env = base_env(label_studio, tmp_path / "var", LABEL_STUDIO_URL=f"http://proxy:{BASIC_PASSWORD}@127.0.0.1:9",
                   LABEL_STUDIO_API_KEY=LS_TOKEN, PRELABEL_LLM_API_KEY=LLM_KEY)
    job = queues.enqueue_feedback(redis, "ANNOTATION_CREATED", 1, [1])
    job.retries_left = 0  # fail for good at once: rq keeps the traceback of a final failure (`prelabel jobs`)
    job.save()
    done = subprocess.run([str(BIN / "prelabel"), "worker", "--queues", queues.FEEDBACK, "--burst"], env=env,
                          capture_output=True, text=True, timeout=300)
    result = job.latest_result()
    assert result is not None and "cannot read annotation" in result.exc_string
    assert "http://proxy:***@127.0.0.1:9" in result.exc_string
    assert leaked(result.exc_string) == []
    assert leaked(done.stdout + done.stderr) == [], done.stdout + done.stderr


def test_job_results_and_evidence_hold_no_mllm_key_that_the_server_echoes(tmp_path, label_studio):
    """The MLLM answers 401 quoting the key it got (as OpenAI does, in part): the task's failure reason, the job
    result, the kept evidence and the worker's log all say why, without the key."""
    project_id = new_project(label_studio, "Credentials")
    image = solid_image(tmp_path / "leaf.jpg", (20, 200, 20)).read_bytes()
    upload(label_studio, project_id, {"leaf.jpg": image})
    echo = json.dumps({"error": {"message": f"Incorrect API key provided: {LLM_KEY}. You can find your API key at "
                                            "https://platform.openai.com/account/api-keys.",
                                 "type": "invalid_request_error"}})
    with StubLLM() as stub:
        for _ in range(4):
            stub.enqueue(status=401, raw_body=echo)
        env = base_env(label_studio, tmp_path / "var", PRELABEL_LLM_BASE_URL=stub.url, PRELABEL_LLM_API_KEY=LLM_KEY)
        outcome = predicted_by_a_worker(label_studio, project_id, env, tmp_path / "worker.log", "credentials")
    [reason] = outcome["failed"].values()
    assert "the MLLM did not answer (rejected)" in reason
    from prelabel.learning.store import LearnedStore

    store = LearnedStore(f"sqlite:///{(tmp_path / 'var' / 'learned.sqlite').resolve()}")
    [(kept,)] = store.query("SELECT evidence FROM prediction_evidence")
    assert "Incorrect API key provided: ***" in kept  # the server's echo, masked
    shown = [p.model_dump() for task in label_studio.client().tasks.list(project=project_id)
             for p in label_studio.client().predictions.list(task=task.id)]  # whatever Label Studio holds
    assert leaked(repr(outcome) + kept + repr(shown) + (tmp_path / "worker.log").read_text()) == []


def test_basic_auth_is_checked_and_its_password_never_echoed(service):
    url, _, log = service
    wrong = base64.b64encode(f"ls:{BASIC_PASSWORD}x".encode()).decode()
    answer = requests.get(f"{url}/health", headers={"Authorization": f"Basic {wrong}"}, timeout=10)
    assert answer.status_code == 401 and leaked(answer.text) == []
    assert leaked(Path(log).read_text()) == []
