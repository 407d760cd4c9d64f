"""The feedback job: a reviewer's annotation, read back from Label Studio and recorded by prelabel.learning."""

from __future__ import annotations

from typing import Any

from prelabel.jobs import admission
from prelabel.jobs.context import worker_context
from prelabel.learning.feedback import record_feedback


def handle_feedback(action: str, project_id: int | None, annotation_ids: list[int]) -> dict[str, Any]:
    """What the annotations taught, as rq keeps it: learning/outcome.py's FeedbackOutcome.to_json (from_json reads
    it back)."""
    ctx = worker_context()
    admission.started(ctx.parts.redis, action, project_id, annotation_ids)  # an identical webhook is news again
    return record_feedback(ctx.parts.studio, ctx.learning, action, project_id, annotation_ids,
                           ctx.settings.none_choice, ctx.settings.calibrate_after).to_json()
