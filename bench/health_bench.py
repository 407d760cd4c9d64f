"""/health latency while the service is saturated with /predict requests that wait for workers.

`prelabel serve` (one gunicorn process, 8 threads), Redis, a worker that is counted (its heartbeat) but takes no
job, so every interactive /predict waits its whole PRELABEL_SYNC_BUDGET; --waiting of them are sent at once and
kept coming, and /health is timed meanwhile. Label Studio gives /health one second. Before: every thread could
wait on /predict and /health queued behind them (12 s was seen); now two threads per process are never given to
waiting requests.

Run: .venv/bin/python bench/health_bench.py [--waiting 24] [--probes 60]
Needs Redis on 127.0.0.1:6379 (database 8 is used and emptied).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT / "tests", ROOT / "backend"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import requests  # noqa: E402
from redis import Redis  # noqa: E402

from helpers import start_service, stop_process  # noqa: E402
from prelabel.jobs.queues import QUEUES  # noqa: E402
from prelabel.studio.labelconfig import make_label_config  # noqa: E402
from prelabel.vocabulary.vocab import load_vocabulary  # noqa: E402
from prelabel.workers import WorkerRegistry  # noqa: E402

VOCAB = ROOT / "vocab" / "plant-quarantine-pests.yaml"
REDIS_URL = "redis://127.0.0.1:6379/8"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waiting", type=int, default=24)
    parser.add_argument("--probes", type=int, default=60)
    args = parser.parse_args()
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    config = make_label_config(load_vocabulary(VOCAB))
    with tempfile.TemporaryDirectory() as directory:
        env = {**os.environ, "REDIS_URL": REDIS_URL, "PRELABEL_VOCAB": str(VOCAB), "PRELABEL_CLIP_MODEL": "",
               "PRELABEL_DATA_DIR": directory, "PRELABEL_SYNC_BUDGET": "10", "LABEL_STUDIO_URL": "http://127.0.0.1:9",
               "LABEL_STUDIO_API_KEY": "unused", "PYTHONPATH": str(ROOT / "backend")}
        service, url = start_service(env, Path(directory) / "serve.log")
        registry, stop = WorkerRegistry(redis), threading.Event()

        def pretend_a_worker() -> None:  # counted as serving, but takes no job: interactive requests all wait
            registry.beat("pretend", list(QUEUES))
            while not stop.wait(1):
                registry.beat("pretend", list(QUEUES))

        threading.Thread(target=pretend_a_worker, daemon=True).start()
        counter = iter(range(10**9))

        def wait_for_workers() -> None:
            while not stop.is_set():
                task = next(counter)
                requests.post(f"{url}/predict", timeout=60, json={
                    "tasks": [{"id": task + 1, "data": {"image": f"/data/upload/1/{task}.jpg"}}],
                    "label_config": config, "project": "1.1"})

        try:
            with ThreadPoolExecutor(args.waiting) as pool:
                for _ in range(args.waiting):
                    pool.submit(wait_for_workers)
                time.sleep(2)  # every thread the service gives to waiting requests is taken by now
                timings = []
                for _ in range(args.probes):
                    started = time.perf_counter()
                    requests.get(f"{url}/health", timeout=30).raise_for_status()
                    timings.append(time.perf_counter() - started)
                    time.sleep(0.1)
                stop.set()
        finally:
            stop_process(service)
            redis.flushdb()
    timings.sort()
    print(f"/health with {args.waiting} /predict requests waiting on workers, {args.probes} probes: "
          f"median {statistics.median(timings) * 1000:.0f} ms, p95 {timings[int(0.95 * len(timings)) - 1] * 1000:.0f} "
          f"ms, max {timings[-1] * 1000:.0f} ms (Label Studio's limit: 1,000 ms)")
    return 0 if timings[-1] < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
