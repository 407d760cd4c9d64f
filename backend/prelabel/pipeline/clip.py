"""open_clip models: the one door through which Prelabel loads CLIP and encodes images and texts.

A model is named the way open_clip names it, plus a JSON config path for models it does not ship:
  ViT-B-32 + laion2b_s34b_b79k     a model name with a pretrained tag (weights from open_clip's hub)
  hf-hub:org/repo                  a model and weights published on the Hugging Face hub
  ViT-B-32 + /path/to/weights.pt   a model name (or config .json) with a local checkpoint
  /path/to/config.json             a config shipped as data: random weights unless a checkpoint is given
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


class ClipLoadError(RuntimeError):
    """The model or weights named in settings cannot be loaded (unknown name, missing file, no network)."""


# CLIP's packages are an extra (pyproject.toml): the core installs without torch's several GB.
CLIP_PACKAGES = ("torch", "open_clip")
CLIP_EXTRA = "pip install 'prelabel[clip]'"


def missing_clip_packages() -> list[str]:
    """The CLIP packages that are not installed, found without importing them (torch takes seconds)."""
    return [name for name in CLIP_PACKAGES if importlib.util.find_spec(name) is None]


def clip_missing_message(model: str) -> str | None:
    """What to do when CLIP is configured (PRELABEL_CLIP_MODEL=model) but not installed; None when it is."""
    missing = missing_clip_packages()
    if not missing:
        return None
    return (f"CLIP is on (PRELABEL_CLIP_MODEL={model}) but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed: {CLIP_EXTRA}, or set PRELABEL_CLIP_MODEL= "
            "(empty) to run the MLLM alone")


def pick_device(requested: str = "auto") -> str:
    """'auto' picks CUDA, then Apple's MPS, then the CPU."""
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


@dataclass
class ClipModel:
    """A loaded open_clip model with its image preprocessing and tokenizer, ready to encode in batches."""

    model: Any  # an open_clip CLIP module
    preprocess: Any  # PIL image -> tensor
    tokenizer: Any  # texts -> token tensor
    device: str
    name: str
    batch_size: int = 32

    @property
    def context_length(self) -> int:
        return int(getattr(self.tokenizer, "context_length", 77))

    def encode_images(self, images: Sequence[Any]) -> NDArray[Any]:
        """PIL images -> L2-normalised rows."""
        import torch

        rows = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.stack([self.preprocess(image) for image in images[start:start + self.batch_size]])
            rows.append(self._run(self.model.encode_image, batch.to(self.device)))
        return _normalise(np.concatenate(rows)) if rows else np.zeros((0, self.dimension), np.float32)

    def encode_texts(self, texts: Sequence[str]) -> NDArray[Any]:
        """Texts -> L2-normalised rows. A text longer than the text tower's context is split into sentences
        (then word chunks) whose embeddings are averaged, so nothing is cut off."""
        chunks, owner = [], []
        for number, text in enumerate(texts):
            for chunk in self.split_for_context(text):
                chunks.append(chunk)
                owner.append(number)
        if not chunks:
            return np.zeros((0, self.dimension), np.float32)
        rows = []
        for start in range(0, len(chunks), self.batch_size):
            tokens = self.tokenizer(chunks[start:start + self.batch_size])
            rows.append(self._run(self.model.encode_text, tokens.to(self.device)))
        chunk_rows = _normalise(np.concatenate(rows))
        result = np.zeros((len(texts), chunk_rows.shape[1]), np.float32)
        np.add.at(result, np.asarray(owner), chunk_rows)
        return _normalise(result)

    @functools.cached_property
    def dimension(self) -> int:
        return int(self.encode_texts(["a"]).shape[1])

    def split_for_context(self, text: str) -> list[str]:
        """Whole sentences packed into pieces that fit the context; an over-long sentence by words."""
        text = " ".join(text.split())
        if self._fits(text):
            return [text]
        pieces: list[str] = []
        current = ""
        for unit in self._units(text):
            joined = f"{current} {unit}".strip()
            if current and not self._fits(joined):
                pieces.append(current)
                joined = unit
            current = joined
        if current:
            pieces.append(current)
        return pieces

    def _units(self, text: str) -> list[str]:
        units = []
        for sentence in filter(None, _SENTENCE_END.split(text)):
            if self._fits(sentence):
                units.append(sentence)
            else:
                units.extend(sentence.split())
        return units

    def _fits(self, text: str) -> bool:
        encode = getattr(self.tokenizer, "encode", None)
        if encode is None:  # tokenizers without a plain encode(): a conservative estimate, 2 tokens a word
            return 2 * len(text.split()) + 2 <= self.context_length
        return len(encode(text)) + 2 <= self.context_length  # +2: start and end tokens

    def _run(self, encode: Callable[[Any], Any], batch: Any) -> NDArray[Any]:
        import torch

        with torch.inference_mode(), torch.autocast(self.device, enabled=self.device == "cuda"):
            found: NDArray[Any] = encode(batch).float().cpu().numpy()
            return found


def load_clip(model: str, pretrained: str | None = None, device: str = "auto",
              batch_size: int = 32, threads: int = 0) -> ClipModel:
    """Build an open_clip model and its transforms; CUDA runs in half precision. On a CPU, `threads` (0: the
    cores less one) bounds torch's threads: with all cores, CLIP starves the threads waiting on the MLLM."""
    try:
        import open_clip
        import torch

        model_name = model
        if model.endswith(".json"):
            path = Path(model)
            if not path.is_file():
                raise ClipLoadError(f"model config {model} not found")
            open_clip.add_model_config(path)
            model_name = path.stem
        if pretrained and not Path(pretrained).exists() and ("/" in pretrained or pretrained.endswith(
                (".pt", ".pth", ".bin", ".safetensors"))):
            raise ClipLoadError(f"checkpoint {pretrained} not found")
        chosen = pick_device(device)
        if chosen == "cpu":
            torch.set_num_threads(threads or max(1, (os.cpu_count() or 2) - 1))
        precision = "fp16" if chosen == "cuda" else "fp32"
        clip_model, _, preprocess = open_clip.create_model_and_transforms(
            model_name, pretrained=pretrained or None, device=chosen, precision=precision)
        clip_model.eval()
        tokenizer = open_clip.get_tokenizer(model_name)
    except ClipLoadError:
        raise
    except Exception as exc:  # open_clip raises RuntimeError, ValueError, OSError, hub errors...
        raise ClipLoadError(f"cannot load open_clip model {model!r} with weights {pretrained!r}: {exc}") from exc
    return ClipModel(clip_model, preprocess, tokenizer, chosen, model_name, batch_size)


def _normalise(rows: NDArray[Any]) -> NDArray[Any]:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(rows / np.where(norms == 0, 1, norms), dtype=np.float32)
