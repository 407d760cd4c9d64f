"""What many test modules use: paths, real test images, stub-MLLM answer scripts, waiting on events, and the
`prelabel` command run in process. Fixtures live in conftest.py; everything importable lives here."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
EXAMPLE_VOCAB = ROOT / "vocab" / "plant-quarantine-pests.yaml"
DEFECTS_VOCAB = ROOT / "vocab" / "manufacturing-defects.yaml"
TINY_CLIP_CONFIG = DATA / "tiny-clip.json"
TEST_REDIS_URL = os.environ.get("PRELABEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_POSTGRES_URL = os.environ.get("PRELABEL_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432")

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 60, every: float = 0.2, what: str = "condition") -> T:
    """Poll until `check` returns something truthy (the event that proves a thing happened), and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def invoke(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    """The `prelabel` command in this process (click's CliRunner): exit_code, stdout and stderr kept apart.
    Argument parsing, messages and exit codes need no new process; the few tests where the process boundary
    matters (a pipe, a worker, the service) start the real command."""
    from click.testing import CliRunner

    from prelabel.cli import main

    return CliRunner().invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)


def solid_image(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Path:
    """A real JPEG of one colour; the stub LLM tells images apart by colour (see answer_by_colour)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="JPEG", quality=95)
    return path


PALETTE = {"red": (220, 20, 20), "green": (20, 220, 20), "blue": (20, 20, 220), "yellow": (220, 220, 20),
           "magenta": (220, 20, 220), "cyan": (20, 220, 220)}


def colour_of(image: bytes, palette: dict[str, tuple[int, int, int]] | None = None) -> str:
    """The name of the PALETTE colour (or `palette`'s) nearest the image's mean colour."""
    pixel = Image.open(io.BytesIO(image)).convert("RGB").resize((1, 1)).getpixel((0, 0))
    palette = palette or PALETTE
    return min(palette, key=lambda name: sum((a - b) ** 2 for a, b in zip(palette[name], pixel, strict=True)))


def answer_by_colour(answers: dict[str, str], stage2: str = "none",
                     stage2_image: str | None = None) -> Callable[[dict], str]:
    """A stub handler: stage-1 JSON chosen by the image's colour (the nearest of PALETTE), `stage2` for the
    text-only stage-2 question, `stage2_image` (by default `stage2`) for the stage-2 question with the image. An
    answer starting "RAW:" is sent as it is (malformed answers)."""
    from stub_llm import request_images

    def handler(body: dict) -> str:
        images = request_images(body)
        if not images:
            return stage2
        if is_stage2_image(body):
            return stage2 if stage2_image is None else stage2_image
        answer = answers.get(colour_of(images[0]))
        if answer is None or answer.startswith("{") or answer.startswith("RAW:"):
            return answer.removeprefix("RAW:") if answer else "{}"
        return json.dumps({"description": f"A photo of a {answer} on a leaf.", "classification": answer,
                           "candidates": [answer]})

    return handler


def is_stage2_image(body: dict) -> bool:
    """Is this request stage 2 with the image (a multiple choice), not stage 1?"""
    from stub_llm import request_text

    return "choose the one class from this list" in request_text(body)


def fresh_postgres_database(name: str) -> str:
    """An empty PostgreSQL database (make test starts the server: scripts/ensure-postgres.sh)."""
    import psycopg
    import pytest

    try:
        with psycopg.connect(f"{TEST_POSTGRES_URL}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"no PostgreSQL at {TEST_POSTGRES_URL} ({exc}): `make test` starts one")
    return f"{TEST_POSTGRES_URL}/{name}"


def image_project(label_studio: Any, title: str, config: str, images: dict[str, tuple[int, int, int]],
                  folder: str, extra_files: dict[str, bytes] | None = None) -> tuple[int, dict[str, int]]:
    """A Label Studio project whose tasks are solid-colour JPEGs served as local files (a folder under the
    harness's files root with a local-files storage): (project id, {image name: task id})."""
    client = label_studio.client()
    created = client.projects.create(title=title, label_config=config)
    root = label_studio.files_root / folder
    for name, colour in images.items():
        solid_image(root / f"{name}.jpg", colour)
    for name, content in (extra_files or {}).items():
        root.mkdir(parents=True, exist_ok=True)
        (root / f"{name}.jpg").write_bytes(content)
    client.import_storage.local.create(project=created.id, path=str(root))
    names = [*images, *(extra_files or {})]
    client.projects.import_tasks(id=created.id, request=[{"image": f"/data/local-files/?d={folder}/{n}.jpg"}
                                                          for n in names])
    ids = {task.data["image"].split("/")[-1].removesuffix(".jpg"): task.id
           for task in client.tasks.list(project=created.id)}
    return created.id, ids


# ---- real processes: the service and workers, as users start them -------------------------------------------

BIN = Path(__import__("sys").executable).parent


def start_process(command: list[str], env: dict[str, str], log: Path) -> Any:
    """A process in its own process group (stop_process ends all of it), its output in `log`."""
    import subprocess

    return subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(process: Any, signal_number: int = 15) -> None:
    import signal
    import subprocess

    if process.poll() is None:
        os.killpg(process.pid, signal_number)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


def start_service(env: dict[str, str], log: Path, workers: int = 1) -> tuple[Any, str]:
    """`prelabel serve` (gunicorn, `workers` processes) on a free port, once /health answers: (process, url)."""
    import requests

    from labelstudio import free_port

    port = free_port()
    process = start_process([str(BIN / "prelabel"), "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers)], env, log)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return requests.get(f"{url}/health", timeout=2).status_code == 200
        except requests.RequestException:  # not listening yet, or the gunicorn worker still booting
            return False

    wait_until(up, 60, what="prelabel serve")
    return process, url


def start_worker(env: dict[str, str], name: str, log: Path, queues: str | None = None) -> Any:
    """`prelabel worker`, once its heartbeat is in Redis (its models are loaded by then)."""
    from redis import Redis

    command = [str(BIN / "prelabel"), "worker", "--name", name] + (["--queues", queues] if queues else [])
    process = start_process(command, env, log)
    redis = Redis.from_url(env["REDIS_URL"])

    def beating() -> bool:
        assert process.poll() is None, log.read_text()
        return redis.hexists("prelabel:workers", name)

    wait_until(beating, 120, what=f"worker {name} to beat")
    return process


class TcpProxy:
    """A loopback TCP proxy to a port, that can be cut and restored: to the processes behind it, the service
    it fronts is down (connections refused) and then back. A real network fault, without stopping the service
    other tests share."""

    def __init__(self, target_port: int):
        import socket
        import threading

        from labelstudio import free_port

        self.target_port = target_port
        self.port = free_port()
        self._socket_module = socket
        self._threading = threading
        self._connections: list[Any] = []
        self._listener: Any = None
        self.restore()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        socket, threading = self._socket_module, self._threading
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(self._socket_module.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.shutdown(self._socket_module.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.close()
        self._connections.clear()

    def _accept(self, listener: Any) -> None:
        socket, threading = self._socket_module, self._threading
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            self._connections += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: Any, target: Any) -> None:
        import socket

        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            # shutdown, not only close: the other direction's thread is blocked in recv() on these sockets, and
            # a bare close() neither wakes it nor ends the connection (an HTTP reply read until EOF would hang).
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    end.close()


def predicted_label(prediction: Any) -> str | None:
    """The label a Label Studio prediction (or annotation) result names, whatever the control: a choice, or the
    last step of a taxonomy path (the shipped layout uses a Taxonomy above ten labels)."""
    result = prediction.result if hasattr(prediction, "result") else prediction["result"]
    for region in result:
        value = region.get("value", {})
        if value.get("choices"):
            return value["choices"][0]
        if value.get("taxonomy"):
            return value["taxonomy"][0][-1]
    return None


def open_to_others(directory: Path) -> list[str]:
    """Every file and folder under `directory` (itself included) that group or others may read, write or enter."""
    found = [] if not directory.stat().st_mode & 0o077 else [str(directory)]
    for folder, folders, files in os.walk(directory):
        for name in [*folders, *files]:
            mode = (Path(folder) / name).lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & 0o077:
                found.append(f"{Path(folder) / name} {oct(mode & 0o777)}")
    return found


# ---- headless Chromium ----------------------------------------------------------------------------------------

def chromium(page: Path, png: Path, width: int, height: int) -> np.ndarray:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("no chromium: run scripts/ensure-chromium.sh (make test does)")
    png.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={png.parent / 'chromium-profile'}", f"--window-size={width},{height}",
                    f"--screenshot={png}", page.as_uri()], capture_output=True, timeout=120, check=True)
    return np.asarray(Image.open(png).convert("RGB"))


def screenshot(page: Path, png: Path) -> np.ndarray:
    """The whole page: a tall window, then the blank space below the page cut off."""
    found = chromium(page, png, 1200, 8000)
    ink = np.nonzero((found < 245).any(axis=(1, 2)))[0]
    found = found[: ink[-1] + 24]
    Image.fromarray(found).save(png)
    return found


# Words a Japanese page may show in Latin letters: product and button names, what Label Studio's own buttons say.
PROPER_NAMES = ("MLLM", "CLIP", "Prelabel", "Retrieve Predictions", "Label All Tasks", "Label Studio", "PoC", "ECE",
                "F1", "IoU", "McNemar", "model_version", "metrics.json", "tasks.csv", "prelabel")


def english_left(text: str, names: Any = ()) -> list[str]:
    """The English words of a Japanese text once the MLLM's quoted words, the labels' names (`names`: the
    vocabulary's labels, longest first so that a name inside another goes with it) and PROPER_NAMES are left out:
    what a Japanese reader would find untranslated."""
    import re

    text = re.sub(r'"[^"\n]*"|\'[^\'\n]*\'|“[^”\n]*”|https?://\S+', " ", text)  # quoted words, addresses
    for name in sorted({*names, *PROPER_NAMES}, key=len, reverse=True):
        text = text.replace(name, " ")
    return re.findall(r"[A-Za-z]{3,}", text)
