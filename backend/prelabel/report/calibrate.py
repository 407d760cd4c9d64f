"""`prelabel calibrate`: a project's own calibration model, fitted on its reviewers' verdicts (issue 20).

The shipped prior measures only the normaliser (the corpora say what a string means, not whether the MLLM saw
right); reviews measure the whole chain. Each reviewed task whose pre-label was a label, with the Finding it was
scored from, is one example: right when the reviewer kept the label. From calibration.MIN_REVIEWED examples on
(with both outcomes among them), a model fitted on them replaces the prior (PRELABEL_CALIBRATION); its expected
calibration error is estimated by 5-fold cross-validation, beside that of the scores reviewers saw.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from prelabel.pipeline.calibration import MIN_REVIEWED, Calibration, cross_validated, fit
from prelabel.pipeline.result import Finding
from prelabel.report.figures import pick_annotation
from prelabel.report.metrics import reliability
from prelabel.report.records import ReportInputError, Row, TaskRecord


@dataclass(frozen=True)
class Refit:
    model: Calibration
    version: str  # the model_version whose pre-labels were reviewed
    reviewed: int  # reviewed labelled tasks it was fitted on
    right: int  # of which the reviewer kept the label
    before: float  # the expected calibration error of the scores reviewers saw
    after: float  # the refit's, 5-fold cross-validated


def examples(records: Sequence[TaskRecord], version: str, policy: str) -> list[tuple[Finding, bool, float]]:
    """(finding, kept by the reviewer, score shown) of each reviewed task the version pre-labelled with a label.
    Auto-accepted tasks are no review; failed ones have no label."""
    found = []
    for record in records:
        prediction = record.predictions.get(version)
        if prediction is None or not record.annotations or record.auto_accepted is not None:
            continue
        finding = prediction.evidence.finding if prediction.evidence else None
        if prediction.label is None or prediction.failed or finding is None:
            continue
        truth = pick_annotation(record.annotations, policy).label
        found.append((finding, truth == prediction.label, prediction.score or 0.0))
    return found


def refit(records: Sequence[TaskRecord], version: str | None, policy: str, project: str) -> Refit:
    """The project's model from its reviews of `version` (default: the version most reviewed tasks have a
    finding for). Raises ReportInputError, saying what is missing, below MIN_REVIEWED or with one outcome only."""
    if version is None:
        counts = Counter(v for record in records if record.annotations for v, prediction in
                         record.predictions.items() if prediction.evidence and prediction.evidence.finding)
        if not counts:
            raise ReportInputError("no reviewed task has a pre-label with its finding (Prelabel before issue 20 "
                                   "kept none): review tasks pre-labelled by this version first")
        version = counts.most_common(1)[0][0]
    found = examples(records, version, policy)
    right = [kept for _, kept, _ in found]
    if len(found) < MIN_REVIEWED:
        raise ReportInputError(f"{len(found)} reviewed task(s) pre-labelled with a label by {version}; a project's "
                               f"own calibration needs {MIN_REVIEWED}: review {MIN_REVIEWED - len(found)} more "
                               "(until then the shipped prior scores)")
    if len(set(right)) < 2:
        raise ReportInputError(f"all {len(found)} reviewed labels were {'kept' if right[0] else 'corrected'}: "
                               "no error rate can be measured from that yet; keep the shipped prior")
    findings = [finding for finding, _, _ in found]
    model = fit(findings, right, f"{project}: {len(found)} reviewed tasks of {version}")
    return Refit(model, version, len(found), sum(right), _ece(right, [score for _, _, score in found]),
                 _ece(right, cross_validated(findings, right)))


def _ece(right: Sequence[bool], scores: Sequence[float]) -> float:
    return reliability([Row(number, "kept", "kept" if kept else "corrected", score=score)
                        for number, (kept, score) in enumerate(zip(right, scores, strict=True))])[1]
