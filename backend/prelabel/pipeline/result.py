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


@dataclass
class ImagePrediction:
    source: str
    ref: Any
    label: str | None = None
    score: float = 0.0
    ranking: list[tuple[str, float]] = field(default_factory=list)
    stage_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # stage -> "cause: detail"
    cached: bool = False
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """No prediction could be made: the image itself was unusable, or every stage failed."""
        return self.label is None and bool(self.errors)

    @property
    def failure_cause(self) -> str | None:
        if not self.failed:
            return None
        stage, message = next(iter(self.errors.items()))
        return f"{stage}:{message.split(':', 1)[0]}"

    def to_dict(self) -> dict:
        return {"source": self.source, "label": self.label, "score": round(self.score, 4),
                "ranking": [[label, round(score, 4)] for label, score in self.ranking],
                "stage_scores": {stage: {k: round(v, 4) for k, v in scores.items()}
                                 for stage, scores in self.stage_scores.items()},
                "evidence": self.evidence, "errors": self.errors}
