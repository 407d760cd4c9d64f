"""The report's figures for a region project: each reviewed task's predicted boxes matched with the reviewer's
(studio/boxes.py, IoU >= 0.5), counted over the reviewed tasks.

- A predicted box is right when a reviewed box of the same label matches it (moved or resized boxes included:
  IoU >= 0.5 is the detection criterion, the label the vocabulary's). Precision of a label: its right boxes over
  the boxes Prelabel gave it; recall: its right boxes over the boxes reviewers gave it. With a 95% Wilson
  interval over boxes (boxes of one photo are not independent: the interval is a guide, not a guarantee).
- Drawn: boxes the reviewer drew that match no predicted box (what Prelabel missed); deleted: predicted boxes
  that match no reviewed one (what the reviewer removed); relabelled: matched, another label.
- Reviewer time: lead times of the tasks whose boxes the reviewer left as they were (kept, nothing drawn or
  deleted) and of those they changed; seconds per reviewed box over all timed tasks.

Counts of boxes on the reviewed tasks, unweighted by a review sample: a sample is drawn by image-level label.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from prelabel.report.jsonfile import OMIT_NONE
from prelabel.report.metrics import wilson
from prelabel.studio.boxes import MIN_IOU, Box, Matching, match

NO_LABEL = "(no label)"  # a box without a label (a finding no vocabulary label fits), in tables and metrics.json


@dataclass(frozen=True)
class ReviewedRegions:
    """One reviewed task of a region project: the boxes the pre-label gave, the boxes the counted annotation
    holds, and its lead time (None: unknown, or the reviewer worked on another version's pre-label)."""

    task_id: int
    predicted: tuple[Box, ...]
    reviewed: tuple[Box, ...]
    lead_time: float | None = None


def has_regions(tasks: Sequence[ReviewedRegions]) -> bool:
    return any(task.predicted or task.reviewed for task in tasks)


@dataclass(frozen=True)
class Share:
    """hits / n with its 95% Wilson interval over boxes; None (all three) when n is 0: undefined, not 0."""

    value: float | None
    low: float | None
    high: float | None
    n: int


@dataclass(frozen=True)
class LabelBoxes:
    """One label's boxes: how many Prelabel gave, reviewers kept or drew, were right, drawn, deleted."""

    label: str  # NO_LABEL for a box without one
    predicted: int
    reviewed: int
    right: int
    precision: Share
    recall: Share
    drawn: int
    deleted: int


@dataclass(frozen=True)
class Relabelling:
    predicted: str
    reviewed: str
    boxes: int


@dataclass(frozen=True)
class Median:
    tasks: int
    median: float | None  # seconds; None without a task


@dataclass(frozen=True)
class RegionTime:
    unchanged: Median  # tasks whose boxes the reviewer left as they were
    changed: Median
    tasks: int  # timed tasks
    seconds: float  # their lead times, summed
    per_reviewed_box: float | None


@dataclass(frozen=True)
class RegionFigures:
    iou: float  # the least intersection over union of a matched pair
    tasks: int
    predicted: int  # boxes
    reviewed: int
    kept: int
    moved: int
    relabelled: int
    deleted: int
    drawn: int
    precision: Share
    recall: Share
    labels: tuple[LabelBoxes, ...]
    relabellings: tuple[Relabelling, ...]  # the ten most frequent
    reviewer_time: RegionTime
    image_level: bool | None = field(default=None, metadata=OMIT_NONE)  # also image-level choices (figures.py)


def region_figures(tasks: Sequence[ReviewedRegions]) -> RegionFigures:
    matched = [(task, match(list(task.predicted), list(task.reviewed))) for task in tasks]
    predicted: Counter[str | None] = Counter(box.label for task in tasks for box in task.predicted)
    reviewed: Counter[str | None] = Counter(box.label for task in tasks for box in task.reviewed)
    right: Counter[str | None] = Counter(pair.reviewed.label for _, found in matched for pair in found.pairs
                                         if not pair.relabelled)
    drawn: Counter[str | None] = Counter(box.label for _, found in matched for box in found.drawn)
    deleted: Counter[str | None] = Counter(box.label for _, found in matched for box in found.deleted)
    relabellings: Counter[tuple[str | None, str | None]] = Counter(
        (pair.predicted.label, pair.reviewed.label) for _, found in matched for pair in found.relabelled)
    labels = sorted(set(predicted) | set(reviewed), key=lambda label: (-reviewed[label], label is None, label or ""))
    hits = sum(right.values())
    return RegionFigures(
        iou=MIN_IOU, tasks=len(tasks),
        predicted=sum(predicted.values()), reviewed=sum(reviewed.values()),
        kept=sum(len(found.kept) for _, found in matched), moved=sum(len(found.moved) for _, found in matched),
        relabelled=sum(relabellings.values()), deleted=sum(deleted.values()), drawn=sum(drawn.values()),
        precision=_share(hits, sum(predicted.values())), recall=_share(hits, sum(reviewed.values())),
        labels=tuple(LabelBoxes(_name(label), predicted[label], reviewed[label], right[label],
                                _share(right[label], predicted[label]), _share(right[label], reviewed[label]),
                                drawn[label], deleted[label]) for label in labels),
        relabellings=tuple(Relabelling(_name(first), _name(second), count)
                           for (first, second), count in relabellings.most_common(10)),
        reviewer_time=_times(matched),
    )


def _times(matched: list[tuple[ReviewedRegions, Matching]]) -> RegionTime:
    timed = [(task, found) for task, found in matched if task.lead_time is not None]
    untouched = [task.lead_time for task, found in timed
                 if not found.deleted and not found.drawn and len(found.kept) == len(found.pairs)]
    changed = [task.lead_time for task, found in timed
               if found.deleted or found.drawn or len(found.kept) < len(found.pairs)]
    boxes = sum(len(task.reviewed) for task, _ in timed)
    total = sum(task.lead_time or 0.0 for task, _ in timed)
    return RegionTime(_median(untouched), _median(changed), len(timed), total, total / boxes if boxes else None)


def _median(values: list[float | None]) -> Median:
    found = [value for value in values if value is not None]
    return Median(len(found), statistics.median(found) if found else None)


def _share(hits: int, n: int) -> Share:
    """hits / n with its 95% Wilson interval; value None when there is nothing to divide (undefined, not 0)."""
    if n == 0:
        return Share(None, None, None, 0)
    low, high = wilson(hits, n)
    return Share(hits / n, low, high, n)


def _name(label: str | None) -> str:
    return NO_LABEL if label is None else label
