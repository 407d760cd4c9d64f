"""The end-of-run summary a user reads after `prelabel predict`, and the line that says a run did nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from prelabel.pipeline.mllm import MLLMClient
from prelabel.pipeline.result import ImagePrediction
from prelabel.redact import redact_url
from prelabel.settings import Settings

MLLM_STAGES = ("stage1:", "stage2:")


def summarise(predictions: list[ImagePrediction], mllm: MLLMClient | None, seconds: float) -> dict[str, Any]:
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
        "cached_images": sum(1 for p in predictions if p.cached),
        "tokens": {"prompt": stats.prompt_tokens, "completion": stats.completion_tokens} if stats else {},
        "seconds": round(seconds, 2),
    }


def every_image_failed(images: int, causes: Mapping[str, int], settings: Settings) -> str | None:
    """One line when every image failed, else None: a run that pre-labelled nothing must not end like one that
    worked. Where the MLLM failed, the line names its endpoint and the settings to check."""
    if not images or sum(causes.values()) < images:
        return None
    listed = ", ".join(f"{cause} {count}" for cause, count in Counter(causes).most_common())
    line = f"every image failed ({listed})"
    if any(str(cause).startswith(MLLM_STAGES) for cause in causes):
        line += (f": the MLLM endpoint {endpoint_of(settings)} gave no usable answer; check PRELABEL_LLM_BASE_URL, "
                 f"PRELABEL_LLM_API_KEY and PRELABEL_LLM_MODEL ({settings.llm_model}); `prelabel check` tries them")
    return line


def endpoint_of(settings: Settings) -> str:
    """The endpoint as a message may show it: its base URL without a password."""
    return redact_url(settings.llm_base_url.strip()) or "(none: PRELABEL_LLM_BASE_URL is empty)"
