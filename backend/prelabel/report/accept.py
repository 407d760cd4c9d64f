"""`prelabel accept`: annotations made from the current pre-labels scored at or above a threshold, on the tasks
nobody has reviewed; and `--undo`, which deletes them again.

Each is marked as Prelabel's (prelabel.studio.accepted): the feedback jobs learn nothing from it, the report
counts it apart, and --undo finds it. Which threshold holds is the report's to say (its auto-accept section).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prelabel.report.parse import classification
from prelabel.report.records import Exported, Progress, quietly
from prelabel.report.sources import call
from prelabel.studio.accepted import AutoAccepted, accepted_result, auto_accepted
from prelabel.studio.client import LabelStudio


@dataclass(frozen=True)
class Acceptance:
    """One annotation to make: the task, the prediction it comes from, its label and score, the marked result."""

    task_id: int
    prediction_id: int | None
    label: str
    score: float
    result: list[dict[str, Any]]  # Label Studio's annotation result JSON, as the SDK sends it (Any: JSON)


def choose(tasks: Sequence[Exported], version: str, above: float, none_choice: str,
           from_name: str | None = None) -> list[Acceptance]:
    """The tasks to accept: no annotation at all (a skipped task was looked at: a person decides it), a
    prediction of `version` with a label (never none: "nothing fits" is for a person to say) scored >= above."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    found = []
    for task in tasks:
        if task.get("annotations"):
            continue
        ours = [p for p in task.get("predictions") or []
                if isinstance(p, Mapping) and p.get("model_version") == version]
        if not ours:
            continue
        prediction = max(ours, key=lambda p: (str(p.get("created_at") or ""), int(p.get("id") or 0)))
        score = prediction.get("score")
        _, label = classification(prediction.get("result"), none_choice, from_name)
        if label is None or not isinstance(score, int | float) or isinstance(score, bool) or score < above:
            continue
        result = accepted_result(_regions(prediction.get("result"), from_name),
                                 AutoAccepted(version, float(score), above, stamp))
        found.append(Acceptance(int(task["id"]), prediction.get("id"), label, float(score), result))
    return found


def made(tasks: Sequence[Exported]) -> list[tuple[int, int]]:
    """(task, annotation) of every annotation `prelabel accept` made that nobody has submitted again since."""
    return [(int(task["id"]), int(entry["id"])) for task in tasks for entry in task.get("annotations") or []
            if isinstance(entry, Mapping) and auto_accepted(entry.get("result")) is not None]


def create(studio: LabelStudio, chosen: Sequence[Acceptance], progress: Progress = quietly) -> int:
    for acceptance in progress(chosen):
        call(studio, f"annotate task {acceptance.task_id}", studio.sdk.annotations.create, id=acceptance.task_id,
             result=acceptance.result, was_cancelled=False, ground_truth=False,
             **({"parent_prediction": acceptance.prediction_id} if acceptance.prediction_id else {}))
    return len(chosen)


def delete(studio: LabelStudio, annotations: Sequence[tuple[int, int]],
           progress: Progress = quietly) -> int:
    for _, annotation_id in progress(annotations):
        call(studio, f"delete annotation {annotation_id}", studio.sdk.annotations.delete, id=annotation_id)
    return len(annotations)


def summary(chosen: Sequence[Acceptance]) -> list[tuple[str, int]]:
    return Counter(acceptance.label for acceptance in chosen).most_common()


def _regions(result: object, from_name: str | None) -> list[Exported]:
    regions = [region for region in result if isinstance(region, Mapping)] if isinstance(result, list) else []
    return [region for region in regions if from_name is None or region.get("from_name") == from_name]
