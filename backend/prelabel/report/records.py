"""What the report knows about one task, whichever source it came from (Label Studio, an export file).

A label of None means "none": Prelabel said none of the vocabulary's labels fits, or a reviewer did. Every
other value is a label as Label Studio stores it (the <Choice> value).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from prelabel.pipeline.result import Finding, NamedMatch, Stage2Match
from prelabel.studio.accepted import AutoAccepted
from prelabel.studio.boxes import Box

# Label Studio's JSON objects as an export holds them (a task, a prediction, an annotation, a result item): read
# with .get and checked field by field (report/parse.py), never trusted whole. Any: JSON from outside, unchecked.
Exported = Mapping[str, Any]
T = TypeVar("T")


class Progress(Protocol):
    """tqdm, or nothing: the items as they are worked through."""

    def __call__(self, items: Iterable[T], /) -> Iterable[T]: ...


def quietly(items: Iterable[T]) -> Iterable[T]:
    """No progress shown."""
    return items

NONE_NAME = "(none)"  # how the none answer is written in tables, metrics.json keys and tasks.csv
FAILED = "(failed)"  # the sample's stratum of tasks Prelabel could not pre-label (no answer: neither label nor none)


def name(label: str | None) -> str:
    return NONE_NAME if label is None else label


class ReportInputError(ValueError):
    """Input the report cannot use (no annotations, a wrong file format, an unknown model_version): the
    message says what to do; the command exits with code 2."""


@dataclass(frozen=True)
class Evidence:
    """What Prelabel kept about one prediction: the learned store's row or `meta.prelabel` of the task."""

    label: str | None
    score: float | None = None
    ranking: tuple[str, ...] = ()  # the final ranking, best first (top 5)
    stage_scores: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    candidates: tuple[NamedMatch, ...] = ()  # the MLLM's strings, each as it normalised
    stage2: Stage2Match | None = None
    errors: Mapping[str, str] = field(default_factory=dict)
    usage: Mapping[str, float] = field(default_factory=dict)  # mllm_calls, cache_hits, tokens, seconds
    origin: str = "meta"  # "store" or "meta"
    failed: bool = False  # no answer: the image was unusable or a stage it needs failed
    cause: str | None = None  # of a failure: "stage1:timeout", "image:unavailable"...
    finding: Finding | None = None  # how the label was found: what its score was computed from
    scored_by: str = ""  # "prior" or "project": which calibration model made the score (pipeline/calibration.py)


@dataclass(frozen=True)
class Prediction:
    """One model_version's pre-label of a task."""

    model_version: str
    label: str | None
    score: float | None = None
    evidence: Evidence | None = None
    shown: bool = True  # a Label Studio prediction existed, so the reviewer saw it; False: only evidence
    failed: bool = False  # Prelabel gave no answer (label None here means no answer, not none)
    cause: str | None = None
    boxes: tuple[Box, ...] = ()  # its rectangle regions (a region project)

    @property
    def stratum(self) -> str | None:
        """What `prelabel sample` stratifies by: the label, none, or the failed tasks apart."""
        return FAILED if self.failed else self.label


@dataclass(frozen=True)
class Attempt:
    """One try at pre-labelling a task (the learned store keeps every one; a retry replaces only the evidence)."""

    failed: bool
    cause: str | None = None
    usage: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Annotation:
    """A reviewer's answer that counts (not cancelled). label None: the reviewer said none."""

    label: str | None
    lead_time: float | None = None
    annotation_id: int | None = None
    updated: str = ""  # ISO time, for "latest"
    seen: str = ""  # the model_version of the pre-label the reviewer worked on ("": not known)
    boxes: tuple[Box, ...] = ()  # the rectangle regions it holds (a region project)


@dataclass(frozen=True)
class SampleMark:
    """`prelabel sample` wrote this into the task's meta: which sample, which stratum, and the whole
    design (population and sample size per stratum), so any one annotated task carries what weighting needs."""

    sample_id: str
    stratum: str | None
    strata: Mapping[str | None, tuple[int, int]]  # stratum -> (population, sampled)
    model_version: str = ""
    seed: int | None = None


@dataclass
class TaskRecord:
    task_id: int
    source: str = ""  # the task's image (data value), for people reading tasks.csv
    annotations: tuple[Annotation, ...] = ()  # counted ones, oldest first
    cancelled: int = 0
    predictions: dict[str, Prediction] = field(default_factory=dict)  # by model_version
    sample: SampleMark | None = None
    auto_accepted: AutoAccepted | None = None  # `prelabel accept` annotated it: not a review, never counted as one
    classified: bool = False  # an annotation or prediction holds an image-level choice (False: regions only)

    @property
    def annotated(self) -> bool:
        return bool(self.annotations)


@dataclass(frozen=True)
class Row:
    """One reviewed task seen through one model_version: what every metric works on."""

    task_id: int
    truth: str | None
    predicted: str | None
    weight: float = 1.0  # tasks of the project this one stands for (1 without a sample)
    stratum: str | None = None
    score: float | None = None
    ranking: tuple[str, ...] = ()
    stages: Mapping[str, str | None] | None = None  # top-1 per stage; None: no stage scores kept
    method: str | None = None  # how the MLLM's answer normalised (None: no MLLM answer kept)
    candidates: tuple[NamedMatch, ...] = ()
    lead_time: float | None = None
    usage: Mapping[str, float] = field(default_factory=dict)
    failed: bool = False  # Prelabel gave no answer: the reviewer labelled the task by hand
    cause: str | None = None
    scored_by: str = ""  # "prior": the score is the normaliser's precision, not measured on this project

    @property
    def correct(self) -> bool:
        return not self.failed and self.predicted == self.truth
