"""The report's three files: report.html (for people), metrics.json (every figure), tasks.csv (every task)."""

from __future__ import annotations

import csv
from pathlib import Path

from prelabel.report import html, jsonfile
from prelabel.report.figures import STAGES, Report
from prelabel.report.records import FAILED, Row, name

CSV_COLUMNS = ["task_id", "source", "model_version", "stratum", "weight", "predicted", "score", "method",
               *[f"{stage}_{part}" for stage in STAGES for part in ("label", "score")], "annotation", "correct",
               "status", "failure", "lead_time", "annotations", "mllm_calls", "cache_hits", "prompt_tokens",
               "completion_tokens", "seconds"]


def write(report: Report, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"html": folder / "report.html", "metrics": folder / "metrics.json", "tasks": folder / "tasks.csv"}
    paths["metrics"].write_text(jsonfile.dumps(report.metrics), encoding="utf-8")
    write_tasks(report, paths["tasks"])
    paths["html"].write_text(html.render(report.metrics), encoding="utf-8")
    return paths


def write_tasks(report: Report, path: Path) -> None:
    version = report.metrics.model_version
    # utf-8-sig: spreadsheet programs then read Japanese labels right.
    with path.open("w", newline="", encoding="utf-8-sig") as file:
        writer = csv.DictWriter(file, CSV_COLUMNS)
        writer.writeheader()
        for row in report.rows:
            record = report.records[row.task_id]
            evidence = record.predictions[version].evidence
            stage_scores = evidence.stage_scores if evidence else {}
            line = {"task_id": row.task_id, "source": record.source, "model_version": version,
                    "stratum": name(row.stratum) if report.metrics.weighted else "",
                    "weight": round(row.weight, 4), "predicted": FAILED if row.failed else name(row.predicted),
                    "score": "" if row.score is None else round(row.score, 4), "method": row.method or "",
                    "annotation": name(row.truth), "correct": int(row.correct),
                    "status": status(row), "failure": (row.cause or "unknown") if row.failed else "",
                    "lead_time": "" if row.lead_time is None else round(row.lead_time, 2),
                    "annotations": len(record.annotations),
                    **{key: row.usage.get(key, "") for key in ("mllm_calls", "cache_hits", "prompt_tokens",
                                                                "completion_tokens", "seconds")}}
            for stage in STAGES:
                scores = stage_scores.get(stage) or {}
                top = max(scores, key=lambda label: scores[label]) if scores else None
                line[f"{stage}_label"] = top or ""
                line[f"{stage}_score"] = round(scores[top], 4) if top else ""
            writer.writerow(line)


def status(row: Row) -> str:
    """What the reviewer did with the pre-label: kept it, changed it, or labelled by hand (Prelabel failed)."""
    if row.failed:
        return "labelled by hand"
    return "accepted" if row.correct else "corrected"
