"""Boxes from an MLLM's answer to a region project's stage 1: read them however the model wrote them, and map
them onto the percentages of the original image that Label Studio stores (docs/regions.md).

Models write boxes in one of these conventions (PRELABEL_BOX_CONVENTION names it; `auto` reads it off each
answer, `prelabel check` tells which one an endpoint uses):
- `pixels`: [x0, y0, x1, y1] in pixels of the image Prelabel sent;
- `qwen2.5-vl`: the same in pixels of the image as Qwen2.5-VL's processor resized it (sides rounded to
  multiples of 28: smart_resize below), which is what Qwen2.5-VL served by vLLM or transformers answers in;
- `yxyx-1000`: [ymin, xmin, ymax, xmax] on a 0-1000 grid (Gemini, its `box_2d`);
- `xyxy-normalized`: [x0, y0, x1, y1] as fractions of the image (0-1).

The image sent was the original turned upright (its EXIF orientation) and scaled down as a whole. Label Studio
shows the original upright too (the browser applies the EXIF orientation: checked in Chromium against 1.23.2,
tests/test_regions_studio.py), and stores a box in percent of the picture it shows, so a box's percentages of
the image sent are its percentages of the original; `original_width` / `original_height` are the upright
original's. Boxes are clipped to the image; a box outside it, one with no area left (narrower than a pixel of
the image sent) and one that is not four numbers are dropped, each counted by its reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from prelabel import text as strings
from prelabel.pipeline.result import BoxFinding

AUTO, PIXELS, QWEN, YXYX_1000, NORMALIZED = "auto", "pixels", "qwen2.5-vl", "yxyx-1000", "xyxy-normalized"
CONVENTIONS = (AUTO, PIXELS, QWEN, YXYX_1000, NORMALIZED)
MAX_FINDINGS = 100  # a sticky trap holds dozens of insects; an answer of thousands of boxes is cut here
FRACTIONS_UP_TO = 2.0  # `auto`: boxes whose numbers all stay below this are fractions of the image
MAX_ANSWER = 200_000  # characters of an answer searched for boxes

# How models name the parts of a finding, and the lists of findings.
_BOX_KEYS = ("box_2d", "bbox_2d", "bbox", "box", "bounding_box", "coordinates")
_NAME_KEYS = ("label", "name", "class", "category", "object")
_LIST_KEYS = ("findings", "objects", "detections", "regions", "boxes", "items")

# Why a box was dropped: counted per image, shown in the evidence.
MALFORMED, OUTSIDE, DEGENERATE, DUPLICATE, CUT_OFF = "malformed", "outside", "degenerate", "duplicate", "cut_off"


Box = tuple[float, float, float, float]  # left, top, width, height in percent of the image: Label Studio's x, y...


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two upright boxes (studio/boxes.py compares reviewed ones, rotated included:
    the pipeline cannot import it, and needs no rotation)."""
    inter = (max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
             * max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])))
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def read_findings(data: object, cut_off: bool = False) -> tuple[list[BoxFinding], dict[str, int]]:
    """The findings in a parsed answer (a list of findings, or an object holding one under `findings` or the
    like): each name with its four numbers as written. Findings without a name or four numbers are counted as
    malformed."""
    dropped: dict[str, int] = {CUT_OFF: 1} if cut_off else {}
    items = data if isinstance(data, list) else next(
        (data[key] for key in _LIST_KEYS if isinstance(data, Mapping) and isinstance(data.get(key), list)), [])
    found: list[BoxFinding] = []
    for item in items:
        finding = _finding(item)
        if finding is None:
            dropped[MALFORMED] = dropped.get(MALFORMED, 0) + 1
        elif len(found) < MAX_FINDINGS:
            found.append(finding)
    return found, dropped


def _finding(item: object) -> BoxFinding | None:
    if not isinstance(item, Mapping):
        return None
    key = next((key for key in _BOX_KEYS if key in item), None)
    written = item.get("key")  # a cached answer (BoxFinding.to_dict) keeps the key the model wrote
    key_written = written if key == "box" and written in _BOX_KEYS else key
    name = next((item[key] for key in _NAME_KEYS if isinstance(item.get(key), str)), "")
    name = " ".join(strings.clean(name, strings.SENTENCE).split())
    numbers = _four_numbers(item.get(key)) if key else None
    if numbers is None or not name or not strings.fits(name, strings.NAME):
        return None
    return BoxFinding(name, numbers, key_written or "")


def _four_numbers(value: object) -> tuple[float, float, float, float] | None:
    if isinstance(value, Mapping):  # {"xmin": .., "ymin": .., "xmax": .., "ymax": ..} or {"x0": .., ...}
        for keys in (("xmin", "ymin", "xmax", "ymax"), ("x0", "y0", "x1", "y1"), ("x1", "y1", "x2", "y2")):
            if all(key in value for key in keys):
                value = [value[key] for key in keys]
                break
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    numbers = []
    for number in value:
        if isinstance(number, str):
            try:
                number = float(number)
            except ValueError:
                return None
        if not isinstance(number, int | float) or isinstance(number, bool) or not math.isfinite(number):
            return None
        numbers.append(float(number))
    return numbers[0], numbers[1], numbers[2], numbers[3]


def salvage(text: str) -> tuple[object, bool]:
    """The JSON in an answer (an object or a list), tolerant of prose and code fences around it; when the answer
    was cut off (a token limit), every complete finding before the cut, and True."""
    text = text[:MAX_ANSWER]
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return None, False
    decoder = json.JSONDecoder()
    try:
        return decoder.raw_decode(text, min(starts))[0], False
    except (json.JSONDecodeError, RecursionError):  # cut off; or nested past the decoder's depth (hostile)
        pass
    found: list[object] = []
    position = text.find("{")
    for _ in range(4 * MAX_FINDINGS):  # each try may read to the cut: bounded, whatever the answer holds
        if position < 0:
            break
        try:
            item, end = decoder.raw_decode(text, position)
        except (json.JSONDecodeError, RecursionError):
            end = position + 1  # this object is the one cut off (or holds the cut): look inside it
        else:
            if isinstance(item, dict) and any(key in item for key in _BOX_KEYS):
                found.append(item)
            else:
                end = position + 1
        position = text.find("{", end)
    return found, True


def to_percent(finding: BoxFinding, convention: str, sent: tuple[int, int]) -> tuple[float, float, float, float]:
    """The finding's box as (left, top, right, bottom) in percent of the image sent (unclipped). `convention`
    is one of CONVENTIONS but auto (see convention_of)."""
    a, b, c, d = finding.box
    width, height = sent
    if convention == YXYX_1000:
        left, top, right, bottom = b / 10, a / 10, d / 10, c / 10
    elif convention == NORMALIZED:
        left, top, right, bottom = a * 100, b * 100, c * 100, d * 100
    else:
        if convention == QWEN:
            height, width = smart_resize(height, width)
        left, top, right, bottom = a / width * 100, b / height * 100, c / width * 100, d / height * 100
    return min(left, right), min(top, bottom), max(left, right), max(top, bottom)  # corners in either order


def convention_of(findings: list[BoxFinding], setting: str) -> str:
    """The convention an answer's boxes are in: the setting, or with `auto`: Gemini's `box_2d` key is its
    0-1000 grid; numbers all below FRACTIONS_UP_TO are fractions (a box past the edge may go beyond 1, and a box of
    two pixels is no finding); anything else is pixels of the image sent."""
    if setting != AUTO:
        return setting
    if any(finding.key == "box_2d" for finding in findings):
        return YXYX_1000
    if findings and all(abs(number) <= FRACTIONS_UP_TO for finding in findings for number in finding.box):
        return NORMALIZED
    return PIXELS


def detect_convention(numbers: list[float], sent: tuple[int, int]) -> str | None:
    """What `prelabel check` can tell from the numbers of boxes alone: fractions when all are within 0-1,
    pixels when one is over 1000 (no grid goes there), None when they fit both the 0-1000 grid and pixels."""
    if numbers and all(0 <= number <= 1 for number in numbers):
        return NORMALIZED
    if any(number > 1000 for number in numbers) and max(sent) > 1000:
        return PIXELS
    return None


def place(findings: list[BoxFinding], convention: str, sent: tuple[int, int],
          dropped: dict[str, int]) -> list[tuple[BoxFinding, Box]]:
    """Each finding's box in percent of the image, clipped to it; boxes outside it, with less than a pixel of
    the image sent left, are dropped and counted in `dropped`."""
    convention = convention_of(findings, convention)
    pixel_x, pixel_y = 100 / max(1, sent[0]), 100 / max(1, sent[1])
    placed = []
    for finding in findings:
        left, top, right, bottom = to_percent(finding, convention, sent)
        if right <= 0 or bottom <= 0 or left >= 100 or top >= 100:
            dropped[OUTSIDE] = dropped.get(OUTSIDE, 0) + 1
            continue
        left, top, right, bottom = max(0.0, left), max(0.0, top), min(100.0, right), min(100.0, bottom)
        if right - left < pixel_x or bottom - top < pixel_y:
            dropped[DEGENERATE] = dropped.get(DEGENERATE, 0) + 1
            continue
        placed.append((finding, (left, top, right - left, bottom - top)))
    return placed


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = 56 * 56,
                 max_pixels: int = 28 * 28 * 16384) -> tuple[int, int]:
    """The (height, width) Qwen2.5-VL's image processor resizes an image to (transformers'
    qwen2_vl.image_processing_qwen2_vl.smart_resize, with the processor's defaults): its pixel coordinates are
    of that picture."""
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar
