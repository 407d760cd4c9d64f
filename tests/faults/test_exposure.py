"""A service anyone on the network can use: `prelabel serve` without Basic auth off loopback says so, loudly."""

from __future__ import annotations

import os
import subprocess

import pytest

from faults.support import BIN
from helpers import EXAMPLE_VOCAB, wait_until
from labelstudio import free_port
from prelabel.cli.backend import exposure_warnings
from prelabel.settings import Settings


def serve_output(tmp_path, host: str, **env: str) -> str:
    """What `prelabel serve` prints up to gunicorn listening (or the warning), then it is stopped."""
    log = tmp_path / "serve.log"
    process = subprocess.Popen([str(BIN / "prelabel"), "serve", "--host", host, "--port", str(free_port()),
                                "--workers", "1"],
                               env={**os.environ, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_CLIP_MODEL": "",
                                    "PRELABEL_DATA_DIR": str(tmp_path / "var"), "BASIC_AUTH_USER": "",
                                    "BASIC_AUTH_PASS": "", **env},
                               stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "Listening at" in log.read_text() or process.poll() is not None, 60,
                   what="gunicorn to listen")
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
    return log.read_text()


def test_serve_on_every_interface_without_auth_warns_loudly(tmp_path):
    output = serve_output(tmp_path, "0.0.0.0")
    assert "WARNING: prelabel serve listens on 0.0.0.0:" in output and "WITHOUT Basic auth" in output
    assert output.index("WITHOUT Basic auth") < output.index("Listening at")  # before anything is served


def test_serve_with_auth_or_on_loopback_is_quiet(tmp_path):
    assert "WARNING" not in serve_output(tmp_path, "127.0.0.1")
    assert "WARNING" not in serve_output(tmp_path, "0.0.0.0", BASIC_AUTH_USER="ls", BASIC_AUTH_PASS="long-password")


@pytest.mark.parametrize("host, user, password, warns", [
    ("0.0.0.0", "", "", "WITHOUT Basic auth"), ("::", "", "", "WITHOUT Basic auth"),
    ("backend.internal", "", "", "WITHOUT Basic auth"), ("10.0.0.5", "", "", "WITHOUT Basic auth"),
    ("127.0.0.1", "", "", None), ("::1", "", "", None), ("localhost", "", "", None),
    ("0.0.0.0", "ls", "long-password", None), ("0.0.0.0", "ls", "", "BASIC_AUTH_PASS is empty"),
])
def test_which_binds_warn(host, user, password, warns):
    lines = exposure_warnings(Settings.from_env({}, basic_auth_user=user, basic_auth_pass=password), host, 9090)
    assert (warns in " ".join(lines)) if warns else lines == []
