"""Every figure of the report from task records: the policies (which tasks and annotations count, which
model_version, which weights) turn records into rows, and metrics.py turns rows into figures.

The result is one typed record (document.ReportMetrics); the HTML page, its plots and metrics.json are drawn
from it alone.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeVar

from prelabel.pipeline.calibration import PRIOR
from prelabel.report import document, metrics
from prelabel.report.document import Policy, ReportMetrics
from prelabel.report.records import (
    Annotation,
    Attempt,
    Evidence,
    ReportInputError,
    Row,
    SampleMark,
    TaskRecord,
)
from prelabel.report.records import name as _name
from prelabel.report.regions import ReviewedRegions, has_regions, region_figures

STAGES = ("mllm", "clip_image", "fused", "final")
STAGE_NAMES = {"mllm": "MLLM + normaliser alone", "clip_image": "CLIP image alone", "fused": "fused CLIP",
               "final": "final (what Prelabel predicts)"}
POLICIES = ("latest", "first", "majority")
MARGINS = (0.03, 0.05)
CURVE_POINTS = 200  # enough to draw the coverage curve; metrics.json stays small for big projects


@dataclass(frozen=True)
class Options:
    model_version: str | None = None  # None: the sample's, else the project's, else the most frequent
    preferred_version: str | None = None  # the project's model_version, when known
    compare: tuple[str, str] | None = None
    # task -> (string, label) synonyms its annotations taught (the learned store): left out of --compare
    teaching: Mapping[int, Sequence[tuple[str, str]]] = field(default_factory=dict)
    annotation_policy: str = "latest"
    target_accuracy: float = 0.95
    prompt_price: float | None = None  # per million tokens
    completion_price: float | None = None
    use_sample: bool = True
    vocabulary: frozenset[str] | None = None  # the labels Prelabel can give; None: unknown
    could_name: Callable[[str, str], bool] | None = None  # the names screening (sources.name_screen); None: unknown
    none_choice: str = "None of these"
    source: str = ""  # where the records came from, in words
    currency: str = "USD"  # of the prices
    language: str = "en"  # the page's words: the project's reviewers' ("ja" for a Japanese config)
    shown: Mapping[str, str] = field(default_factory=dict)  # label -> the choice its reviewers read, where different


@dataclass
class Report:
    metrics: ReportMetrics
    rows: list[Row] = field(default_factory=list)
    records: dict[int, TaskRecord] = field(default_factory=dict)


StoredAttempt = tuple[int, str, Attempt]  # (task, model_version, the attempt), as the learned store keeps them


def build(records: Sequence[TaskRecord], options: Options, stored: Iterable[StoredAttempt] = ()) -> Report:
    """Every figure. `records`: the tasks read (at least the reviewed ones); `stored`: every attempt the learned
    store kept at the project's tasks, reviewed or not (failures, retries and cost are counted over those)."""
    annotated = [record for record in records if record.annotated]
    if not annotated:
        cancelled = sum(1 for record in records if record.cancelled)
        raise ReportInputError(f"no annotated tasks in {options.source or 'the input'} ({len(records)} task(s) read"
                               + (f", {cancelled} with cancelled annotations only" if cancelled else "")
                               + "): reviewers must accept or correct some pre-labels first "
                               "(`prelabel sample` picks which)")
    version = choose_version(annotated, options)
    sample = latest_sample(annotated) if options.use_sample else None
    in_scope = [r for r in annotated if sample is None or (r.sample and r.sample.sample_id == sample.sample_id)]
    every_row = rows_for(in_scope, version, options.annotation_policy, sample)
    if not every_row:
        raise ReportInputError(f"none of the {len(in_scope)} reviewed task(s) in scope has a pre-label of "
                               f"model_version {version}")
    rows = [row for row in every_row if not row.failed]  # accuracy is over the tasks Prelabel answered
    # Labelled by hand: tasks without a pre-label, and those Prelabel failed on (the reviewer saw no answer).
    without = [annotation.lead_time for record in in_scope if not record.predictions
               for annotation in [pick_annotation(record.annotations, options.annotation_policy)]
               if annotation.lead_time is not None]
    without += [row.lead_time for row in every_row if row.failed and row.lead_time is not None]
    attempts = attempts_for(records, version, stored)
    found = figures(rows, without, options)
    boxed = reviewed_regions(in_scope, version, options.annotation_policy)
    # A region project: the image-level figures stay as they are, these come beside.
    regions = (replace(region_figures(boxed), image_level=any(record.classified for record in in_scope))
               if has_regions(boxed) else None)
    counts = _counts(records, annotated, in_scope, every_row, version)
    said = Said(counts, _sample(sample, every_row), _outside(rows, options.vocabulary), auto_accepted(records, rows))
    return Report(ReportMetrics(
        accuracy=found.accuracy, classes=found.classes, averages=found.averages, none=found.none,
        confusion=found.confusion, confusions=found.confusions, ablation=found.ablation, stages_on=found.stages_on,
        methods=found.methods, unmatched=found.unmatched, calibration=found.calibration,
        reviewer_time=found.reviewer_time,
        cost=metrics.cost(attempts, options.prompt_price, options.completion_price),
        seen_other_version=sum(1 for record in in_scope if version in record.predictions and pick_annotation(
            record.annotations, options.annotation_policy).seen not in ("", version)),
        failures=replace(metrics.failures(attempts, every_row), from_store=any(v == version for _, v, _ in stored)),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), source=options.source,
        model_version=version, versions=dict(versions_found(annotated).most_common()),
        weighted=sample is not None, sample=said.sample, counts=counts, outside_vocabulary=said.outside,
        vocabulary_known=options.vocabulary is not None,
        annotation_policy=options.annotation_policy, none_choice=options.none_choice,
        currency=options.currency, language=options.language, shown=dict(options.shown),
        regions=regions, auto_accepted=said.auto_accepted,
        compare=compare(annotated, options) if options.compare else None,
        policies=policies(said, version, options),
    ), every_row, {record.task_id: record for record in in_scope})


@dataclass(frozen=True)
class Figures:
    """The figures of the answered rows: ReportMetrics. first fields, in its order."""

    accuracy: document.Accuracy
    classes: tuple[metrics.ClassScore, ...]
    averages: metrics.Averages
    none: metrics.NoneAnswers
    confusion: document.ConfusionMatrix
    confusions: tuple[document.NamedConfusion, ...]
    ablation: dict[str, document.StageEstimate]
    stages_on: document.StagesOn
    methods: tuple[metrics.MethodShare, ...]
    unmatched: tuple[document.UnmatchedString, ...]
    calibration: document.Calibration
    reviewer_time: metrics.ReviewerTime


@dataclass(frozen=True)
class Said:
    """What the policies tell besides the options."""

    counts: document.Counts
    sample: document.Sample | None
    outside: tuple[document.OutsideLabel, ...]
    auto_accepted: document.AutoAccepted


def figures(rows: Sequence[Row], without_prelabel: Sequence[float], options: Options) -> Figures:
    top1 = metrics.accuracy(rows)
    classes = metrics.per_class(rows)
    bins, ece = metrics.reliability(rows)
    curve = metrics.coverage_curve(rows)
    accept = metrics.auto_accept(rows, options.target_accuracy)
    cells = metrics.confusion(rows)
    labels = sorted({label for pair in cells for label in pair}, key=lambda label: (label is None, label or ""))
    return Figures(
        accuracy=document.Accuracy(top1, {round(m * 100): top1.more_tasks_for(m) for m in MARGINS},
                                   metrics.top_k(rows)),
        classes=tuple(replace(score, label=_name(score.label)) for score in classes),
        averages=metrics.averages(rows, classes),
        none=metrics.none_answers(rows),
        confusion=document.ConfusionMatrix(tuple(_name(label) for label in labels), tuple(
            tuple(cells.get((truth, predicted), (0, 0.0))[0] for predicted in labels) for truth in labels)),
        confusions=tuple(document.NamedConfusion(_name(entry.truth), _name(entry.predicted), entry.tasks, entry.share)
                         for entry in metrics.frequent_confusions(rows)),
        ablation={stage: document.StageEstimate(value.value, value.low, value.high, value.n, value.n_effective,
                                                value.weight, STAGE_NAMES[stage])
                  for stage, value in metrics.stage_accuracy(rows, STAGES).items()},
        stages_on=stages_on(rows),
        methods=tuple(metrics.methods(rows)),
        unmatched=tuple(document.UnmatchedString(entry.string, entry.tasks,
                                                 tuple((_name(label), n) for label, n in entry.reviewed_as))
                        for entry in metrics.unmatched_strings(rows, could_name=options.could_name)),
        calibration=document.Calibration(
            bins=tuple(bins), ece=ece, target=options.target_accuracy, threshold=accept.recommended,
            auto_accept=document.AutoAcceptFigures(accept.target, accept.reviewed, accept.recommended,
                                                   accept.settle, _thin(accept.points)),
            curve=_thin(curve), scored=len(metrics.scored(rows)),
            by_prior=sum(row.scored_by == PRIOR for row in metrics.scored(rows))),
        reviewer_time=metrics.reviewer_time(rows, without_prelabel),
    )


def stages_on(rows: Sequence[Row]) -> document.StagesOn:
    """Which stages ran for these tasks, as their kept scores and answers show."""
    kept = [row.stages or {} for row in rows]
    return document.StagesOn(
        mllm=any(row.method is not None for row in rows) or any("mllm" in stages for stages in kept),
        clip=any("clip_image" in stages for stages in kept))


def attempts_for(records: Sequence[TaskRecord], version: str,
                 stored: Iterable[StoredAttempt]) -> dict[int, list[Attempt]]:
    """Every attempt at every task of `version`: the learned store's, and for a task it has none of (an export
    of `prelabel predict` output, evidence older than the attempts table), the one attempt its record shows."""
    found: dict[int, list[Attempt]] = defaultdict(list)
    for task_id, kept_version, attempt in stored:
        if kept_version == version:
            found[task_id].append(attempt)
    for record in records:
        prediction = record.predictions.get(version)
        if prediction is not None and record.task_id not in found:
            evidence = prediction.evidence
            found[record.task_id].append(Attempt(prediction.failed, prediction.cause,
                                                 evidence.usage if evidence else {}))
    return dict(found)


def auto_accepted(records: Sequence[TaskRecord], rows: Sequence[Row]) -> document.AutoAccepted:
    """Tasks `prelabel accept` annotated (nobody reviewed them: they are in no other figure), by model_version
    and threshold, beside the pre-labels reviewers confirmed."""
    made = [record for record in records if record.auto_accepted is not None]
    groups = Counter((record.auto_accepted.model_version, record.auto_accepted.threshold)  # type: ignore[union-attr]
                     for record in made)
    return document.AutoAccepted(
        tasks=len(made), reviewed_since=sum(1 for record in made if record.annotated),
        by_threshold=tuple(document.AutoAcceptedBy(version, threshold, count)
                           for (version, threshold), count in sorted(groups.items())),
        reviewer_confirmed=sum(1 for row in rows if row.correct))


# ---- policies: which annotation, which version, which weights ----------------------------------------------

def pick_annotation(annotations: Sequence[Annotation], policy: str) -> Annotation:
    """latest (default): the last word on the task; first: the first reviewer's; majority: the label most
    reviewers gave, ties to the latest of them. `annotations` are oldest first."""
    if policy == "first":
        return annotations[0]
    if policy == "majority":
        counts = Counter(annotation.label for annotation in annotations)
        best = max(counts.values())
        return [annotation for annotation in annotations if counts[annotation.label] == best][-1]
    return annotations[-1]


def versions_found(records: Sequence[TaskRecord]) -> Counter[str]:
    return Counter(version for record in records for version in record.predictions)


def choose_version(annotated: Sequence[TaskRecord], options: Options) -> str:
    asked = [options.model_version] if options.model_version else []
    sample = latest_sample(annotated)
    return pick_version(versions_found(annotated), [*asked, *(options.compare or ())],
                        [*asked, *(options.compare or ())[1:], sample.model_version if sample else None,
                         options.preferred_version], f"{len(annotated)} reviewed task(s)")


def pick_version(found: Counter[str], required: Sequence[str], preferred: Sequence[str | None], what: str) -> str:
    """The first preferred version some task has, else the most frequent; every required one must exist."""
    listing = ", ".join(f"{version} ({count} task(s))" for version, count in found.most_common()) or "none"
    for version in required:
        if version not in found:
            raise ReportInputError(f"no task among {what} has a pre-label of model_version {version}; "
                                   f"model_versions found: {listing}")
    if not found:
        raise ReportInputError(f"none of {what} has a pre-label (a prediction, or Prelabel's evidence in the "
                               "learned store or in meta.prelabel)")
    for wanted in preferred:
        if wanted and wanted in found:
            return wanted
    return min(found, key=lambda version: (-found[version], version))


def latest_sample(records: Sequence[TaskRecord]) -> SampleMark | None:
    """The newest sample any reviewed task belongs to (sample ids start with their UTC time)."""
    marks = [record.sample for record in records if record.sample is not None]
    return max(marks, key=lambda mark: mark.sample_id) if marks else None


def rows_for(records: Sequence[TaskRecord], version: str, policy: str, sample: SampleMark | None) -> list[Row]:
    chosen = [(record, record.predictions[version], pick_annotation(record.annotations, policy))
              for record in records if version in record.predictions]
    weights: dict[str | None, float] = {}
    if sample is not None:
        reviewed = Counter(record.sample.stratum for record, _, _ in chosen)  # type: ignore[union-attr]
        population = {stratum: size for stratum, (size, _) in sample.strata.items()}
        weights = metrics.weights_for(population, reviewed)
    rows = []
    for record, prediction, annotation in chosen:
        evidence = prediction.evidence
        stratum = record.sample.stratum if sample is not None else prediction.stratum  # type: ignore[union-attr]
        rows.append(Row(
            task_id=record.task_id, truth=annotation.label, predicted=prediction.label,
            weight=weights.get(stratum, 1.0) if sample is not None else 1.0, stratum=stratum,
            score=prediction.score if prediction.label is not None else None,
            ranking=evidence.ranking if evidence else (),
            stages=({**stage_tops(evidence), "final": prediction.label}  # what was delivered, as top-1 counts it
                    if evidence and evidence.stage_scores else None),
            method=task_method(evidence) if evidence else None,
            # A lead time measures the pre-label the reviewer worked on: another version's says nothing of this one.
            candidates=evidence.candidates if evidence else (),
            lead_time=annotation.lead_time if annotation.seen in ("", version) else None,
            usage=evidence.usage if evidence else {}, failed=prediction.failed, cause=prediction.cause,
            scored_by=evidence.scored_by if evidence else ""))
    return rows


def reviewed_regions(records: Sequence[TaskRecord], version: str, policy: str) -> list[ReviewedRegions]:
    """The boxes of each reviewed task the version answered, as the counted annotation left them."""
    found = []
    for record in records:
        prediction = record.predictions.get(version)
        if prediction is None or prediction.failed:
            continue
        annotation = pick_annotation(record.annotations, policy)
        found.append(ReviewedRegions(record.task_id, prediction.boxes, annotation.boxes,
                                     annotation.lead_time if annotation.seen in ("", version) else None))
    return found


def stage_tops(evidence: Evidence) -> dict[str, str | None]:
    return {stage: (max(scores, key=lambda label: scores[label]) if scores else None)
            for stage, scores in evidence.stage_scores.items() if isinstance(scores, dict)}


def task_method(evidence: Evidence) -> str | None:
    """How the MLLM's answer became its label: the method of the best-scoring MLLM string (or the stage-2
    reply) that named the MLLM stage's top label; "ambiguous" or "none" when it named none. None when no
    MLLM answer was kept (MLLM off, or stage 1 failed)."""
    if not evidence.candidates and evidence.stage2 is None:
        return None
    scores = evidence.stage_scores.get("mllm") or {}
    top = max(scores, key=lambda label: scores[label]) if scores else None
    named = [(c.score, c.method) for c in evidence.candidates if top is not None and c.label == top]
    stage2 = evidence.stage2
    if top is not None and stage2 is not None and stage2.label == top:
        named.append((stage2.score, "stage2"))
    if named:
        return max(named, key=lambda pair: pair[0])[1]  # max keeps the first of equals: classification first
    methods = {c.method for c in evidence.candidates}
    return "ambiguous" if "ambiguous" in methods else "none"


# ---- comparing two versions --------------------------------------------------------------------------------

def compare(annotated: Sequence[TaskRecord], options: Options) -> document.Comparison:
    """The two versions on the reviewed tasks both answered, less those whose annotations taught a synonym now
    in force: a version using it has learned their answer, and would be graded on what it was taught."""
    first, second = options.compare  # type: ignore[misc]
    answered = [record for record in annotated if first in record.predictions and second in record.predictions
                and not record.predictions[first].failed and not record.predictions[second].failed]
    both = [record for record in answered if record.task_id not in options.teaching]
    taught = sorted({pair for record in answered for pair in options.teaching.get(record.task_id, ())})
    pairs: list[tuple[bool, bool]] = []
    changed: list[document.Changed] = []
    for record in both:
        truth = pick_annotation(record.annotations, options.annotation_policy).label
        a, b = record.predictions[first].label, record.predictions[second].label
        pairs.append((a == truth, b == truth))
        if a != b:
            verdict: document.Verdict = "fixed" if b == truth else "broken" if a == truth else "still wrong"
            changed.append(document.Changed(record.task_id, _name(a), _name(b), _name(truth), verdict))
    return document.Comparison(
        first=first, second=second, paired=metrics.paired_difference(pairs), changed=tuple(changed),
        left_out_teaching=len(answered) - len(both),
        taught=tuple(document.Taught(string, label) for string, label in taught),
        left_out_failed=sum(1 for record in annotated if first in record.predictions
                            and second in record.predictions) - len(answered))


# ---- what the report says about itself ---------------------------------------------------------------------

def policies(said: Said, version: str, options: Options) -> tuple[Policy, ...]:
    """What the report counts and how, as records (a code and its figures) the page says in its language
    (templates/say.*.j2, `policy`)."""
    counts, sample, accepted = said.counts, said.sample, said.auto_accepted.tasks
    found: list[Policy] = [
        document.Counted(counts.annotated, counts.tasks, counts.cancelled_only),
        document.Several(counts.several_annotations, options.annotation_policy),
        document.NoneChoice(options.none_choice),
        document.Outside(sum(entry.tasks for entry in said.outside))
        if options.vocabulary is not None else document.OutsideUnknown(),
        document.Version(version, counts.rows, counts.other_version),
        document.Answered(counts.answered, counts.failed),
    ]
    if accepted:
        found.append(document.AutoAcceptedTasks(accepted))
    if sample:
        found.append(document.Weighted(sample.id, sample.sampled, sample.population, counts.outside_sample))
        if sample.unreviewed_population:
            found.append(document.UnreviewedStrata(sample.unreviewed_population))
    else:
        found.append(document.Unweighted())
    found.append(document.Intervals(sample is not None))
    return tuple(found)


def _counts(records: Sequence[TaskRecord], annotated: Sequence[TaskRecord], in_scope: Sequence[TaskRecord],
            rows: Sequence[Row], version: str) -> document.Counts:
    return document.Counts(
        tasks=len(records), annotated=len(annotated),
        cancelled_only=sum(1 for r in records if r.cancelled and not r.annotated),
        several_annotations=sum(1 for r in annotated if len(r.annotations) > 1),
        outside_sample=len(annotated) - len(in_scope), rows=len(rows),
        answered=sum(1 for row in rows if not row.failed), failed=sum(1 for row in rows if row.failed),
        other_version=sum(1 for r in in_scope if r.predictions and version not in r.predictions),
        without_prelabel=sum(1 for r in in_scope if not r.predictions))


def _sample(sample: SampleMark | None, rows: Sequence[Row]) -> document.Sample | None:
    if sample is None:
        return None
    reviewed = Counter(row.stratum for row in rows)
    strata = tuple(document.Stratum(_name(stratum), size, taken, reviewed.get(stratum, 0),
                                    size / reviewed[stratum] if reviewed.get(stratum) else None)
                   for stratum, (size, taken) in sorted(sample.strata.items(), key=lambda item: -item[1][0]))
    return document.Sample(
        id=sample.sample_id, seed=sample.seed, model_version=sample.model_version,
        population=sum(s.population for s in strata), sampled=sum(s.sampled for s in strata), strata=strata,
        unreviewed_population=sum(s.population for s in strata if not s.reviewed))


def _outside(rows: Sequence[Row], vocabulary: frozenset[str] | None) -> tuple[document.OutsideLabel, ...]:
    if vocabulary is None:
        return ()
    counts = Counter(row.truth for row in rows if row.truth is not None and row.truth not in vocabulary)
    return tuple(document.OutsideLabel(label, n) for label, n in counts.most_common())


P = TypeVar("P")


def _thin(curve: Sequence[P]) -> tuple[P, ...]:
    if len(curve) <= CURVE_POINTS:
        return tuple(curve)
    step = len(curve) / CURVE_POINTS
    return tuple([curve[int(i * step)] for i in range(CURVE_POINTS)] + [curve[-1]])
