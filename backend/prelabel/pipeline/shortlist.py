"""Which labels a prompt carries when the vocabulary is large: a shortlist per image, so that prompt cost does
not grow with the vocabulary (5,000 labels would not fit most context windows).

Stage 1 gets the labels CLIP ranks highest for the image (without CLIP, no list at all: the MLLM names what it
sees). Stage 2 gets the labels stage 1's names matched (decided or ambiguous), then CLIP's best to fill up.
Either way every name the MLLM writes is still normalised against the whole vocabulary, so a label outside the
shortlist is found when the MLLM names it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from prelabel.pipeline.decision import Credits
from prelabel.pipeline.result import NamedMatch


def image_shortlist(labels: list[str], class_matrix: NDArray[Any], image_row: NDArray[Any], size: int) -> list[str]:
    """The `size` labels whose class features are nearest the image, best first."""
    order = np.argsort(-(class_matrix @ image_row), kind="stable")[:size]
    return [labels[i] for i in order]


def stage2_shortlist(credits: Credits, candidates: list[NamedMatch], by_image: list[str], size: int) -> list[str]:
    """Labels stage 1 named (best credit first), the alternatives of its ambiguous names, then CLIP's best."""
    named = sorted(credits.by_label, key=lambda label: -credits.by_label[label].score)
    alternatives = [label for candidate in candidates for label, _ in candidate.alternatives]
    return list(dict.fromkeys([*named, *alternatives, *by_image]))[:size]
