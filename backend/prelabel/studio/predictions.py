"""Label Studio's JSON for predictions and tasks: what the project's labeling config can show, with score and
model_version.

Every image Prelabel looked at gets a prediction, in one of three states (pipeline/result.py):
- LABEL: the label's choice (its alias, or its taxonomy path), the evidence, and the label's final score. A label
  the config has no choice for becomes the NONE state, the evidence naming the label and why.
- NONE: the config's "none of these" choice (if it has one), the evidence (with the reason and the closest
  labels), score 0: Label Studio's prediction-score column then sorts these first, with the tasks that most
  need a person. But where one answer affirmed several labels side by side (prediction.labels) and the control
  is multi-choice, those labels' choices are all checked, with the lowest of their scores.
- FAILED: the evidence alone (what failed and why, and what to do), score 0, with the model_version's failure()
  version. Only a /predict of one task (the task opened) is answered with it: workers write no failure, so
  Label Studio, which asks the backend for a task with no prediction at all when it is opened, asks again
  (prelabel.jobs.predict); and, answered, it is not the project's model_version, so the label stream asks again.
A region project (the config has <RectangleLabels> over the image) also gets one rectanglelabels result per
region (region_results), and the choice derived from them (pipeline/regions.py).
Items for tags the config lacks are left out (Label Studio's import/predictions drops a prediction whole when
one of its items names an unknown tag).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from prelabel.pipeline.identity import ModelVersion
from prelabel.pipeline.result import FAILED, LABEL, ImagePrediction
from prelabel.studio.evidence import evidence_text, region_line, shown_together
from prelabel.studio.labelconfig import Control

CHOICE_ID, EVIDENCE_ID, REGION_ID = "prelabel", "prelabel-evidence", "prelabel-r"


@dataclass(frozen=True)
class StudioPrediction:
    """One prediction as Label Studio takes it (a /predict answer, an item of import/predictions). Not the SDK's
    Prediction type: that one requires a task id, which a /predict answer has none of."""

    model_version: ModelVersion
    score: float
    result: tuple[dict[str, Any], ...]  # the regions: the choice (or taxonomy path) and the evidence text

    @property
    def failed(self) -> bool:
        return self.model_version.failed

    def to_json(self, task: int | None = None) -> dict[str, Any]:
        """Label Studio's JSON; with `task`, an item of a bulk import."""
        found = {"model_version": str(self.model_version), "score": self.score, "result": list(self.result)}
        return found if task is None else {**found, "task": task}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StudioPrediction:
        """What to_json wrote (kept in Redis); ValueError when its model_version is not one of ours."""
        version = ModelVersion.parse(data.get("model_version"))
        if version is None:
            raise ValueError(f"not a Prelabel model_version: {data.get('model_version')!r}")
        return cls(version, float(data.get("score") or 0.0), tuple(data.get("result") or ()))


def studio_prediction(prediction: ImagePrediction, model_version: ModelVersion, control: Control,
                      failures: int = 1) -> StudioPrediction:
    """The Label Studio prediction for one image, whatever its state; `failures`: a failure's count in a row."""
    label = prediction.label if prediction.state == LABEL else None
    shown = label is not None and control.can_show(label)
    version = model_version.failure() if prediction.state == FAILED else model_version
    several = shown_together(prediction, control)
    value = (control.value(label) if shown and label is not None
             else control.values([name for name, _ in several]) if several
             else control.none_value() if prediction.state != FAILED else None)
    if value is not None and shown and control.multiple and prediction.regions:
        # A region project's multi-choice label checks every label its regions show, the best first.
        value = control.values([name for name, _ in prediction.ranking if control.can_show(name)])
    result: list[dict[str, Any]] = []
    if value is not None and control.has_choices:
        result.append({"id": CHOICE_ID, "from_name": control.from_name, "to_name": control.to_name,
                       "type": control.kind, "value": value})
    if control.evidence:
        result.append({"id": EVIDENCE_ID, "from_name": control.evidence, "to_name": control.to_name,
                       "type": "textarea", "readonly": True,
                       "value": {"text": [evidence_text(prediction, str(version), control, failures)]}})
    if prediction.state != FAILED:
        result += region_results(prediction, control)
    score = prediction.score if shown else min(score for _, score in several) if several else 0.0
    return StudioPrediction(version, round(score, 4), tuple(result))


def region_results(prediction: ImagePrediction, control: Control) -> list[dict[str, Any]]:
    """A region project's boxes: one rectanglelabels result per region, in Label Studio's standard format (x, y,
    width, height in percent of the original image, upright; original_width/height its pixels), its label's
    probability as the region's score; a region no vocabulary label names carries the config's label for that
    (or none at all). With a per-region evidence TextArea, each region's evidence line under the same id."""
    regions = control.regions
    if regions is None or not prediction.regions:
        return []
    width, height = prediction.image_size or (0, 0)
    found: list[dict[str, Any]] = []
    for number, region in enumerate(prediction.regions, 1):
        box = {"x": region.x, "y": region.y, "width": region.width, "height": region.height, "rotation": 0}
        common = {"id": f"{REGION_ID}{number}", "to_name": regions.to_name, "original_width": width,
                  "original_height": height, "image_rotation": 0}
        found.append({**common, "from_name": regions.from_name, "type": "rectanglelabels", "score": region.score,
                      "value": {**box, "rectanglelabels": regions.labels_of(region.label)}})
        if regions.evidence:
            found.append({**common, "from_name": regions.evidence, "type": "textarea", "readonly": True,
                          "value": {**box, "text": [region_line(region, control.display, control.language)]}})
    return found


def prediction_json(prediction: ImagePrediction, model_version: ModelVersion, control: Control) -> dict[str, Any]:
    return studio_prediction(prediction, model_version, control).to_json()


def local_files_url(path: Path, root: Path) -> str:
    """The URL under which Label Studio serves a file below LOCAL_FILES_DOCUMENT_ROOT."""
    relative = path.resolve().relative_to(root.resolve())
    return "/data/local-files/?d=" + quote(relative.as_posix())


def import_task(prediction: ImagePrediction, image_value: str, model_version: ModelVersion,
                control: Control) -> dict[str, Any]:
    """A task for Label Studio's import, with its prediction; the per-stage scores and evidence go in `meta`
    for the accuracy report (Label Studio keeps only result, score and model_version of a prediction)."""
    return {"data": {control.data_key: image_value},
            "meta": {"prelabel": {**prediction.to_dict(), "model_version": str(model_version)}},
            "predictions": [prediction_json(prediction, model_version, control)]}
