"""The end-of-run summary a user reads after `prelabel predict`."""

from __future__ import annotations

from collections import Counter

from prelabel.pipeline.mllm import MLLMClient
from prelabel.pipeline.result import ImagePrediction


def summarise(predictions: list[ImagePrediction], mllm: MLLMClient | None, seconds: float) -> dict:
    """The end-of-run summary: images, failures by cause, MLLM calls, cache hits, tokens, seconds."""
    failures = Counter(p.failure_cause for p in predictions if p.failed)
    stage_errors = Counter(f"{stage}:{message.split(':', 1)[0]}" for p in predictions
                           for stage, message in p.errors.items())
    stats = mllm.stats if mllm else None
    return {
        "images": len(predictions),
        "labelled": sum(1 for p in predictions if p.label),
        "failed": sum(failures.values()),
        "failures_by_cause": dict(failures),
        "stage_errors": dict(stage_errors),
        "mllm_calls": stats.calls if stats else 0,
        "mllm_retries": stats.retries if stats else 0,
        "cache_hits": stats.cache_hits if stats else 0,
        "tokens": {"prompt": stats.prompt_tokens, "completion": stats.completion_tokens} if stats else {},
        "seconds": round(seconds, 2),
    }
