"""The suggestion in Label Studio's task list: two fields Prelabel keeps in each task's data.

Label Studio 1.23.2's Data Manager shows a task's data fields as columns it can sort and filter, but shows a
prediction only as raw JSON ("Prediction results", cut before the label) and its score only for predictions of
the project's model_version (a failure's score is empty and sorts last: data_manager/managers.py,
`annotate_predictions_score`, `apply_ordering` with nulls last). So each prediction also writes, into its task's
data:

- `prelabel_suggested`: the suggestion as the reviewer reads it on the labeling page (the choice's value, the
  none choice's, or "not pre-labelled" for a failure, 事前ラベルなし in a Japanese config);
- `prelabel_score`: the prediction's score, 0 to 1 in two decimals (0 for none and failed, as the prediction's).
  Numbers in [0, 1] sort the same as numbers and as text, so the column sorts right whether or not the view
  treats it as a number;
- `prelabel_runner_ups`, where the config has the runner-ups control (labelconfig.RUNNER_UPS_NAME): its options,
  the prediction's runner-ups (at least 1%, the best first) as the reviewer reads them, with their scores
  (`{"value": "Nezara viridula 15%", "alias": "Nezara viridula"}`: the alias, the label, is what a tick stores).
  Hidden in the review tab; not shown in the list.

The cost: Label Studio has no bulk update of task data; prelabel.delivery.columns writes the suggestion and
the score with one Data Manager action per distinct value over all the tasks waiting, the runner-ups with one
task update per task, by a thread of their own after the predictions (so the bulk writes never wait behind
them); the fields travel in exports. They are Prelabel's: the task
data hash that keys kept results leaves them out (prelabel.delivery.results.made_from), and they are never read
back as input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prelabel.pipeline.result import FAILED, LABEL, ImagePrediction
from prelabel.studio.evidence import MAX_RUNNER_UPS, MIN_RUNNER_UP, percent
from prelabel.studio.labelconfig import RUNNER_UPS_NAME, Control
from prelabel.studio.predictions import StudioPrediction

SUGGESTED, SCORE, RUNNER_UPS = "prelabel_suggested", "prelabel_score", RUNNER_UPS_NAME
KEYS = (SUGGESTED, SCORE, RUNNER_UPS)
# In the choices' language (Control.language), as the evidence says it: a failure, and a none where the config has
# no none choice (nothing is selected on the page).
NOT_PRELABELLED = {"en": "not pre-labelled", "ja": "事前ラベルなし"}
NO_CHOICE = {"en": "none", "ja": "該当なし"}


def list_columns(prediction: StudioPrediction, control: Control,
                 made_from: ImagePrediction | None = None) -> dict[str, Any]:
    """The fields for one prediction; the runner-ups where the config shows them and the pipeline's prediction
    (`made_from`) is at hand (a result kept from earlier has them written already)."""
    language = control.language if control.language in NOT_PRELABELLED else "en"
    found: dict[str, Any] = {SUGGESTED: NOT_PRELABELLED[language], SCORE: 0.0}
    if not prediction.failed:
        value = next((item.get("value") for item in prediction.result
                      if item.get("from_name") == control.from_name and isinstance(item.get("value"), dict)), None)
        labels = _labels(value, control) if value is not None else []
        if control.regions is not None and not control.has_choices:  # regions alone: the labels of the boxes
            labels = list(dict.fromkeys(label for item in prediction.result if item.get("type") == "rectanglelabels"
                                        and (label := control.regions.label_of(item.get("value") or {}))))
        found = {SUGGESTED: ", ".join(control.display(label) for label in labels) or NO_CHOICE[language],
                 SCORE: round(min(max(prediction.score, 0.0), 1.0), 2)}
    if control.runner_ups and made_from is not None:
        found[RUNNER_UPS] = runner_up_options(made_from, control)
    return found


def runner_up_options(prediction: ImagePrediction, control: Control) -> list[dict[str, str]]:
    """The runner-ups control's options: the labels the evidence lists as runner-ups (or closest labels), that the
    config can show; none for a failure."""
    if prediction.state == FAILED:
        return []
    suggested = prediction.label if prediction.state == LABEL else None
    options = []
    for label, score in prediction.ranking:
        if label != suggested and score >= MIN_RUNNER_UP and control.can_show(label):
            options.append({"value": f"{control.display(label)} {percent(score)}", "alias": label})
    return options[:MAX_RUNNER_UPS]


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
