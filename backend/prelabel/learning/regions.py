"""What a reviewer's corrected regions teach: the predicted boxes (as Label Studio shows them) matched with the
annotation's (studio/boxes.py, IoU >= 0.5), each predicted box carrying the MLLM's name for its finding.

- Relabelled (matched, another label): the finding's MLLM name -> the reviewer's label, exactly as a corrected
  image-level choice teaches (rules.verdicts: the same screening; the same promotion rule, two vouched reviewers).
- Kept, moved or resized (matched, the same label): the label is judged as on a kept box (the MLLM's name that
  normalised to it is a confirmation); the move itself teaches nothing.
- A box the reviewer labelled "Not in the vocabulary" (no label): a verdict that nothing fits, no string learned.
- Deleted (predicted, unmatched) and drawn (reviewed, unmatched): recorded as such, never a string: a drawn box has
  no MLLM name, and a deleted one may be a false find as much as a wrong name.

The MLLM's name of each predicted box comes from the prediction evidence the workers kept (learning/store.py):
its `regions`, each a box with the finding's name and how it normalised, paired with Label Studio's boxes by IoU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prelabel.learning.outcome import RegionSummary
from prelabel.learning.rules import Verdict, verdicts
from prelabel.pipeline.result import NamedMatch
from prelabel.studio.boxes import Box, Matching, boxes, match
from prelabel.studio.tasks import HeldPrediction
from prelabel.vocabulary.normalize import Normalizer


def region_words(evidence: Mapping[str, Any] | None, predicted: list[Box]) -> dict[Box, NamedMatch]:
    """Each predicted box -> the MLLM's name of its finding, from kept prediction evidence: its `regions` (the
    box in percent, the name, its label, score and method: pipeline/result.py's Region) paired with the boxes
    Label Studio shows by IoU (studio/boxes.match), so neither order nor ids need to agree. Entries without a
    name or a box are left out."""
    regions = evidence.get("regions") if isinstance(evidence, Mapping) else None
    kept: list[tuple[Box, NamedMatch]] = []
    for entry in regions if isinstance(regions, list) else []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            continue
        found = boxes([{"type": "rectangle", "id": str(len(kept)), "value": entry}])
        said = NamedMatch.from_dict({**entry, "text": entry["name"], "source": "region"})
        if found and said is not None:
            kept.append((found[0], said))
    pairs = match(predicted, [box for box, _ in kept]).pairs
    return {pair.predicted: kept[int(pair.reviewed.region_id or 0)][1] for pair in pairs}


def predicted_boxes(predictions: Iterable[HeldPrediction], from_name: str, model_version: str | None) -> list[Box]:
    """The boxes of the task's prediction the reviewer worked on: the one of the kept evidence's model_version
    where Label Studio holds it, else the latest with boxes."""
    with_boxes = [(prediction, found) for prediction in predictions
                  if (found := boxes(prediction.result, from_name))]
    if not with_boxes:
        return []
    chosen = [found for prediction, found in with_boxes if model_version
              and prediction.model_version == model_version]
    if chosen:
        return chosen[-1]
    return max(with_boxes, key=lambda pair: pair[0].id or 0)[1]


def region_verdicts(matching: Matching, words: Mapping[Box, NamedMatch], label_of: Callable[[str | None], str | None],
                    in_vocabulary: Callable[[str], bool], normalizer: Normalizer) -> list[Verdict]:
    """The verdicts of one annotation's boxes. `label_of`: the vocabulary label a stored box label stands for
    (None: "Not in the vocabulary", or no label)."""
    found: list[Verdict] = []
    for pair in matching.pairs:
        label = label_of(pair.reviewed.label)
        if label is None:
            found.append(Verdict("nothing_fits"))
            continue
        said = words.get(pair.predicted)
        found += verdicts(label, False, in_vocabulary(label), [said] if said else [], normalizer)
    found += [Verdict("region_deleted", label=label_of(box.label)) for box in matching.deleted]
    found += [Verdict("region_drawn", label=label_of(box.label)) for box in matching.drawn]
    return found


def summary(matching: Matching) -> RegionSummary:
    """What the reviewer did to the boxes, for the feedback job's result."""
    return RegionSummary(len(matching.kept), len(matching.moved), len(matching.relabelled), len(matching.deleted),
                         len(matching.drawn))

