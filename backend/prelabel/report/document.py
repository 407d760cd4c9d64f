"""The report's figures as one typed, frozen record (`ReportMetrics`): what figures.py builds from the rows, what the
page (html.py, plots.py, templates/) shows and what metrics.json holds (jsonfile.py writes it, field by field in
this order: the fields' names are the file's keys).

Labels here are names as tables show them (records.NONE_NAME for none); metrics.py's records keep None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from prelabel.report.jsonfile import INLINE, OMIT_NONE
from prelabel.report.metrics import (
    AcceptPoint,
    Averages,
    Bin,
    ClassScore,
    Cost,
    CurvePoint,
    Estimate,
    Failures,
    MethodShare,
    NoneAnswers,
    PairedDifference,
    ReviewerTime,
    SettlePoint,
)
from prelabel.report.regions import RegionFigures


@dataclass(frozen=True)
class Accuracy:
    top1: Estimate  # over the reviewed tasks Prelabel answered
    more_tasks: Mapping[int, int]  # margin in points (3, 5) -> more reviewed tasks that would narrow it so
    top_k: Mapping[int, Estimate]  # k -> the reviewed label among the first k of the ranking

    @property
    def top1_ranked(self) -> Estimate:
        """top_k's k = 1: over the tasks with a ranking and a label (its n says how many)."""
        return self.top_k[1]


@dataclass(frozen=True)
class ConfusionMatrix:
    labels: tuple[str, ...]  # rows (the reviewers') and columns (Prelabel's), none last
    counts: tuple[tuple[int, ...], ...]  # reviewed tasks


@dataclass(frozen=True)
class NamedConfusion:
    truth: str
    predicted: str
    tasks: int
    share: float  # of all tasks, weighted


@dataclass(frozen=True)
class StageEstimate(Estimate):
    """A stage's own top-1 on the tasks with stage scores kept."""

    name: str  # in English (the page says it in its language)


@dataclass(frozen=True)
class StagesOn:
    mllm: bool
    clip: bool


@dataclass(frozen=True)
class UnmatchedString:
    string: str
    tasks: int
    reviewed_as: tuple[tuple[str, int], ...]  # (label name, tasks), most first


@dataclass(frozen=True)
class Calibration:
    bins: tuple[Bin, ...]  # the reliability diagram's ten
    ece: float  # expected calibration error
    target: float  # the accuracy asked of an auto-accept threshold
    threshold: AcceptPoint | None  # the recommended one (auto_accept.recommended)
    auto_accept: AutoAcceptFigures
    curve: tuple[CurvePoint, ...]  # thinned to at most figures.CURVE_POINTS + 1
    scored: int  # pre-labels with a label and a score
    by_prior: int  # of which the shipped prior scored


@dataclass(frozen=True)
class AutoAcceptFigures:
    """metrics.AutoAccept with its points thinned like the curve."""

    target: float
    reviewed: int
    recommended: AcceptPoint | None
    settle: SettlePoint | None
    points: tuple[AcceptPoint, ...]


@dataclass(frozen=True)
class Stratum:
    label: str
    population: int  # tasks of the project
    sampled: int
    reviewed: int
    weight: float | None  # population / reviewed; None: nobody reviewed one yet


@dataclass(frozen=True)
class Sample:
    id: str
    seed: int | None
    model_version: str
    population: int
    sampled: int
    strata: tuple[Stratum, ...]  # the biggest first
    unreviewed_population: int  # tasks of the strata nobody reviewed yet


@dataclass(frozen=True)
class Counts:
    tasks: int  # read
    annotated: int  # with an annotation that counts
    cancelled_only: int
    several_annotations: int
    outside_sample: int  # annotated, not in the sample reported on
    rows: int  # reviewed tasks with a pre-label of the version
    answered: int
    failed: int
    other_version: int  # reviewed tasks with pre-labels of other versions only
    without_prelabel: int


@dataclass(frozen=True)
class OutsideLabel:
    label: str  # a label reviewers gave that the vocabulary lacks
    tasks: int


@dataclass(frozen=True)
class AutoAcceptedBy:
    model_version: str
    threshold: float
    tasks: int


@dataclass(frozen=True)
class AutoAccepted:
    tasks: int  # annotated by `prelabel accept`
    reviewed_since: int
    by_threshold: tuple[AutoAcceptedBy, ...]
    reviewer_confirmed: int  # reviewed pre-labels that were right


Verdict = Literal["fixed", "broken", "still wrong"]


@dataclass(frozen=True)
class Changed:
    task_id: int
    first: str
    second: str
    truth: str
    verdict: Verdict


@dataclass(frozen=True)
class Taught:
    string: str
    label: str


@dataclass(frozen=True)
class Comparison:
    first: str
    second: str
    paired: PairedDifference = field(metadata=INLINE)  # its figures stand among the comparison's
    changed: tuple[Changed, ...]
    left_out_teaching: int
    taught: tuple[Taught, ...]
    left_out_failed: int


# ---- the policies: what the report counts and how, each a code and its figures (templates/say.*.j2, `policy`)

@dataclass(frozen=True)
class Counted:
    code: Literal["counted"] = field(default="counted", init=False)
    annotated: int
    tasks: int
    cancelled_only: int


@dataclass(frozen=True)
class Several:
    code: Literal["several"] = field(default="several", init=False)
    tasks: int
    policy: str


@dataclass(frozen=True)
class NoneChoice:
    code: Literal["none"] = field(default="none", init=False)
    none_choice: str


@dataclass(frozen=True)
class Outside:
    code: Literal["outside"] = field(default="outside", init=False)
    tasks: int


@dataclass(frozen=True)
class OutsideUnknown:
    code: Literal["outside_unknown"] = field(default="outside_unknown", init=False)


@dataclass(frozen=True)
class Version:
    code: Literal["version"] = field(default="version", init=False)
    model_version: str
    rows: int
    other_version: int


@dataclass(frozen=True)
class Answered:
    code: Literal["answered"] = field(default="answered", init=False)
    answered: int
    failed: int


@dataclass(frozen=True)
class AutoAcceptedTasks:
    code: Literal["auto_accepted"] = field(default="auto_accepted", init=False)
    tasks: int


@dataclass(frozen=True)
class Weighted:
    code: Literal["weighted"] = field(default="weighted", init=False)
    sample: str
    sampled: int
    population: int
    outside_sample: int


@dataclass(frozen=True)
class UnreviewedStrata:
    code: Literal["unreviewed_strata"] = field(default="unreviewed_strata", init=False)
    tasks: int


@dataclass(frozen=True)
class Unweighted:
    code: Literal["unweighted"] = field(default="unweighted", init=False)


@dataclass(frozen=True)
class Intervals:
    code: Literal["intervals"] = field(default="intervals", init=False)
    weighted: bool


Policy = (Counted | Several | NoneChoice | Outside | OutsideUnknown | Version | Answered | AutoAcceptedTasks
          | Weighted | UnreviewedStrata | Unweighted | Intervals)


@dataclass(frozen=True)
class ReportMetrics:
    """Every figure of the report (metrics.json, in this order)."""

    accuracy: Accuracy
    classes: tuple[ClassScore, ...]  # labels as names, none last
    averages: Averages
    none: NoneAnswers
    confusion: ConfusionMatrix
    confusions: tuple[NamedConfusion, ...]  # the most frequent
    ablation: Mapping[str, StageEstimate]  # by stage (figures.STAGES), those some task has
    stages_on: StagesOn
    methods: tuple[MethodShare, ...]
    unmatched: tuple[UnmatchedString, ...]
    calibration: Calibration
    reviewer_time: ReviewerTime
    cost: Cost
    seen_other_version: int  # reviewed tasks reviewed on another version's pre-label
    failures: Failures
    generated: str  # UTC time
    source: str  # where the records came from, in words
    model_version: str
    versions: Mapping[str, int]  # every model_version of the reviewed tasks: how many have one
    weighted: bool
    sample: Sample | None
    counts: Counts
    outside_vocabulary: tuple[OutsideLabel, ...]
    vocabulary_known: bool
    annotation_policy: str
    none_choice: str
    currency: str
    language: str
    shown: Mapping[str, str]  # label -> the choice its reviewers read, where different
    regions: RegionFigures | None = field(metadata=OMIT_NONE)  # a region project's figures
    auto_accepted: AutoAccepted
    compare: Comparison | None
    policies: tuple[Policy, ...]
