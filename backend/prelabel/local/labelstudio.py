"""Label Studio 1.23.2 on this machine: its own virtual environment, the settings it needs, its readiness.

Label Studio pins many packages (Django, DRF, boto...), so it never shares Prelabel's environment. The
settings are those docs/label-studio-testing.md found necessary on 1.23.2:
- LOCAL_FILES_SERVING_ENABLED and LOCAL_FILES_DOCUMENT_ROOT: the photos are served from disk, and a storage's
  path must be a subdirectory of the root (not the root itself), so the root is the photos' parent;
- ML_BLOCK_LOCAL_IP=false and SSRF_PROTECTION_ENABLED=false: since 1.23.1 Label Studio refuses ML backends and
  webhooks on private addresses, and `prelabel serve` listens on 127.0.0.1;
- ENABLE_LEGACY_API_TOKEN with USERNAME, PASSWORD and USER_TOKEN: read only when the organisation and the user
  are created, at the first start, so Prelabel's token works from then on;
- HOST empty: tasks keep relative /data/local-files/ URLs, which survive a change of port;
- no calls out: the PyPI version check, Sentry and usage analytics are on by default and are turned off;
- IMPORT_FLAG: the predictions import that recounts only the tasks it writes (docs/benchmarks.md, "Label
  Studio's prediction write").
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

from prelabel.local import processes
from prelabel.local.processes import Started
from prelabel.settings import process_environment

VERSION = "1.23.2"
# Label Studio's default import/predictions recounts every task of the project on each write (0.5-2 ms per task
# in the project, by the machine's load: 11 s a write at 5,000 tasks); with this flag it recounts only the tasks
# written, a flat 0.5 s. That path skips the labeling-config check,
# which Prelabel makes itself before writing (studio/client.py, valid_for_config).
IMPORT_FLAG = "fflag_fix_back_4620_memory_efficient_predictions_import_08012025_short"


class LabelStudioError(RuntimeError):
    """Label Studio could not be installed or started; the message says why and where the log is."""


def installed(venv: Path) -> bool:
    """The venv holds label-studio VERSION (read from pip's metadata: importing it takes seconds)."""
    return (venv / "bin" / "label-studio").exists() and any(
        venv.glob(f"lib/python3*/site-packages/label_studio-{VERSION}.dist-info/METADATA"))


def install(venv: Path, log: Path) -> None:
    """Create the venv and install label-studio VERSION into it (a few minutes, about 1 GB)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        for command in ([sys.executable, "-m", "venv", str(venv)],
                        [str(venv / "bin" / "python"), "-m", "pip", "install", "--upgrade", "pip"],
                        [str(venv / "bin" / "python"), "-m", "pip", "install", f"label-studio=={VERSION}"]):
            if command[1:3] == ["-m", "venv"] and (venv / "bin" / "python").exists():
                continue
            if subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT).returncode:
                raise LabelStudioError(f"installing label-studio=={VERSION} into {venv} failed "
                                       f"({' '.join(command[-3:])}); its output is in {log}:\n"
                                       f"{processes.log_tail(log)}")
    if not installed(venv):
        raise LabelStudioError(f"label-studio=={VERSION} is not in {venv} after pip install; see {log}")


def server_settings(data_dir: Path, files_root: Path, user: str, password: str, token: str,
                    host: str = "") -> dict[str, str]:
    """Label Studio's settings for a local server (each read as LABEL_STUDIO_<name>): SQLite in data_dir, local
    files served from files_root, the user and legacy token made on the first start, and nothing that reaches
    out to the internet."""
    return {
        "BASE_DATA_DIR": str(data_dir),
        "DATABASE_NAME": str(data_dir / "label_studio.sqlite3"),
        "DJANGO_DB": "sqlite",
        "HOST": host,  # settings.HOSTNAME: the "hostname" sent to ML backends in /setup
        "USERNAME": user,
        "PASSWORD": password,
        "USER_TOKEN": token,
        # Read only when the organization is created, i.e. on the first start with an empty database.
        "ENABLE_LEGACY_API_TOKEN": "true",
        # Both default to true since 1.23.1 and refuse backends and webhooks on 127.0.0.1.
        "ML_BLOCK_LOCAL_IP": "false",
        "SSRF_PROTECTION_ENABLED": "false",
        "LOCAL_FILES_SERVING_ENABLED": "true",
        "LOCAL_FILES_DOCUMENT_ROOT": str(files_root),
        # The PyPI version check, Sentry (on by default in Label Studio's settings) and usage analytics would
        # otherwise try to reach out.
        "LATEST_VERSION_CHECK": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "COLLECT_ANALYTICS": "false",
        IMPORT_FLAG: "true",
    }


def launch(venv: Path, data_dir: Path, files_root: Path, port: int, user: str, password: str, token: str,
           log: Path) -> Started:
    """Start Label Studio on 127.0.0.1:port, without waiting for it (its first start migrates for a minute)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # One user's Label Studio: nobody signs up (open sign-up joins anyone to the organisation, and every member
    # may annotate in anyone's name: docs/security.md, "Learning").
    settings = {**server_settings(data_dir, files_root, user, password, token), "DISABLE_SIGNUP_WITHOUT_LINK": "true"}
    # Label Studio reads LABEL_STUDIO_X, then HEARTEX_X, then plain X: the prefixed forms win over a HOST or
    # PORT in the caller's shell. Our own venv's variables must not leak into its Python.
    env = process_environment({f"LABEL_STUDIO_{name}": value for name, value in settings.items()},
                              drop=("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"))
    command = [str(venv / "bin" / "label-studio"), "start", "--no-browser", "-p", str(port),
               "--internal-host", "127.0.0.1", "--enable-legacy-api-token"]
    return processes.start("label-studio", command, env, log, cwd=data_dir, port=port)


def wait_ready(started: Started, url: str, token: str, timeout: float = 600) -> None:
    """Until /health answers and our token is accepted: the user is made just before the server listens."""
    deadline = time.monotonic() + timeout
    healthy = False
    while time.monotonic() < deadline:
        if not processes.alive(started):
            raise LabelStudioError(f"Label Studio stopped while starting; the end of {started.log}:\n"
                                   f"{processes.log_tail(started.log)}")
        try:
            healthy = healthy or requests.get(f"{url}/health", timeout=5).status_code == 200
            if healthy:
                answer = requests.get(f"{url}/api/projects", headers={"Authorization": f"Token {token}"},
                                      timeout=10)
                if answer.status_code == 200:
                    return
                if answer.status_code == 401:
                    raise LabelStudioError(f"Label Studio at {url} refuses the token kept beside its data "
                                           f"({answer.text[:200]}): another server on the port, or a data "
                                           "directory made without it")
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise LabelStudioError(f"Label Studio at {url} did not answer in {timeout:.0f} s; see {started.log}")
