"""Text encoders for the normaliser's embedding stage, named by a SPEC string:

  open_clip:MODEL:PRETRAINED       open_clip's text tower (TLAC's choice); MODEL and PRETRAINED as in
                                   prelabel.clip (a name and tag, hf-hub:org/repo, a config .json, a checkpoint)
  sentence-transformers:PATH       a sentence-transformers model in a local directory (nothing is downloaded)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from prelabel.pipeline.clip import ClipLoadError, ClipModel, load_clip


class SpecError(ValueError):
    """A text-encoder SPEC that is malformed or names something that cannot be loaded."""


class TextEncoder(Protocol):
    name: str
    default_threshold: float  # cosine similarity above which a nearest name is trusted

    def encode(self, texts: list[str]) -> NDArray[Any]:
        """Texts -> L2-normalised rows."""
        ...


class ClipTextEncoder:
    """CLIP's text tower, comparing 'a photo of a {answer}' with 'a photo of a {name}' as TLAC does."""

    # CLIP text embeddings of any two photo captions are close; only near-duplicates pass this.
    default_threshold = 0.9
    template = "a photo of a {}."

    def __init__(self, clip: ClipModel):
        self.clip = clip
        self.name = f"open_clip:{clip.name}"

    def encode(self, texts: list[str]) -> NDArray[Any]:
        return self.clip.encode_texts([self.template.format(text) for text in texts])


class SentenceTransformerEncoder:
    # Measured with all-MiniLM-L6-v2: true synonyms score 0.65-0.85, loosely related names 0.4-0.6.
    default_threshold = 0.65

    def __init__(self, path: str, device: str | None = None):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # transformers leaves it unannotated; typed here, so that --strict holds with or without the clip extra.
        disable_progress_bar: Callable[[], None] = transformers_logging.disable_progress_bar
        disable_progress_bar()  # its bar would mix into a CLI's stderr
        self.model = SentenceTransformer(path, device=device, local_files_only=True)
        self.name = f"sentence-transformers:{path}"

    def encode(self, texts: list[str]) -> NDArray[Any]:
        rows = self.model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)
        return np.asarray(rows, dtype=np.float32)


def load_text_encoder(spec: str, device: str = "auto") -> TextEncoder:
    """The one door: SPEC string -> a loaded encoder, or SpecError saying what is wrong."""
    kind, _, rest = spec.partition(":")
    if kind == "sentence-transformers":
        if not rest:
            raise SpecError(f"text encoder {spec!r}: expected sentence-transformers:PATH")
        if not Path(rest).is_dir():
            raise SpecError(f"text encoder {spec!r}: {rest} is not a directory holding a "
                            "sentence-transformers model (models are loaded from disk, never downloaded)")
        try:
            return SentenceTransformerEncoder(rest, device=None if device == "auto" else device)
        except Exception as exc:
            raise SpecError(f"text encoder {spec!r}: cannot load the model: {exc}") from exc
    if kind == "open_clip":
        model, pretrained = split_open_clip(rest)
        if not model:
            raise SpecError(f"text encoder {spec!r}: expected open_clip:MODEL:PRETRAINED")
        try:
            return ClipTextEncoder(load_clip(model, pretrained, device))
        except ClipLoadError as exc:
            raise SpecError(f"text encoder {spec!r}: {exc}") from exc
    raise SpecError(f"text encoder {spec!r}: unknown kind {kind!r}; expected "
                    "open_clip:MODEL:PRETRAINED or sentence-transformers:PATH")


def split_open_clip(text: str) -> tuple[str, str | None]:
    """'ViT-B-32:laion2b_s34b_b79k' -> (model, tag); 'hf-hub:org/repo' stays whole (weights come with it)."""
    if text.startswith("hf-hub:"):
        return text, None
    model, _, pretrained = text.partition(":")
    return model, pretrained or None
