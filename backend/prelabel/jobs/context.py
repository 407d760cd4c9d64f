"""What one worker process keeps between jobs: the shared parts, and the models loaded once."""

from __future__ import annotations

import functools
import logging

from prelabel.jobs.delivery import ResultStore
from prelabel.learning.rules import Learning
from prelabel.metrics import Metrics
from prelabel.parts import Parts
from prelabel.pipeline.factory import build_pipeline
from prelabel.pipeline.pipeline import Pipeline
from prelabel.vocabulary.normalize import Normalizer

log = logging.getLogger(__name__)


class WorkerContext:
    """Built once per worker process (prelabel.jobs.worker) and handed to every job as its first argument."""

    def __init__(self, parts: Parts):
        self.parts = parts
        self.settings = parts.settings
        self.results = ResultStore(parts.redis)
        self.metrics = Metrics(parts.redis)
        self._pipeline: Pipeline | None = None

    def pipeline(self) -> Pipeline:
        """The pipeline for the vocabulary in force now, rebuilt (without reloading models) when it changed."""
        vocabulary = self.parts.in_force.current().vocabulary
        if self._pipeline is None:
            self._pipeline = build_pipeline(self.settings, vocabulary)
        elif self._pipeline.vocabulary.version != vocabulary.version:
            log.info("vocabulary changed (%s -> %s): rebuilding the normaliser", self._pipeline.vocabulary.version,
                     vocabulary.version)
            self._pipeline = build_pipeline(self.settings, vocabulary, reuse=self._pipeline)
        return self._pipeline

    @functools.cached_property
    def learning(self) -> Learning:
        """The rules for learned synonyms, over the expert's vocabulary as written."""
        return Learning(self.parts.store, Normalizer(self.parts.in_force.base), self.settings.promote_after)

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
        self.parts.close()
