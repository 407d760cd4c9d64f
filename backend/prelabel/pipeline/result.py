"""What goes into the pipeline and what comes out, per image: light types the rest of Prelabel reads without
importing the pipeline's machinery (openai, torch, numpy).

An ImagePrediction's JSON (to_dict) is kept in a task's meta (`prelabel predict`), and, flat (evidence_json), in
the learned store's prediction evidence; from_dict reads either back, rows older versions wrote included, and
never fails on a field it does not know or finds malformed (it is left out).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prelabel.pipeline.reasons import Reason, render

DEADLINE = "deadline"  # the cause of a stage the job's deadline cut short (ImagePrediction.failure_cause)


@dataclass(frozen=True)
class JobDeadline:
    """When a job must end (on time.monotonic()'s clock), and what an image not done by then is told: it costs
    only its own task, and the job delivers the rest."""

    at: float
    passed: str  # "the job's deadline passed (PRELABEL_JOB_DEADLINE: 900 s)"

    @classmethod
    def after(cls, seconds: float) -> JobDeadline:
        return cls(time.monotonic() + seconds, f"the job's deadline passed (PRELABEL_JOB_DEADLINE: {seconds:g} s)")

    def left(self) -> float:
        return self.at - time.monotonic()


@dataclass(frozen=True)
class ImageInput:
    source: str  # what people know the image by: a path, a task's image URL
    load: Callable[[], bytes]
    ref: Any = None  # the caller's handle: a Label Studio task id, a file path
    regions: bool = False  # a region project: stage 1 asks for each finding's box (docs/regions.md)


# What Prelabel concluded for an image. LABEL: a decision, `label` is set. NONE: Prelabel looked and nothing in
# the vocabulary fits (the MLLM's explicit none, stage 2's none, nothing matched, only a generic or ambiguous
# name, a label the project cannot show): a stable answer, delivered and cached like a label. FAILED: Prelabel
# could not finish (the image is missing or unreadable, the MLLM is down): shown to the reviewer with its
# reason, never cached, and tried again by the next request for the task.
LABEL, NONE, FAILED = "label", "none", "failed"


@dataclass(frozen=True)
class BoxFinding:
    """One finding of a region project's stage 1: its name and its box's four numbers, as the MLLM wrote them
    (pipeline/boxes.py reads the convention); `key` is the box's key as written (box_2d, bbox_2d...)."""

    name: str
    box: tuple[float, float, float, float]
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "box": list(self.box), "key": self.key}

    @classmethod
    def from_dict(cls, data: object) -> BoxFinding | None:
        box = data.get("box") if isinstance(data, Mapping) else None
        if not isinstance(data, Mapping) or not isinstance(box, list) or len(box) != 4 or not all(
                isinstance(n, int | float) and not isinstance(n, bool) for n in box):
            return None
        return cls(_text(data.get("name")), (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                   _text(data.get("key")))


@dataclass(frozen=True)
class Stage1Answer:
    """What the MLLM said about the image in stage 1; in a region project also the findings with their boxes,
    and how many it wrote that could not be read (`skipped`: reason -> count)."""

    description: str
    classification: str
    candidates: tuple[str, ...]
    findings: tuple[BoxFinding, ...] = ()
    skipped: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"description": self.description, "classification": self.classification,
                                 "candidates": list(self.candidates)}
        if self.findings or self.skipped:
            found.update(findings=[finding.to_dict() for finding in self.findings], skipped=dict(self.skipped))
        return found

    @classmethod
    def from_dict(cls, data: object) -> Stage1Answer | None:
        if not isinstance(data, Mapping):
            return None
        skipped = data.get("skipped")
        return cls(_text(data.get("description")), _text(data.get("classification")),
                   tuple(_text(c) for c in _list(data.get("candidates")) if isinstance(c, str)),
                   tuple(found for item in _list(data.get("findings")) if (found := BoxFinding.from_dict(item))),
                   tuple((str(reason), int(_number(count))) for reason, count in skipped.items())
                   if isinstance(skipped, Mapping) else ())


@dataclass(frozen=True)
class Region:
    """One region of a region project's prediction: the box in percent of the original image as Label Studio
    shows it (upright), the MLLM's name for what is in it, the vocabulary label that name normalised to (None: no
    label fits, shown as such), the probability that the label is right, and how the name matched."""

    x: float
    y: float
    width: float
    height: float
    name: str
    label: str | None
    score: float
    method: str
    clip: tuple[str, float] | None = None  # CLIP on the box's crop (CLIP on): its best label and fused probability

    def to_dict(self) -> dict[str, Any]:
        found = {"x": round(self.x, 4), "y": round(self.y, 4), "width": round(self.width, 4),
                 "height": round(self.height, 4), "name": self.name, "label": self.label,
                 "score": round(self.score, 4), "method": self.method}
        if self.clip is not None:
            found["clip"] = [self.clip[0], round(self.clip[1], 4)]
        return found

    @classmethod
    def from_dict(cls, data: object) -> Region | None:
        if not isinstance(data, Mapping):
            return None
        return cls(_number(data.get("x")), _number(data.get("y")), _number(data.get("width")),
                   _number(data.get("height")), _text(data.get("name")), _label(data.get("label")),
                   _number(data.get("score")), _text(data.get("method")) or "none", _clip_said(data.get("clip")))


@dataclass(frozen=True)
class NamedMatch:
    """One string the MLLM wrote (its classification, a candidate, its description) and how it normalised onto
    the vocabulary."""

    text: str
    source: str  # classification, candidate or description
    label: str | None
    score: float
    method: str  # exact, alias, rule, learned, fuzzy, embedding, ambiguous, none...
    alternatives: tuple[tuple[str, float], ...] = ()  # (label, score): the labels a proposal puts forward
    labels: tuple[str, ...] = ()  # the labels it affirms side by side (method "several"), in the order written

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "text": self.text, "source": self.source, "label": self.label, "score": round(self.score, 4),
            "method": self.method, "alternatives": [{"label": label, "score": round(score, 4)}
                                                    for label, score in self.alternatives]}
        if self.labels:
            found["labels"] = list(self.labels)
        return found

    @classmethod
    def from_dict(cls, data: object) -> NamedMatch | None:
        if not isinstance(data, Mapping):
            return None
        return cls(_text(data.get("text")), _text(data.get("source")) or "candidate", _label(data.get("label")),
                   _number(data.get("score")), _text(data.get("method")) or "none", tuple(
                       (alternative["label"], _number(alternative.get("score")))
                       for alternative in _list(data.get("alternatives"))
                       if isinstance(alternative, Mapping) and isinstance(alternative.get("label"), str)),
                   tuple(_strings(data.get("labels"))))


@dataclass(frozen=True)
class Stage2Match:
    """Stage 2's answer (a label picked from the list, in the MLLM's words) and how it normalised."""

    answer: str
    label: str | None
    method: str
    score: float
    with_image: bool = False  # a multiple choice over the proposals' candidates, the MLLM seeing the image
    candidates: int = 0  # how many labels it chose from (with the image)

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"answer": self.answer, "label": self.label, "method": self.method,
                                 "score": round(self.score, 4)}
        if self.with_image:
            found.update(with_image=True, candidates=self.candidates)
        return found

    @classmethod
    def from_dict(cls, data: object) -> Stage2Match | None:
        if not isinstance(data, Mapping):
            return None
        return cls(_text(data.get("answer")), _label(data.get("label")), _text(data.get("method")) or "none",
                   _number(data.get("score")), data.get("with_image") is True, int(_number(data.get("candidates"))))


@dataclass(frozen=True)
class Finding:
    """How one label was found for one image: what the calibration model (pipeline/calibration.py) turns into the
    probability that the label is right, kept with the prediction so reviewers' verdicts can refit it."""

    way: str  # stage 1's match method (exact, alias, rule, fuzzy...), else stage2, image_choice, clip or proposal
    source: str  # the MLLM's string that earned it: classification, candidate, description, stage2; or clip
    match: float  # the normaliser's score for that string
    support: int  # the MLLM's strings that named this label
    rivals: int  # other labels the MLLM named specifically
    among: int  # labels in play: those stage 2 chose from, else those the MLLM was shown
    clip_margin: float | None = None  # CLIP's fused probability for it less the best other label's; None: CLIP off
    stage2: str = ""  # stage 2 named it too: "text", or "image" (a choice after seeing the image); "" if not

    def to_dict(self) -> dict[str, Any]:
        return {"way": self.way, "source": self.source, "match": round(self.match, 4), "support": self.support,
                "rivals": self.rivals, "among": self.among,
                "clip_margin": None if self.clip_margin is None else round(self.clip_margin, 4), "stage2": self.stage2}

    @classmethod
    def from_dict(cls, data: object) -> Finding | None:
        if not isinstance(data, Mapping) or not isinstance(data.get("way"), str):
            return None
        margin = data.get("clip_margin")
        return cls(data["way"], _text(data.get("source")), _number(data.get("match")),
                   int(_number(data.get("support"))), int(_number(data.get("rivals"))),
                   max(1, int(_number(data.get("among")))),
                   _number(margin) if isinstance(margin, int | float) and not isinstance(margin, bool) else None,
                   _text(data.get("stage2")))


@dataclass
class Evidence:
    """What the stages found for one image, for the reviewer's text, feedback and the PoC report. Filled stage by
    stage; a stage that did not run leaves its part empty (None where "not run" and "found nothing" differ)."""

    stage1: Stage1Answer | None = None
    candidates: list[NamedMatch] = field(default_factory=list)  # stage 1's strings, each normalised
    stage2: Stage2Match | None = None
    vetoed: list[str] = field(default_factory=list)  # labels whose weak stage-1 match stage 2 contradicted
    shortlist: list[str] | None = None  # CLIP's labels for the image, when the vocabulary is shortlisted
    fusion_features: list[str] | None = None  # the query features CLIP fused, when CLIP ran

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.stage1 is not None:
            found["stage1"] = self.stage1.to_dict()
        if self.stage1 is not None or self.candidates:
            found["candidates"] = [candidate.to_dict() for candidate in self.candidates]
        if self.stage2 is not None:
            found["stage2"] = self.stage2.to_dict()
        if self.vetoed:
            found["vetoed"] = list(self.vetoed)
        if self.shortlist is not None:
            found["shortlist"] = list(self.shortlist)
        if self.fusion_features is not None:
            found["fusion_features"] = list(self.fusion_features)
        return found

    @classmethod
    def from_dict(cls, data: object) -> Evidence:
        if not isinstance(data, Mapping):
            return cls()
        shortlist, features = data.get("shortlist"), data.get("fusion_features")
        return cls(Stage1Answer.from_dict(data.get("stage1")),
                   [found for item in _list(data.get("candidates")) if (found := NamedMatch.from_dict(item))],
                   Stage2Match.from_dict(data.get("stage2")), _strings(data.get("vetoed")),
                   _strings(shortlist) if isinstance(shortlist, list) else None,
                   _strings(features) if isinstance(features, list) else None)


@dataclass
class ImagePrediction:
    source: str
    ref: Any
    label: str | None = None
    score: float = 0.0
    ranking: list[tuple[str, float]] = field(default_factory=list)  # final scores, best first (top 5)
    stage_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    evidence: Evidence = field(default_factory=Evidence)
    errors: dict[str, str] = field(default_factory=dict)  # stage -> "cause: detail"
    cached: bool = False
    seconds: float = 0.0
    state: str = NONE
    why: Reason | None = None  # why this state, a record each reader renders in its language (pipeline/reasons.py)
    usage: dict[str, float] = field(default_factory=dict)  # mllm_calls, cache_hits, prompt/completion tokens
    # State NONE, several labels affirmed side by side in one answer, with final scores, as written: no single
    # label, but what a multi-choice config checks (studio/predictions.py).
    labels: list[tuple[str, float]] = field(default_factory=list)
    finding: Finding | None = None  # how the label was found: what its score (a probability) was computed from
    # A region project: one region per finding, the boxes dropped by reason (outside, degenerate, duplicate...),
    # and the original's upright size in pixels (Label Studio's original_width, original_height).
    regions: list[Region] | None = None
    regions_dropped: dict[str, int] = field(default_factory=dict)
    image_size: tuple[int, int] | None = None
    # Which calibration model made the scores: "prior" (the shipped one: the normaliser's precision, not measured
    # on this project) or "project" (fitted on this project's reviews); "" from Prelabel before it was kept.
    scored_by: str = ""

    @property
    def reason(self) -> str:
        """Why this state, in English: for logs, `prelabel run`'s summary, and readers older than `why`."""
        return render(self.why, "en") if self.why is not None else ""

    @property
    def failed(self) -> bool:
        """No prediction could be made: the image was unusable, or a stage it needs failed (tried again later)."""
        return self.state == FAILED

    @property
    def failure_cause(self) -> str | None:
        if not self.failed or not self.errors:
            return None
        stage, message = next(iter(self.errors.items()))
        return f"{stage}:{message.split(':', 1)[0]}"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "state": self.state, "label": self.label, "score": round(self.score, 4),
                "reason": self.reason, **self._why_json(),
                "ranking": [[label, round(score, 4)] for label, score in self.ranking],
                **({"labels": [[label, round(score, 4)] for label, score in self.labels]} if self.labels else {}),
                "stage_scores": {stage: {k: round(v, 4) for k, v in scores.items()}
                                 for stage, scores in self.stage_scores.items()},
                "evidence": self.evidence.to_dict(), "errors": self.errors, "usage": self.usage,
                **({"finding": self.finding.to_dict()} if self.finding else {}),
                **({"scored_by": self.scored_by} if self.scored_by else {}), **self._regions_json()}

    def _why_json(self) -> dict[str, Any]:
        return {"why": self.why.to_dict()} if self.why is not None else {}

    def _regions_json(self) -> dict[str, Any]:
        if self.regions is None:
            return {}
        return {"regions": [region.to_dict() for region in self.regions], "regions_dropped": self.regions_dropped,
                "image_size": list(self.image_size) if self.image_size else None}

    def evidence_json(self) -> dict[str, Any]:
        """The learned store's row: the evidence flat beside the outcome, as rows have been from the start."""
        evidence = self.evidence.to_dict()
        return {"candidates": evidence.get("candidates", []), "stage1": evidence.get("stage1"),
                "stage2": evidence.get("stage2"), "vetoed": evidence.get("vetoed", []),
                "stage_scores": self.stage_scores, "state": self.state, "reason": self.reason, **self._why_json(),
                "score": round(self.score, 4), "ranking": [[label, round(score, 4)] for label, score in self.ranking],
                "errors": self.errors, "usage": self.usage,
                **({"finding": self.finding.to_dict()} if self.finding else {}),
                **({"scored_by": self.scored_by} if self.scored_by else {}), **self._regions_json()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], ref: Any = None) -> ImagePrediction:
        """to_dict's JSON (the evidence nested) or evidence_json's (flat), from any version of Prelabel."""
        inner = data["evidence"] if isinstance(data.get("evidence"), Mapping) else data
        stage_scores = data.get("stage_scores") or inner.get("stage_scores")
        usage = data.get("usage") or inner.get("usage")
        errors = data.get("errors") or inner.get("errors")
        return cls(
            source=_text(data.get("source")), ref=ref, label=_label(data.get("label")),
            score=_number(data.get("score")),
            ranking=_ranked(data.get("ranking")),
            stage_scores={stage: {label: _number(score) for label, score in scores.items() if isinstance(label, str)}
                          for stage, scores in (stage_scores or {}).items() if isinstance(scores, Mapping)}
            if isinstance(stage_scores, Mapping) else {},
            evidence=Evidence.from_dict(inner),
            errors={str(stage): str(message) for stage, message in errors.items()}
            if isinstance(errors, Mapping) else {},
            state=_text(data.get("state")) or NONE, why=Reason.from_dict(data.get("why"), data.get("reason")),
            usage={str(name): value for name, value in usage.items()
                   if isinstance(value, int | float) and not isinstance(value, bool)}
            if isinstance(usage, Mapping) else {},
            labels=_ranked(data.get("labels")),
            finding=Finding.from_dict(data.get("finding") or inner.get("finding")),
            scored_by=_text(data.get("scored_by") or inner.get("scored_by")),
            **_regions_of(data))


def _regions_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """The region fields of to_dict's JSON, where it has them."""
    if not isinstance(data.get("regions"), list):
        return {}
    dropped, size = data.get("regions_dropped"), data.get("image_size")
    return {"regions": [region for item in data["regions"] if (region := Region.from_dict(item))],
            "regions_dropped": {str(reason): int(_number(count)) for reason, count in dropped.items()}
            if isinstance(dropped, Mapping) else {},
            "image_size": (int(_number(size[0])), int(_number(size[1])))
            if isinstance(size, list) and len(size) == 2 else None}


def _ranked(value: object) -> list[tuple[str, float]]:
    """[[label, score], ...] as JSON keeps it; malformed items are left out."""
    return [(item[0], _number(item[1] if len(item) > 1 else 0)) for item in _list(value)
            if isinstance(item, list | tuple) and item and isinstance(item[0], str)]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _label(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _clip_said(value: object) -> tuple[str, float] | None:
    items = _list(value)
    return (items[0], _number(items[1])) if len(items) == 2 and _label(items[0]) else None


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    return [item for item in _list(value) if isinstance(item, str)]
