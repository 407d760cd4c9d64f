"""The learned store's rows as the rest of Prelabel reads and writes them (learning/store.py): what a prediction
job keeps per task, each attempt's cost, a reviewed pre-label, a project's calibration, a logged change.

The prediction evidence itself stays the JSON document ImagePrediction.evidence_json wrote (rows older versions
wrote included): `KeptPrediction.prediction()` reads it as the typed record, never failing on a field it does not
know. Rows read straight from SQL are named tuples, so a caller may still unpack them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from prelabel.pipeline.result import ImagePrediction


@dataclass(frozen=True)
class EvidenceRow:
    """What a prediction job keeps of one task's prediction: feedback and the PoC report read it later."""

    task_id: int
    project_id: int | None
    model_version: str
    vocabulary_version: str
    label: str | None
    evidence: Mapping[str, Any]  # ImagePrediction.evidence_json()
    failure_cause: str | None = None  # ImagePrediction.failure_cause: "stage:cause" of a failed attempt

    @classmethod
    def of(cls, prediction: ImagePrediction, project_id: int, version: str, vocabulary_version: str) -> EvidenceRow:
        """A prediction job's row for `prediction` (its ref is the task id)."""
        return cls(int(prediction.ref), project_id, version, vocabulary_version, prediction.label,
                   prediction.evidence_json(), prediction.failure_cause)


@dataclass(frozen=True)
class KeptPrediction:
    """The prediction evidence kept for a task under one model_version."""

    task_id: int
    model_version: str
    vocabulary_version: str
    label: str | None
    evidence: Mapping[str, Any]  # the JSON document, as written

    def prediction(self) -> ImagePrediction:
        return ImagePrediction.from_dict(self.evidence, ref=self.task_id)


class Attempt(NamedTuple):
    """One attempt at a task's prediction (every retry is one), with what it cost."""

    task_id: int
    model_version: str
    state: str  # pipeline/result.py: label, none, failed
    cause: str | None  # "stage:cause" of a failure
    usage: dict[str, int]  # MLLM calls, cache hits, tokens


class Review(NamedTuple):
    """A reviewed pre-label of a project: the Finding its score was computed from (as JSON) and the verdict."""

    finding: Mapping[str, Any]
    kept: bool  # the reviewer kept the label


class StoredCalibration(NamedTuple):
    """A project's own calibration model."""

    model: str  # its JSON (pipeline/calibration.py's Calibration.to_dict)
    reviewed: int  # how many reviews it was fitted on
    previous: str | None  # the version of the model it replaced (jobs queued under it are still served)


class Change(NamedTuple):
    """One change to the synonyms in force, as logged."""

    at: float  # Unix time
    what: str  # promoted, demoted, accepted, rejected, or a change logged elsewhere (Learning.log_change)
    string: str | None
    label: str | None
    source: str  # the tasks or command it came from


class Taught(NamedTuple):
    """A synonym now in force that a task's annotation taught."""

    task_id: int
    string: str
    label: str
