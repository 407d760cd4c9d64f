"""Label Studio JSON (an export, or `prelabel predict` output with annotations added) -> task records.

Both kinds look alike: a list of tasks with `data`, `annotations`, `predictions` and `meta`. An export made
with the quick "Export" button lists predictions by id only; then the pre-label comes from the snapshot each
annotation keeps of the prediction it was made on (`annotation.prediction`), else from `meta.prelabel`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prelabel.pipeline.identity import ModelVersion
from prelabel.pipeline.result import ImagePrediction
from prelabel.report.records import (
    Annotation,
    Evidence,
    Exported,
    Prediction,
    Progress,
    ReportInputError,
    SampleMark,
    TaskRecord,
    quietly,
)
from prelabel.studio.accepted import auto_accepted
from prelabel.studio.boxes import boxes
from prelabel.studio.labelconfig import RUNNER_UPS_NAME

CLASSIFICATIONS = ("choices", "taxonomy")
SAMPLE_KEY = "prelabel_sample"  # where `prelabel sample` marks a task in its meta
WRONG_FORMAT = ("export the project as JSON (Label Studio: Export > JSON, not JSON-MIN or CSV), or give "
                "`prelabel predict` output with annotations added")


def check_export(data: object, where: str) -> list[Exported]:
    """The tasks of a Label Studio JSON export, or ReportInputError saying why this is not one."""
    if not isinstance(data, list):
        raise ReportInputError(f"{where}: expected a JSON list of tasks, found a JSON {type(data).__name__}: "
                               + WRONG_FORMAT)
    for number, task in enumerate(data):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            hint = " (this looks like a JSON-MIN export)" if isinstance(task, dict) and "annotation_id" in task else ""
            raise ReportInputError(f"{where}: task {number + 1} has no 'data' object{hint}: " + WRONG_FORMAT)
        if not isinstance(task.get("annotations", []), list) or not isinstance(task.get("predictions", []), list):
            raise ReportInputError(f"{where}: task {number + 1}: 'annotations' and 'predictions' must be lists: "
                                   + WRONG_FORMAT)
    return data


def classification(result: Iterable[Exported] | None, none_choice: str,
                   from_name: str | None = None) -> tuple[bool, str | None]:
    """(found, label) from a result list: the first <Choices> or <Taxonomy> region (of `from_name`, if given).
    The none choice gives (True, None); no such region gives (False, None). Other regions (an "evidence"
    textarea next to the choices, say) are ignored. A runner-up ticked (labelconfig.RUNNER_UPS_NAME: a correction
    in two actions) is the reviewer's label, whatever the label control still holds."""
    regions = [region for region in result or [] if isinstance(region, Mapping)]
    ticked = [region for region in regions if region.get("from_name") == RUNNER_UPS_NAME
              and isinstance(region.get("value"), Mapping) and region["value"].get("choices")]
    for region in ticked or regions:
        if region.get("type") not in CLASSIFICATIONS or (not ticked and region.get("from_name") == RUNNER_UPS_NAME):
            continue
        if not ticked and from_name is not None and region.get("from_name") != from_name:
            continue
        value = region.get("value") or {}
        if region["type"] == "taxonomy":
            paths = value.get("taxonomy") or []
            label = paths[0][-1] if paths and paths[0] else None
        else:
            choices = value.get("choices") or []
            label = choices[0] if choices else None
        return True, None if label == none_choice else label
    return False, None


def read_tasks(tasks: Iterable[Exported], none_choice: str, from_name: str | None = None,
               progress: Progress = quietly) -> list[TaskRecord]:
    return [read_task(task, number, none_choice, from_name) for number, task in enumerate(progress(tasks), 1)]


def read_task(task: Exported, number: int, none_choice: str, from_name: str | None = None) -> TaskRecord:
    meta: Exported = task["meta"] if isinstance(task.get("meta"), dict) else {}
    record = TaskRecord(task_id=int(task.get("id") or number), source=_source(task.get("data") or {}))
    counted, snapshots = [], []
    for entry in task.get("annotations") or []:
        if entry.get("was_cancelled"):
            record.cancelled += 1
            continue
        accepted = auto_accepted(entry.get("result"))
        if accepted is not None:  # Prelabel's own, made by `prelabel accept`: nobody reviewed it
            record.auto_accepted = accepted
            continue
        # Policy: an annotation without a classification is the reviewer saying none (a submission that
        # removed the pre-label and chose nothing), as is the configured "none of these" choice.
        classified, label = classification(entry.get("result"), none_choice, from_name)
        record.classified |= classified
        seen = ""
        if isinstance(entry.get("prediction"), dict) and entry["prediction"].get("model_version"):
            snapshots.append(entry["prediction"])
            seen = str(entry["prediction"]["model_version"])
        counted.append(Annotation(label, _number(entry.get("lead_time")), entry.get("id"),
                                  str(entry.get("updated_at") or entry.get("created_at") or ""), seen,
                                  tuple(boxes(entry.get("result")))))
    record.annotations = tuple(sorted(counted, key=lambda a: (a.updated, a.annotation_id or 0)))
    full = [p for p in task.get("predictions") or [] if isinstance(p, dict)]
    for entry in sorted(snapshots, key=_created) + sorted(full, key=_created):  # full ones, latest last, win
        version = str(entry.get("model_version") or "")
        parsed = ModelVersion.parse(version)
        if parsed is not None and parsed.failed:
            # A failure is written under "<version>-failed": it is that version's, with no answer; a real
            # prediction of the version (the failure healed) wins over it.
            version = str(parsed.real())
            if version not in record.predictions or record.predictions[version].failed:
                record.predictions[version] = Prediction(version, None, failed=True)
            continue
        classified, label = classification(entry.get("result"), none_choice, from_name)
        record.classified |= classified
        record.predictions[version] = Prediction(version, label, _number(entry.get("score")),
                                                 boxes=tuple(boxes(entry.get("result"))))
    kept = meta.get("prelabel")
    if isinstance(kept, dict) and kept.get("model_version"):
        attach_evidence(record, str(kept["model_version"]), evidence_from(kept, kept.get("label"), "meta"))
    record.sample = sample_mark(meta.get(SAMPLE_KEY))
    return record


def attach_evidence(record: TaskRecord, version: str, evidence: Evidence) -> None:
    """Evidence for a version the task has a Label Studio prediction of enriches it; evidence alone is a
    pre-label too (the workers write no prediction when Prelabel says none)."""
    shown = record.predictions.get(version)
    if shown is not None and shown.failed and not evidence.failed:
        shown = None  # the evidence is of a later, answered attempt that Label Studio does not show
    if shown is None:
        record.predictions[version] = Prediction(version, None if evidence.failed else evidence.label,
                                                 None if evidence.failed else evidence.score, evidence,
                                                 failed=evidence.failed, cause=evidence.cause)
    elif shown.failed:
        record.predictions[version] = Prediction(version, None, None, evidence, failed=True, cause=evidence.cause)
    else:  # a real prediction wins over the evidence of a failure (a failure never replaces one)
        score = shown.score if shown.score is not None else evidence.score
        record.predictions[version] = Prediction(version, shown.label, score,
                                                 evidence if not evidence.failed else None, boxes=shown.boxes)


def evidence_from(entry: Exported, label: str | None, origin: str) -> Evidence:
    """From `meta.prelabel` (ImagePrediction.to_dict: evidence nested) or a learned-store row (flat), of any
    version (ImagePrediction.from_dict reads them all)."""
    kept = ImagePrediction.from_dict(entry)
    final = kept.stage_scores.get("final") or {}
    ranking = [found for found, _ in kept.ranking] or sorted(final, key=lambda key: -final[key])
    score = _number(entry.get("score"))
    if score is None and label is not None:
        score = final.get(label)
    return Evidence(label=label, score=score, ranking=tuple(ranking), stage_scores=kept.stage_scores,
                    candidates=tuple(kept.evidence.candidates), stage2=kept.evidence.stage2, errors=kept.errors,
                    usage=kept.usage, origin=origin, failed=kept.failed, cause=kept.failure_cause,
                    finding=kept.finding, scored_by=kept.scored_by)


def sample_mark(entry: object) -> SampleMark | None:
    if not isinstance(entry, dict) or "id" not in entry:
        return None
    strata = {stratum["label"]: (int(stratum["population"]), int(stratum["sampled"]))
              for stratum in entry.get("strata") or []}
    return SampleMark(str(entry["id"]), entry.get("stratum"), strata, str(entry.get("model_version") or ""),
                      entry.get("seed"))


def _source(data: Exported) -> str:
    if isinstance(data.get("image"), str):
        return str(data["image"])
    return next((value for value in data.values() if isinstance(value, str)), "")


def _created(prediction: Exported) -> tuple[str, int]:
    return str(prediction.get("created_at") or ""), int(prediction.get("id") or 0)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
