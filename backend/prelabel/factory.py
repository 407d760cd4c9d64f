"""Wires settings into working parts: the one place that decides what to load (open_clip's factory idea).

The CLI, the web service and the workers all build their pipeline here, so they predict alike.
"""

from __future__ import annotations

from pathlib import Path

from prelabel import descriptions as class_descriptions
from prelabel.cache import ResponseCache
from prelabel.clip import ClipModel, load_clip
from prelabel.encoders import load_text_encoder
from prelabel.fusion import ClassFeatureStore
from prelabel.mllm import MLLMClient
from prelabel.normalize import Normalizer
from prelabel.pipeline import Pipeline
from prelabel.settings import Settings
from prelabel.vocab import Vocabulary, load_vocabulary


def response_cache(settings: Settings) -> ResponseCache:
    return ResponseCache(Path(settings.data_dir) / "mllm-cache.sqlite")


def mllm_client(settings: Settings) -> MLLMClient | None:
    return MLLMClient.from_settings(settings, response_cache(settings)) if settings.mllm_enabled else None


def clip_model(settings: Settings) -> ClipModel | None:
    if not settings.clip_enabled:
        return None
    return load_clip(settings.clip_model, settings.clip_pretrained or None, settings.device)


def build_pipeline(settings: Settings, vocabulary: Vocabulary | None = None,
                   extra_names: list[tuple[str, str]] | None = None, clip: ClipModel | None = None) -> Pipeline:
    """Everything a prediction needs. Raises VocabError, SpecError, ClipLoadError or DescriptionsError with a
    message fit for a user when a setting names something that cannot be loaded."""
    vocabulary = vocabulary or load_vocabulary(settings.vocab)
    encoder = load_text_encoder(settings.text_encoder, settings.device) if settings.text_encoder else None
    normalizer = Normalizer(vocabulary, text_encoder=encoder, extra_names=extra_names or ())
    texts = class_descriptions.class_texts(
        vocabulary, class_descriptions.load_descriptions(class_descriptions.descriptions_path(vocabulary.source)))
    return Pipeline(
        vocabulary, normalizer, settings,
        mllm=mllm_client(settings),
        clip=clip if clip is not None else clip_model(settings),
        class_texts=texts,
        feature_store=ClassFeatureStore(Path(settings.data_dir) / "class-features"),
    )
