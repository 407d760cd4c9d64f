"""A real, headless Label Studio for integration tests (not a test module itself).

The server is the ``label-studio`` package installed by ``scripts/install-label-studio.sh`` into its own
virtual environment (``$LS_VENV``, default ``.venvs-ls`` under the repository root); the tests talk to it
over HTTP with the project's label-studio-sdk.

Direct use::

    from labelstudio import start_label_studio

    ls = start_label_studio(tmp_path)   # blocks until /health answers and the token works
    try:
        client = ls.client()            # label_studio_sdk.LabelStudio
        ...
    finally:
        ls.stop()

As a fixture, register ``label_studio_fixture`` under the name and scope you want, in a test module or in
``conftest.py`` (one server per scope; a first start runs the migrations and takes tens of seconds)::

    import pytest
    from labelstudio import label_studio_fixture

    label_studio = pytest.fixture(scope="session", name="label_studio")(label_studio_fixture)

    def test_something(label_studio):
        label_studio.client().projects.list()

Files served as ``/data/local-files/?d=<dir>/<file>`` must sit in a *subdirectory* of ``files_root`` and
the project needs a Local Files import storage whose path is that subdirectory (see the harness test).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
import requests
from label_studio_sdk import LabelStudio as LabelStudioClient

from prelabel.local.labelstudio import server_settings

ROOT = Path(__file__).resolve().parent.parent
LS_VENV = ROOT / os.environ.get("LS_VENV", ".venvs-ls")  # same default as scripts/install-label-studio.sh
USERNAME = "prelabel-tests@example.com"
PASSWORD = "prelabel-tests-password"  # a throwaway server bound to 127.0.0.1


@dataclass
class LabelStudio:
    """A running headless Label Studio; stop() it when done."""

    url: str
    token: str  # legacy API token: send as "Authorization: Token <token>"
    data_dir: Path  # LABEL_STUDIO_BASE_DATA_DIR (SQLite database, media)
    files_root: Path  # LOCAL_FILES_DOCUMENT_ROOT
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """Auth header for plain `requests` calls."""
        return {"Authorization": f"Token {self.token}"}

    def client(self) -> LabelStudioClient:
        return LabelStudioClient(base_url=self.url, api_key=self.token)

    def account(self, name: str) -> tuple[int, LabelStudioClient]:
        """A member of the organisation with an account of its own, signed up through Label Studio's own sign-up
        page as anyone may (open sign-up is Label Studio's default) or logged in again: its user id and a client
        with its own token. What it writes is its own as Label Studio records it (`updated_by`)."""
        email, password = f"{name}@example.com", f"{name}-password-1"
        session = requests.Session()
        for page in ("signup", "login"):  # a second call finds the account made by the first
            session.get(f"{self.url}/user/{page}/", timeout=30)
            session.post(f"{self.url}/user/{page}/", timeout=30, allow_redirects=False,
                         data={"email": email, "password": password,
                               "csrfmiddlewaretoken": session.cookies.get("csrftoken", "")},
                         headers={"Referer": f"{self.url}/user/{page}/"})
            answer = session.get(f"{self.url}/api/current-user/token", timeout=30)
            if answer.status_code == 200:
                client = LabelStudioClient(base_url=self.url, api_key=answer.json()["token"])
                return client.users.whoami().id, client
        raise RuntimeError(f"cannot sign up or log in as {email}: {answer.status_code} {answer.text[:200]}")

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout: float = 180) -> None:
        """Block until /health answers and the token works; stop the server if it never does."""
        try:
            _wait_ready(self, time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the whole process group: label-studio and anything it started. Safe to call twice."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        if self._log is not None:
            self._log.close()
            self._log = None


def free_port() -> int:
    """A port free on 127.0.0.1 now. Label Studio silently moves to the next port if ours is busy."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _token_for(base_dir: Path) -> str:
    """Reuse the token of an existing data dir: Label Studio only sets the user token when it creates the user."""
    token_file = base_dir / "token"
    if token_file.exists():
        return token_file.read_text().strip()
    token = secrets.token_hex(20)  # 40 chars, the size of a DRF token key
    token_file.write_text(token)
    return token


def _server_env(url: str, token: str, data_dir: Path, files_root: Path,
                overrides: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # Label Studio's get_env(NAME) reads LABEL_STUDIO_NAME, then HEARTEX_NAME, then plain NAME, so a HOST,
    # PORT, USERNAME, DJANGO_DB... from the caller's shell would leak in. The LABEL_STUDIO_ forms set below win.
    for key in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(key, None)
    settings = {**server_settings(data_dir, files_root, USERNAME, PASSWORD, token, host=url), **(overrides or {})}
    env.update({f"LABEL_STUDIO_{key}": value for key, value in settings.items()})
    return env


def _wait_ready(ls: LabelStudio, deadline: float) -> None:
    """Wait for /health, then for the token: the user is created just before the server starts listening."""
    ready = False
    while time.monotonic() < deadline:
        if ls.process.poll() is not None:
            raise RuntimeError(f"Label Studio exited with {ls.process.returncode}; log tail:\n{ls.log_tail()}")
        try:
            if not ready:
                ready = requests.get(f"{ls.url}/health", timeout=5).status_code == 200
            if ready:
                response = requests.get(f"{ls.url}/api/projects", headers=ls.headers, timeout=10)
                if response.status_code == 200:
                    return
                if response.status_code == 401:
                    # Another server on our port, or a data dir whose user has another token.
                    raise RuntimeError(f"Label Studio at {ls.url} refuses the token: {response.text[:300]}")
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"Label Studio at {ls.url} not ready in time; log tail:\n{ls.log_tail()}")


def launch_label_studio(base_dir: Path, port: int | None = None,
                        overrides: dict[str, str] | None = None) -> LabelStudio:
    """Start Label Studio with its data, files root, token and log under base_dir, without waiting for it:
    its first start (migrations) takes tens of seconds that other tests can use. Call wait_ready() before use.

    Starting again on the same base_dir reuses the database (no migrations, same user and token).
    `overrides` replace the settings above (without the LABEL_STUDIO_ prefix), e.g. ML_BLOCK_LOCAL_IP="true".
    """
    executable = LS_VENV / "bin" / "label-studio"
    if not executable.exists():
        raise FileNotFoundError(f"{executable} is missing: run scripts/install-label-studio.sh first")
    base_dir = Path(base_dir).resolve()
    data_dir, files_root = base_dir / "data", base_dir / "files"
    data_dir.mkdir(parents=True, exist_ok=True)
    files_root.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    token = _token_for(base_dir)
    log_path = base_dir / "label-studio.log"
    log = log_path.open("wb")  # this start only, so log_tail() shows what went wrong now
    command = [
        str(executable), "start", "--no-browser", "-p", str(port),
        "--internal-host", "127.0.0.1",  # default 0.0.0.0
        "--host", url,
        "--enable-legacy-api-token",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=base_dir,
        env=_server_env(url, token, data_dir, files_root, overrides),
        stdin=subprocess.DEVNULL,  # it prompts for a user when none is configured: fail instead of hanging
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # own process group, so stop() can kill all of it
    )
    ls = LabelStudio(url, token, data_dir, files_root, log_path, process, log)
    atexit.register(ls.stop)  # no orphaned server if the test run dies before stop()
    return ls


def start_label_studio(base_dir: Path, port: int | None = None, timeout: float = 180) -> LabelStudio:
    """Start Label Studio (launch_label_studio) and return once it answers."""
    ls = launch_label_studio(base_dir, port)
    ls.wait_ready(timeout)
    return ls


def label_studio_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    """Fixture body: register it with pytest.fixture(scope=..., name=...)(label_studio_fixture)."""
    ls = start_label_studio(tmp_path_factory.mktemp("label-studio"))
    try:
        yield ls
    finally:
        ls.stop()
