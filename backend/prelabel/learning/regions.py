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
its `regions`, each the finding's name as it normalised (NamedMatch's JSON) with the region's `id` in Label
Studio's result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prelabel.learning.rules import Verdict, verdicts
from prelabel.pipeline.result import NamedMatch
from prelabel.studio.boxes import Box, Matching, boxes
from prelabel.vocabulary.normalize import Normalizer


def region_words(evidence: Mapping | None) -> dict[str, NamedMatch]:
    """region id -> the MLLM's name of its finding, from kept prediction evidence (entries without an id or a
    name are left out)."""
    found: dict[str, NamedMatch] = {}
    regions = evidence.get("regions") if isinstance(evidence, Mapping) else None
    for entry in regions if isinstance(regions, list) else []:
        said = NamedMatch.from_dict(entry)
        region_id = entry.get("id") if isinstance(entry, Mapping) else None
        if said is not None and said.text.strip() and isinstance(region_id, str):
            found[region_id] = said
    return found


def predicted_boxes(predictions: Iterable[object], from_name: str, model_version: str | None) -> list[Box]:
    """The boxes of the task's prediction the reviewer worked on: the one of the kept evidence's model_version
    where Label Studio holds it, else the latest with boxes."""
    with_boxes = [(prediction, found) for prediction in predictions if isinstance(prediction, Mapping)
                  and (found := boxes(prediction.get("result"), from_name))]
    if not with_boxes:
        return []
    chosen = [found for prediction, found in with_boxes if model_version
              and prediction.get("model_version") == model_version]
    if chosen:
        return chosen[-1]
    return max(with_boxes, key=lambda pair: int(pair[0].get("id") or 0))[1]


def region_verdicts(matching: Matching, words: Mapping[str, NamedMatch], label_of: Callable[[str | None], str | None],
                    in_vocabulary: Callable[[str], bool], normalizer: Normalizer) -> list[Verdict]:
    """The verdicts of one annotation's boxes. `label_of`: the vocabulary label a stored box label stands for
    (None: "Not in the vocabulary", or no label)."""
    found: list[Verdict] = []
    for pair in matching.pairs:
        label = label_of(pair.reviewed.label)
        if label is None:
            found.append(Verdict("nothing_fits"))
            continue
        said = words.get(pair.predicted.region_id or "")
        found += verdicts(label, False, in_vocabulary(label), [said] if said else [], normalizer)
    found += [Verdict("region_deleted", label=label_of(box.label)) for box in matching.deleted]
    found += [Verdict("region_drawn", label=label_of(box.label)) for box in matching.drawn]
    return found


def summary(matching: Matching) -> dict[str, int]:
    """What the reviewer did to the boxes, for the feedback job's result."""
    return {"kept": len(matching.kept), "moved": len(matching.moved), "relabelled": len(matching.relabelled),
            "deleted": len(matching.deleted), "drawn": len(matching.drawn)}

