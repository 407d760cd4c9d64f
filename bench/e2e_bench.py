"""Bulk pre-labelling end to end through a real Label Studio 1.23.2: `prelabel run --all` on 1,000 tasks.

Set-up: the test harness's headless Label Studio (tests/labelstudio.py), 1,000 JPEGs of about 19 KB served by
it as local files, the stub MLLM at --latency seconds (0.3) with PRELABEL_LLM_CONCURRENCY=16, the tiny CLIP,
Redis, and one then two `prelabel worker` processes (a fresh project and data directory for each, so no answer
is cached). Reported per run: tasks/s and its share of the MLLM limit (concurrency x workers / latency: 16 / 0.3
= 53 tasks/s for one worker, 107 for two), Label Studio calls per task by kind (the workers count them), and
that every task ends with exactly one prediction of the current model_version. A last run has one worker read
Label Studio's local files from disk (PRELABEL_LOCAL_FILES_ROOT). Then what Label Studio itself allows: images
served per second at 1 to 16 concurrent downloads. Each run also prints the CPU-seconds per task of each process
it started, from the kernel's account (/proc, getrusage): Label Studio, each worker, `prelabel run`, and this process
(the bench and the stub MLLM), from the workers' first beat to the end of `prelabel run`; then what Label Studio
and the workers spent after it, until the workers stopped (what they still wrote: list columns, the last writes),
and how many tasks hold their list columns once the workers have stopped.

Run: .venv/bin/python bench/e2e_bench.py [--tasks 1000] [--latency 0.3] [--workers 1,2] [--runs 3] [--no-disk]
[--window 1000] [--redis-url redis://127.0.0.1:6379/9] [--backends BEFORE/backend,backend]. With --runs N each
set-up runs N times and min/median/max are printed; with several --backends (another checkout's, e.g. before a
change) their runs alternate, so both meet the same load.

Flatness (issue 24: the last 1,000 of 20,000 tasks within 10% of the first 1,000): a run of at least 2 x --window
tasks also prints the rate of its first and of its last --window predictions, from the created_at Label Studio
gave each (see flatness()), e.g. `--tasks 20000 --workers 1 --runs 1 --no-disk`. Setting up the project (writing
the JPEGs, 0.7 ms each, and Label Studio's task import, 500 a call) is timed and printed too.
Needs Redis (the database named is emptied; 9 by default) and Label Studio in .venvs-ls (make services).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT / "tests", ROOT / "backend"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import requests  # noqa: E402
import yaml  # noqa: E402
from PIL import Image  # noqa: E402
from redis import Redis  # noqa: E402

from labelstudio import start_label_studio  # noqa: E402
from prelabel.studio.labelconfig import make_label_config  # noqa: E402
from prelabel.vocabulary.vocab import load_vocabulary  # noqa: E402
from stub_llm import StubLLM, request_images  # noqa: E402

BIN = Path(sys.executable).parent
VOCAB = ROOT / "vocab" / "plant-quarantine-pests.yaml"
TINY_CLIP = ROOT / "tests" / "data" / "tiny-clip.json"
REDIS_URL = "redis://127.0.0.1:6379/9"
NAMES = ["BMSB", "rice weevil", "maize weevil", "codling moth", "GPA", "medfly", "khapra beetle", "fire blight"]


def photo(seed: int) -> bytes:
    """A JPEG of about 19 KB: noise compresses badly, like a photo. Its first pixel row says which name."""
    image = Image.frombytes("RGB", (240, 180), random.Random(seed).randbytes(240 * 180 * 3))
    image.paste((seed % len(NAMES) * 30, 0, 0), (0, 0, 240, 4))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=40)
    return buffer.getvalue()


def answer(body: dict) -> str:
    pictures = request_images(body)
    if not pictures:
        return "none"
    name = NAMES[round(Image.open(io.BytesIO(pictures[0])).getpixel((0, 0))[0] / 30) % len(NAMES)]
    return json.dumps({"description": f"A {name} on a leaf.", "classification": name, "candidates": [name]})


def checkbox_vocabulary(folder: Path) -> Path:
    """The pest vocabulary cut to the labels the stub names: 8 labels and none, so the shipped config shows them
    as checkboxes, without the Taxonomy's runner-ups control (and its list column, one task update per task)."""
    document = yaml.safe_load(VOCAB.read_text(encoding="utf-8"))
    named = set(NAMES)
    document["labels"] = [entry for entry in document["labels"]
                          if named & {*entry.get("aliases", []), *entry.get("common", {}).get("en", [])}]
    path = folder / "checkbox-vocabulary.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def project(ls, title: str, folder: str, count: int, vocab: Path = VOCAB) -> int:
    client = ls.client()
    created = client.projects.create(title=title, label_config=make_label_config(load_vocabulary(vocab)))
    root = ls.files_root / folder
    root.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        (root / f"{number}.jpg").write_bytes(photo(number + len(folder) * 100_000 + count))
    client.import_storage.local.create(project=created.id, path=str(root))
    for start in range(0, count, 500):
        client.projects.import_tasks(id=created.id, request=[
            {"image": f"/data/local-files/?d={folder}/{n}.jpg"} for n in range(start, min(count, start + 500))])
    return created.id


def worker_env(ls, stub_url: str, redis_url: str, data_dir: Path, backend: Path = ROOT / "backend",
               from_disk: bool = False, vocab: Path = VOCAB) -> dict[str, str]:
    """The environment of the workers, `prelabel serve` and `prelabel run`: the stub MLLM with 16 slots, the tiny
    CLIP, a data directory of the run's own (no answer cached from an earlier run)."""
    return {**os.environ, "LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": ls.token, "REDIS_URL": redis_url,
            "PRELABEL_VOCAB": str(vocab), "PRELABEL_LLM_BASE_URL": stub_url, "PRELABEL_LLM_CONCURRENCY": "16",
            "PRELABEL_CLIP_MODEL": str(TINY_CLIP), "PRELABEL_CLIP_PRETRAINED": "", "PRELABEL_DEVICE": "cpu",
            "PRELABEL_DATA_DIR": str(data_dir), "PYTHONPATH": str(backend),
            "PRELABEL_LOCAL_FILES_ROOT": str(ls.files_root) if from_disk else ""}


def start_workers(env: dict[str, str], names: list[str], workdir: Path) -> list[subprocess.Popen]:
    """`prelabel worker` processes, returned once each beats (its models are loaded by then)."""
    redis = Redis.from_url(env["REDIS_URL"])
    processes = [subprocess.Popen([str(BIN / "prelabel"), "worker", "--name", name], env=env,
                                  stdout=(workdir / f"{name}.log").open("w"), stderr=subprocess.STDOUT,
                                  start_new_session=True) for name in names]
    try:
        deadline = time.monotonic() + 180
        while not all(redis.hexists("prelabel:workers", name) for name in names):
            if time.monotonic() > deadline:
                logs = "\n".join((workdir / f"{name}.log").read_text()[-2000:] for name in names)
                raise RuntimeError(f"workers did not start; their logs end:\n{logs}")
            time.sleep(0.2)
    except BaseException:
        stop_workers(processes)
        raise
    return processes


def stop_workers(processes: list[subprocess.Popen]) -> list[float]:
    """Stop the workers; the CPU-seconds of each one's whole life, from the kernel's account when it is reaped."""
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    return [reap(process, 180) for process in processes]  # a stopping worker writes what waits: slow when busy


def reap(process: subprocess.Popen, timeout: float) -> float:
    """Wait for a process (killed after `timeout` s); the CPU-seconds of its whole life."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.1)


TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu(pgid: int) -> float:
    """CPU-seconds (user + system, with reaped children) of every live process in a process group, from /proc."""
    total = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[2]) == pgid:  # pgrp; utime, stime, cutime, cstime follow at 11-14
                total += sum(int(value) for value in fields[11:15])
    return total / TICKS


def cpu_now(ls, processes: list[subprocess.Popen]) -> dict[str, float]:
    """CPU-seconds so far of Label Studio, this process (the bench and the stub MLLM's threads), each worker, and
    the children reaped so far (`prelabel run`, once it ended)."""
    own, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"label studio": group_cpu(ls.process.pid), "bench + stub MLLM": own.ru_utime + own.ru_stime,
            **{f"worker {n}": group_cpu(process.pid) for n, process in enumerate(processes)},
            "prelabel run": reaped.ru_utime + reaped.ru_stime}


def predictions(ls, project_id: int) -> list[dict]:
    """Every prediction Label Studio holds in the project, through its own API."""
    return requests.get(f"{ls.url}/api/predictions/", params={"project": project_id}, headers=ls.headers,
                        timeout=300).json()


def columns_written(ls, project_id: int) -> int:
    """How many of the project's tasks hold their list columns (prelabel.studio.columns), through Label Studio's
    own API."""
    tasks = requests.get(f"{ls.url}/api/tasks/", headers=ls.headers, timeout=300,
                         params={"project": project_id, "fields": "task_only", "page_size": 100000}).json()["tasks"]
    return sum("prelabel_suggested" in task["data"] for task in tasks)


def per_task(found: list[dict], version: str) -> dict[int, int]:
    """How many predictions of this model_version each task holds (tasks without one are absent)."""
    counts: dict[int, int] = {}
    for prediction in found:
        if prediction["model_version"] == version:
            counts[prediction["task"]] = counts.get(prediction["task"], 0) + 1
    return counts


def exactly_once(found: list[dict], version: str, tasks: int) -> bool:
    """`tasks` tasks of the project hold a prediction of this model_version, each exactly one."""
    counts = per_task(found, version)
    return len(counts) == tasks and set(counts.values()) == {1}


def flatness(found: list[dict], version: str, window: int) -> tuple[float, float] | None:
    """Predictions per second over the first and over the last `window` predictions of the run, by the
    created_at Label Studio gave each: (window - 1) / (the created_at of prediction number `window` less that of
    the first), and the same over the last `window`. None when the run holds fewer than 2 x window. Predictions
    are written in bulk (up to 200 a call), so the clock ticks by writes: over 1,000 that is 5 or more."""
    moments = sorted(datetime.fromisoformat(p["created_at"].replace("Z", "+00:00")).timestamp()
                     for p in found if p["model_version"] == version)
    if len(moments) < 2 * window or window < 2:
        return None
    first, last = moments[window - 1] - moments[0], moments[-1] - moments[-window]
    return (window - 1) / max(first, 1e-3), (window - 1) / max(last, 1e-3)


def run(ls, stub_url: str, workers: int, count: int, workdir: Path, from_disk: bool = False,
        redis_url: str = REDIS_URL, attempt: int = 0, backend: Path = ROOT / "backend", window: int = 1000,
        settle: float = 900, vocab: Path = VOCAB) -> dict:
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    name = f"bench{workers}{'disk' if from_disk else ''}{attempt or ''}{abs(hash(str(backend))) % 1000}"
    made = time.perf_counter()
    project_id = project(ls, f"bench {workers} worker(s){' from disk' if from_disk else ''}", name, count, vocab)
    setup_seconds = time.perf_counter() - made
    env = worker_env(ls, stub_url, redis_url, workdir / f"var-{name}", backend, from_disk, vocab)
    processes = start_workers(env, [f"{name}-{n}" for n in range(workers)], workdir)
    row: dict = {}
    try:
        before = cpu_now(ls, processes)
        started = time.perf_counter()
        completed = subprocess.run([str(BIN / "prelabel"), "run", "--project", str(project_id), "--all"], env=env,
                                   capture_output=True, text=True, timeout=7200)
        seconds = time.perf_counter() - started
        at_end = cpu_now(ls, processes)
        cpu = {what: at_end[what] - before[what] for what in before}
        if completed.returncode != 0:
            raise RuntimeError(completed.stderr)
        calls = {field.decode(): float(value) for field, value in redis.hgetall("prelabel:metrics").items()
                 if field.startswith(b"studio_calls_total")}
        versions = [line for line in completed.stderr.splitlines() if "already pre-labelled as" in line]
        version = versions[0].rsplit(" ", 1)[-1] if versions else ""
        # `prelabel run` ends when every task is decided; a write Label Studio was too slow for is tried again
        # minutes later. Flatness and exactly-once are about what Label Studio holds: wait for all of it.
        deadline, settled = time.monotonic() + settle, None
        while settled is None and time.monotonic() < deadline:
            held = requests.get(f"{ls.url}/api/projects/{project_id}/", headers=ls.headers, timeout=120).json()
            if (held.get("total_predictions_number") or 0) >= count:
                settled = time.perf_counter() - started
            else:
                time.sleep(2)
        found = predictions(ls, project_id)
        row = {"cpu": cpu, "settled": settled, "workers": workers, "from_disk": from_disk, "seconds": seconds,
                "tasks_per_s": count / seconds,
                "summary": completed.stderr.strip().splitlines()[-1], "calls": calls, "folder": name,
                "setup_seconds": setup_seconds, "flatness": flatness(found, version, window),
                "exactly_once": exactly_once(found, version, count)}
    finally:
        stopping = time.perf_counter()
        lives = stop_workers(processes)
        if row:
            row["stop_seconds"] = time.perf_counter() - stopping
            row["columns"] = columns_written(ls, project_id)
            row["cpu_after"] = {"label studio": group_cpu(ls.process.pid) - at_end["label studio"],
                                **{f"worker {n}": life - at_end[f"worker {n}"] for n, life in enumerate(lives)}}
    return row


def images_served(ls, folder: str, count: int) -> dict[int, float]:
    """Images per second Label Studio serves at each number of concurrent downloads."""
    session = requests.Session()
    urls = [f"{ls.url}/data/local-files/?d={folder}/{n}.jpg" for n in range(count)]
    rates = {}
    for concurrency in (1, 2, 4, 8, 16):
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda url: session.get(url, headers=ls.headers, timeout=60).content, urls))
        rates[concurrency] = len(urls) / (time.perf_counter() - started)
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--runs", type=int, default=1, help="runs of each set-up (min/median/max printed)")
    parser.add_argument("--no-disk", action="store_true", help="skip the run that reads images from disk")
    parser.add_argument("--window", type=int, default=1000,
                        help="flatness: the rate of the first and of the last this many predictions (runs of at "
                             "least twice as many tasks)")
    parser.add_argument("--settle", type=float, default=900,
                        help="seconds to wait, after `prelabel run`, for Label Studio to hold every prediction")
    parser.add_argument("--checkboxes", action="store_true",
                        help="a vocabulary of the 8 labels the stub names: a checkbox config, no runner-ups column")
    parser.add_argument("--redis-url", default=REDIS_URL, help="a Redis database of the bench's own: emptied")
    parser.add_argument("--backends", default=str(ROOT / "backend"),
                        help="comma-separated backend folders (another checkout's, e.g. before a change): the "
                             "workers and `prelabel run` import prelabel from each in turn, run by run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, StubLLM(answer, latency=args.latency) as stub:
        workdir = Path(directory)
        vocab = checkbox_vocabulary(workdir) if args.checkboxes else VOCAB
        ls = start_label_studio(workdir / "ls", timeout=900)  # migrations take minutes on a loaded machine
        try:
            setups = [(int(n), False) for n in args.workers.split(",")] + ([] if args.no_disk else [(1, True)])
            for workers, from_disk in setups:
                limit = 16 * workers / args.latency  # every worker has its own 16 MLLM slots
                where = "images read from disk (PRELABEL_LOCAL_FILES_ROOT)" if from_disk else "images downloaded"
                backends = [Path(folder) for folder in args.backends.split(",")]
                rates: dict[Path, list[float]] = {backend: [] for backend in backends}
                cpus: dict[Path, list[dict[str, float]]] = {backend: [] for backend in backends}
                for attempt in range(args.runs):
                    for backend in backends:  # interleaved: the machine's load changes within minutes
                        row = run(ls, stub.url, workers, args.tasks, workdir, from_disk, args.redis_url, attempt,
                                  backend, args.window, args.settle, vocab)
                        rates[backend].append(row["tasks_per_s"])
                        print(f"{backend}: {workers} worker(s), {where}: {row['seconds']:.1f} s, "
                              f"{row['tasks_per_s']:.1f} tasks/s "
                              f"({row['tasks_per_s'] / limit:.0%} of the MLLM limit {limit:.1f}); exactly once: "
                              f"{row['exactly_once']}; load average {os.getloadavg()[0]:.1f}; {row['summary']}",
                              flush=True)
                        if row["settled"] is None or row["settled"] > row["seconds"] + 1:
                            print(f"    all {args.tasks} predictions in Label Studio after "
                                  + (f"{row['settled']:.1f} s ({args.tasks / row['settled']:.1f} tasks/s into Label "
                                     "Studio)" if row["settled"] is not None else
                                     f"more than {args.settle:.0f} s more (not all written)"), flush=True)
                        print(f"    project set up in {row['setup_seconds']:.1f} s ({args.tasks} images written, "
                              f"tasks imported)")
                        if row["flatness"] is not None:
                            first, last = row["flatness"]
                            print(f"    flatness: first {args.window} predictions {first:.1f}/s, last {args.window} "
                                  f"{last:.1f}/s: last / first = {last / first:.2f} "
                                  f"(target: last >= 0.9 x first: {'met' if last >= 0.9 * first else 'NOT met'})",
                                  flush=True)
                        cpu = row["cpu"]
                        cpus[backend].append(cpu)
                        print("    CPU ms per task to the end of the run: " + ", ".join(
                            f"{what} {seconds * 1000 / args.tasks:.1f}" for what, seconds in cpu.items())
                            + f"; all {sum(cpu.values()) * 1000 / args.tasks:.1f}", flush=True)
                        print(f"    after it, until the workers stopped ({row['stop_seconds']:.0f} s): " + ", ".join(
                            f"{what} {seconds * 1000 / args.tasks:.1f}" for what, seconds in row["cpu_after"].items()),
                            flush=True)
                        print(f"    list columns in Label Studio when the workers had stopped: {row['columns']} of "
                              f"{args.tasks} tasks", flush=True)
                        for what, count in sorted(row["calls"].items()):
                            print(f"    {what}: {count / args.tasks:.3f} per task")
                for backend, found in rates.items():
                    low, middle, high = min(found), statistics.median(found), max(found)
                    print(f"{backend}: {workers} worker(s), {where}, {len(found)} run(s): tasks/s min {low:.1f} / "
                          f"median {middle:.1f} / max {high:.1f} = {low / limit:.0%} / {middle / limit:.0%} / "
                          f"{high / limit:.0%} of {limit:.1f}", flush=True)
                    print("    CPU ms per task to the end of the run, median: " + ", ".join(
                        f"{what} {statistics.median(cpu[what] for cpu in cpus[backend]) * 1000 / args.tasks:.1f}"
                        for what in cpus[backend][0]), flush=True)
            rates = images_served(ls, row["folder"], min(args.tasks, 400))
            print("images served by Label Studio per second, by concurrent downloads: "
                  + ", ".join(f"{c}: {r:.0f}" for c, r in rates.items()))
        finally:
            ls.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
