"""Label Studio's JSON for predictions and tasks: what the project's labeling config can show, with score and
model_version.

Every image Prelabel looked at gets a prediction, in one of three states (pipeline/result.py):
- LABEL: the label's choice (its alias, or its taxonomy path), the evidence, and the label's final score. A label
  the config has no choice for becomes the NONE state, the evidence naming the label and why.
- NONE: the config's "none of these" choice (if it has one), the evidence (with the reason and the closest
  labels), score 0: Label Studio's prediction-score column then sorts these first, with the tasks that most
  need a person. But where one answer affirmed several labels side by side (prediction.labels) and the control
  is multi-choice, those labels' choices are all checked, with the lowest of their scores.
- FAILED: the evidence alone (what failed and why), score 0, written with failure_version(model_version): that
  is not the project's model_version, so Label Studio asks the backend again for the task and the failure heals.
Items for tags the config lacks are left out (Label Studio's import/predictions drops a prediction whole when
one of its items names an unknown tag).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from prelabel.pipeline.identity import failure_version
from prelabel.pipeline.result import FAILED, LABEL, ImagePrediction
from prelabel.studio.evidence import evidence_text, shown_together
from prelabel.studio.labelconfig import Control

CHOICE_ID, EVIDENCE_ID = "prelabel", "prelabel-evidence"


def prediction_json(prediction: ImagePrediction, model_version: str, control: Control) -> dict:
    """The Label Studio prediction for one image, whatever its state."""
    label = prediction.label if prediction.state == LABEL else None
    shown = label is not None and control.can_show(label)
    version = failure_version(model_version) if prediction.state == FAILED else model_version
    several = shown_together(prediction, control)
    value = (control.value(label) if shown and label is not None
             else control.values([name for name, _ in several]) if several
             else control.none_value() if prediction.state != FAILED else None)
    result: list[dict[str, Any]] = []
    if value is not None:
        result.append({"id": CHOICE_ID, "from_name": control.from_name, "to_name": control.to_name,
                       "type": control.kind, "value": value})
    if control.evidence:
        result.append({"id": EVIDENCE_ID, "from_name": control.evidence, "to_name": control.to_name,
                       "type": "textarea", "readonly": True,
                       "value": {"text": [evidence_text(prediction, version, control)]}})
    score = prediction.score if shown else min(score for _, score in several) if several else 0.0
    return {"model_version": version, "score": round(score, 4), "result": result}



def local_files_url(path: Path, root: Path) -> str:
    """The URL under which Label Studio serves a file below LOCAL_FILES_DOCUMENT_ROOT."""
    relative = path.resolve().relative_to(root.resolve())
    return "/data/local-files/?d=" + quote(relative.as_posix())


def import_task(prediction: ImagePrediction, image_value: str, model_version: str, control: Control) -> dict:
    """A task for Label Studio's import, with its prediction; the per-stage scores and evidence go in `meta`
    for the accuracy report (Label Studio keeps only result, score and model_version of a prediction)."""
    return {"data": {control.data_key: image_value},
            "meta": {"prelabel": {**prediction.to_dict(), "model_version": model_version}},
            "predictions": [prediction_json(prediction, model_version, control)]}
