"""What one worker process keeps between jobs: the shared parts, and the models loaded once; and how a job
reaches it.

The worker (prelabel.jobs.worker) sets the context it serves with while it runs a job, in a ContextVar, as rq
keeps its current job (`rq.get_current_job`); a job body asks `worker_context()`. Jobs are queued with plain
arguments only, so any worker sharing the Redis can run them.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from prelabel.delivery.writer import BatchWriter
from prelabel.jobs.headstart import HeadStart
from prelabel.jobs.readahead import ReadAheads
from prelabel.learning.rules import Learning
from prelabel.parts import Parts
from prelabel.pipeline.factory import build_pipeline
from prelabel.pipeline.identity import ModelVersion
from prelabel.pipeline.pipeline import Pipeline
from prelabel.pipeline.slots import Slots
from prelabel.studio.labelconfig import Control, read_label_config
from prelabel.vocabulary.normalize import Normalizer
from prelabel.vocabulary.vocab import Vocabulary

log = logging.getLogger(__name__)
CONFIG_TTL = 30.0


class WorkerContext:
    """Built once per worker process (prelabel.jobs.worker) and set for every job it runs (`worker_context()`)."""

    def __init__(self, parts: Parts):
        self.parts = parts
        self.settings = parts.settings
        self.results = parts.results
        self.metrics = parts.metrics
        self._pipeline: Pipeline | None = None
        self._projects: dict[int, Pipeline] = {}  # projects scored by their own calibration
        self._building = threading.Lock()
        self._learning: Learning | None = None
        self._controls: dict[int, tuple[float, str, Control, str | None, str]] = {}
        self._counting = threading.Lock()
        self._counted: tuple[int, ...] | None = None  # the MLLM's counts when a job last counted them

    def pipeline(self, project_id: int | None = None) -> Pipeline:
        """The pipeline for the vocabulary in force now (the one the service versions predictions with), rebuilt
        without reloading models when it or its class descriptions changed; for a project with its own calibration
        (learning/calibrating.py), the same pipeline scoring with it."""
        own = self.parts.in_force.project_calibration(project_id)
        with self._building:  # the main worker and its interactive lane (prelabel.jobs.worker) both ask
            base = self._pipeline_now()
            if own is None or project_id is None:
                return base
            found = self._projects.get(project_id)
            if found is None or found.calibration != own[0] or found.normalizer is not base.normalizer:
                found = self._projects[project_id] = base.scoring_with(own[0])
            return found

    def versions_alike(self, project_id: int | None, regions: bool = False) -> list[ModelVersion]:
        """model_versions a job for this project may have been queued under and still be served at the current
        one: the deployment's scores, and the project's previous own model (a refit since the job was queued);
        `regions`: the project's config has regions (ModelVersion.for_config)."""
        base = self.pipeline()
        own = self.parts.in_force.project_calibration(project_id)
        return [base.model_version.for_config(regions, base.options.box_convention),
                *([self.parts.in_force.model_version_for(project_id, calibration=own[1], regions=regions)]
                  if own is not None and own[1] else [])]

    def _pipeline_now(self) -> Pipeline:
        current = self.parts.in_force.current()
        if self._pipeline is None:
            self._pipeline = build_pipeline(self.settings, current.vocabulary, class_texts=current.class_texts)
        elif self._pipeline.model_version != current.model_version:
            log.info("vocabulary changed (%s -> %s): rebuilding the normaliser", self._pipeline.model_version,
                     current.model_version)
            self._pipeline = build_pipeline(self.settings, current.vocabulary, reuse=self._pipeline,
                                            class_texts=current.class_texts)
        return self._pipeline

    @functools.cached_property
    def writer(self) -> BatchWriter:
        """Every job's outgoing predictions, written in bulk across jobs (prelabel.delivery.writer)."""
        return BatchWriter(self.parts.studio, self.results, self.parts.ledger, self.settings.keep_superseded,
                           after_write=self.ensure_model_version, after_refusal=self.forget_config,
                           column_queue=self.parts.column_queue)

    @functools.cached_property
    def read_ahead(self) -> ReadAheads:
        """The next job's tasks and first images, read while the current job runs (prelabel.jobs.readahead)."""
        return ReadAheads(self.parts.studio, self.parts.redis, self.parts.workers, self.settings.llm_concurrency)

    def mllm_counted(self, before: tuple[int, ...], now: tuple[int, ...]) -> tuple[int, ...]:
        """The MLLM's calls, cache hits and tokens since a job last counted them (`before`: this job's start,
        for the first): a job's window ends where the next one's begins, so calls made between two jobs (the
        next job's images started early, prelabel.jobs.headstart) or by the interactive lane meanwhile count
        once."""
        with self._counting:
            last = self._counted if self._counted is not None else before
            self._counted = now
        return tuple(new - old for new, old in zip(now, last, strict=True))

    @functools.cached_property
    def slots(self) -> Slots:
        """The MLLM slots of the main worker's bulk jobs, kept across them (prelabel.pipeline.slots)."""
        return Slots(self.settings.llm_concurrency)

    @functools.cached_property
    def head_start(self) -> HeadStart:
        """The next bulk job's first images, started in the slots the running one leaves free
        (prelabel.jobs.headstart)."""
        return HeadStart(self.slots, self.read_ahead, self.results, self.settings.job_deadline,
                         lambda count: self.metrics.add("head_start_dropped_total", count))

    @property
    def learning(self) -> Learning:
        """The rules for learned synonyms, over the expert's vocabulary as written now (read again when its
        files change: VocabularyInForce)."""
        self.parts.in_force.current()
        base = self.parts.in_force.base
        if self._learning is None or self._learning.normalizer.vocabulary is not base:
            self._learning = Learning(self.parts.store, Normalizer(base), self.settings.promote_after,
                                     self.settings.auto_promote)
        return self._learning

    def control_of(self, project_id: int, vocabulary: Vocabulary) -> Control:
        """Where a project's labels go, from its labeling config as Label Studio holds it (read at most every
        CONFIG_TTL seconds per project: one project read per job at most)."""
        cached = self._controls.get(project_id)
        if cached is None or time.monotonic() - cached[0] > CONFIG_TTL or cached[1] != vocabulary.version:
            project = self.parts.studio.project(project_id)
            config = project.label_config or ""
            control = read_label_config(config, vocabulary, self.settings.none_choice).control
            cached = (time.monotonic(), vocabulary.version, control, project.model_version, config)
            self._controls[project_id] = cached
        return cached[2]

    def forget_config(self, project_id: int) -> None:
        """Read the project's labeling config again at the next job (Label Studio refused a write made for the
        one read last: it has changed)."""
        self._controls.pop(project_id, None)

    def config_of(self, project_id: int) -> str:
        """The project's labeling config as control_of last read it (call control_of first)."""
        return self._controls[project_id][4]

    def ensure_model_version(self, project_id: int, version: str) -> None:
        """Keep project.model_version ours, checking Label Studio only when the last read said otherwise."""
        cached = self._controls.get(project_id)
        if cached is not None and cached[3] == version:
            return
        self.parts.studio.ensure_model_version(project_id, version)
        if cached is not None:
            self._controls[project_id] = (*cached[:3], version, cached[4])

    def idle(self) -> None:
        """No job waits: what the writer holds has nothing left to overlap with, so it goes now; images
        started for a job that is no longer queued will not be taken."""
        if "head_start" in self.__dict__:
            self.head_start.drop()
        if "writer" in self.__dict__:
            self.writer.flush()

    def close(self) -> None:
        if "read_ahead" in self.__dict__:
            self.read_ahead.join(timeout=10)
        if "head_start" in self.__dict__:
            self.head_start.drop()
        if "slots" in self.__dict__:
            self.slots.close(wait=False)  # a call still running ends on its own bounds
        if "writer" in self.__dict__:
            self.writer.close()  # what the last jobs handed over, written before the worker leaves
        if self._pipeline is not None:
            self._pipeline.close()
        self.parts.close()


_serving: ContextVar[WorkerContext | None] = ContextVar("prelabel_worker_context", default=None)


@contextmanager
def serving(context: WorkerContext) -> Iterator[WorkerContext]:
    """While the worker runs a job: `worker_context()` answers `context`."""
    token = _serving.set(context)
    try:
        yield context
    finally:
        _serving.reset(token)


def worker_context() -> WorkerContext:
    """The context of the worker running the current job."""
    context = _serving.get()
    if context is None:
        raise RuntimeError("this job needs Prelabel's worker: run it with `prelabel worker`")
    return context
