"""Label Studio's rectangle regions read from a result, and a prediction's boxes matched with a reviewer's.

A region is Label Studio's own rectanglelabels item: `value` holds x, y, width and height in percent of the
original image, `rotation` in degrees clockwise about the box's top-left corner, and `rectanglelabels` (a
<Rectangle> without labels writes type "rectangle"; a box whose name did not normalise is predicted without a
label). Pure: the learning and the report both read regions through this module.

Matching (match): every predicted box paired with at most one reviewed box and the other way round, greedily by
intersection over union, best first, pairs below MIN_IOU (0.5, the PASCAL VOC criterion) never made. A
rotated box is compared as the polygon it is, in pixels of the original image where the region says its size
(percent of width and percent of height differ in scale once a box turns). What each outcome says:

- kept: matched, the same label, the box unchanged (IoU at least UNCHANGED_IOU: floating-point noise).
- moved: matched, the same label, the box moved or resized (MIN_IOU <= IoU < UNCHANGED_IOU): not a lesson about
  names.
- relabelled: matched, another label (a predicted box without a label that the reviewer named included).
- deleted: predicted, matched with nothing: the reviewer removed it.
- drawn: reviewed, matched with nothing: the reviewer drew a box Prelabel missed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

MIN_IOU = 0.5
UNCHANGED_IOU = 0.9999
RECTANGLES = ("rectanglelabels", "rectangle")


@dataclass(frozen=True)
class Box:
    """One rectangle region: where it is (percent of the original image) and its label (None: no label)."""

    x: float
    y: float
    width: float
    height: float
    label: str | None = None
    rotation: float = 0.0
    region_id: str | None = None
    score: float | None = None
    image_width: float | None = None  # the original image's size in pixels, where the region says it
    image_height: float | None = None

    def corners(self) -> list[tuple[float, float]]:
        """The box's corners, clockwise, in pixels of the original image (percent where its size is unknown)."""
        sx = self.image_width / 100 if self.image_width else 1.0
        sy = self.image_height / 100 if self.image_height else 1.0
        x, y, w, h = self.x * sx, self.y * sy, self.width * sx, self.height * sy
        if not self.rotation:
            return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        cos, sin = math.cos(math.radians(self.rotation)), math.sin(math.radians(self.rotation))
        return [(x + dx * cos - dy * sin, y + dx * sin + dy * cos) for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]


def boxes(result: Iterable[object] | None, from_name: str | None = None) -> list[Box]:
    """The rectangle regions of a result list (of `from_name`, if given), in order. Items that are not a usable
    rectangle (another type, no numbers, no area) are left out."""
    found = []
    for item in result or []:
        if not isinstance(item, Mapping) or item.get("type") not in RECTANGLES:
            continue
        if from_name is not None and item.get("from_name") != from_name:
            continue
        value = item.get("value")
        if not isinstance(value, Mapping):
            continue
        x, y, width, height = (_number(value.get(key)) for key in ("x", "y", "width", "height"))
        if x is None or y is None or width is None or height is None or width <= 0 or height <= 0:
            continue
        labels = value.get("rectanglelabels")
        label = labels[0] if isinstance(labels, list) and labels and isinstance(labels[0], str) else None
        region_id = item.get("id")
        found.append(Box(x, y, width, height, label, _number(value.get("rotation")) or 0.0,
                         region_id if isinstance(region_id, str) else None, _number(item.get("score")),
                         _number(item.get("original_width")), _number(item.get("original_height"))))
    return found


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (rotated ones as polygons). In pixels where both say the same image
    size, else in percent (the same figure while neither box turns)."""
    if (a.image_width, a.image_height) != (b.image_width, b.image_height):
        a, b = replace(a, image_width=None, image_height=None), replace(b, image_width=None, image_height=None)
    first, second = a.corners(), b.corners()
    if not a.rotation and not b.rotation:
        inter_w = min(first[2][0], second[2][0]) - max(first[0][0], second[0][0])
        inter_h = min(first[2][1], second[2][1]) - max(first[0][1], second[0][1])
        inter = max(inter_w, 0.0) * max(inter_h, 0.0)
    else:
        inter = _area(_clip(first, second))
    union = _area(first) + _area(second) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Pair:
    predicted: Box
    reviewed: Box
    iou: float

    @property
    def relabelled(self) -> bool:
        return self.predicted.label != self.reviewed.label

    @property
    def moved(self) -> bool:
        return self.iou < UNCHANGED_IOU


@dataclass(frozen=True)
class Matching:
    pairs: tuple[Pair, ...]
    deleted: tuple[Box, ...]  # predicted, matched with nothing
    drawn: tuple[Box, ...]  # reviewed, matched with nothing

    @property
    def kept(self) -> list[Pair]:
        return [pair for pair in self.pairs if not pair.relabelled and not pair.moved]

    @property
    def moved(self) -> list[Pair]:
        return [pair for pair in self.pairs if not pair.relabelled and pair.moved]

    @property
    def relabelled(self) -> list[Pair]:
        return [pair for pair in self.pairs if pair.relabelled]


def match(predicted: list[Box], reviewed: list[Box], min_iou: float = MIN_IOU) -> Matching:
    """Pairs by IoU, greatest first (among equal IoUs, a same-label pair first, then the order of the lists)."""
    candidates = sorted(
        ((overlap, i, j) for i, p in enumerate(predicted) for j, r in enumerate(reviewed)
         if (overlap := iou(p, r)) >= min_iou),
        key=lambda found: (-found[0], predicted[found[1]].label != reviewed[found[2]].label, found[1], found[2]))
    used_p: set[int] = set()
    used_r: set[int] = set()
    pairs = []
    for overlap, i, j in candidates:
        if i in used_p or j in used_r:
            continue
        used_p.add(i)
        used_r.add(j)
        pairs.append((i, Pair(predicted[i], reviewed[j], overlap)))
    return Matching(tuple(pair for _, pair in sorted(pairs, key=lambda found: found[0])),
                    tuple(box for i, box in enumerate(predicted) if i not in used_p),
                    tuple(box for j, box in enumerate(reviewed) if j not in used_r))


def _clip(subject: list[tuple[float, float]], clipper: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sutherland-Hodgman: the part of convex polygon `subject` inside convex polygon `clipper` (both clockwise
    in image coordinates, y down)."""
    output = subject
    for k in range(len(clipper)):
        (ax, ay), (bx, by) = clipper[k], clipper[(k + 1) % len(clipper)]

        def inside(point: tuple[float, float]) -> bool:
            return (bx - ax) * (point[1] - ay) - (by - ay) * (point[0] - ax) >= 0  # noqa: B023 (used at once)

        def crossing(p: tuple[float, float], q: tuple[float, float]) -> tuple[float, float]:
            dx, dy = q[0] - p[0], q[1] - p[1]
            denominator = (bx - ax) * dy - (by - ay) * dx  # noqa: B023
            t = ((bx - ax) * (ay - p[1]) - (by - ay) * (ax - p[0])) / denominator  # noqa: B023
            return p[0] + t * dx, p[1] + t * dy

        points, output = output, []
        for n, current in enumerate(points):
            previous = points[n - 1]
            if inside(current):
                if not inside(previous):
                    output.append(crossing(previous, current))
                output.append(current)
            elif inside(previous):
                output.append(crossing(previous, current))
        if not output:
            return []
    return output


def _area(polygon: list[tuple[float, float]]) -> float:
    """Shoelace formula."""
    edges = zip(polygon, polygon[1:] + polygon[:1], strict=True)
    return abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in edges)) / 2


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) \
        else None
