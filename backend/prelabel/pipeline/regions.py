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
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from prelabel.pipeline import reasons
from prelabel.pipeline.boxes import DUPLICATE, Box, overlap, place
from prelabel.pipeline.calibration import CLIP, IMAGE_CHOICE, STAGE2, Calibration
from prelabel.pipeline.decision import clip_margin, top
from prelabel.pipeline.reasons import Reason
from prelabel.pipeline.result import LABEL, NONE, BoxFinding, Finding, ImagePrediction, Region
from prelabel.vocabulary.normalize import Normalizer

DUPLICATE_IOU = 0.7  # two boxes of one name overlapping this much are one finding written twice


# A region's second look (stage 2 on its crop): (its box, the MLLM's name for it, the labels that name fits) ->
# the label the MLLM chose among them after seeing the crop, or None.
SecondLook = Callable[[Box, str, list[str]], str | None]
# CLIP on a region's crop (when CLIP is on): (its box, the MLLM's name for it) -> the fused distribution over the
# vocabulary's labels (in order) of the crop's image and the name as first guess; None when neither feature is on.
CropLook = Callable[[Box, str], NDArray[Any] | None]


def name_regions(findings: list[BoxFinding], skipped: dict[str, int], convention: str, sent: tuple[int, int],
                 normalizer: Normalizer, calibration: Calibration, among: int,
                 second_look: SecondLook | None = None, crop_look: CropLook | None = None,
                 labels: list[str] | None = None) -> tuple[list[Region], dict[str, int]]:
    """The regions of an answer's findings, in the order written, and the boxes dropped by reason. A name that
    fits several labels (a proposal: "stink bug") gets `second_look` where stage 2 is on: the MLLM chooses among
    exactly those labels after seeing the box's crop, as stage 2 with the image does for a whole photo.
    `crop_look` (CLIP on, with the vocabulary's `labels`): CLIP on each kept box's crop, fused as the image level
    fuses; as there, it re-ranks but never names a region the MLLM's name did not (pipeline/decision.py)."""
    dropped = dict(skipped)
    named = []
    for finding, box in place(findings, convention, sent, dropped):
        result = normalizer.normalize(finding.name)
        chosen: tuple[str, int] | None = None  # the label chosen on the crop, and among how many
        if result.proposal and second_look is not None:
            candidates = [alternative.label for alternative in result.alternatives]
            pick = second_look(box, finding.name, candidates)
            chosen = (pick, len(candidates)) if pick is not None and pick in candidates else None
        named.append((finding, box, result, chosen))
    support = Counter(chosen[0] if chosen else result.label for _, _, result, chosen in named
                      if chosen or result.label)
    kept: list[tuple[str, Box]] = []
    regions = []
    for finding, box, result, chosen in named:
        label = chosen[0] if chosen else result.label
        key = label or finding.name.casefold()
        if any(other == key and overlap(box, seen) >= DUPLICATE_IOU for other, seen in kept):
            dropped[DUPLICATE] = dropped.get(DUPLICATE, 0) + 1
            continue
        kept.append((key, box))
        score, method = 0.0, result.method
        fused = crop_look(box, finding.name) if crop_look is not None and labels else None
        found: dict[str, Finding] = {}
        if chosen:
            # Chosen from its candidates after seeing the crop: calibrated as stage 2 with the image is.
            method = IMAGE_CHOICE
            found[chosen[0]] = Finding(IMAGE_CHOICE, STAGE2, 1.0, support[chosen[0]], 0, chosen[1], stage2="image")
        elif label:
            # Each region shows one thing: no rivals within it, whatever the other regions show.
            found[label] = Finding(result.method, "candidate", result.score, support[label], 0, among)
        clip_says = None
        if fused is not None and labels:
            found = {name: replace(way, clip_margin=clip_margin(fused, labels.index(name)))
                     for name, way in found.items()}
            # CLIP's own best labels are in play as at the image level: scored as its unmeasured way is, they take
            # their share of the probability within what the named label leaves.
            for other in top(labels, fused):
                found.setdefault(other, Finding(CLIP, CLIP, 0.0, 0, 0, among, clip_margin(fused, labels.index(other))))
            best = int(np.argmax(fused))
            clip_says = (labels[best], round(float(fused[best]), 4))
        if label:
            score = calibration.probabilities(found)[label] if clip_says else calibration.probability(found[label])
        regions.append(Region(*box, finding.name, label, round(score, 4), method, clip_says))
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
        prediction.why = (Reason(reasons.NO_REGION) if not regions
                          else Reason(reasons.NO_REGION_LABEL, total=len(regions)))
        return
    prediction.state, prediction.label, prediction.score, prediction.labels = LABEL, order[0], best[order[0]], []
    prediction.why = Reason(reasons.REGIONS, tuple(order), count=counts[order[0]], total=len(regions))
