"""CLIP fusion: the maths with controlled embeddings (known answers), and the real open_clip path (tiny model)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import TINY_CLIP_CONFIG
from prelabel.pipeline import fusion
from prelabel.pipeline.clip import ClipLoadError, load_clip
from prelabel.vocabulary.vocab import parse_vocabulary

VOCAB = parse_vocabulary("""
domain: d
labels:
  - label: Alpha
    common: {en: [first thing]}
  - label: Beta
""")


class ControlledEncoder:
    """Stands in for a CLIP text tower in the maths tests: each text has a chosen vector."""

    def __init__(self, vectors: dict[str, list[float]]):
        self.vectors = vectors
        self.seen: list[str] = []

    def encode_texts(self, texts):
        self.seen.extend(texts)
        return np.array([fusion.normalise(np.array(self.vectors[t], dtype=np.float32)) for t in texts])


def test_mean_direction_is_the_normalised_mean_of_normalised_vectors():
    got = fusion.mean_direction([np.array([3.0, 0, 0]), np.array([0, 0.5, 0]), None])
    assert np.allclose(got, [2 ** -0.5, 2 ** -0.5, 0])
    assert fusion.mean_direction([None, None]) is None
    assert np.allclose(fusion.mean_direction([np.array([0.0, 2.0])]), [0, 1])


def test_probabilities_are_a_softmax_at_clip_scale():
    classes = np.eye(2, dtype=np.float32)
    got = fusion.probabilities(classes, np.array([1.0, 0.0], dtype=np.float32))
    assert got.sum() == pytest.approx(1.0)
    assert got[0] == pytest.approx(1 / (1 + np.exp(-100.0)))
    equal = fusion.probabilities(classes, fusion.normalise(np.array([1.0, 1.0], dtype=np.float32)))
    assert np.allclose(equal, [0.5, 0.5])


def test_class_features_sum_label_templates_and_descriptions():
    x, y, z = [1, 0, 0], [0, 1, 0], [0, 0, 1]
    encoder = ControlledEncoder({
        "Alpha": x, "a photo of a Alpha.": y, "a photo of a first thing.": y, "looks like alpha": z, "long": z,
        "Beta": x, "a photo of a Beta.": x,
    })
    rows = fusion.class_features(encoder, VOCAB, {"Alpha": ["looks like alpha", "long"]})
    # Alpha: label x, mean template y, mean description z -> (x+y+z)/sqrt(3). Beta: label x, template x -> x.
    assert np.allclose(rows[0], np.array([1, 1, 1]) / 3 ** 0.5, atol=1e-6)
    assert np.allclose(rows[1], [1, 0, 0], atol=1e-6)
    assert "a photo of a first thing." in encoder.seen  # English names join the templates


def test_class_feature_store_computes_once_per_model_and_vocabulary(tmp_path):
    encoder = ControlledEncoder({"Alpha": [1, 0], "a photo of a Alpha.": [1, 0], "a photo of a first thing.": [0, 1],
                                 "Beta": [0, 1], "a photo of a Beta.": [0, 1]})
    store = fusion.ClassFeatureStore(tmp_path)
    first = store.get(encoder, "model-a", VOCAB, {})
    calls = len(encoder.seen)
    assert np.array_equal(store.get(encoder, "model-a", VOCAB, {}), first)
    assert len(encoder.seen) == calls  # memory
    restarted = fusion.ClassFeatureStore(tmp_path)
    assert np.array_equal(restarted.get(encoder, "model-a", VOCAB, {}), first)
    assert len(encoder.seen) == calls  # disk, after a restart
    restarted.get(encoder, "model-b", VOCAB, {})
    assert len(encoder.seen) > calls  # another model is another cache entry
    assert len(list(tmp_path.glob("*.npy"))) == 2


def test_real_tiny_model_encodes_in_batches(tiny_clip):
    from PIL import Image

    images = [Image.new("RGB", (40 + i, 30), (i * 20, 0, 0)) for i in range(5)]
    rows = tiny_clip.encode_images(images)
    assert rows.shape == (5, 32)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-5)
    tiny_clip.batch_size, old = 2, tiny_clip.batch_size
    try:
        assert np.allclose(tiny_clip.encode_images(images), rows, atol=1e-5)  # batching changes nothing
    finally:
        tiny_clip.batch_size = old
    features = fusion.class_features(tiny_clip, VOCAB, {"Alpha": ["A thing. " * 60]})
    assert features.shape == (2, 32)


def test_long_texts_are_split_into_sentences_not_cut(tiny_clip):
    text = " ".join(f"Sentence {i} says the weevil has {i} pale spots on the wing covers and a long snout."
                    for i in range(12))
    pieces = tiny_clip.split_for_context(text)
    assert len(pieces) > 1
    assert " ".join(pieces) == " ".join(text.split())  # nothing dropped
    assert all(len(tiny_clip.tokenizer.encode(p)) + 2 <= tiny_clip.context_length for p in pieces)
    # The long text's embedding is the mean direction of its pieces' (each short enough to encode alone), so
    # it differs from the first piece alone. The expected value is computed here with numpy, piece by piece.
    whole = tiny_clip.encode_texts([text])[0]
    rows = np.stack([tiny_clip.encode_texts([piece])[0] for piece in pieces])
    expected = rows.sum(axis=0) / np.linalg.norm(rows.sum(axis=0))
    assert np.allclose(whole, expected, atol=1e-5)
    assert not np.allclose(whole, rows[0], atol=1e-3)


def test_local_checkpoint_loads_like_a_users_weights(tiny_clip, tmp_path):
    import torch

    checkpoint = tmp_path / "tiny-weights.pt"
    torch.save({"state_dict": tiny_clip.model.state_dict()}, checkpoint)
    reloaded = load_clip(str(TINY_CLIP_CONFIG), str(checkpoint), "cpu")
    texts = ["rice weevil", "a photo of a stink bug."]
    assert np.allclose(reloaded.encode_texts(texts), tiny_clip.encode_texts(texts), atol=1e-5)
    fresh = load_clip(str(TINY_CLIP_CONFIG), None, "cpu")  # random again: different weights
    assert not np.allclose(fresh.encode_texts(texts), tiny_clip.encode_texts(texts), atol=1e-3)


def test_unloadable_models_raise_a_clear_error(tmp_path):
    with pytest.raises(ClipLoadError, match="No-Such-Model"):
        load_clip("No-Such-Model", None, "cpu")
    with pytest.raises(ClipLoadError, match=r"checkpoint .* not found"):
        load_clip(str(TINY_CLIP_CONFIG), str(tmp_path / "missing.pt"), "cpu")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ClipLoadError, match="cannot load open_clip model"):
        load_clip(str(TINY_CLIP_CONFIG), str(broken), "cpu")


def test_device_auto_picks_cpu_without_accelerators():
    import torch

    from prelabel.pipeline.clip import pick_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device("auto") in (expected, "mps")
    assert pick_device("cpu") == "cpu"
