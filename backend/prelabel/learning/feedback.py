"""Reviewer feedback jobs: what a reviewer's annotation says about a pre-label, recorded by prelabel.learning.

The webhook only says *that* something happened; the annotation is read back from Label Studio's API before
anything is recorded or retracted, so nobody can change what Prelabel learns by posting to /webhook: a creation
or update records what Label Studio holds, and a deletion retracts only when Label Studio answers 404.
"""

from __future__ import annotations

import logging

from label_studio_sdk.types import Annotation

from prelabel.learning import calibrating
from prelabel.learning.outcome import FeedbackEvent, FeedbackOutcome, RegionSummary
from prelabel.learning.regions import predicted_boxes, region_verdicts, region_words, summary
from prelabel.learning.rows import KeptPrediction
from prelabel.learning.rules import Learning, Verdict, verdicts
from prelabel.pipeline.calibration import MIN_REVIEWED
from prelabel.pipeline.result import Evidence
from prelabel.studio.accepted import auto_accepted
from prelabel.studio.boxes import boxes, match
from prelabel.studio.client import LabelStudio, StudioError
from prelabel.studio.labelconfig import DEFAULT_NONE_CHOICE, Control, LabelConfigError, RegionControl, read_label_config
from prelabel.text import NAME, clean

log = logging.getLogger(__name__)


def annotated_label(annotation: Annotation, control: Control) -> str | None:
    """The label a reviewer chose, or None when the annotation holds no classification for our control. Only
    the choices/taxonomy result counts: the evidence TextArea's text (Prelabel's, carried along when the
    reviewer submits) and any other result are ignored. A runner-up ticked (the config's runner-ups control, a
    correction in two actions) is the reviewer's label, whatever the label control still holds: it stores the
    label itself."""
    regions = annotation.result or []
    for region in regions:
        choices = (region.get("value") or {}).get("choices") if isinstance(region.get("value"), dict) else None
        if control.runner_ups and region.get("from_name") == control.runner_ups and choices:
            return clean(choices[0], NAME) if isinstance(choices[0], str) else None
    for region in regions:
        if region.get("from_name") == control.from_name and region.get("type") == control.kind:
            label = control.label_of(region.get("value") or {})
            # A label outside the vocabulary is kept as a "new class" for the expert: a name, never more.
            return clean(label, NAME) if isinstance(label, str) else None
    return None


def vouched_reviewer(annotation: Annotation) -> int | None:
    """The annotation's author, where Label Studio vouches for it; None where one account may pass for another.

    Label Studio 1.23.2 (tasks/api.py, tasks/serializers.py) lets the client set `completed_by` on create and on
    update: an account can write annotations in anyone's name. What it sets itself is `updated_by`, the
    authenticated account, on every create with a result and every update (a body naming someone else did not
    change it: tests/faults/test_reviewers.py). So the author is known only when the two agree: the account that
    last wrote the annotation is the one it names. Anything else counts as nobody's: its evidence is kept for the
    expert, never counted toward an automatic promotion."""
    author, writer = _user_id(annotation.completed_by), _user_id(getattr(annotation, "updated_by", None))
    return author if author is not None and author == writer else None


def _user_id(value: object) -> int | None:
    """A user id as the SDK gives it: an int, or an object (expanded) with an id."""
    value = getattr(value, "id", value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def record_feedback(studio: LabelStudio, learning: Learning, action: str, project_id: int | None,
                    annotation_ids: list[int], none_choice: str = DEFAULT_NONE_CHOICE,
                    calibrate_after: int = MIN_REVIEWED) -> FeedbackOutcome:
    """Created or updated annotations replace what they contributed; deleted ones retract it; START_TRAINING
    settles every learned synonym again (after PRELABEL_PROMOTE_AFTER changed, say). Then the project's own
    calibration is refitted once it has `calibrate_after` reviewed pre-labels (learning/calibrating.py)."""
    if action == "START_TRAINING":
        return FeedbackOutcome(action, project_id, changes=tuple(learning.settle_all()))
    not_recorded = None
    if action == "ANNOTATIONS_DELETED":
        events = _deleted(studio, learning, annotation_ids)
        # Ids that contributed nothing are counted, not listed: a forged list must not make a large job result.
        not_recorded = len(set(annotation_ids)) - len(events)
    else:
        events = [_annotation(studio, learning, annotation_id, project_id, none_choice)
                  for annotation_id in annotation_ids]
    projects = {event.project for event in events if event.project is not None}
    calibration = {project: calibrating.refit(learning.store, project, calibrate_after)
                   for project in sorted(projects | ({project_id} if project_id is not None else set()))
                   } if calibrate_after > 0 else {}
    return FeedbackOutcome(action, project_id, tuple(events), not_recorded, calibration=calibration)


def _gone(studio: LabelStudio, annotation_id: int) -> Annotation | None:
    """The annotation as Label Studio holds it, or None when Label Studio says it does not exist (404). Any
    other failure raises: the job is retried, and nothing changes meanwhile."""
    try:
        found: Annotation = studio.annotation(annotation_id)
        return found
    except StudioError as exc:
        if exc.status == 404:
            return None
        raise


def _deleted(studio: LabelStudio, learning: Learning, annotation_ids: list[int]) -> list[FeedbackEvent]:
    """ANNOTATIONS_DELETED arrives unauthenticated: only an annotation Label Studio no longer has is retracted.

    Only annotations that contributed evidence can change anything, and only they get an event; the others (a
    forged list of 100,000 ids, say) are answered from the learned store alone. Those that did are read back by
    page: the tasks they belong to, listed with their annotations' ids (Label Studio's task list,
    `annotations_ids`), one call per page of tasks, not one per annotation. An annotation absent from its task,
    or whose task is gone, is gone."""
    recorded = learning.store.recorded_annotations(annotation_ids)
    by_project: dict[int | None, set[int]] = {}
    for task_id, project_id in recorded.values():
        by_project.setdefault(project_id, set()).add(task_id)
    existing: set[int] = set()
    one_by_one: set[int] = set()  # tasks whose list of ids cannot be trusted whole
    for project_id, task_ids in by_project.items():
        if project_id is None:  # no project kept with the evidence
            one_by_one |= task_ids
            continue
        for task in studio.list_tasks(project_id, "id,annotations_ids", ids=sorted(task_ids)):
            if task.annotation_ids is None:  # not listed, or cut by Label Studio: read one by one instead
                one_by_one.add(task.id)
            else:
                existing |= task.annotation_ids
    existing |= {annotation for annotation, (task, _) in recorded.items()
                 if task in one_by_one and _gone(studio, annotation) is not None}
    events: list[FeedbackEvent] = []
    for annotation_id in dict.fromkeys(a for a in annotation_ids if a in recorded):
        if annotation_id in existing:
            log.warning("ANNOTATIONS_DELETED names annotation %s, which Label Studio still holds: nothing retracted "
                        "(a spoofed webhook?)", annotation_id)
            events.append(FeedbackEvent(annotation_id, "still exists"))
        else:
            changes = learning.retract(annotation_id)
            learning.store.forget_review(annotation_id=annotation_id)
            events.append(FeedbackEvent(annotation_id, "deleted", tuple(changes), project=recorded[annotation_id][1]))
    return events


def _annotation(studio: LabelStudio, learning: Learning, annotation_id: int, project_id: int | None,
                none_choice: str = DEFAULT_NONE_CHOICE) -> FeedbackEvent:
    annotation = _gone(studio, annotation_id)
    if annotation is None or annotation.task is None:
        # Deleted since, or never there (a spoofed id): whatever it contributed goes. (Label Studio gives every
        # annotation its task; one without is read as not there.)
        learning.store.forget_review(annotation_id=annotation_id)
        return FeedbackEvent(annotation_id, "not found", tuple(learning.retract(annotation_id)))
    if auto_accepted(annotation.result) is not None:
        # Prelabel's own (`prelabel accept`): nobody confirmed anything, so nothing is learned from it.
        learning.store.forget_review(annotation_id=annotation_id)
        return FeedbackEvent(annotation_id, "auto-accepted", tuple(learning.retract(annotation_id)))
    project_id = annotation.project or project_id
    if project_id is None:
        return FeedbackEvent(annotation_id, "no project", detail="the annotation names no project")
    project = studio.project(project_id)
    vocabulary = learning.normalizer.vocabulary
    try:
        control = read_label_config(project.label_config or "", vocabulary, none_choice).control
    except LabelConfigError as exc:
        return FeedbackEvent(annotation_id, "unusable config", detail=str(exc))
    task_id = annotation.task
    label = annotated_label(annotation, control) if control.has_choices else None
    kept = learning.store.prediction_evidence(task_id)
    evidence = kept.prediction().evidence if kept else Evidence()
    candidates = [c for c in evidence.candidates if c.source != "description"]
    nothing_fits = control.is_none(label)
    found = verdicts(label, bool(annotation.was_cancelled), label in vocabulary.label_values, candidates,
                     learning.normalizer, nothing_fits=nothing_fits) if control.has_choices else []
    boxes_done: RegionSummary | None = None
    if control.regions is not None:
        if annotation.was_cancelled:
            found = found or [Verdict("cancelled")]
        else:
            boxes_done, taught = _regions(studio, project_id, task_id, annotation, control.regions, kept, learning)
            found += taught
    reviewer = vouched_reviewer(annotation)
    changes = learning.record(annotation_id, task_id, project_id, reviewer, found)
    # The verdict on the pre-label's score, for the project's own calibration (a choice only: regions have none).
    calibrating.record_verdict(learning.store, project_id, task_id, annotation_id, kept,
                               label if control.has_choices else None, bool(annotation.was_cancelled))
    predicted = kept.label if kept else None
    status = ("cancelled" if annotation.was_cancelled else "regions" if not control.has_choices
              else "no classification" if label is None
              else "nothing fits" if nothing_fits else "new class" if label not in vocabulary.label_values
              else "confirmed" if label == predicted else "corrected")
    log.info("feedback on task %s: %s (%s -> %s) %s", task_id, status, predicted, label, changes)
    return FeedbackEvent(annotation_id, status, tuple(changes), task_id, project_id, label, predicted, reviewer,
                         tuple(v.kind for v in found), boxes_done)


def _regions(studio: LabelStudio, project_id: int, task_id: int, annotation: Annotation, control: RegionControl,
             kept: KeptPrediction | None, learning: Learning) -> tuple[RegionSummary, list[Verdict]]:
    """The annotation's boxes matched with those of the prediction it was made on (read from Label Studio, as
    the reviewer saw them), and what they teach (learning/regions.py)."""
    listed = studio.list_tasks(project_id, "id,predictions", ids=[task_id])
    predictions = [p for task in listed for p in task.predictions]
    predicted = predicted_boxes(predictions, control.from_name, kept.model_version if kept else None)
    matching = match(predicted, boxes(annotation.result, control.from_name))
    labels = set(learning.normalizer.vocabulary.label_values)

    def label_of(stored: str | None) -> str | None:
        return control.label_of({"rectanglelabels": [stored]}) if stored is not None else None

    taught = region_verdicts(matching, region_words(kept.evidence if kept else None, predicted), label_of,
                             labels.__contains__, learning.normalizer)
    return summary(matching), taught
