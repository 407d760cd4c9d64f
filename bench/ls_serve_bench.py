"""Label Studio 1.23.2's ceiling on this machine: images served per second and bulk prediction writes per second,
served as `label-studio start` does (Django's runserver: one process, a thread per request) and as its docker
image does (a WSGI server with several processes; here gunicorn, `core.wsgi:application`, the module its
deploy/uwsgi.ini names), on the same database.

Set-up: the test harness's headless Label Studio (tests/labelstudio.py, SQLite) and, on the same data directory
and settings, gunicorn with `--workers` processes (gunicorn must be importable by Label Studio's Python: pass
its folder with --gunicorn-path, e.g. `pip install --target DIR gunicorn`). A project of `--images` uploaded
JPEGs of about 19 KB; then, per server, `--threads` clients download images for `--seconds`, and `--threads`
clients write 64-prediction batches for `--seconds`. Printed: images/s and writes/s per server, and the load.

    python bench/ls_serve_bench.py --gunicorn-path /tmp/gunicorn --workers 3
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "backend")]

import requests  # noqa: E402
from PIL import Image  # noqa: E402

from labelstudio import LS_VENV, _server_env, free_port, launch_label_studio  # noqa: E402

CONFIG = """<View><Image name="image" value="$image"/>
<Choices name="label" toName="image"><Choice value="red"/><Choice value="green"/></Choices></View>"""


def photo(seed: int) -> bytes:
    noise = random.Random(seed).randbytes(160 * 120 * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (160, 120), noise).resize((320, 240)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def rate(work, threads: int, seconds: float) -> tuple[float, int]:
    """Calls of `work()` completed per second by `threads` threads in `seconds`, and the calls that failed."""
    done = [0] * threads
    failed = [0] * threads
    stop = time.monotonic() + seconds

    def loop(number: int) -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            try:
                work(session)
                done[number] += 1
            except requests.RequestException:
                failed[number] += 1

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.monotonic() - started), sum(failed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gunicorn-path", required=True, help="a folder holding the gunicorn package")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn processes")
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--threads", type=int, default=8, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=15)
    options = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="ls-serve-bench-"))
    ls = launch_label_studio(base / "ls")
    gunicorn = None
    try:
        ls.wait_ready(600)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        package = next(LS_VENV.glob("lib/python3*/site-packages/label_studio")).resolve()  # one path: no twins
        env = {**_server_env(ls.url, ls.token, ls.data_dir, ls.files_root),
               "PYTHONPATH": f"{options.gunicorn_path}:{package}",
               "DJANGO_SETTINGS_MODULE": "core.settings.label_studio"}
        gunicorn = subprocess.Popen(
            [str(LS_VENV / "bin" / "python"), "-m", "gunicorn", "core.wsgi:application", "--workers",
             str(options.workers), "--threads", "4", "--bind", f"127.0.0.1:{port}", "--timeout", "300"],
            cwd=package, env=env, stdin=subprocess.DEVNULL, stdout=(base / "gunicorn.log").open("wb"),
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/api/projects", headers=ls.headers, timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(1)
        else:
            raise RuntimeError(f"gunicorn did not answer; see {base / 'gunicorn.log'}")
        project = requests.post(f"{ls.url}/api/projects", headers=ls.headers, timeout=60,
                                json={"title": "serve bench", "label_config": CONFIG}).json()["id"]
        files = [("file", (f"p{n}.jpg", photo(n), "image/jpeg")) for n in range(options.images)]
        requests.post(f"{ls.url}/api/projects/{project}/import", headers=ls.headers, files=files,
                      timeout=300).raise_for_status()
        tasks = requests.get(f"{ls.url}/api/tasks/", headers=ls.headers, timeout=60,
                             params={"project": project, "page_size": 1000}).json()["tasks"]
        print(f"load average at start: {os.getloadavg()}; {options.threads} clients, {options.seconds:.0f} s each")
        for name, server in (("runserver", ls.url), (f"gunicorn x{options.workers}", url)):
            def image(session: requests.Session, server: str = server) -> None:
                task = random.choice(tasks)
                answer = session.get(server + task["data"]["image"], headers=ls.headers, timeout=60)
                answer.raise_for_status()

            def write(session: requests.Session, server: str = server) -> None:
                items = [{"task": random.choice(tasks)["id"], "model_version": "serve", "score": 0.5, "result": [
                    {"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["red"]}}]}
                    for _ in range(64)]
                session.post(f"{server}/api/projects/{project}/import/predictions", json=items, headers=ls.headers,
                             timeout=300).raise_for_status()

            images, image_errors = rate(image, options.threads, options.seconds)
            writes, write_errors = rate(write, options.threads, options.seconds)
            print(f"{name:<12} images/s {images:6.1f} ({image_errors} failed)   writes/s {writes:5.2f} "
                  f"({write_errors} failed)   (load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        if gunicorn is not None:
            os.killpg(gunicorn.pid, 15)
            gunicorn.wait(30)
        ls.stop()


if __name__ == "__main__":
    main()
