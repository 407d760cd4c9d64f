"""A region project's findings, from stage 1's boxes to named regions, and the image-level label they imply.

Each finding's name goes through the same normaliser as an image-level answer: a name that normalises to a
label names its region, with the calibrated probability of a label found that way (pipeline/calibration.py); a
name that does not (ambiguous, a proposal, nothing) leaves the region without a label, shown as such, never
dropped nor guessed. Two boxes of one label (or one unnamed name) that overlap by DUPLICATE_IOU or more are one
finding: the first written is kept. The image-level label is the region labels' best, so the choice and the
boxes never disagree (docs/regions.md).
"""

from __future__ import annotations

from collections import Counter

from prelabel.pipeline.boxes import DUPLICATE, Box, overlap, place
from prelabel.pipeline.calibration import Calibration
from prelabel.pipeline.result import LABEL, NONE, BoxFinding, Finding, ImagePrediction, Region
from prelabel.vocabulary.normalize import Normalizer

DUPLICATE_IOU = 0.7  # two boxes of one name overlapping this much are one finding written twice


def name_regions(findings: list[BoxFinding], skipped: dict[str, int], convention: str, sent: tuple[int, int],
                 normalizer: Normalizer, calibration: Calibration, among: int) -> tuple[list[Region], dict[str, int]]:
    """The regions of an answer's findings, in the order written, and the boxes dropped by reason."""
    dropped = dict(skipped)
    named = []
    for finding, box in place(findings, convention, sent, dropped):
        result = normalizer.normalize(finding.name)
        named.append((finding, box, result))
    support = Counter(result.label for _, _, result in named if result.label)
    kept: list[tuple[str, Box]] = []
    regions = []
    for finding, box, result in named:
        key = result.label or finding.name.casefold()
        if any(other == key and overlap(box, seen) >= DUPLICATE_IOU for other, seen in kept):
            dropped[DUPLICATE] = dropped.get(DUPLICATE, 0) + 1
            continue
        kept.append((key, box))
        score = 0.0
        if result.label:
            # Each region shows one thing: no rivals within it, whatever the other regions show.
            score = calibration.probability(Finding(result.method, "candidate", result.score,
                                                    support[result.label], 0, among))
        regions.append(Region(*box, finding.name, result.label, round(score, 4), result.method))
    return regions, {reason: count for reason, count in dropped.items() if count}


def derive_label(prediction: ImagePrediction) -> None:
    """The image-level label from the regions: the most probable region label (ties: the one with more regions,
    then the first written); none when no region has a label. `ranking` holds each region label's best
    probability (what a multi-choice config checks: studio/predictions.py)."""
    regions = prediction.regions or []
    if prediction.failed:
        return
    best: dict[str, float] = {}
    for region in regions:
        if region.label is not None:
            best[region.label] = max(best.get(region.label, 0.0), region.score)
    counts = Counter(region.label for region in regions if region.label)
    order = sorted(best, key=lambda label: (-best[label], -counts[label]))
    prediction.ranking = [(label, best[label]) for label in order[:5]]
    if not order:
        prediction.state, prediction.label, prediction.score, prediction.labels = NONE, None, 0.0, []
        prediction.finding = None
        prediction.reason = ("no region: the MLLM found nothing in the image" if not regions else
                             f"none of the {len(regions)} region(s) is named by a vocabulary label")
        return
    prediction.state, prediction.label, prediction.score, prediction.labels = LABEL, order[0], best[order[0]], []
    prediction.reason = (f"{counts[order[0]]} of {len(regions)} region(s) are {order[0]}"
                         + (f"; also {', '.join(order[1:])}" if len(order) > 1 else ""))
