"""The pre-labelling pipeline: candidates (MLLM stage 1) -> normalise (+ TLAC stage 2) -> CLIP fusion -> rank.

Each stage can be off (no MLLM endpoint, no CLIP model) and each can fail for one image without stopping the
others: a failure is recorded with its cause in that image's result, and what the other stages found still
ranks the labels.
"""

from __future__ import annotations

import copy
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from prelabel.pipeline import fusion
from prelabel.pipeline.boxes import AUTO, CONVENTIONS
from prelabel.pipeline.calibration import Calibration, prior
from prelabel.pipeline.clip import ClipModel
from prelabel.pipeline.decision import (
    DESCRIPTION_WEIGHT,
    IMAGE_CHOICE,
    STAGE2_SOURCE,
    STAGE2_WEIGHT,
    Credits,
    conclude,
    is_none_answer,
    top,
)
from prelabel.pipeline.identity import ModelVersion, version_of
from prelabel.pipeline.images import DecodeLimits, ImageError, PreparedImage, crop, crop_picture, prepare_image
from prelabel.pipeline.mllm import MLLMClient, MLLMError, Usage
from prelabel.pipeline.regions import derive_label, name_regions
from prelabel.pipeline.result import (
    DEADLINE,
    ImageInput,
    ImagePrediction,
    JobDeadline,
    NamedMatch,
    Stage1Answer,
    Stage2Match,
)
from prelabel.pipeline.shortlist import image_shortlist, stage2_shortlist
from prelabel.pipeline.slots import Slots, Started
from prelabel.settings import Settings
from prelabel.text import MESSAGE, clean, quote
from prelabel.vocabulary.normalize import NONE as NO_MATCH
from prelabel.vocabulary.normalize import SEVERAL, Normalizer
from prelabel.vocabulary.vocab import Label, Vocabulary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineOptions:
    """What the pipeline reads of the settings. No endpoint, key or address: those stay with the clients the
    factory builds (the MLLM client, the CLIP model), so a pipeline holds no secret."""

    llm_concurrency: int
    fetch_concurrency: int
    image_max_side: int
    image_max_pixels: int
    image_decodes: int
    stage2: bool
    stage2_below: float
    shortlist_above: int
    shortlist_size: int
    clip_weight: float
    fusion_features: frozenset[str]
    clip_enabled: bool
    clip_identity: str  # names the cached class features: model and weights
    predicting: Mapping[str, object]  # the settings that enter model_version (Settings.predicting)
    box_convention: str = AUTO  # how the MLLM writes boxes in region projects (pipeline/boxes.py)

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineOptions:
        s = settings
        return cls(s.llm_concurrency, s.fetch_concurrency, s.image_max_side, s.image_max_pixels, s.image_decodes,
                   s.stage2, s.stage2_below, s.shortlist_above, s.shortlist_size, s.clip_weight,
                   s.fusion_feature_set, s.clip_enabled, f"{s.clip_model}:{s.clip_pretrained}", s.predicting(),
                   s.box_convention)


@dataclass
class _Work:
    """What the per-image thread hands to the CLIP batch: dropped once the image is done."""

    prediction: ImagePrediction
    image: PreparedImage | None = None
    answer: Stage1Answer | None = None
    credits: Credits = field(default_factory=Credits)
    image_row: NDArray[Any] | None = None  # CLIP's image embedding, when a shortlist needed it before stage 1
    by_image: list[str] = field(default_factory=list)  # CLIP's shortlist for the image
    fused: NDArray[Any] | None = None  # the fused CLIP distribution over labels
    started: float = 0.0
    regions: bool = False  # a region project: the label is derived from the named regions


@dataclass(frozen=True)
class _Loaded:
    data: bytes
    started: float  # time.perf_counter() when its load began: the image's time counts from there


class Pipeline:
    def __init__(self, vocabulary: Vocabulary, normalizer: Normalizer, options: PipelineOptions,
                 mllm: MLLMClient | None = None, clip: ClipModel | None = None,
                 class_texts: dict[str, list[str]] | None = None,
                 feature_store: fusion.ClassFeatureStore | None = None, calibration: Calibration | None = None):
        self.vocabulary = vocabulary
        self.normalizer = normalizer
        self.options = options
        self.mllm = mllm
        self.clip = clip
        self.class_texts = class_texts or {}
        self.features = options.fusion_features
        unknown = self.features - set(fusion.FEATURES)
        if unknown:
            raise ValueError(f"PRELABEL_FUSION_FEATURES: unknown feature(s) {sorted(unknown)}; "
                             f"expected any of {', '.join(fusion.FEATURES)}")
        if options.box_convention not in CONVENTIONS:
            raise ValueError(f"PRELABEL_BOX_CONVENTION: {quote(options.box_convention, 40)} is none of "
                             f"{', '.join(CONVENTIONS)}")
        self.feature_store = feature_store or fusion.ClassFeatureStore(None)
        self.calibration = calibration or prior()  # scores as probabilities: the shipped prior, or a project's
        self._labels = vocabulary.label_values
        self._label_lines = {entry.label: _label_line(entry) for entry in vocabulary}
        self._shortlisting = len(self._labels) > options.shortlist_above
        self._fetching = threading.BoundedSemaphore(max(1, options.fetch_concurrency))
        # Urgent work (a reviewer waiting, prelabel.jobs.worker's interactive lane) downloads in slots of its own:
        # a bulk job's slow downloads must not make it wait.
        self._fetching_urgent = threading.BoundedSemaphore(max(1, options.fetch_concurrency))
        self._clip_lock = threading.Lock()  # one CLIP call at a time: threads would only oversubscribe the cores
        self._class_matrix: list[NDArray[Any] | None] = []
        # One per pipeline: its threads share the slots.
        self.decode_limits = DecodeLimits(options.image_max_pixels, options.image_decodes)

    def scoring_with(self, calibration: Calibration) -> Pipeline:
        """This pipeline (its models, normaliser and limits shared) with another calibration model making the
        scores: a project's own (learning/calibrating.py)."""
        found = copy.copy(self)
        found.calibration = calibration
        return found

    @property
    def model_version(self) -> ModelVersion:
        return version_of(self.options.predicting, self.options.clip_enabled, self.vocabulary, self.class_texts,
                          self.calibration.version)

    def close(self) -> None:
        """Release the MLLM cache's connections (models are freed with the object)."""
        if self.mllm is not None and self.mllm.cache is not None:
            self.mllm.cache.close()

    def class_matrix(self) -> NDArray[Any] | None:
        """Computed once (or read from the feature store), by whichever thread needs it first."""
        if self.clip is None:
            return None
        with self._clip_lock:
            if not self._class_matrix:
                self._class_matrix.append(self.feature_store.get(self.clip, self.options.clip_identity,
                                                                 self.vocabulary, self.class_texts))
        return self._class_matrix[0]

    def predict(self, inputs: Iterable[ImageInput], progress: Callable[[ImagePrediction], None] | None = None,
                until: JobDeadline | None = None, urgent: bool = False, slots: Slots | None = None,
                started: Started | None = None, on_free: Callable[[], None] | None = None) -> list[ImagePrediction]:
        """Run every image; results in input order. MLLM calls run concurrently; CLIP encodes in batches as
        images come back; memory holds only the images in flight, for ten images or a hundred thousand.
        `until`: the job's deadline. An image not done by then fails with that reason and what it was waiting
        for, the others are returned at once; its thread ends on its own bounds, unwaited for (its download at
        the same deadline, when the loader was given it; an MLLM call within PRELABEL_LLM_TIMEOUT). `urgent`: a
        person waits; its downloads do not queue behind other calls' ones. `slots`: the worker's MLLM slots,
        kept across jobs (pipeline/slots.py; else a pool of this call's own); `started`: images of these inputs
        already started in them (`start`), by ref; `on_free`: called while every image of these inputs is
        under way and a slot may be free (the next job's images may start in it)."""
        inputs = list(inputs)
        results: list[ImagePrediction | None] = [None] * len(inputs)
        batch: list[tuple[int, _Work]] = []
        batch_size = self.clip.batch_size if self.clip else 1

        def finish(pending: list[tuple[int, _Work]]) -> None:
            # Built on the first batch, while the first MLLM calls run (or by the first shortlist).
            self._clip_stage(pending, self.class_matrix())
            for index, work in pending:
                self._rank(work)
                work.prediction.seconds = time.perf_counter() - work.started
                work.prediction.usage["seconds"] = round(work.prediction.seconds, 3)
                results[index] = work.prediction
                if progress:
                    progress(work.prediction)

        # Only so many images are loaded at once, however many are given: the threads' share plus two CLIP
        # batches. Topping up before each CLIP batch keeps every MLLM thread busy while CLIP runs.
        threads = max(1, self.options.llm_concurrency)
        in_flight = threads + 2 * batch_size
        running: dict[Future[Any], int] = {}
        doing: dict[int, tuple[str, float]] = {}  # image -> (the stage it is in, when it started), set by its thread
        ahead = Started() if started is None else started
        for index, item in enumerate(inputs):
            if item.ref is not None and item.ref in ahead.futures:
                running[ahead.futures[item.ref]] = index
        begun = set(running.values())
        waiting = iter([(index, item) for index, item in enumerate(inputs) if index not in begun])
        unsubmitted = len(inputs) - len(running)
        pool = slots or Slots(threads, self.options.fetch_concurrency)
        fetching = self._fetching_urgent if urgent else self._fetching

        def top_up() -> None:
            nonlocal unsubmitted
            for index, item in itertools.islice(waiting, max(0, in_flight - len(running) - len(batch))):
                mark = functools.partial(doing.__setitem__, index)
                running[pool.submit(self._guarded_first_stages, item, until, mark,
                                    load=functools.partial(self._load, item, fetching, mark))] = index
                unsubmitted -= 1

        try:
            top_up()
            while running:
                if on_free is not None and not unsubmitted and pool.free() > 0:
                    on_free()
                left = None if until is None else until.left()
                if left is not None and left <= 0:
                    break
                done, _ = wait(running, timeout=left, return_when=FIRST_COMPLETED)
                batch.extend((running.pop(future), future.result()) for future in done)
                top_up()
                if len(batch) >= batch_size:
                    finish(batch)
                    batch.clear()
                    top_up()  # the batch's room is free again: without this the loop could end early
        finally:
            # Past the deadline nobody waits for the images still in flight, and those not started never start.
            if slots is None:
                pool.close(wait=until is None)
            else:
                for future in running:
                    future.cancel()
        if until is not None:
            # A call cancelled just above (its image still loading) is done too, with no result: it is late.
            finished = [f for f in running if f.done() and not f.cancelled()]
            batch.extend((running.pop(future), future.result()) for future in finished)
            late = [*running.values(), *(index for index, _ in waiting)]
            batch.extend((index, _late(inputs[index], *(doing.get(index) or ahead.marks.get(inputs[index].ref)
                                                        or ("image", time.perf_counter())), until))
                         for index in late)
        finish(batch)
        return [result for result in results if result is not None]

    def start(self, inputs: Iterable[ImageInput], slots: Slots, until: JobDeadline | None = None,
              started: Started | None = None) -> Started:
        """Start these images' first stages (load, stage 1, normalise, stage 2) in the worker's slots now, for a
        job that has not begun: its `predict` takes them (`started`), CLIP and the ranking run there."""
        started = Started() if started is None else started
        for item in inputs:
            mark = functools.partial(started.marks.__setitem__, item.ref)
            started.futures[item.ref] = slots.submit(self._guarded_first_stages, item, until, mark,
                                                     load=functools.partial(self._load, item, self._fetching, mark))
        return started

    # ---- stages -----------------------------------------------------------------------------------------

    @staticmethod
    def _load(item: ImageInput, fetching: threading.Semaphore, mark: Callable[[tuple[str, float]], None]) -> _Loaded:
        """An image's bytes, in a loader thread (pipeline/slots.py) before it takes an MLLM slot; when it started."""
        started = time.perf_counter()
        mark(("image", started))
        with fetching:  # Label Studio serves images fastest at a bounded concurrency (docs/benchmarks.md)
            return _Loaded(item.load(), started)

    def _guarded_first_stages(self, item: ImageInput, until: JobDeadline | None,
                              mark: Callable[[tuple[str, float]], None], loaded: Callable[[], _Loaded]) -> _Work:
        try:
            return self._first_stages(item, until, mark, loaded)
        except Exception as exc:  # a bug must cost one image, not a bulk run of thousands
            log.exception("pipeline failed on %s", quote(item.source))
            work = _Work(ImagePrediction(_shown(item.source), item.ref), started=time.perf_counter())
            work.prediction.errors["pipeline"] = clean(f"internal: {type(exc).__name__}: {exc}", MESSAGE)
            return work

    def _first_stages(self, item: ImageInput, until: JobDeadline | None, mark: Callable[[tuple[str, float]], None],
                      loaded: Callable[[], _Loaded]) -> _Work:
        """Per image, in an MLLM slot: the image loaded before (`loaded`), stage 1, normalise, stage 2. `mark`
        says which stage it is in."""
        work = _Work(ImagePrediction(_shown(item.source), item.ref), started=time.perf_counter())
        errors = work.prediction.errors
        try:
            raw = loaded()
            work.started = raw.started
            work.image = prepare_image(raw.data, item.source, self.options.image_max_side, self.decode_limits)
        except ImageError as exc:
            errors["image"] = clean(f"unreadable: {exc}", MESSAGE)
            return work
        except Exception as exc:  # a fetch failure (HTTP, file) is this image's problem, not the run's
            errors["image"] = clean(f"unavailable: {type(exc).__name__}: {exc}", MESSAGE)
            return work
        if self.mllm is None:
            return work
        if until is not None and until.left() <= 0:  # nobody waits for this image any more: no MLLM call
            errors["stage1"] = f"{DEADLINE}: {until.passed} before the MLLM was asked"
            return work
        mark(("stage1", work.started))
        labels, shortlist = self._stage1_labels(work)
        work.regions = item.regions
        try:
            if item.regions:
                answer, usage = self.mllm.stage1_regions(work.image.content_hash, work.image.data_url, labels,
                                                         shortlist, self.options.box_convention)
            else:
                answer, usage = self.mllm.stage1(work.image.content_hash, work.image.data_url, labels, shortlist)
        except MLLMError as exc:
            errors["stage1"] = str(exc)
            _count(work.prediction, exc.usage)  # failed calls cost too
            return work
        work.answer = answer
        work.prediction.cached = usage.cached
        _count(work.prediction, usage)
        work.prediction.evidence.stage1 = answer
        if item.regions:
            self._name_regions(work, answer, len(labels) or len(self._labels))
        self._normalise_answer(work, answer, self.mllm)
        return work

    def _name_regions(self, work: _Work, answer: Stage1Answer, among: int) -> None:
        """A region project: each finding's box placed on the image, its name normalised and its label's
        probability calibrated (pipeline/regions.py); the image-level label is derived from them in _rank."""
        assert work.image is not None
        prediction, image, mllm = work.prediction, work.image, self.mllm

        def second_look(box: tuple[float, float, float, float], name: str, candidates: list[str]) -> str | None:
            """Stage 2 on the region's crop: the MLLM chooses among the labels its name fits, or none."""
            assert mllm is not None
            named, data_url = crop(image, box)
            try:
                reply, usage = mllm.stage2_image(named, data_url, name, [self._label_lines[label]
                                                                           for label in candidates],
                                                 self.vocabulary.version)
            except MLLMError as exc:
                prediction.errors["stage2"] = str(exc)  # this region keeps no label; the others go on
                _count(prediction, exc.usage)
                return None
            _count(prediction, usage)
            return self.normalizer.normalize(reply).label

        prediction.regions, prediction.regions_dropped = name_regions(
            list(answer.findings), dict(answer.skipped), self.options.box_convention, image.size,
            self.normalizer, self.calibration, among, second_look if self.options.stage2 else None,
            self._crop_look(image) if self.clip is not None else None, self._labels)
        prediction.image_size = image.original_size

    def _crop_look(self, image: PreparedImage) -> Callable[[tuple[float, float, float, float], str],
                                                           NDArray[Any] | None]:
        """CLIP on a region's crop of the picture sent, fused as _clip_stage fuses a whole image: the crop is the
        image feature, the MLLM's name for the region its first guess (no description: it describes the photo)."""
        clip, class_matrix = self.clip, self.class_matrix()
        assert clip is not None and class_matrix is not None

        def look(box: tuple[float, float, float, float], name: str) -> NDArray[Any] | None:
            parts = []
            with self._clip_lock:
                if "image" in self.features:
                    parts.append(clip.encode_images([crop_picture(image, box)])[0])
                if "guess" in self.features:
                    parts.append(clip.encode_texts([name])[0])
            query = fusion.mean_direction(parts)
            return fusion.probabilities(class_matrix, query) if query is not None else None

        return look

    def _normalise_answer(self, work: _Work, answer: Stage1Answer, mllm: MLLMClient) -> None:
        named = [(text, "candidate", 1.0) for text in dict.fromkeys(answer.candidates) if text]
        if answer.classification:
            named.insert(0, (answer.classification, "classification", 1.0))
        if answer.description:
            named.append((answer.description, "description", DESCRIPTION_WEIGHT))
        found = []
        proposed: list[str] = []  # the candidate labels of stage 1's proposals, best first
        for text, source, weight in named:
            result = self.normalizer.normalize(text)
            found.append(NamedMatch(text, source, result.label, round(result.score, 4), result.method, tuple(
                (alternative.label, round(alternative.score, 4)) for alternative in result.alternatives),
                result.labels))
            work.credits.add(result, weight, source)
            if result.proposal and result.method != SEVERAL:  # several labels affirmed are no question
                proposed.extend(alternative.label for alternative in result.alternatives)
        work.prediction.evidence.candidates = found
        # Stage 2 settles an unsure stage 1; an explicit none with nothing named is not unsure: it is the answer.
        explicit_none = is_none_answer(answer.classification) and not work.credits.by_label
        if (self.options.stage2 and not work.regions and work.credits.best() < self.options.stage2_below
                and not explicit_none):  # a region project: the regions decide, not the image-level words
            shortlist = list(dict.fromkeys(proposed))[:max(2, self.options.shortlist_size)]
            if shortlist and work.image is not None:
                # The words fit several labels, which differ in what is visible: the image decides.
                self._stage2_image(work, answer, mllm, shortlist)
            else:
                self._stage2(work, answer, mllm)

    def _stage2_image(self, work: _Work, answer: Stage1Answer, mllm: MLLMClient, shortlist: list[str]) -> None:
        """A multiple choice over exactly the proposals' candidates, with the image; the MLLM may answer none.
        A reply outside the list is no choice."""
        assert work.image is not None
        try:
            reply, usage = mllm.stage2_image(work.image.content_hash, work.image.data_url, _stage1_text(answer),
                                             [self._label_lines[label] for label in shortlist],
                                             self.vocabulary.version)
        except MLLMError as exc:
            work.prediction.errors["stage2"] = str(exc)
            _count(work.prediction, exc.usage)
            return
        _count(work.prediction, usage)
        result = self.normalizer.normalize(reply)
        chosen = result.label if result.label in shortlist else None
        work.prediction.evidence.stage2 = Stage2Match(
            reply, chosen, IMAGE_CHOICE if chosen else result.method, round(result.score, 4) if chosen else 0.0,
            with_image=True, candidates=len(shortlist))
        if chosen:
            work.credits.choose(chosen, STAGE2_WEIGHT * result.score, reply, len(shortlist))
        if chosen or result.method == NO_MATCH:
            vetoed = work.credits.veto(keep=chosen)
            if vetoed:
                work.prediction.evidence.vetoed = vetoed

    def _stage2(self, work: _Work, answer: Stage1Answer, mllm: MLLMClient) -> None:
        text = _stage1_text(answer)
        lines = self._stage2_lines(work)
        if not lines:  # a large vocabulary, no CLIP, and stage 1 named nothing near any label: nothing to pick from
            return
        try:
            reply, usage = mllm.stage2(text, lines, self.vocabulary.version)
        except MLLMError as exc:
            work.prediction.errors["stage2"] = str(exc)
            _count(work.prediction, exc.usage)
            return
        _count(work.prediction, usage)
        result = self.normalizer.normalize(reply)
        work.prediction.evidence.stage2 = Stage2Match(reply, result.label, result.method, round(result.score, 4))
        # Stage 2 was asked because stage 1 was unsure: a weak stage-1 match it contradicts (with a label of its
        # own, or an explicit none) no longer counts. An ambiguous stage-2 answer contradicts nothing.
        if result.label or result.method == NO_MATCH:
            vetoed = work.credits.veto(keep=result.label)
            if vetoed:
                work.prediction.evidence.vetoed = vetoed
        work.credits.add(result, STAGE2_WEIGHT, STAGE2_SOURCE)

    def _clip_stage(self, pending: list[tuple[int, _Work]], class_matrix: NDArray[Any] | None) -> None:
        pictured = [(work, work.image) for _, work in pending if work.image is not None]
        clip = self.clip
        if clip is None or class_matrix is None or not pictured:
            return
        usable = [work for work, _ in pictured]
        fresh = [image.image for work, image in pictured if work.image_row is None]  # not encoded for a shortlist
        with self._clip_lock:
            encoded_images = iter(clip.encode_images(fresh) if fresh else [])
        images = [work.image_row if work.image_row is not None else next(encoded_images) for work in usable]
        texts, slots = [], []
        for number, work in enumerate(usable):
            if work.answer is None:
                continue
            for feature, text in (("description", work.answer.description), ("guess", work.answer.classification)):
                if text and feature in self.features:
                    texts.append(text)
                    slots.append((number, feature))
        with self._clip_lock:
            encoded = clip.encode_texts(texts) if texts else np.zeros((0, 0), np.float32)
        by_image: dict[int, dict[str, NDArray[Any]]] = {}
        for (number, feature), row in zip(slots, encoded, strict=True):
            by_image.setdefault(number, {})[feature] = row
        for number, work in enumerate(usable):
            parts = by_image.get(number, {})
            if "image" in self.features:
                parts["image"] = images[number]
            image_only = fusion.probabilities(class_matrix, images[number])
            query = fusion.mean_direction(list(parts.values()))
            fused = fusion.probabilities(class_matrix, query) if query is not None else image_only
            work.prediction.stage_scores["clip_image"] = self._top(image_only)
            work.prediction.stage_scores["fused"] = self._top(fused)
            work.prediction.evidence.fusion_features = sorted(parts)
            work.fused = fused
        for work in usable:
            work.image = None  # the picture is no longer needed: keep memory to the images in flight

    def _stage1_labels(self, work: _Work) -> tuple[list[str], bool]:
        """All labels, or (large vocabularies) CLIP's shortlist for this image, or none without CLIP."""
        if not self._shortlisting:
            return self._labels, False
        class_matrix = self.class_matrix()
        if class_matrix is None or work.image is None or self.clip is None:
            return [], False
        with self._clip_lock:
            work.image_row = self.clip.encode_images([work.image.image])[0]
        work.by_image = image_shortlist(self._labels, class_matrix, work.image_row, self.options.shortlist_size)
        work.prediction.evidence.shortlist = work.by_image
        return work.by_image, True

    def _stage2_lines(self, work: _Work) -> list[str]:
        if not self._shortlisting:
            return list(self._label_lines.values())
        labels = stage2_shortlist(work.credits, work.prediction.evidence.candidates, work.by_image,
                                  self.options.shortlist_size)
        return [self._label_lines[label] for label in labels]

    def _rank(self, work: _Work) -> None:
        conclude(work.prediction, self._labels, work.credits, work.fused, self.options.clip_weight,
                 mllm_configured=self.mllm is not None, model=self.calibration)
        if work.regions and work.prediction.regions is not None:
            derive_label(work.prediction)

    def _top(self, scores: NDArray[Any]) -> dict[str, float]:
        return top(self._labels, scores)


def _count(prediction: ImagePrediction, usage: Usage) -> None:
    """What this image's questions cost, kept with its evidence for the PoC report."""
    spent = prediction.usage
    for name, value in (("mllm_calls", usage.calls), ("cache_hits", int(usage.cached)),
                        ("prompt_tokens", usage.prompt_tokens), ("completion_tokens", usage.completion_tokens),
                        ("saved_prompt_tokens", usage.saved_prompt_tokens),
                        ("saved_completion_tokens", usage.saved_completion_tokens)):
        if value or name in ("mllm_calls", "cache_hits", "prompt_tokens", "completion_tokens"):
            spent[name] = spent.get(name, 0) + value


def _late(item: ImageInput, stage: str, started: float, until: JobDeadline) -> _Work:
    """An image the deadline caught: failed with what it was waiting for (a fresh result: its thread may still
    write to its own)."""
    work = _Work(ImagePrediction(_shown(item.source), item.ref), started=started)
    if stage == "image":
        work.prediction.errors["image"] = f"unavailable: {until.passed} before the image was read"
    else:
        work.prediction.errors["stage1"] = f"{DEADLINE}: {until.passed} while the MLLM was asked"
    return work


def _stage1_text(answer: Stage1Answer) -> str:
    """Stage 1's words, as stage 2 reads them."""
    return "; ".join(part for part in (answer.classification, ", ".join(answer.candidates), answer.description)
                     if part)


def _shown(source: str) -> str:
    """What a result calls its image: a task value may be a 10 MB data URL, which no result or log line repeats."""
    return source if len(source) <= 1000 and source.isprintable() else quote(source, 1000)


def _label_line(entry: Label) -> str:
    others = [name.text for name in entry.names() if name.kind != "label" and name.text != entry.label]
    return f"{entry.label} ({'; '.join(others)})" if others else entry.label
