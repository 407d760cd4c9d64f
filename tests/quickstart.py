"""The quick start as a new user runs it, in the background of the test run (not a test module itself):
`git clone` of the committed HEAD, `make demo`, then `make up IMAGES=examples/images`, one after the other in a
clone with its own fresh .venv; tests/test_fresh_clone.py checks what they did and runs `make down`.

Why in the background: the clone's install and its Label Studio's first start are minutes of one core waiting on
pip, the disk and migrations, while the test run keeps one core busy. Started as soon as collection shows a
clone test will run (tests/conftest.py), they overlap with the rest of the tests, which run first.

What it may reuse from this machine, as a user may: Label Studio's venv (PRELABEL_LABEL_STUDIO_VENV pointing at
.venvs-ls, which `make test` installs). The MLLM is the stub; CLIP is off (PRELABEL_CLIP_MODEL empty), so the
clone installs the core only: installing the `clip` extra (torch) costs minutes and gigabytes per run, and CLIP
under `prelabel up` is covered by test_local_up.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import ROOT
from stub_llm import StubLLM

ANSWER = json.dumps({"description": "A brown shield-shaped bug on a leaf.",
                     "classification": "Halyomorpha halys", "candidates": []})
# The caller's make, venv and Python path, and the test run's data folder (tests/conftest.py), must not leak into
# the new user's shell: the clone keeps its data in its own var/, as a new user's would.
LEAKS = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PRELABEL_DATA_DIR")
MAKE_TIMEOUT = 900


class QuickStart:
    """The clone and its commands, each a Future of its CompletedProcess, run in order by one thread."""

    def __init__(self, base_dir: Path):
        self.base_dir = base_dir
        self.clone = base_dir / "prelabel"
        self.stub = StubLLM(lambda body: ANSWER).start()
        environ = {name: value for name, value in os.environ.items() if name not in LEAKS}
        self.env = {**environ, "PRELABEL_LLM_BASE_URL": self.stub.url, "PRELABEL_CLIP_MODEL": "",
                    "PRELABEL_LABEL_STUDIO_VENV": str(ROOT / ".venvs-ls"), "HF_HUB_OFFLINE": "1"}
        self._in_order = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quick-start")
        self.cloned: Future[subprocess.CompletedProcess[str]] = self._in_order.submit(
            subprocess.run, ["git", "clone", "--quiet", str(ROOT), str(self.clone)], capture_output=True, text=True,
            timeout=120)
        self.demo = self._in_order.submit(self.make, "demo")
        self.up = self._in_order.submit(self.make, "up", "IMAGES=examples/images")
        self._down: subprocess.CompletedProcess[str] | None = None

    def make(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["make", *args], cwd=self.clone, env=self.env, capture_output=True, text=True,
                              timeout=MAKE_TIMEOUT, stdin=subprocess.DEVNULL)

    def down(self) -> subprocess.CompletedProcess[str]:
        """`make down` once `up` has ended, whatever it did (once: a second call returns the first's result)."""
        if self._down is None:
            self.up.exception()  # waits for it
            self._down = self.make("down")
        return self._down

    def close(self) -> None:
        """Nothing left running (`make down` if no test ran it), the clone and its .venv removed."""
        for waiting in (self.cloned, self.demo, self.up):
            waiting.cancel()  # the run ended before they started
        if not self.up.cancelled():
            with contextlib.suppress(OSError, subprocess.SubprocessError):  # no clone: nothing to stop
                self.down()
        self._in_order.shutdown(wait=True)
        self.stub.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)  # the clone's .venv is hundreds of MB


QUICK_START = pytest.StashKey[QuickStart]()
