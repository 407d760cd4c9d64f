"""Wires settings into working parts: the one place that decides what to load (open_clip's factory idea).

The CLI, the web service and the workers all build their pipeline here, so they predict alike.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from redis import Redis

from prelabel import descriptions as class_descriptions
from prelabel.cache import ResponseCache
from prelabel.clip import ClipModel, load_clip
from prelabel.encoders import load_text_encoder
from prelabel.fusion import ClassFeatureStore
from prelabel.metrics import Metrics
from prelabel.mllm import MLLMClient
from prelabel.normalize import Normalizer
from prelabel.pipeline import Pipeline, model_version
from prelabel.results import ResultStore
from prelabel.settings import Settings
from prelabel.store import LearnedStore
from prelabel.vocab import Vocabulary, load_vocabulary, with_learned

log = logging.getLogger(__name__)


def response_cache(settings: Settings) -> ResponseCache:
    return ResponseCache(Path(settings.data_dir) / "mllm-cache.sqlite")


def mllm_client(settings: Settings) -> MLLMClient | None:
    return MLLMClient.from_settings(settings, response_cache(settings)) if settings.mllm_enabled else None


def clip_model(settings: Settings) -> ClipModel | None:
    if not settings.clip_enabled:
        return None
    return load_clip(settings.clip_model, settings.clip_pretrained or None, settings.device,
                     threads=settings.torch_threads)


def learned_store(settings: Settings) -> LearnedStore:
    return LearnedStore(settings.learned_url)


def class_texts_for(vocabulary: Vocabulary) -> dict[str, list[str]]:
    return class_descriptions.class_texts(
        vocabulary, class_descriptions.load_descriptions(class_descriptions.descriptions_path(vocabulary.source)))


class VocabularyInForce:
    """The expert's vocabulary plus the synonyms learned from reviewers that are in force now, and the
    model_version they make. The service, the workers and `prelabel run` all ask this one object, so they agree;
    it reads the store at every call (a promotion anywhere shows at once) and rebuilds only on a change."""

    def __init__(self, settings: Settings, store: LearnedStore | None = None):
        self.settings = settings
        self.base = load_vocabulary(settings.vocab)
        self.class_texts = class_texts_for(self.base)
        self.store = store or learned_store(settings)
        self._current: tuple[tuple, Vocabulary, str] | None = None

    def current(self) -> tuple[Vocabulary, str]:
        try:
            synonyms = tuple(self.store.synonyms_in_force())
        except Exception:  # the store away (PostgreSQL restarting): keep answering with what was in force
            if self._current is None:
                raise
            log.warning("learned store unreachable; using the vocabulary last in force", exc_info=True)
            synonyms = self._current[0]
        if self._current is None or self._current[0] != synonyms:
            vocabulary = with_learned(self.base, list(synonyms))
            self._current = (synonyms, vocabulary, model_version(self.settings, vocabulary, self.class_texts))
        return self._current[1], self._current[2]


def build_pipeline(settings: Settings, vocabulary: Vocabulary | None = None, clip: ClipModel | None = None,
                   reuse: Pipeline | None = None) -> Pipeline:
    """Everything a prediction needs. Without `vocabulary`: the expert's file plus the synonyms learned from
    reviewers. `reuse` takes the loaded models of an older pipeline (a vocabulary change loads no model).
    Raises VocabError, SpecError, ClipLoadError or DescriptionsError with a message fit for a user when a
    setting names something that cannot be loaded."""
    if vocabulary is None:
        vocabulary = with_learned(load_vocabulary(settings.vocab), learned_store(settings).synonyms_in_force())
    if reuse is not None:
        encoder, mllm, clip = reuse.normalizer.text_encoder, reuse.mllm, reuse.clip
    else:
        encoder = load_text_encoder(settings.text_encoder, settings.device) if settings.text_encoder else None
        mllm, clip = mllm_client(settings), clip if clip is not None else clip_model(settings)
    return Pipeline(
        vocabulary, Normalizer(vocabulary, text_encoder=encoder), settings, mllm=mllm, clip=clip,
        class_texts=class_texts_for(vocabulary),
        feature_store=reuse.feature_store if reuse else ClassFeatureStore(Path(settings.data_dir) / "class-features"),
    )


@dataclass
class Shared:
    """What the web service and the workers both hold: settings, Redis, and the vocabulary in force."""

    settings: Settings
    redis: Redis

    @functools.cached_property
    def in_force(self) -> VocabularyInForce:
        return VocabularyInForce(self.settings)

    @property
    def vocabulary(self) -> Vocabulary:
        """The expert's file plus the synonyms in force now (the store is read at every call)."""
        return self.in_force.current()[0]

    @property
    def model_version(self) -> str:
        """Computed without loading any model."""
        return self.in_force.current()[1]

    @property
    def results(self) -> ResultStore:
        return ResultStore(self.redis)

    @property
    def metrics(self) -> Metrics:
        return Metrics(self.redis)
