"""Prelabel's own annotations: pre-labels `prelabel accept` accepted above a score threshold, unreviewed.

They are told apart by a mark on their classification region (Label Studio keeps a result region's keys as
they are written, and exports them): the feedback jobs learn nothing from them (nobody confirmed anything), the
PoC report counts them apart from reviewed tasks, and `prelabel accept --undo` finds them to delete. A reviewer
who opens one and submits it again saves the regions as the labeling page holds them, without the mark: from
then on it is that reviewer's annotation, and counts as reviewed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

MARK = "prelabel_auto_accept"
CLASSIFICATIONS = ("choices", "taxonomy")


@dataclass(frozen=True)
class AutoAccepted:
    """What the mark says: which version's pre-label, its score, the threshold it passed, when."""

    model_version: str
    score: float
    threshold: float
    at: str = ""

    @classmethod
    def from_mark(cls, mark: Any) -> AutoAccepted | None:
        if not isinstance(mark, Mapping):
            return None
        try:
            return cls(str(mark.get("model_version") or ""), float(mark["score"]), float(mark["threshold"]),
                       str(mark.get("at") or ""))
        except (KeyError, TypeError, ValueError):
            return None


def accepted_result(prediction_result: Iterable[Any], mark: AutoAccepted) -> list[dict[str, Any]]:
    """An annotation's result from a prediction's: its classification regions, marked. The evidence text and
    any other region stay with the prediction."""
    return [{**region, MARK: asdict(mark)} for region in prediction_result
            if isinstance(region, Mapping) and region.get("type") in CLASSIFICATIONS]


def auto_accepted(result: Iterable[Any] | None) -> AutoAccepted | None:
    """The mark of an annotation Prelabel made, or None for a person's."""
    for region in result or []:
        if isinstance(region, Mapping) and MARK in region:
            return AutoAccepted.from_mark(region[MARK])
    return None
