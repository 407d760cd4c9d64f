"""What goes into the pipeline and what comes out, per image: light types the rest of Prelabel reads without
importing the pipeline's machinery (openai, torch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ImageInput:
    source: str  # what people know the image by: a path, a task's image URL
    load: Callable[[], bytes]
    ref: Any = None  # the caller's handle: a Label Studio task id, a file path


# What Prelabel concluded for an image. LABEL: a decision, `label` is set. NONE: Prelabel looked and nothing in
# the vocabulary fits (the MLLM's explicit none, stage 2's none, nothing matched, only a generic or ambiguous
# name, a label the project cannot show): a stable answer, delivered and cached like a label. FAILED: Prelabel
# could not finish (the image is missing or unreadable, the MLLM is down): shown to the reviewer with its
# reason, never cached, and tried again by the next request for the task.
LABEL, NONE, FAILED = "label", "none", "failed"


@dataclass
class ImagePrediction:
    source: str
    ref: Any
    label: str | None = None
    score: float = 0.0
    ranking: list[tuple[str, float]] = field(default_factory=list)  # final scores, best first (top 5)
    # State NONE, several labels affirmed side by side in one answer, with final scores, as written: no single
    # label, but what a multi-choice config checks (studio/predictions.py).
    labels: list[tuple[str, float]] = field(default_factory=list)
    stage_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # stage -> "cause: detail"
    cached: bool = False
    seconds: float = 0.0
    state: str = NONE
    reason: str = ""  # for people: why this state ("the MLLM answered none", "image unavailable: HTTP 404")
    usage: dict[str, float] = field(default_factory=dict)  # mllm_calls, cache_hits, prompt/completion tokens

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

    def to_dict(self) -> dict:
        return {"source": self.source, "state": self.state, "label": self.label, "score": round(self.score, 4),
                "reason": self.reason, "ranking": [[label, round(score, 4)] for label, score in self.ranking],
                **({"labels": [[label, round(score, 4)] for label, score in self.labels]} if self.labels else {}),
                "stage_scores": {stage: {k: round(v, 4) for k, v in scores.items()}
                                 for stage, scores in self.stage_scores.items()},
                "evidence": self.evidence, "errors": self.errors, "usage": self.usage}
