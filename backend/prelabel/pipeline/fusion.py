"""CLIP fusion after "What Do You See?" (methods.md, section 2).

Class features: the normalised sum of emb(label), the mean of "a photo of a {name}." over the label and its
English names, and the mean of the class descriptions. Query: the normalised mean of the image (IF), the
MLLM's description (DF) and its first guess (PF) embeddings, each switchable. Score: cosine, turned into a
distribution over labels with CLIP's logit scale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from prelabel.pipeline.clip import ClipModel
from prelabel.vocabulary.vocab import Vocabulary

PHOTO_TEMPLATE = "a photo of a {}."
LOGIT_SCALE = 100.0  # CLIP's learned temperature, as the released models have it
FEATURES = ("image", "description", "guess")


def normalise(vector: NDArray[Any]) -> NDArray[Any]:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def mean_direction(vectors: Sequence[NDArray[Any] | None]) -> NDArray[Any] | None:
    """The normalised mean of the normalised vectors present; None when none is."""
    present = [normalise(v) for v in vectors if v is not None]
    return normalise(np.sum(present, axis=0)) if present else None


def class_features(clip: ClipModel, vocabulary: Vocabulary, texts: dict[str, list[str]]) -> NDArray[Any]:
    """One L2-normalised row per label, in vocabulary order."""
    labels = vocabulary.label_values
    label_rows = clip.encode_texts(labels)
    template_rows = _mean_rows(clip, [[PHOTO_TEMPLATE.format(name) for name in (entry.label, *entry.english_names())]
                                      for entry in vocabulary])
    description_rows = _mean_rows(clip, [texts.get(label, []) for label in labels])
    rows = [mean_direction([label_rows[i], template_rows[i], description_rows[i]]) for i in range(len(labels))]
    return np.stack([row for row in rows if row is not None]).astype(np.float32)  # the label row is never None


def _mean_rows(clip: ClipModel, groups: list[list[str]]) -> list[NDArray[Any] | None]:
    """Encode every text of every group in one batch run; the mean direction per group (None if empty)."""
    flat = [text for group in groups for text in group]
    encoded = clip.encode_texts(flat) if flat else np.zeros((0, 0), np.float32)
    rows, start = [], 0
    for group in groups:
        rows.append(mean_direction(list(encoded[start:start + len(group)])) if group else None)
        start += len(group)
    return rows


def probabilities(class_matrix: NDArray[Any], query: NDArray[Any]) -> NDArray[Any]:
    """Cosines of the query with every class, as a softmax distribution at CLIP's logit scale."""
    logits = LOGIT_SCALE * (class_matrix @ query)
    logits -= logits.max()
    weights = np.exp(logits)
    return np.asarray(weights / weights.sum())


class ClassFeatureStore:
    """Class features computed once per (model, vocabulary version, descriptions) and kept on disk, so a
    restarted worker does not re-encode hundreds of descriptions."""

    def __init__(self, directory: str | Path | None):
        self.directory = Path(directory) if directory else None
        self._memory: dict[str, NDArray[Any]] = {}

    def get(self, clip: ClipModel, clip_identity: str, vocabulary: Vocabulary,
            texts: dict[str, list[str]]) -> NDArray[Any]:
        # Keyed by what the features are made of, not the vocabulary version: a learned synonym changes the
        # version but not one class feature.
        made_of = [(entry.label, entry.english_names()) for entry in vocabulary]
        key = hashlib.sha256(json.dumps([clip_identity, made_of, texts], sort_keys=True,
                                        ensure_ascii=False).encode()).hexdigest()[:20]
        if key in self._memory:
            return self._memory[key]
        path = self.directory / f"{key}.npy" if self.directory else None
        if path is not None and path.exists():
            matrix: NDArray[Any] = np.load(path)
        else:
            matrix = class_features(clip, vocabulary, texts)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary = path.with_suffix(".tmp.npy")
                np.save(temporary, matrix)
                temporary.replace(path)
        self._memory[key] = matrix
        return matrix
