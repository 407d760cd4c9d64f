"""Label Studio's JSON for predictions and tasks (../shared/notes/label-studio.md, "Prediction JSON")."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from prelabel.pipeline import ImagePrediction


@dataclass(frozen=True)
class Control:
    """Where a label goes in the labeling config: a <Choices> or <Taxonomy> named from_name over an <Image>
    named to_name whose value is $data_key. `results` maps a Choice value to what a result stores (its alias,
    if it has one); `paths` gives a taxonomy label's path of values."""

    from_name: str = "label"
    to_name: str = "image"
    data_key: str = "image"
    kind: str = "choices"  # or "taxonomy"
    results: dict[str, str] = field(default_factory=dict)
    paths: dict[str, list[str]] = field(default_factory=dict)

    def value(self, label: str) -> dict:
        if self.kind == "taxonomy":
            return {"taxonomy": [self.paths.get(label, [label])]}
        return {"choices": [self.results.get(label, label)]}

    def label_of(self, value: dict) -> str | None:
        """The vocabulary label a result value names (the reverse of value())."""
        if self.kind == "taxonomy":
            paths = value.get("taxonomy") or []
            return paths[0][-1] if paths and paths[0] else None
        choices = value.get("choices") or []
        if not choices:
            return None
        back = {stored: label for label, stored in self.results.items()}
        return back.get(choices[0], choices[0])

    def to_dict(self) -> dict:
        return {"from_name": self.from_name, "to_name": self.to_name, "data_key": self.data_key, "kind": self.kind,
                "results": self.results, "paths": self.paths}

    @classmethod
    def from_dict(cls, data: dict) -> Control:
        return cls(**data)


def prediction_json(prediction: ImagePrediction, model_version: str, control: Control) -> dict | None:
    """One Label Studio prediction, or None when the pipeline found no label for the image."""
    if prediction.label is None:
        return None
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
    found = prediction_json(prediction, model_version, control)
    task["predictions"] = [found] if found else []
    return task
