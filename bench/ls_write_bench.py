"""Label Studio 1.23.2's bulk prediction write (`POST /api/projects/<id>/import/predictions`, the call Prelabel's
writer makes) against the size of the project, with its default import path and with the memory-efficient one.

Why it grows: the default (legacy) ImportPredictionsAPI ends with update_tasks_counters over *every* task of the
project (data_import/api.py, `Task.objects.filter(id__in=tasks_ids)` with tasks_ids = all the project's tasks):
an aggregate over all tasks, annotations and predictions on each write. The path behind the feature flag
IMPORT_FLAG (prelabel/local/labelstudio.py; Prelabel sets it) recounts only the tasks written, and checks only
that they belong to the project: it skips the legacy path's labeling-config check, which Prelabel now makes.

Set-up: the test harness's headless Label Studio (tests/labelstudio.py, SQLite, `label-studio start`) with the
flag off, and a second server on the same database with it on, so both are measured on the same project. The
project is grown through Label Studio's task import, each task with one prediction, to each size; at each size
each server takes `--writes` writes of `--batch` predictions onto random tasks (alternating, so load noise falls
on both). Printed: seconds per write, min/median/max, per server and size.

    python bench/ls_write_bench.py --sizes 1000,5000,20000 --writes 5
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "backend")]

import requests  # noqa: E402

from labelstudio import LabelStudio, launch_label_studio  # noqa: E402
from prelabel.local.labelstudio import IMPORT_FLAG  # noqa: E402

CONFIG = """<View><Image name="image" value="$image"/>
<Choices name="label" toName="image"><Choice value="red"/><Choice value="green"/></Choices></View>"""
IMPORT_CHUNK = 2000


def prediction(version: str, task: int | None = None) -> dict:
    found = {"model_version": version, "score": 0.5,
             "result": [{"from_name": "label", "to_name": "image", "type": "choices",
                         "value": {"choices": [random.choice(("red", "green"))]}}]}
    return found if task is None else {**found, "task": task}


def grow(ls: LabelStudio, project: int, have: int, size: int) -> None:
    """Import tasks (each with one prediction) until the project holds `size`."""
    while have < size:
        count = min(IMPORT_CHUNK, size - have)
        tasks = [{"data": {"image": f"/data/local-files/?d=b/{have + n}.jpg"}, "predictions": [prediction("seed")]}
                 for n in range(count)]
        answer = requests.post(f"{ls.url}/api/projects/{project}/import", json=tasks, headers=ls.headers,
                               timeout=600)
        answer.raise_for_status()
        have += count


def task_ids(ls: LabelStudio, project: int) -> list[int]:
    answer = requests.get(f"{ls.url}/api/tasks/", headers=ls.headers, timeout=600,
                          params={"project": project, "fields": "task_only", "include": "id", "page_size": 100000})
    answer.raise_for_status()
    return [task["id"] for task in answer.json()["tasks"]]


def write_seconds(ls: LabelStudio, project: int, ids: list[int], batch: int, version: str) -> float:
    items = [prediction(version, task) for task in random.sample(ids, batch)]
    started = time.perf_counter()
    answer = requests.post(f"{ls.url}/api/projects/{project}/import/predictions", json=items, headers=ls.headers,
                           timeout=600)
    took = time.perf_counter() - started
    answer.raise_for_status()
    if answer.json().get("created") != batch:
        raise RuntimeError(f"stored {answer.json()} of {batch}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,20000", help="project sizes in tasks, ascending")
    parser.add_argument("--writes", type=int, default=5, help="writes per server and size")
    parser.add_argument("--batch", type=int, default=200, help="predictions per write (the writer's MAX_ITEMS)")
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]
    base = Path(tempfile.mkdtemp(prefix="ls-write-bench-"))
    servers: dict[str, LabelStudio] = {}
    try:
        servers["legacy"] = launch_label_studio(base / "legacy", overrides={IMPORT_FLAG: "false"})
        servers["legacy"].wait_ready(600)
        # The same database, token and files, served by a second process with the flag set.
        (base / "flag").mkdir()
        for name in ("data", "files", "token"):
            os.symlink(base / "legacy" / name, base / "flag" / name)
        servers["flag"] = launch_label_studio(base / "flag", overrides={IMPORT_FLAG: "true"})
        servers["flag"].wait_ready(600)
        legacy = servers["legacy"]
        project = requests.post(f"{legacy.url}/api/projects", headers=legacy.headers, timeout=60,
                                json={"title": "write bench", "label_config": CONFIG}).json()["id"]
        have = 0
        print(f"load average at start: {os.getloadavg()}; batch {options.batch}, {options.writes} writes")
        for size in sizes:
            grow(legacy, project, have, size)
            have = size
            ids = task_ids(legacy, project)
            took: dict[str, list[float]] = {name: [] for name in servers}
            for number in range(options.writes):
                for name, server in servers.items():
                    took[name].append(write_seconds(server, project, ids, options.batch, f"w{size}-{number}"))
            for name, seconds in took.items():
                print(f"{size:>7} tasks  {name:<6}  s/write min {min(seconds):.2f}  median "
                      f"{statistics.median(seconds):.2f}  max {max(seconds):.2f}  (load {os.getloadavg()[0]:.1f})",
                      flush=True)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
