"""A project's own calibration, refitted from its reviewers' verdicts as they arrive (issue 20, docs/methods.md 6).

Each feedback job that reads a reviewer's annotation of a task Prelabel pre-labelled with a label keeps the verdict
in the learned store, one per task: the Finding its score was computed from, and whether the reviewer kept the
label. Once a project holds PRELABEL_CALIBRATE_AFTER of them (calibration.MIN_REVIEWED by default) with both
outcomes among them, its model is fitted and stored for that project alone: the service and the workers score its
tasks with it and its version enters that project's model_version, so Label Studio asks for its predictions again;
other projects keep theirs, or the prior. Refitted each time the reviews have doubled since the last fit (200,
400, 800...): each refit re-predicts the project, so it comes when the model can have learned something new.
"""

from __future__ import annotations

import functools
import json
import logging

from prelabel.learning.outcome import RefitOutcome
from prelabel.learning.rows import KeptPrediction
from prelabel.learning.store import LearnedStore
from prelabel.pipeline.calibration import Calibration, fit
from prelabel.pipeline.result import Finding

log = logging.getLogger(__name__)


def record_verdict(store: LearnedStore, project_id: int, task_id: int, annotation_id: int,
                   kept: KeptPrediction | None, label: str | None, cancelled: bool) -> bool:
    """Keep what this annotation says of the task's pre-label (`kept`: the learned store's prediction evidence),
    or forget the task's verdict where it says nothing (cancelled, no classification, no labelled pre-label with
    its finding). True when a verdict was kept."""
    finding = kept.prediction().finding if kept else None
    if cancelled or label is None or kept is None or kept.label is None or finding is None:
        store.forget_review(task_id=task_id)
        return False
    store.save_review(task_id, project_id, annotation_id, finding.to_dict(), label == kept.label)
    return True


def refit(store: LearnedStore, project_id: int, after: int) -> RefitOutcome:
    """The project's model fitted and stored once it has `after` verdicts with both outcomes, and again each
    time they have doubled since; what was done, for the job's result."""
    reviews = [(found, kept) for finding, kept in store.reviews(project_id)
               if (found := Finding.from_dict(finding)) is not None]
    before = store.calibration(project_id)
    due = max(after, 2 * before.reviewed if before else 0)
    if len(reviews) < due:
        return RefitOutcome(len(reviews), refit_at=due)
    if len({kept for _, kept in reviews}) < 2:
        return RefitOutcome(len(reviews), detail="every reviewed pre-label was kept, or none was: a probability "
                            "needs both outcomes")
    model = fit([finding for finding, _ in reviews], [kept for _, kept in reviews],
                f"project {project_id}: {len(reviews)} reviewed tasks (fitted by Prelabel's feedback jobs)")
    store.save_calibration(project_id, model.to_dict(), len(reviews), _parsed(before.model).version if before else None)
    log.info("project %s: its own calibration fitted on %s reviewed tasks (%s)", project_id, len(reviews),
             model.version)
    return RefitOutcome(len(reviews), version=model.version)


def project_model(store: LearnedStore, project_id: int | None) -> tuple[Calibration, str | None] | None:
    """The project's own model and the version of the one it replaced; None: it has none (the deployment's
    scores: PRELABEL_CALIBRATION's file, or the prior)."""
    found = store.calibration(project_id) if project_id is not None else None
    return (_parsed(found.model), found.previous) if found else None


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> Calibration:
    """Parsed once per stored model (the service asks at every request)."""
    return Calibration.from_dict(json.loads(text))
