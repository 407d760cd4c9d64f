"""`prelabel setup` against a real Label Studio 1.23.2 and a real backend (`prelabel serve`): twice gives the same
project state, field by field through the API; every refusal is one sentence saying what to change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from redis import Redis

from helpers import EXAMPLE_VOCAB, TEST_REDIS_URL, TINY_CLIP_CONFIG, invoke, solid_image, wait_until
from labelstudio import free_port

BIN = Path(sys.executable).parent
USER, PASSWORD = "prelabel", "setup-test-password"


@pytest.fixture(scope="module")
def env(label_studio, tmp_path_factory) -> dict[str, str]:
    return {"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
            "REDIS_URL": TEST_REDIS_URL, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_LLM_BASE_URL": "",
            "PRELABEL_CLIP_MODEL": str(TINY_CLIP_CONFIG), "PRELABEL_CLIP_PRETRAINED": "",
            "PRELABEL_DATA_DIR": str(tmp_path_factory.mktemp("setup-var")),
            "BASIC_AUTH_USER": USER, "BASIC_AUTH_PASS": PASSWORD}


@pytest.fixture(scope="module")
def backend_url(env, tmp_path_factory):
    """A real `prelabel serve` with Basic auth (no worker: setup itself keeps project.model_version)."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    process = subprocess.Popen([str(BIN / "prelabel"), "serve", "--host", "127.0.0.1", "--port", str(port),
                                "--workers", "1"], env={**os.environ, **env}, stdout=log.open("w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return requests.get(f"{url}/health", auth=(USER, PASSWORD), timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(answers, 60, what="prelabel serve")
    yield url
    os.killpg(process.pid, 15)
    process.wait(timeout=20)
    # Its /setup queued model_version jobs that no worker here runs: leave no work for later tests' workers.
    Redis.from_url(TEST_REDIS_URL).flushdb()


@pytest.fixture(scope="module")
def photos(label_studio) -> Path:
    folder = label_studio.files_root / "setup-photos"
    for name, colour in {"red": (220, 20, 20), "green": (20, 220, 20), "blue": (20, 20, 220)}.items():
        solid_image(folder / f"{name}.jpg", colour)
    (folder / "notes.txt").write_text("not a photo: the storage's filter leaves it out")
    return folder


def state(label_studio, project_id: int) -> dict:
    """What setup owns, read back through the API."""
    client = label_studio.client()
    project = client.projects.get(id=project_id)
    return {
        "project": (project.title, project.label_config, project.model_version),
        "storages": [(s.id, s.path, s.use_blob_urls, s.regex_filter)
                     for s in client.import_storage.local.list(project=project_id)],
        "backends": [(b.id, b.url, b.title, str(b.auth_method), b.basic_auth_user, b.is_interactive)
                     for b in client.ml.list(project=project_id)],
        "webhooks": sorted((h.url, h.send_payload, h.send_for_all_actions)
                           for h in client.webhooks.list(project=str(project_id))),
        "tasks": sorted((t.id, t.data["image"]) for t in client.tasks.list(project=project_id, include="id,data")),
        "tabs": sorted((v.id, v.data["title"]) for v in client.views.list(project=project_id)),
    }


def test_setup_twice_gives_the_same_project(label_studio, env, backend_url, photos):
    args = ["setup", "--title", "Setup twice", "--images", str(photos), "--backend-url", backend_url]
    first = invoke(*args, env=env)
    assert first.exit_code == 0, first.stderr
    project_id = int(first.stdout.strip())
    after_first = state(label_studio, project_id)
    assert [title for _, title in after_first["tabs"]] == ["Prelabel review"]  # the reviewers' list

    second = invoke(*args, env=env)
    assert second.exit_code == 0, second.stderr
    assert int(second.stdout.strip()) == project_id
    assert "nothing changed" in second.stderr
    assert state(label_studio, project_id) == after_first

    from prelabel.studio.labelconfig import make_label_config
    from prelabel.vocabulary.vocab import load_vocabulary

    title, config, model_version = after_first["project"]
    assert (title, config) == ("Setup twice", make_label_config(load_vocabulary(EXAMPLE_VOCAB)).strip())
    version = requests.get(f"{backend_url}/versions", auth=(USER, PASSWORD), timeout=5).json()["versions"][0]
    assert model_version == version
    [storage] = after_first["storages"]
    assert storage[1] == str(photos)
    [backend] = after_first["backends"]
    assert (backend[1], backend[2], backend[4]) == (backend_url, version, USER)
    assert "BASIC_AUTH" in backend[3]
    assert (f"{backend_url}/webhook", True, True) in after_first["webhooks"]
    assert sorted(image.rsplit("/", 1)[-1] for _, image in after_first["tasks"]) == ["blue.jpg", "green.jpg",
                                                                                     "red.jpg"]


def test_setup_finds_the_project_by_id_and_imports_new_photos_only(label_studio, env, backend_url, photos):
    first = invoke("setup", "--title", "Setup by id", "--images", str(photos), env=env)
    project_id = int(first.stdout.strip())
    solid_image(photos / "yellow.jpg", (220, 220, 20))
    try:
        again = invoke("setup", "--project", str(project_id), "--images", str(photos), env=env)
        assert again.exit_code == 0, again.stderr
        assert "1 task(s) imported" in again.stderr
        assert len(state(label_studio, project_id)["tasks"]) == 4
    finally:
        (photos / "yellow.jpg").unlink()


def test_setup_imports_a_url_list_once(label_studio, env, tmp_path, photos):
    urls = tmp_path / "urls.txt"
    urls.write_text("/data/local-files/?d=setup-photos/red.jpg\n\n/data/local-files/?d=setup-photos/blue.jpg\n")
    first = invoke("setup", "--title", "Setup from URLs", "--urls", str(urls), env=env)
    assert first.exit_code == 0, first.stderr
    project_id = int(first.stdout.strip())
    again = invoke("setup", "--title", "Setup from URLs", "--urls", str(urls), env=env)
    assert "nothing changed" in again.stderr
    assert [image for _, image in state(label_studio, project_id)["tasks"]] == [
        "/data/local-files/?d=setup-photos/red.jpg", "/data/local-files/?d=setup-photos/blue.jpg"]


# ---- refusals, against the real Label Studio --------------------------------------------------------------


def refusal(result) -> str:
    assert result.exit_code == 1, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    return line


def test_a_storage_outside_the_document_root_says_what_to_change(label_studio, env, tmp_path):
    outside = tmp_path / "photos"
    solid_image(outside / "a.jpg", (220, 20, 20))
    line = refusal(invoke("setup", "--title", "Outside the root", "--images", str(outside), env=env))
    assert f'Absolute local path "{outside}" must be a subdirectory of LOCAL_FILES_DOCUMENT_ROOT' in line
    assert f"restart Label Studio with LOCAL_FILES_DOCUMENT_ROOT set to a parent of {outside}" in line


def test_the_document_root_itself_says_what_to_change(label_studio, env):
    line = refusal(invoke("setup", "--title", "The root itself", "--images", str(label_studio.files_root),
                          env=env))
    assert "cannot be the same as LOCAL_FILES_DOCUMENT_ROOT" in line and "move the photos into a subdirectory" in line


def test_a_bad_token_says_what_to_change(label_studio, env):
    line = refusal(invoke("setup", "--title", "Bad token", env={**env, "LABEL_STUDIO_API_KEY": "not-the-token"}))
    assert f"Label Studio at {label_studio.url} refused the token (Invalid token)" in line
    assert "set LABEL_STUDIO_API_KEY" in line


def test_a_backend_nobody_answers_at_says_what_to_change(label_studio, env):
    url = f"http://127.0.0.1:{free_port()}"
    line = refusal(invoke("setup", "--title", "No backend there", "--backend-url", url, env=env))
    assert f"Label Studio cannot reach the backend at {url} (health check failed:" in line
    assert "Connection refused" in line and "start `prelabel serve` there" in line
    assert "<a href" not in line


def test_wrong_backend_credentials_say_what_to_change(label_studio, env, backend_url):
    line = refusal(invoke("setup", "--title", "Wrong password", "--backend-url", backend_url,
                          env={**env, "BASIC_AUTH_PASS": "not-the-password"}))
    assert "refused Label Studio's credentials" in line and "set BASIC_AUTH_USER and BASIC_AUTH_PASS" in line


@pytest.fixture(scope="module")
def guarded_label_studio(label_studio, tmp_path_factory):
    """A second Label Studio with 1.23's defaults (ML_BLOCK_LOCAL_IP and SSRF_PROTECTION_ENABLED on), on a copy of
    the first one's database: same user and token, no migrations, so it starts in seconds."""
    import sqlite3

    from labelstudio import launch_label_studio

    base = tmp_path_factory.mktemp("guarded-label-studio")
    (base / "data").mkdir()
    (base / "token").write_text(label_studio.token)
    source = sqlite3.connect(label_studio.data_dir / "label_studio.sqlite3")
    with sqlite3.connect(base / "data" / "label_studio.sqlite3") as copy:
        source.backup(copy)
    source.close()
    guarded = launch_label_studio(base, overrides={"ML_BLOCK_LOCAL_IP": "true", "SSRF_PROTECTION_ENABLED": "true"})
    guarded.wait_ready()
    yield guarded
    guarded.stop()


def test_a_backend_url_label_studio_refuses_says_what_to_change(guarded_label_studio, env, backend_url):
    line = refusal(invoke("setup", "--title", "Refused URL", "--backend-url", backend_url,
                          env={**env, "LABEL_STUDIO_URL": guarded_label_studio.url}))
    assert f"Label Studio refuses the backend URL {backend_url} (URL resolves to a reserved network address" in line
    assert "restart it with ML_BLOCK_LOCAL_IP=false and SSRF_PROTECTION_ENABLED=false" in line


def test_a_japanese_project_keeps_its_own_config_unless_forced(label_studio, env, photos):
    """Issue 21: `setup --language ja` makes the Japanese config; re-running setup never replaces a team's own
    config silently (it is kept, and said so); --force replaces it."""
    from prelabel.studio.labelconfig import make_label_config
    from prelabel.vocabulary.vocab import load_vocabulary

    vocabulary = load_vocabulary(EXAMPLE_VOCAB)
    made = invoke("setup", "--title", "害虫 検査", "--language", "ja", env=env)
    assert made.exit_code == 0, made.stderr
    project_id = int(made.stdout.strip())
    japanese = make_label_config(vocabulary, language="ja").strip()
    assert state(label_studio, project_id)["project"][1] == japanese
    assert '<Choice value="クサギカメムシ" alias="Halyomorpha halys"/>' in japanese and "該当なし" in japanese
    # The team edits its config (a choice renamed as its reviewers say it): setup without --language keeps it.
    own = japanese.replace('value="クサギカメムシ"', 'value="クサギ"')
    label_studio.client().projects.update(id=project_id, label_config=own)
    kept = invoke("setup", "--project", str(project_id), env=env)
    assert kept.exit_code == 0, kept.stderr
    assert f"project {project_id}: its labeling config is not the vocabulary's and is kept (--force replaces it)" \
           in kept.stderr
    assert state(label_studio, project_id)["project"][1] == own
    forced = invoke("setup", "--project", str(project_id), "--force", env=env)
    assert forced.exit_code == 0 and "labeling config replaced by the vocabulary's (--force)" in forced.stderr
    assert state(label_studio, project_id)["project"][1] == make_label_config(vocabulary).strip()
