"""Reviewer feedback jobs: what a reviewer's annotation says about a pre-label, recorded by prelabel.learning.

The webhook only says *that* something happened; the annotation is read back from Label Studio's API before
anything is recorded or retracted, so nobody can change what Prelabel learns by posting to /webhook: a creation
or update records what Label Studio holds, and a deletion retracts only when Label Studio answers 404.
"""

from __future__ import annotations

import logging

from prelabel.learning.rules import Learning, verdicts
from prelabel.pipeline.result import Evidence, ImagePrediction
from prelabel.studio.accepted import auto_accepted
from prelabel.studio.client import LabelStudio, StudioError
from prelabel.studio.labelconfig import DEFAULT_NONE_CHOICE, LabelConfigError, read_label_config
from prelabel.text import NAME, clean

log = logging.getLogger(__name__)


def annotated_label(annotation, control) -> str | None:
    """The label a reviewer chose, or None when the annotation holds no classification for our control. Only
    the choices/taxonomy result counts: the evidence TextArea's text (Prelabel's, carried along when the
    reviewer submits) and any other result are ignored."""
    for region in annotation.result or []:
        if region.get("from_name") == control.from_name and region.get("type") == control.kind:
            label = control.label_of(region.get("value") or {})
            # A label outside the vocabulary is kept as a "new class" for the expert: a name, never more.
            return clean(label, NAME) if isinstance(label, str) else None
    return None


def record_feedback(studio: LabelStudio, learning: Learning, action: str, project_id: int | None,
                    annotation_ids: list[int], none_choice: str = DEFAULT_NONE_CHOICE) -> dict:
    """Created or updated annotations replace what they contributed; deleted ones retract it; START_TRAINING
    settles every learned synonym again (after PRELABEL_PROMOTE_AFTER changed, say)."""
    if action == "START_TRAINING":
        return {"action": action, "project": project_id, "changes": learning.settle_all()}
    events = []
    for annotation_id in annotation_ids:
        if action == "ANNOTATIONS_DELETED":
            events.append(_deleted(studio, learning, annotation_id))
            continue
        events.append(_annotation(studio, learning, annotation_id, project_id, none_choice))
    return {"action": action, "project": project_id, "events": events}


def _gone(studio: LabelStudio, annotation_id: int):
    """The annotation as Label Studio holds it, or None when Label Studio says it does not exist (404). Any
    other failure raises: the job is retried, and nothing changes meanwhile."""
    try:
        return studio.annotation(annotation_id)
    except StudioError as exc:
        if exc.status == 404:
            return None
        raise


def _deleted(studio: LabelStudio, learning: Learning, annotation_id: int) -> dict:
    """ANNOTATIONS_DELETED arrives unauthenticated: only an annotation Label Studio no longer has is retracted."""
    if _gone(studio, annotation_id) is not None:
        log.warning("ANNOTATIONS_DELETED names annotation %s, which Label Studio still holds: nothing retracted "
                    "(a spoofed webhook?)", annotation_id)
        return {"annotation": annotation_id, "status": "still exists", "changes": []}
    return {"annotation": annotation_id, "status": "deleted", "changes": learning.retract(annotation_id)}


def _annotation(studio: LabelStudio, learning: Learning, annotation_id: int, project_id: int | None,
                none_choice: str = DEFAULT_NONE_CHOICE) -> dict:
    annotation = _gone(studio, annotation_id)
    if annotation is None:  # deleted since, or never there (a spoofed id): whatever it contributed goes
        return {"annotation": annotation_id, "status": "not found", "changes": learning.retract(annotation_id)}
    if auto_accepted(annotation.result) is not None:
        # Prelabel's own (`prelabel accept`): nobody confirmed anything, so nothing is learned from it.
        return {"annotation": annotation_id, "status": "auto-accepted", "changes": learning.retract(annotation_id)}
    project_id = annotation.project or project_id
    if project_id is None:
        return {"annotation": annotation_id, "status": "no project", "detail": "the annotation names no project"}
    project = studio.project(project_id)
    vocabulary = learning.normalizer.vocabulary
    try:
        control = read_label_config(project.label_config, vocabulary, none_choice).control
    except LabelConfigError as exc:
        return {"annotation": annotation_id, "status": "unusable config", "detail": str(exc)}
    label = annotated_label(annotation, control)
    kept = learning.store.prediction_evidence(annotation.task)
    evidence = ImagePrediction.from_dict(kept["evidence"]).evidence if kept else Evidence()
    candidates = [c for c in evidence.candidates if c.source != "description"]
    nothing_fits = control.is_none(label)
    found = verdicts(label, bool(annotation.was_cancelled), label in vocabulary.label_values, candidates,
                     learning.normalizer, nothing_fits=nothing_fits)
    changes = learning.record(annotation_id, annotation.task, project_id, annotation.completed_by, found)
    predicted = kept["label"] if kept else None
    status = ("cancelled" if annotation.was_cancelled else "no classification" if label is None
              else "nothing fits" if nothing_fits else "new class" if label not in vocabulary.label_values
              else "confirmed" if label == predicted else "corrected")
    log.info("feedback on task %s: %s (%s -> %s) %s", annotation.task, status, predicted, label, changes)
    return {"annotation": annotation_id, "task": annotation.task, "label": label, "predicted": predicted,
            "status": status, "reviewer": annotation.completed_by,
            "evidence": [v.kind for v in found], "changes": changes}
