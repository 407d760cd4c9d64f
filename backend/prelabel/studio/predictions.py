"""Label Studio's JSON for predictions and tasks: a result per control, with score and model_version."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from prelabel.pipeline.identity import failure_version
from prelabel.pipeline.result import FAILED, ImagePrediction
from prelabel.studio.labelconfig import Control


def prediction_json(prediction: ImagePrediction, model_version: str, control: Control) -> dict:
    """The Label Studio prediction for a task, whatever Prelabel concluded: a label, an honest none (nothing
    ticked) or a failure (written with the failure model_version, so Label Studio asks again)."""
    if prediction.state == FAILED:
        return {"model_version": failure_version(model_version), "score": 0.0, "result": []}
    if prediction.label is None:
        return {"model_version": model_version, "score": 0.0, "result": []}
    return {
        "model_version": model_version,
        "score": round(prediction.score, 4),
        "result": [{"id": "prelabel", "from_name": control.from_name, "to_name": control.to_name,
                    "type": control.kind, "value": control.value(prediction.label)}],
    }


def local_files_url(path: Path, root: Path) -> str:
    """The URL under which Label Studio serves a file below LOCAL_FILES_DOCUMENT_ROOT."""
    relative = path.resolve().relative_to(root.resolve())
    return "/data/local-files/?d=" + quote(relative.as_posix())


def import_task(prediction: ImagePrediction, image_value: str, model_version: str, control: Control) -> dict:
    """A task for Label Studio's import, with its prediction; the per-stage scores and evidence go in `meta`
    for the accuracy report (Label Studio keeps only result, score and model_version of a prediction)."""
    task: dict = {"data": {control.data_key: image_value},
                  "meta": {"prelabel": {**prediction.to_dict(), "model_version": model_version}}}
    task["predictions"] = [prediction_json(prediction, model_version, control)]
    return task
