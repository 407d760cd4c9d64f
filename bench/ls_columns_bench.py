"""What Prelabel's list columns (prelabel.studio.columns) cost Label Studio 1.23.2, per task, by the two ways
there are to write them: one task update each (`PATCH /api/tasks/<id>?review=true`), or the Data Manager's
`add_data_field` action (`POST /api/dm/actions?id=add_data_field`), one call per distinct value over the tasks
that share it (prelabel.delivery.columns, what Prelabel does).

Set-up: the test harness's headless Label Studio (tests/labelstudio.py, SQLite, `label-studio start`), one project
of `--tasks` tasks, each with one prediction. Each round writes the columns of `--batch` random tasks: a suggestion
drawn from `--labels` labels and a score in two decimals drawn from 0.50-0.99, the spread of a calibrated
project. Label Studio's CPU (its process group, from /proc) is read before and after; printed: Label Studio
CPU-milliseconds per task and requests per task, min/median/max over `--rounds` rounds, per way.

    python bench/ls_columns_bench.py --tasks 1000 --batch 64,256 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "backend"), str(ROOT / "bench")]

import requests  # noqa: E402

from e2e_bench import group_cpu  # noqa: E402
from labelstudio import LabelStudio, launch_label_studio  # noqa: E402
from prelabel.delivery.columns import plan  # noqa: E402
from prelabel.studio.client import LabelStudio as Studio  # noqa: E402

CONFIG = """<View><Image name="image" value="$image"/>
<Choices name="label" toName="image"><Choice value="red"/><Choice value="green"/></Choices></View>"""


def make_project(ls: LabelStudio, tasks: int) -> tuple[int, dict[int, dict]]:
    project = requests.post(f"{ls.url}/api/projects", headers=ls.headers, timeout=60,
                            json={"title": "columns bench", "label_config": CONFIG}).json()["id"]
    items = [{"data": {"image": f"/data/local-files/?d=b/{n}.jpg"},
              "predictions": [{"model_version": "seed", "score": 0.5, "result": []}]} for n in range(tasks)]
    requests.post(f"{ls.url}/api/projects/{project}/import", json=items, headers=ls.headers,
                  timeout=600).raise_for_status()
    answer = requests.get(f"{ls.url}/api/tasks/", headers=ls.headers, timeout=600,
                          params={"project": project, "fields": "all", "page_size": 100000})
    answer.raise_for_status()
    return project, {task["id"]: task["data"] for task in answer.json()["tasks"]}


def columns(labels: int) -> dict[str, object]:
    return {"prelabel_suggested": f"label {random.randrange(labels)}",
            "prelabel_score": round(random.uniform(0.5, 0.99), 2)}


def one_round(ls: LabelStudio, studio: Studio, project: int, data: dict[int, dict], batch: int, labels: int,
              way: str) -> tuple[float, float]:
    """Label Studio CPU-milliseconds per task and requests per task for one batch written one way."""
    chosen = {task: columns(labels) for task in random.sample(sorted(data), batch)}
    before = group_cpu(ls.process.pid)
    if way == "per task":
        for task, found in chosen.items():
            studio.update_task_data(task, {**data[task], **found})
        requests_made = len(chosen)
    else:
        writes = plan({task: (data[task], found) for task, found in chosen.items()}).fields
        for write in writes:
            studio.set_data_field(project, write.key, write.value, list(write.task_ids))
        requests_made = len(writes)
    spent = group_cpu(ls.process.pid) - before
    return 1000 * spent / batch, requests_made / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000, help="tasks in the project")
    parser.add_argument("--batch", default="64,256", help="tasks written per round, comma-separated")
    parser.add_argument("--labels", type=int, default=12, help="distinct suggestions")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="ls-columns-bench-"))
    ls = launch_label_studio(base)
    try:
        ls.wait_ready(600)
        project, data = make_project(ls, options.tasks)
        studio = Studio(ls.url, ls.token)
        print(f"load average at start: {os.getloadavg()}; {options.tasks} tasks, {options.labels} suggestions")
        for batch in (int(size) for size in options.batch.split(",")):
            for way in ("per task", "grouped"):
                rounds = [one_round(ls, studio, project, data, batch, options.labels, way)
                          for _ in range(options.rounds)]
                cpu = [ms for ms, _ in rounds]
                print(f"batch {batch:>4}  {way:<8}  Label Studio CPU ms/task min {min(cpu):.1f}  median "
                      f"{statistics.median(cpu):.1f}  max {max(cpu):.1f}  requests/task "
                      f"{statistics.median(r for _, r in rounds):.2f}  (load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        ls.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
