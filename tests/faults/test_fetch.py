"""Fetching task images: SSRF attempts against real loopback listeners that record every hit, the token's reach,
slow and oversized downloads. Each refusal must be a clear one-line error and must send nothing."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from faults.listener import Listener
from faults.support import (
    always,
    base_env,
    import_values,
    new_project,
    predicted_by_a_worker,
    upload,
)
from prelabel.studio.fetch import FetchError, FetchLimits, ImageFetcher
from stub_llm import StubLLM

TOKEN = "Token fault-catalogue-token"


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def fetcher(studio: Listener | str, hosts: str = "", max_bytes: int = 10_000_000, timeout: float = 10.0):
    url = studio.origin if isinstance(studio, Listener) else studio
    return ImageFetcher(url, lambda: TOKEN, FetchLimits(hosts, max_bytes, timeout))


@pytest.fixture
def studio():
    """Plays Label Studio (LABEL_STUDIO_URL): serves an uploaded file and records what reaches it."""
    with Listener() as listener:
        listener.route("/data/upload/1/a.png", body=png(), headers={"Content-Type": "image/png"})
        yield listener


@pytest.fixture
def victim():
    """Something on loopback a task value must never reach (Redis, an admin page, the metadata service)."""
    with Listener() as listener:
        listener.route("/secret", body=png())
        yield listener


def refused(call, *patterns: str) -> str:
    with pytest.raises(FetchError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and len(message) < 600, message
    for pattern in patterns:
        assert pattern in message, message
    return message


# ---- where from ------------------------------------------------------------------------------------------------

def test_label_studio_files_are_fetched_with_the_token(studio):
    assert fetcher(studio).fetch("/data/upload/1/a.png", 1) == png()
    [hit] = studio.hits
    assert hit.headers["Authorization"] == TOKEN


@pytest.mark.parametrize("spelling", ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "localhost", "0.0.0.0"])
def test_loopback_in_any_spelling_is_refused(studio, victim, spelling):
    value = f"http://{spelling}:{victim.port}/secret"
    refused(lambda: fetcher(studio).fetch(value, 1), "refused", "neither LABEL_STUDIO_URL nor in PRELABEL_IMAGE_HOSTS")
    assert victim.hits == [] and studio.hits == []


def test_ipv6_loopback_is_refused(studio):
    with Listener("::1") as victim6:
        victim6.route("/secret", body=png())
        for value in (f"http://[::1]:{victim6.port}/secret", f"http://[::ffff:127.0.0.1]:{victim6.port}/secret"):
            refused(lambda v=value: fetcher(studio).fetch(v, 1), "refused")
        assert victim6.hits == []


def test_an_allowed_host_must_still_not_resolve_to_a_private_address_unless_named(studio, victim):
    # Allowing a public name says nothing about private ones: a name that resolves to loopback is refused.
    allowed = fetcher(studio, hosts="*.example.com")
    refused(lambda: allowed.fetch(f"http://localhost:{victim.port}/secret", 1), "neither LABEL_STUDIO_URL")
    # Named explicitly (host and port), a private host is allowed, and gets no token.
    named = fetcher(studio, hosts=f"127.0.0.1:{victim.port}")
    assert named.fetch(f"http://127.0.0.1:{victim.port}/secret", 1) == png()
    assert "Authorization" not in victim.hits[0].headers


def test_scheme_relative_urls_are_refused(studio, victim):
    refused(lambda: fetcher(studio).fetch(f"//127.0.0.1:{victim.port}/secret", 1), "scheme-relative")
    assert victim.hits == []


@pytest.mark.parametrize("value", ["file:///etc/passwd", "ftp://127.0.0.1/x.png", "gopher://127.0.0.1:6379/_PING",
                                   "data:image/png;base64,iVBORw0KGgo=", "javascript:alert(1)"])
def test_only_http_and_https(studio, value):
    refused(lambda: fetcher(studio).fetch(value, 1), "only http and https")
    assert studio.hits == []


@pytest.mark.parametrize("value", ["http://127.0.0.1\\@example.com/x", "http://example.com@127.0.0.1/x",
                                   "http://a:b@127.0.0.1/x", "/data/upload/1/\ud800.png", "/data/upload/1/a\r\nX: y"])
def test_parser_confusion_is_refused(studio, value):
    refused(lambda: fetcher(studio).fetch(value, 1), "refused")


def test_a_redirect_from_an_allowed_host_to_loopback_is_refused(studio, victim):
    with Listener() as allowed:
        allowed.route("/img.png", status=302, headers={"Location": f"http://localhost:{victim.port}/secret"})
        allowed.route("/other.png", status=301, headers={"Location": f"http://2130706433:{victim.port}/secret"})
        policy = fetcher(studio, hosts=f"127.0.0.1:{allowed.port}")
        for path in ("/img.png", "/other.png"):
            refused(lambda p=path: policy.fetch(f"http://127.0.0.1:{allowed.port}{p}", 1), "redirected to", "refused")
        assert victim.hits == []
        assert all("Authorization" not in hit.headers for hit in allowed.hits)


def test_redirects_are_bounded(studio):
    with Listener() as loop:
        loop.route("/a", status=302, headers={"Location": "/a"})
        refused(lambda: fetcher(studio, hosts=f"127.0.0.1:{loop.port}").fetch(f"{loop.origin}/a", 1),
                "more than 5 redirects")
        assert len(loop.hits) == 6


# ---- the token's reach -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["/api/projects", "/api/projects/1/export?exportType=JSON", "/api/current-user/token",
                                   "/api/data/local-files/?d=a/b.png", "/x/data/local-files/?d=a.png",
                                   "/data/upload/../../api/projects", "/data/upload/%2e%2e/api/projects",
                                   "/data/local-files/", "/user/login/"])
def test_a_label_studio_path_that_serves_no_files_is_refused_and_nothing_is_sent(studio, value):
    refused(lambda: fetcher(studio).fetch(value, 1), "a Label Studio path that serves no files")
    refused(lambda: fetcher(studio).fetch(studio.origin + value, 1), "serves no files")
    assert studio.hits == []


def test_the_token_goes_to_label_studio_file_paths_only(studio):
    studio.route("/data/local-files/", body=png())
    assert fetcher(studio).fetch("/data/local-files/?d=写真/葉 1.png", 1) == png()  # requoted, as a browser would
    [hit] = studio.hits
    assert hit.path == "/data/local-files/?d=%E5%86%99%E7%9C%9F/%E8%91%89%201.png"
    assert hit.headers["Authorization"] == TOKEN
    # Another port on Label Studio's host is another service (Redis, PostgreSQL): not Label Studio.
    refused(lambda: fetcher(studio).fetch(f"http://127.0.0.1:{studio.port + 1}/data/upload/1/a.png", 1),
            "neither LABEL_STUDIO_URL")


def test_the_token_never_follows_a_redirect_to_another_host(studio):
    with Listener() as storage:
        storage.route("/bucket/a.png", body=png())
        target = f"{storage.origin}/bucket/a.png"
        studio.route("/tasks/5/presign/", status=303, headers={"Location": target})
        studio.route("/data/upload/1/moved.png", status=302, headers={"Location": target})
        policy = fetcher(studio, hosts=f"127.0.0.1:{storage.port}")
        assert policy.fetch("s3://bucket/a.png", 5) == png()  # presigned by Label Studio, fetched from storage
        assert policy.fetch("/data/upload/1/moved.png", 1) == png()
        assert [hit.headers.get("Authorization") for hit in studio.hits] == [TOKEN, TOKEN]
        assert all("Authorization" not in hit.headers for hit in storage.hits)
        assert studio.hits[0].path.startswith("/tasks/5/presign/?fileuri=")


def test_a_presign_redirect_may_leave_for_a_public_storage_but_not_for_a_private_one(studio, victim):
    studio.route("/tasks/5/presign/", status=302, headers={"Location": f"http://localhost:{victim.port}/secret"})
    refused(lambda: fetcher(studio).fetch("gs://bucket/a.png", 5), "not a public address")
    assert victim.hits == []


def test_a_redirect_inside_label_studio_to_its_api_is_refused(studio):
    studio.route("/data/upload/1/evil.png", status=302, headers={"Location": "/api/projects"})
    refused(lambda: fetcher(studio).fetch("/data/upload/1/evil.png", 1), "serves no files")
    assert studio.hit_paths() == ["/data/upload/1/evil.png"]


# ---- time and size ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("route", [{"body": png(), "drip": 0.7}, {"body": png(), "drip_headers": 0.7}])
def test_a_slow_drip_is_held_no_longer_than_the_deadline(studio, route):
    studio.route("/data/upload/1/slow.png", **route)
    started = time.monotonic()
    refused(lambda: fetcher(studio, timeout=2.0).fetch("/data/upload/1/slow.png", 1), "took longer than",
            "PRELABEL_IMAGE_TIMEOUT (2 s)")
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("declare_length", [True, False])
def test_an_oversized_download_stops_at_the_cap(studio, declare_length):
    studio.route("/data/upload/1/huge.png", endless=200 * 1024 * 1024, declare_length=declare_length)
    started = time.monotonic()
    message = refused(lambda: fetcher(studio, max_bytes=1_000_000).fetch("/data/upload/1/huge.png", 1),
                      "larger than PRELABEL_IMAGE_MAX_BYTES (1000000 bytes)")
    assert time.monotonic() - started < 5.0, message
    # Stopped at the cap: far less than the 200 MB offered crossed (socket buffers hold a few MB at most).
    assert studio.sent.get("/data/upload/1/huge.png", 0) < 50 * 1024 * 1024


def test_a_long_value_is_quoted_short(studio):
    value = "data:image/png;base64," + "A" * 10_000_000
    message = refused(lambda: fetcher(studio).fetch(value, 1), "only http and https", "(10000022 characters)")
    assert len(message) < 600


# ---- TLS ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (openssl, as an operator would make one)."""
    import subprocess

    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


def test_https_certificates_are_verified(studio, certificate):
    with Listener(tls=certificate) as storage:
        storage.route("/a.png", body=png())
        policy = fetcher(studio, hosts=f"127.0.0.1:{storage.port}")
        refused(lambda: policy.fetch(f"{storage.origin}/a.png", 1), "cannot fetch", "CERTIFICATE_VERIFY_FAILED")
        policy._tls.load_verify_locations(certificate[0])  # the operator's own authority, trusted
        assert policy.fetch(f"{storage.origin}/a.png", 1) == png()  # to the checked address, named as in the URL


def test_a_tls_handshake_that_never_ends_is_held_no_longer_than_the_deadline(studio):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, then says nothing
        port = silent.getsockname()[1]
        started = time.monotonic()
        refused(lambda: fetcher(studio, hosts=f"127.0.0.1:{port}", timeout=1.5).fetch(
            f"https://127.0.0.1:{port}/a.png", 1), "took longer than PRELABEL_IMAGE_TIMEOUT (1.5 s)")
        assert time.monotonic() - started < 2.5


# ---- through a real worker, from task data in the real Label Studio --------------------------------------------

def test_hostile_image_values_in_real_tasks_fail_their_task_only(label_studio, tmp_path, victim):
    """Task values anyone with import rights can write: each fails its own task with its reason, nothing reaches
    the victim or Label Studio's API, and the job's ordinary task is still labelled."""
    project_id = new_project(label_studio, "Hostile values")
    upload(label_studio, project_id, {"fine.png": png()})
    hostile = {"/api/projects": "serves no files", f"http://127.0.0.1:{victim.port}/secret": "neither LABEL_STUDIO_URL",
               f"http://2130706433:{victim.port}/secret": "neither LABEL_STUDIO_URL",
               f"//127.0.0.1:{victim.port}/secret": "scheme-relative", "file:///etc/passwd": "only http and https",
               "/api/data/local-files/?d=x.png": "serves no files"}
    ids = import_values(label_studio, project_id, list(hostile))
    with StubLLM(always("BMSB")) as stub:
        env = base_env(label_studio, tmp_path / "var", PRELABEL_LLM_BASE_URL=stub.url)
        outcome = predicted_by_a_worker(label_studio, project_id, env, tmp_path / "worker.log", "hostile-values")
    assert outcome["labelled"] == 1 and outcome["tasks"] == 7, outcome
    for value, reason in hostile.items():
        message = outcome["failed"][ids[value]]
        assert "refused" in message and reason in message, (value, message)
    assert victim.hits == []



def test_local_files_are_read_from_disk_inside_the_projects_storages_only(tmp_path):
    """PRELABEL_LOCAL_FILES_ROOT: a file inside a local-files storage of the task's project is read where it
    lies (no download); one that climbs out of the root, lies in the root but in no storage of the project
    (another folder, a folder whose name only starts like the storage's), or comes without a project is never
    looked at on disk: it goes to Label Studio, which decides."""
    root = tmp_path / "files"
    (root / "photos").mkdir(parents=True)
    (root / "photos" / "a.jpg").write_bytes(b"the photo")
    for private in ("private/p.jpg", "photos-private/p.jpg"):
        (root / private).parent.mkdir()
        (root / private).write_bytes(b"not for you")
    (tmp_path / "secret.jpg").write_bytes(b"not for you")
    storages = {7: [str(root / "photos")], 8: [str(root)], 9: [str(tmp_path)]}  # 8, 9: no storage Label Studio allows
    with Listener() as studio:
        disk = ImageFetcher(studio.origin, lambda: TOKEN, FetchLimits(local_root=str(root), timeout=5),
                            storages=lambda project: storages.get(project, []))
        assert disk.fetch("/data/local-files/?d=photos/a.jpg", 1, 7) == b"the photo"
        assert disk.fetch(f"{studio.origin}/data/local-files/?d=photos%2Fa.jpg", 1, 7) == b"the photo"
        assert studio.hit_paths() == []  # nothing was downloaded
        asked = ["../secret.jpg", "private/p.jpg", "photos-private/p.jpg", "photos/../private/p.jpg"]
        for relative in asked:
            with pytest.raises(FetchError):
                disk.fetch(f"/data/local-files/?d={relative}", 1, 7)
        for project in (8, 9, None):
            with pytest.raises(FetchError):
                disk.fetch("/data/local-files/?d=photos/a.jpg", 1, project)
        # Asked for, never read from disk (the listener answers 404 to each, as Label Studio would).
        assert studio.hit_paths() == [f"/data/local-files/?d={relative}" for relative in asked] + [
            "/data/local-files/?d=photos/a.jpg"] * 3
