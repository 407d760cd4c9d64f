"""Reviewer feedback: what a reviewer's annotation says about a pre-label.

The webhook only says *that* something happened; the annotation is read back from Label Studio's API before
anything is recorded, so nobody can change what Prelabel learns by posting to /webhook.
"""

from __future__ import annotations

import logging

from prelabel.labelconfig import LabelConfigError, read_label_config

log = logging.getLogger(__name__)


def annotated_label(annotation, control) -> str | None:
    """The label a reviewer chose, or None when the annotation holds no classification for our control."""
    for region in annotation.result or []:
        if region.get("from_name") == control.from_name and region.get("type") == control.kind:
            return control.label_of(region.get("value") or {})
    return None


def record_feedback(ctx, action: str, project_id: int | None, annotation_ids: list[int]) -> dict:
    """Read each annotation back and compare it with what was predicted for its task."""
    events = []
    for annotation_id in annotation_ids:
        if action == "ANNOTATIONS_DELETED":
            events.append({"annotation": annotation_id, "status": "deleted"})
            continue
        annotation = ctx.studio.annotation(annotation_id)
        project = ctx.studio.project(annotation.project or project_id)
        try:
            control = read_label_config(project.label_config, ctx.vocabulary).control
        except LabelConfigError as exc:
            events.append({"annotation": annotation_id, "status": "unusable config", "detail": str(exc)})
            continue
        label = annotated_label(annotation, control)
        found, predicted = ctx.results.get(ctx.model_version, annotation.task)
        predicted_label = control.label_of(predicted["result"][0]["value"]) if found and predicted else None
        status = ("cancelled" if annotation.was_cancelled else "no classification" if label is None
                  else "confirmed" if label == predicted_label else "corrected")
        events.append({"annotation": annotation_id, "task": annotation.task, "label": label,
                       "predicted": predicted_label, "status": status, "reviewer": annotation.completed_by})
        log.info("feedback on task %s: %s (%s -> %s)", annotation.task, status, predicted_label, label)
    return {"action": action, "project": project_id, "events": events}
