"""What a feedback job did, as typed records: each annotation's event, what its boxes went through, each project's
calibration refit, and the job's whole result.

rq keeps a job's result as plain JSON-like data (FeedbackOutcome.to_json), so a result outlives a move of these
classes and any worker's result reads back (from_json). Fields that are None are left out of the JSON: a flood
of forged webhooks makes many results, each should stay small.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _strings(value: object) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list | tuple) else ()


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """A record's asdict as JSON-like data: None left out, tuples as lists."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()
            if value is not None}


@dataclass(frozen=True)
class RegionSummary:
    """What the reviewer did to a region annotation's boxes (learning/regions.py)."""

    kept: int = 0
    moved: int = 0
    relabelled: int = 0
    deleted: int = 0
    drawn: int = 0

    def to_json(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @classmethod
    def from_json(cls, data: object) -> RegionSummary | None:
        if not isinstance(data, Mapping):
            return None
        return cls(*(_int(data.get(name)) or 0 for name in ("kept", "moved", "relabelled", "deleted", "drawn")))


@dataclass(frozen=True)
class FeedbackEvent:
    """What one annotation did to what Prelabel learned. `status`: confirmed, corrected, nothing fits, new class,
    no classification, cancelled, regions (a region project's annotation), auto-accepted, not found, deleted,
    still exists, no project, unusable config. `changes`: the learned synonyms promoted or demoted by it."""

    annotation: int
    status: str
    changes: tuple[str, ...] = ()
    task: int | None = None
    project: int | None = None
    label: str | None = None  # the reviewer's label
    predicted: str | None = None  # the label Prelabel's kept evidence had
    reviewer: int | None = None  # the author Label Studio vouches for (learning/feedback.vouched_reviewer)
    evidence: tuple[str, ...] = ()  # the kinds of evidence recorded (rules.Verdict.kind)
    regions: RegionSummary | None = None
    detail: str | None = None  # why nothing was recorded (no project, an unusable labeling config)

    @property
    def vouched(self) -> bool:
        return self.reviewer is not None

    def to_json(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeedbackEvent:
        return cls(_int(data.get("annotation")) or 0, str(data.get("status")), _strings(data.get("changes")),
                   _int(data.get("task")), _int(data.get("project")), _str(data.get("label")),
                   _str(data.get("predicted")), _int(data.get("reviewer")), _strings(data.get("evidence")),
                   RegionSummary.from_json(data.get("regions")), _str(data.get("detail")))


@dataclass(frozen=True)
class RefitOutcome:
    """A project's own calibration after a feedback job (learning/calibrating.refit): `version` when a model was
    fitted now; else `refit_at`, the number of reviews the next fit waits for, or `detail`, why it cannot fit."""

    reviewed: int
    version: str | None = None
    refit_at: int | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RefitOutcome:
        return cls(_int(data.get("reviewed")) or 0, _str(data.get("version")), _int(data.get("refit_at")),
                   _str(data.get("detail")))


@dataclass(frozen=True)
class FeedbackOutcome:
    """A feedback job's result. `not_recorded`: for a deletion, how many of the ids named contributed nothing
    (counted, not listed: a forged list must not make a large result); `changes`: START_TRAINING's settling of
    every synonym; `calibration`: project -> its refit."""

    action: str
    project: int | None
    events: tuple[FeedbackEvent, ...] = ()
    not_recorded: int | None = None
    changes: tuple[str, ...] = ()
    calibration: Mapping[int, RefitOutcome] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**_plain(asdict(self)), "events": [event.to_json() for event in self.events],
                "calibration": {str(project): refit.to_json() for project, refit in self.calibration.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeedbackOutcome:
        events = data.get("events")
        calibration = data.get("calibration")
        return cls(str(data.get("action")), _int(data.get("project")),
                   tuple(FeedbackEvent.from_json(event) for event in events if isinstance(event, Mapping))
                   if isinstance(events, list) else (),
                   _int(data.get("not_recorded")), _strings(data.get("changes")),
                   {int(project): RefitOutcome.from_json(refit) for project, refit in calibration.items()
                    if str(project).isascii() and str(project).isdigit() and isinstance(refit, Mapping)}
                   if isinstance(calibration, Mapping) else {})
