"""The suggestion in Label Studio's task list: two fields Prelabel keeps in each task's data.

Label Studio 1.23.2's Data Manager shows a task's data fields as columns it can sort and filter, but shows a
prediction only as raw JSON ("Prediction results", cut before the label) and its score only for predictions of
the project's model_version (a failure's score is empty and sorts last: data_manager/managers.py,
`annotate_predictions_score`, `apply_ordering` with nulls last). So each prediction also writes, into its task's
data:

- `prelabel_suggested`: the suggestion as the reviewer reads it on the labeling page (the choice's value, the
  none choice's, or "not pre-labelled" for a failure);
- `prelabel_score`: the prediction's score, 0 to 1 in two decimals (0 for none and failed, as the prediction's).
  Numbers in [0, 1] sort the same as numbers and as text, so the column sorts right whether or not the view
  treats it as a number.

The cost: one task update per prediction (Label Studio has no bulk update of task data; each also updates the
project's column summary), and the fields travel in exports. They are Prelabel's: the task data hash that keys
kept results leaves them out (prelabel.delivery.results.made_from), and they are never read back as input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prelabel.studio.labelconfig import Control
from prelabel.studio.predictions import StudioPrediction

SUGGESTED, SCORE = "prelabel_suggested", "prelabel_score"
KEYS = (SUGGESTED, SCORE)
NOT_PRELABELLED = "not pre-labelled"
NO_CHOICE = "none"  # a none where the config has no none choice: nothing is selected on the page


def list_columns(prediction: StudioPrediction, control: Control) -> dict[str, Any]:
    """The two fields for one prediction."""
    if prediction.failed:
        return {SUGGESTED: NOT_PRELABELLED, SCORE: 0.0}
    value = next((item.get("value") for item in prediction.result
                  if item.get("from_name") == control.from_name and isinstance(item.get("value"), dict)), None)
    labels = _labels(value, control) if value is not None else []
    if control.regions is not None and not control.has_choices:  # regions alone: the labels of the boxes
        labels = list(dict.fromkeys(label for item in prediction.result if item.get("type") == "rectanglelabels"
                                    and (label := control.regions.label_of(item.get("value") or {}))))
    return {SUGGESTED: ", ".join(control.display(label) for label in labels) or NO_CHOICE,
            SCORE: round(min(max(prediction.score, 0.0), 1.0), 2)}


def with_columns(data: Mapping[str, Any], columns: Mapping[str, Any]) -> dict[str, Any] | None:
    """The task data with the fields set, or None when it holds them already (nothing to write)."""
    if all(data.get(key) == value for key, value in columns.items()):
        return None
    return {**data, **columns}


def without_columns(data: object) -> object:
    """Task data as the user made it: what a prediction is made from."""
    if isinstance(data, Mapping) and any(key in data for key in KEYS):
        return {key: value for key, value in data.items() if key not in KEYS}
    return data


def _labels(value: Mapping[str, Any], control: Control) -> list[str]:
    """The labels a result value selects, each as label_of names it (several in a multi-choice control)."""
    key = "taxonomy" if control.kind == "taxonomy" else "choices"
    found = [control.label_of({key: [item]}) for item in value.get(key) or []]
    return [label for label in found if label is not None]
