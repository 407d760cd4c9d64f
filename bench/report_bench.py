"""`prelabel report --export` on a large project: 10,000 reviewed tasks in a Label Studio JSON export.

Target (issue 9): the whole report (read the export, every figure, the plots, report.html with its font
subset, metrics.json, tasks.csv) in under 30 s on the development machine.

The export is generated, seeded, in the shape Label Studio writes (snapshot export: full predictions, task
meta with `meta.prelabel` evidence and a `prelabel sample` mark): 30 labels with a long tail, Japanese labels
among them, about 8% none answers, stage scores for every stage, MLLM strings with their match methods,
usage, lead times. The run is the real `prelabel report` command in a new process, timed from outside.
Exits 1 when the target is missed.
Run: .venv/bin/python bench/report_bench.py [--tasks 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRELABEL = Path(sys.executable).parent / "prelabel"
TARGET_SECONDS = 30.0
METHODS = [("exact", 1.0), ("alias", 0.97), ("rule", 0.92), ("fuzzy", 0.83), ("learned", 0.95)]


def labels() -> list[str]:
    latin = [f"Genus{number:02d} species{number:02d}" for number in range(24)]
    return [*latin, "クサギカメムシ", "ミナミアオカメムシ", "コクゾウムシ", "ココクゾウムシ", "傷", "汚れ"]


def make_export(count: int, seed: int = 9) -> list[dict]:
    rng = random.Random(seed)
    names = labels()
    popularity = [1 / (rank + 1) for rank in range(len(names))]  # a long tail: rare labels exist
    tasks, strata = [], {}
    for task_id in range(1, count + 1):
        truth = None if rng.random() < 0.08 else rng.choices(names, popularity)[0]
        confidence = rng.betavariate(5, 1.6)
        right = rng.random() < confidence
        predicted = truth if right else (None if rng.random() < 0.3 else rng.choice(names))
        tasks.append(task(task_id, truth, predicted, confidence, rng, names))
        strata[predicted] = strata.get(predicted, 0) + 1
    # A sample of 10x the reviewed tasks: every stratum's population is ten times what was reviewed.
    design = [{"label": label, "population": 10 * n, "sampled": n} for label, n in strata.items()]
    for entry in tasks:
        stratum = entry["meta"]["prelabel"]["label"]
        entry["meta"]["prelabel_sample"] = {"id": "2026-01-01T00:00:00Z-seed9", "seed": 9, "stratum": stratum,
                                            "model_version": "prelabel-bench-1", "strata": design}
    return tasks


def task(task_id: int, truth: str | None, predicted: str | None, confidence: float, rng: random.Random,
         names: list[str]) -> dict:
    others = rng.sample([n for n in names if n != predicted], 4)
    top = [predicted, *others[:4]] if predicted else others
    final = {label: round(confidence * 0.9 ** rank, 4) for rank, label in enumerate(top)}
    method, method_score = rng.choice(METHODS)
    text = (predicted or "unknown bug") if rng.random() < 0.9 else f"odd name {rng.randrange(40)}"
    candidate = {"text": text, "source": "classification", "label": predicted if text == predicted else None,
                 "score": method_score if text == predicted else 0.0,
                 "method": method if text == predicted else "none", "alternatives": []}
    stage_scores = {"mllm": {predicted: method_score} if predicted else {},
                    "clip_image": {rng.choice(names): 0.3, rng.choice(names): 0.2},
                    "fused": {predicted or rng.choice(names): 0.4}, "final": final}
    result = [{"from_name": "label", "to_name": "image", "type": "choices",
               "value": {"choices": [truth if truth else "None of these"]}}]
    predictions = [] if predicted is None else [{
        "id": task_id, "model_version": "prelabel-bench-1", "score": final[predicted],
        "result": [{"from_name": "label", "to_name": "image", "type": "choices",
                    "value": {"choices": [predicted]}}], "created_at": "2026-01-01T00:00:00Z"}]
    lead_time = round(rng.lognormvariate(1.4 if truth == predicted else 2.6, 0.4), 2)
    return {
        "id": task_id, "project": 1, "data": {"image": f"/data/local-files/?d=photos/{task_id:05d}.jpg"},
        "annotations": [{"id": task_id, "completed_by": 1, "result": result, "was_cancelled": False,
                         "lead_time": lead_time, "created_at": "2026-01-02T00:00:00Z",
                         "updated_at": "2026-01-02T00:00:00Z"}],
        "predictions": predictions,
        "meta": {"prelabel": {
            "model_version": "prelabel-bench-1", "label": predicted, "score": final.get(predicted),
            "ranking": [[label, score] for label, score in final.items()], "stage_scores": stage_scores,
            "evidence": {"candidates": [candidate], "stage2": None},
            "errors": {}, "usage": {"mllm_calls": 1, "cache_hits": 0, "prompt_tokens": 1200,
                                    "completion_tokens": 90, "seconds": round(rng.uniform(1.5, 4), 2)}}},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the export and the report in DIR.")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="report-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    export = folder / "export.json"
    export.write_text(json.dumps(make_export(args.tasks), ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "PRELABEL_DATA_DIR": str(folder / "var"), "PRELABEL_VOCAB": str(folder / "no-vocab.yaml")}
    started = time.perf_counter()
    completed = subprocess.run([str(PRELABEL), "report", "--export", str(export), "--out", str(folder / "report"),
                                "--prompt-price", "0.15", "--completion-price", "0.6"],
                               env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        print(completed.stderr, file=sys.stderr)
        return 1
    metrics = json.loads((folder / "report" / "metrics.json").read_text(encoding="utf-8"))
    top1 = metrics["accuracy"]["top1"]
    print(f"export: {args.tasks} reviewed tasks, {export.stat().st_size / 1e6:.1f} MB")
    print(f"prelabel report --export: {seconds:.1f} s (target < {TARGET_SECONDS:.0f} s), load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"report.html {(folder / 'report' / 'report.html').stat().st_size / 1e3:.0f} kB, metrics.json "
          f"{(folder / 'report' / 'metrics.json').stat().st_size / 1e3:.0f} kB, tasks.csv "
          f"{(folder / 'report' / 'tasks.csv').stat().st_size / 1e3:.0f} kB")
    print(f"top-1 {top1['value']:.1%} ({top1['low']:.1%}-{top1['high']:.1%}), weighted: {metrics['weighted']}, "
          f"classes: {len(metrics['classes'])}, ECE {metrics['calibration']['ece']:.3f}")
    if args.keep:
        print(f"kept in {folder}")
    return 0 if seconds < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
