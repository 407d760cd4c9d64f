"""The report's statistics: pure functions over rows (one reviewed task each, with a weight).

Weights: without a sample every row weighs 1. With a `prelabel sample`, a row of stratum h weighs N_h / r_h
(tasks of the stratum in the project / reviewed tasks of the stratum), so weighted shares are the stratified
estimates of the whole project's figures. Confidence intervals are Wilson score intervals at the Kish effective
sample size (sum w)^2 / sum w^2: equal weights give the plain Wilson interval; unequal weights widen it. That
ignores what stratifying gains, so with a sample the intervals are on the safe side.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from prelabel.report.records import Attempt, Row

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval


# ---- proportions and their intervals -------------------------------------------------------------------------

def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of successes / n (n may be an effective, non-integer size)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # The interval holds p; at p = 0 or 1 rounding can leave an end a hair beyond it (a negative error bar).
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))


def wilson_half_width(p: float, n: float, z: float = Z95) -> float:
    low, high = wilson(p * n, n, z)
    return (high - low) / 2


def tasks_for_margin(p: float, margin: float, z: float = Z95) -> int:
    """The fewest reviewed tasks whose Wilson interval at share p is at most +-margin wide."""
    # The half-width shrinks as n grows and is widest at p = 0.5, where it is z / (2 sqrt(n + z^2)): so
    # z^2 / (4 margin^2) tasks always suffice, and a bisection finds the fewest.
    low, high = 1, max(1, math.ceil(z * z / (4 * margin * margin)))
    while low < high:
        middle = (low + high) // 2
        if wilson_half_width(p, middle, z) <= margin:
            high = middle
        else:
            low = middle + 1
    return low


@dataclass(frozen=True)
class Estimate:
    """A weighted share with its 95% interval."""

    value: float
    low: float
    high: float
    n: int  # reviewed tasks
    n_effective: float  # Kish effective sample size
    weight: float  # the tasks of the project they stand for

    def more_tasks_for(self, margin: float) -> int:
        """How many more reviewed tasks (taken like these) bring the interval to +-margin."""
        if self.n == 0:
            return tasks_for_margin(0.5, margin)
        design_effect = self.n / self.n_effective
        return max(0, math.ceil(tasks_for_margin(self.value, margin) * design_effect) - self.n)


def estimate(hits: Iterable[bool], weights: Iterable[float]) -> Estimate:
    pairs = list(zip(hits, weights, strict=True))
    total = sum(w for _, w in pairs)
    if not pairs or total <= 0:
        return Estimate(0.0, 0.0, 1.0, 0, 0.0, 0.0)
    value = sum(w for hit, w in pairs if hit) / total
    effective = total * total / sum(w * w for _, w in pairs)
    low, high = wilson(value * effective, effective)
    return Estimate(value, low, high, len(pairs), effective, total)


def accuracy(rows: Sequence[Row]) -> Estimate:
    return estimate((row.correct for row in rows), (row.weight for row in rows))


def top_k(rows: Sequence[Row], ks: Sequence[int] = (1, 2, 3, 5)) -> dict[int, Estimate]:
    """Share of tasks whose reviewed label is among the first k of the stored ranking. Only tasks with a
    ranking and a label count: a none answer is never in a ranking of labels."""
    ranked = [row for row in rows if row.ranking and row.truth is not None]
    return {k: estimate((row.truth in row.ranking[:k] for row in ranked), (row.weight for row in ranked))
            for k in ks}


# ---- classes ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassScore:
    """None where the figure is undefined: precision of a label never predicted, recall of one nobody gave."""

    label: str | None
    precision: float | None
    recall: float | None
    f1: float | None
    support: int  # reviewed tasks with this label
    estimated: float  # tasks of the project with this label (the weighted support)
    predicted: int  # reviewed tasks Prelabel gave this label


def confusion(rows: Sequence[Row]) -> dict[tuple[str | None, str | None], tuple[int, float]]:
    """(reviewed label, predicted label) -> (reviewed tasks, weighted tasks)."""
    cells: dict[tuple[str | None, str | None], tuple[int, float]] = {}
    for row in rows:
        count, weight = cells.get((row.truth, row.predicted), (0, 0.0))
        cells[row.truth, row.predicted] = (count + 1, weight + row.weight)
    return cells


def per_class(rows: Sequence[Row]) -> list[ClassScore]:
    """Precision, recall and F1 per label (none included, as its own class), from weighted counts. A share
    with nothing to divide is undefined (None), not 0: a label never predicted has no precision, one no reviewer
    gave no recall; F1 is undefined where either is."""
    true_positive: dict[str | None, float] = defaultdict(float)
    predicted: dict[str | None, float] = defaultdict(float)
    actual: dict[str | None, float] = defaultdict(float)
    support: Counter[str | None] = Counter()
    predicted_count: Counter[str | None] = Counter()
    for row in rows:
        predicted[row.predicted] += row.weight
        actual[row.truth] += row.weight
        support[row.truth] += 1
        predicted_count[row.predicted] += 1
        if row.correct:
            true_positive[row.truth] += row.weight
    labels = sorted(set(actual) | set(predicted), key=lambda label: (label is None, label or ""))
    scores = []
    for label in labels:
        precision = true_positive[label] / predicted[label] if predicted[label] else None
        recall = true_positive[label] / actual[label] if actual[label] else None
        f1 = None if precision is None or recall is None else _ratio(2 * precision * recall, precision + recall)
        scores.append(ClassScore(label, precision, recall, f1, support[label], actual[label],
                                 predicted_count[label]))
    return scores


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of the labels together (averaged or pooled)."""

    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class Averages:
    macro: Scores  # the mean over labels reviewers gave
    micro: Scores  # from pooled counts


def averages(rows: Sequence[Row], scores: Sequence[ClassScore]) -> Averages:
    """Macro: the mean over labels that reviewers gave (support > 0), of the figures defined (a label never
    predicted has no precision to average). Micro: pooled counts. Both over the vocabulary's labels only: none
    is the negative answer and has its own section. With no none anywhere, micro precision = micro recall =
    accuracy."""
    labelled = [score for score in scores if score.label is not None and score.support > 0]
    macro = Scores(*(_mean([value for score in labelled if (value := figure(score)) is not None])
                     for figure in (_precision, _recall, _f1)))
    hits = sum(row.weight for row in rows if row.correct and row.truth is not None)
    said = sum(row.weight for row in rows if row.predicted is not None)
    present = sum(row.weight for row in rows if row.truth is not None)
    precision, recall = _ratio(hits, said), _ratio(hits, present)
    return Averages(macro, Scores(precision, recall, _ratio(2 * precision * recall, precision + recall)))


def _precision(score: ClassScore) -> float | None:
    return score.precision


def _recall(score: ClassScore) -> float | None:
    return score.recall


def _f1(score: ClassScore) -> float | None:
    return score.f1


@dataclass(frozen=True)
class NoneAnswers:
    """The none class: counts of reviewed tasks, shares weighted."""

    said_none: int  # Prelabel said none
    said_none_share: float  # of all tasks
    said_none_right: int  # ... and the reviewer said none too
    said_none_precision: float  # of the tasks it said none on
    missed_labels: int  # said none, the reviewer gave a label
    reviewer_none: int  # the reviewer said none
    none_recall: float  # of the tasks the reviewer said none on, Prelabel said none too
    label_where_none: int  # Prelabel gave a label where the reviewer said none


def none_answers(rows: Sequence[Row]) -> NoneAnswers:
    """The none class, explicitly: how often Prelabel said none and was right, how often a reviewer found a
    label it missed, how often it gave a label where the reviewer said none."""
    said_none = [row for row in rows if row.predicted is None]
    right = [row for row in said_none if row.truth is None]
    missed = [row for row in said_none if row.truth is not None]
    false_alarms = [row for row in rows if row.predicted is not None and row.truth is None]
    reviewed_none = [row for row in rows if row.truth is None]
    total = sum(row.weight for row in rows)
    return NoneAnswers(
        said_none=len(said_none),
        said_none_share=_ratio(sum(r.weight for r in said_none), total),
        said_none_right=len(right),
        said_none_precision=_ratio(sum(r.weight for r in right), sum(r.weight for r in said_none)),
        missed_labels=len(missed),
        reviewer_none=len(reviewed_none),
        none_recall=_ratio(sum(r.weight for r in right), sum(r.weight for r in reviewed_none)),
        label_where_none=len(false_alarms),
    )


@dataclass(frozen=True)
class Confusion:
    """One kind of mistake: the reviewer's label, Prelabel's (None: none; figures.py writes their names)."""

    truth: str | None
    predicted: str | None
    tasks: int  # reviewed tasks
    share: float  # of all tasks, weighted


def frequent_confusions(rows: Sequence[Row], limit: int = 10) -> list[Confusion]:
    """The most frequent (reviewed label, predicted label) mistakes, most weighted tasks first."""
    cells = [(truth, predicted, count, weight) for (truth, predicted), (count, weight) in confusion(rows).items()
             if truth != predicted]
    total = sum(row.weight for row in rows)
    cells.sort(key=lambda cell: (-cell[3], -cell[2], str(cell[0]), str(cell[1])))
    return [Confusion(truth, predicted, count, _ratio(weight, total))
            for truth, predicted, count, weight in cells[:limit]]


# ---- stages and normalisation ------------------------------------------------------------------------------------

def stage_accuracy(rows: Sequence[Row], stages: Sequence[str]) -> dict[str, Estimate]:
    """Each stage's own top-1 on the tasks with stage scores kept, all stages on the same tasks. A stage
    that kept no score for a task (nothing matched, or it failed there) said none for it. A stage no task
    has is left out."""
    kept = [row for row in rows if row.stages is not None]
    found = {}
    for stage in stages:
        if any(stage in row.stages for row in kept):  # type: ignore[operator]
            found[stage] = estimate((row.stages.get(stage) == row.truth for row in kept),  # type: ignore[union-attr]
                                    (row.weight for row in kept))
    return found


@dataclass(frozen=True)
class MethodShare:
    """One normaliser match method: its tasks, their weighted share, how often its label was the reviewed one."""

    method: str
    tasks: int
    share: float
    accuracy: Estimate


def methods(rows: Sequence[Row]) -> list[MethodShare]:
    """Per match method: share of tasks, and how often the MLLM + normaliser's label was the reviewed one."""
    with_method = [row for row in rows if row.method is not None]
    total = sum(row.weight for row in with_method)
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in with_method:
        groups[row.method].append(row)  # type: ignore[index]
    table = []
    for method, group in groups.items():
        hits = [(row.stages or {}).get("mllm") == row.truth for row in group]
        table.append(MethodShare(method, len(group), _ratio(sum(r.weight for r in group), total),
                                 estimate(hits, (row.weight for row in group))))
    return sorted(table, key=lambda entry: (-entry.share, entry.method))


@dataclass(frozen=True)
class Unmatched:
    """An MLLM string that normalised to no label, and the labels reviewers gave its tasks (most first)."""

    string: str
    tasks: int
    reviewed_as: tuple[tuple[str | None, int], ...]  # (label, tasks); None: none (figures.py writes its name)


def unmatched_strings(rows: Sequence[Row], limit: int = 20,
                      could_name: Callable[[str, str], bool] | None = None) -> list[Unmatched]:
    """MLLM strings (classification and candidates, not free descriptions) that normalised to no label,
    most frequent first, with the labels reviewers gave those tasks: what the vocabulary should learn.
    `could_name(string, label)`: whether the string could be a name of the label reviewers gave most (the
    screening `prelabel vocab accept` applies); the others (group words, none words...) are left out."""
    counts: Counter[str] = Counter()
    labels: dict[str, Counter[str | None]] = defaultdict(Counter)
    spelled: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        seen = set()
        for candidate in row.candidates:
            text = candidate.text.strip()
            if not text or candidate.source == "description" or candidate.label is not None:
                continue
            key = text.casefold()
            if key in seen:
                continue
            seen.add(key)
            counts[key] += 1
            spelled[key][text] += 1
            labels[key][row.truth] += 1
    found = []
    for key, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        string, label = spelled[key].most_common(1)[0][0], labels[key].most_common(1)[0][0]
        if could_name is not None and label is not None and not could_name(string, label):
            continue
        found.append(Unmatched(string, count, tuple(labels[key].most_common())))
    return found[:limit]


# ---- calibration -------------------------------------------------------------------------------------------------

def scored(rows: Sequence[Row]) -> list[Row]:
    """Tasks with a predicted label and its score: only those can be auto-accepted by a threshold."""
    return [row for row in rows if row.predicted is not None and row.score is not None]


@dataclass(frozen=True)
class Bin:
    """A score bin [low, high) of the reliability diagram; score and accuracy None when no task is in it."""

    low: float
    high: float
    tasks: int
    score: float | None  # the mean score in the bin
    accuracy: float | None


def reliability(rows: Sequence[Row], bins: int = 10) -> tuple[list[Bin], float]:
    """Equal-width score bins [i/bins, (i+1)/bins) (the last one closed) with their mean score and
    accuracy; the expected calibration error sum_b (w_b / w) |accuracy_b - score_b|."""
    table: list[Bin] = []
    pairs = [(row.score or 0.0, row) for row in scored(rows)]
    total = sum(row.weight for _, row in pairs)
    ece = 0.0
    for number in range(bins):
        low, high = number / bins, (number + 1) / bins
        inside = [(s, row) for s, row in pairs if low <= s < high or (number == bins - 1 and s == high)]
        weight = sum(row.weight for _, row in inside)
        if not inside:
            table.append(Bin(low, high, 0, None, None))
            continue
        mean_score = sum(s * row.weight for s, row in inside) / weight
        hit_rate = sum(row.weight for _, row in inside if row.correct) / weight
        ece += weight / total * abs(hit_rate - mean_score)
        table.append(Bin(low, high, len(inside), mean_score, hit_rate))
    return table, ece


@dataclass(frozen=True)
class CurvePoint:
    """Accepting every pre-label scored >= threshold: the reviewed tasks that covers, their weighted share of
    all tasks (coverage) and their accuracy."""

    threshold: float
    tasks: int
    coverage: float
    accuracy: float


@dataclass(frozen=True)
class AcceptPoint(CurvePoint):
    """A threshold with the 95% Wilson interval of its accuracy at the Kish effective size."""

    low: float
    high: float
    n_effective: float


@dataclass(frozen=True)
class SettlePoint(AcceptPoint):
    """The threshold that needs the fewest more reviewed tasks to be recommended, and how many."""

    more_tasks: int


def coverage_curve(rows: Sequence[Row]) -> list[CurvePoint]:
    """For each score threshold t (the scores found): the share of all tasks with a label scored >= t
    (coverage; tasks where Prelabel said none are never covered) and the accuracy on them."""
    total = sum(row.weight for row in rows)
    ordered = sorted(scored(rows), key=lambda row: -(row.score or 0.0))
    points: list[CurvePoint] = []
    weight = hits = 0.0
    for index, row in enumerate(ordered):
        weight += row.weight
        hits += row.weight if row.correct else 0.0
        if index + 1 < len(ordered) and ordered[index + 1].score == row.score:
            continue  # a threshold takes every task of its score
        points.append(CurvePoint(_score(row), index + 1, _ratio(weight, total), hits / weight))
    return points


def threshold_for(points: Sequence[CurvePoint], target: float) -> CurvePoint | None:
    """The lowest threshold whose covered tasks reach the target accuracy (so the most tasks), or None."""
    reaching = [point for point in points if point.accuracy >= target]
    return min(reaching, key=lambda point: point.threshold) if reaching else None


def tasks_for_lower_bound(p: float, target: float, z: float = Z95) -> int | None:
    """The fewest reviewed tasks at accuracy p whose Wilson lower bound reaches the target; None when p does
    not exceed the target (no number of tasks would do)."""
    if p <= target:
        return None
    high = 1
    while wilson(p * high, high, z)[0] < target:
        high *= 2
        if high > 10**9:
            return None
    low = max(1, high // 2)
    while low < high:  # the lower bound grows with n at a fixed p above it
        middle = (low + high) // 2
        if wilson(p * middle, middle, z)[0] >= target:
            high = middle
        else:
            low = middle + 1
    return low


@dataclass(frozen=True)
class AutoAccept:
    target: float  # the accuracy a threshold's lower bound must reach
    reviewed: int
    recommended: AcceptPoint | None
    settle: SettlePoint | None  # without a recommendation: the nearest threshold, if any can get there
    points: tuple[AcceptPoint, ...]  # every threshold, highest first


def auto_accept(rows: Sequence[Row], target: float) -> AutoAccept:
    """The score threshold above which pre-labels may be accepted unreviewed: the lowest one (so the most tasks)
    whose covered tasks' accuracy has a 95% Wilson lower bound (at the Kish effective size) at or above the
    target. An observed accuracy at the target is not enough: with 9 right of 9 the project's could be 70%.
    Without one, `settle` says how many more reviewed tasks (taken like these) would settle the threshold that
    needs the fewest: those above it must grow until the lower bound of its accuracy reaches the target."""
    total = sum(row.weight for row in rows)
    reviewed = len(rows)
    ordered = sorted(scored(rows), key=lambda row: -(row.score or 0.0))
    points: list[AcceptPoint] = []
    weight = squares = hits = 0.0  # running sums, so 10,000 tasks take one pass
    for index, row in enumerate(ordered):
        weight, squares = weight + row.weight, squares + row.weight * row.weight
        hits += row.weight if row.correct else 0.0
        if index + 1 < len(ordered) and ordered[index + 1].score == row.score:
            continue  # a threshold takes every task of its score
        effective = weight * weight / squares
        low, high = wilson(hits / weight * effective, effective)
        points.append(AcceptPoint(_score(row), index + 1, _ratio(weight, total), hits / weight, low, high,
                                  effective))
    holding = [point for point in points if point.low >= target]
    recommended = min(holding, key=lambda point: point.threshold) if holding else None
    settle = None
    if recommended is None:
        options: list[SettlePoint] = []
        for point in points:
            needed = tasks_for_lower_bound(point.accuracy, target)
            if needed is None:
                continue
            design_effect = point.tasks / point.n_effective
            more_above = max(0, math.ceil(needed * design_effect) - point.tasks)
            # Only a share of new reviewed tasks falls above the threshold: as many as among these.
            more = math.ceil(more_above * reviewed / point.tasks)
            options.append(SettlePoint(point.threshold, point.tasks, point.coverage, point.accuracy, point.low,
                                       point.high, point.n_effective, more))
        settle = min(options, key=lambda option: (option.more_tasks, option.threshold)) if options else None
    return AutoAccept(target, reviewed, recommended, settle, tuple(points))


# ---- comparing two model versions --------------------------------------------------------------------------------

def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value: the discordant tasks split by a fair coin under "no difference"."""
    n = only_first + only_second
    if n == 0:
        return 1.0
    tail: float = sum(math.comb(n, i) for i in range(min(only_first, only_second) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class PairedDifference:
    """Two versions on the same tasks: who got which right, accuracies, the difference (second - first) with
    its 95% interval, McNemar's exact p."""

    tasks: int
    both_right: int
    only_first_right: int
    only_second_right: int
    neither_right: int
    first_accuracy: float
    second_accuracy: float
    difference: float
    low: float
    high: float
    p_value: float


def paired_difference(pairs: Sequence[tuple[bool, bool]], z: float = Z95) -> PairedDifference:
    """Accuracy of the second version minus the first on the same tasks, a Wald interval for a paired
    difference, and McNemar's exact test. Unweighted: the test counts tasks."""
    n = len(pairs)
    both = sum(1 for a, b in pairs if a and b)
    only_first = sum(1 for a, b in pairs if a and not b)
    only_second = sum(1 for a, b in pairs if b and not a)
    difference = (only_second - only_first) / n if n else 0.0
    spread = math.sqrt(max(0.0, only_first + only_second - (only_second - only_first) ** 2 / n)) / n if n else 0.0
    return PairedDifference(
        tasks=n, both_right=both, only_first_right=only_first, only_second_right=only_second,
        neither_right=n - both - only_first - only_second,
        first_accuracy=_ratio(both + only_first, n), second_accuracy=_ratio(both + only_second, n),
        difference=difference, low=difference - z * spread, high=difference + z * spread,
        p_value=mcnemar_exact(only_first, only_second))


# ---- reviewer time and cost --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Times:
    """Lead times of a group of tasks, seconds; median and mean None without a task."""

    tasks: int
    median: float | None
    mean: float | None


Baseline = Literal["without_prelabel", "corrected"]


@dataclass(frozen=True)
class ReviewerTime:
    accepted: Times  # the pre-label was right
    corrected: Times
    without_prelabel: Times  # labelled by hand: no pre-label, or Prelabel failed
    accepted_share: float
    baseline: Baseline | None  # which group stands for labelling without Prelabel; None: no estimate
    seconds_per_image: float | None  # expected, with pre-labels
    saved_per_1000_seconds: float | None

    def groups(self) -> tuple[tuple[str, Times], ...]:
        """(name, times) of the three groups, in the page's order."""
        return ("accepted", self.accepted), ("corrected", self.corrected), ("without_prelabel", self.without_prelabel)

    @property
    def baseline_times(self) -> Times | None:
        """The group that stands for labelling without Prelabel (None: no estimate)."""
        if self.baseline == "without_prelabel":
            return self.without_prelabel
        return self.corrected if self.baseline == "corrected" else None


def reviewer_time(rows: Sequence[Row], without_prelabel: Sequence[float]) -> ReviewerTime:
    """Lead times of accepted and corrected pre-labels (and of tasks reviewed without one). Medians, so one
    task left open over lunch does not decide; the time saved per 1,000 images compares the expected time
    per image with pre-labels (accuracy x accepted + (1 - accuracy) x corrected) with the time without:
    the tasks without a pre-label where there are some, else a corrected task (labelling it yourself)."""
    timed = [row for row in rows if row.lead_time is not None]
    accepted = [row.lead_time or 0.0 for row in timed if row.correct]
    corrected = [row.lead_time or 0.0 for row in timed if not row.correct]
    groups = _times(accepted), _times(corrected), _times(without_prelabel)
    share = accuracy(timed).value if timed else 0.0
    if not accepted or not corrected:
        return ReviewerTime(*groups, share, None, None, None)
    with_prelabels = share * statistics.median(accepted) + (1 - share) * statistics.median(corrected)
    baseline: Baseline = "without_prelabel" if without_prelabel else "corrected"
    saved = 1000 * (statistics.median(without_prelabel or corrected) - with_prelabels)
    return ReviewerTime(*groups, share, baseline, with_prelabels, saved)


USAGE_KEYS = ("mllm_calls", "cache_hits", "prompt_tokens", "completion_tokens", "seconds")
SAVED_KEYS = ("saved_prompt_tokens", "saved_completion_tokens")  # what cache hits would have cost fresh


def price(prompt_tokens: float, completion_tokens: float, prompt_price: float | None,
          completion_price: float | None) -> float | None:
    """The price of these tokens at prices per million tokens; None without prices."""
    if prompt_price is None and completion_price is None:
        return None
    return (prompt_tokens * (prompt_price or 0) + completion_tokens * (completion_price or 0)) / 1_000_000


@dataclass(frozen=True)
class Usage:
    """What attempts used, summed or per image (USAGE_KEYS, then SAVED_KEYS)."""

    mllm_calls: float
    cache_hits: float
    prompt_tokens: float
    completion_tokens: float
    seconds: float
    saved_prompt_tokens: float  # what the cache hits would have cost fresh
    saved_completion_tokens: float

    @classmethod
    def of(cls, attempts: Sequence[Attempt]) -> Usage:
        """The sums over the attempts' usage (what the evidence kept, by its keys)."""
        return cls(*(float(sum(a.usage.get(key, 0) for a in attempts)) for key in (*USAGE_KEYS, *SAVED_KEYS)))

    def per(self, images: int) -> Usage:
        return Usage(*(_ratio(value, images) for value in dataclasses.astuple(self)))


@dataclass(frozen=True)
class Fresh:
    """Per image, as a run without the cache would pay: a cache hit is a call and its tokens again."""

    mllm_calls: float
    prompt_tokens: float
    completion_tokens: float


@dataclass(frozen=True)
class CacheSavings:
    calls: float
    prompt_tokens: float
    completion_tokens: float
    price_per_1000_images: float | None


@dataclass(frozen=True)
class FailedCost:
    """What the failed attempts used (counted in the cost too)."""

    attempts: int
    mllm_calls: float
    prompt_tokens: float
    completion_tokens: float
    price: float | None


@dataclass(frozen=True)
class Cost:
    tasks: int  # tasks with usage kept (the images the per-image figures divide by)
    attempts: int
    totals: Usage
    per_image: Usage
    fresh: Fresh
    cache_savings: CacheSavings
    failed: FailedCost
    price_per_1000_images: float | None  # a fresh run's; None without prices or tasks


def cost(attempts: Mapping[int, Sequence[Attempt]], prompt_price: float | None = None,
         completion_price: float | None = None) -> Cost:
    """What pre-labelling cost, over every attempt at every task (failed ones and retries included), per image
    of the tasks that kept their usage. Per image as a fresh run would pay: a cache hit is a call and its
    tokens again (the cache keeps what the answer took); what the cache saved this time is apart. With prices
    per million tokens, the price per 1,000 images."""
    used = {task: [a for a in tried if a.usage] for task, tried in attempts.items()}
    used = {task: tried for task, tried in used.items() if tried}
    every = [attempt for tried in used.values() for attempt in tried]
    totals = Usage.of(every)
    images = len(used)
    per_image = totals.per(images)
    fresh = Fresh(per_image.mllm_calls + per_image.cache_hits,
                  per_image.prompt_tokens + per_image.saved_prompt_tokens,
                  per_image.completion_tokens + per_image.saved_completion_tokens)
    failed = [attempt for attempt in every if attempt.failed]
    failed_totals = Usage.of(failed)
    per_1000 = price(1000 * fresh.prompt_tokens, 1000 * fresh.completion_tokens, prompt_price, completion_price)
    saved = price(1000 * per_image.saved_prompt_tokens, 1000 * per_image.saved_completion_tokens,
                  prompt_price, completion_price)
    return Cost(
        tasks=images, attempts=len(every), totals=totals, per_image=per_image, fresh=fresh,
        cache_savings=CacheSavings(totals.cache_hits, totals.saved_prompt_tokens, totals.saved_completion_tokens,
                                   saved),
        failed=FailedCost(len(failed), failed_totals.mllm_calls, failed_totals.prompt_tokens,
                          failed_totals.completion_tokens,
                          price(failed_totals.prompt_tokens, failed_totals.completion_tokens, prompt_price,
                                completion_price)),
        price_per_1000_images=per_1000 if images else None)


# ---- failures ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CauseCount:
    cause: str  # "stage1:timeout", "image:unavailable"... ("None": not known)
    first_pass: int  # tasks whose first attempt failed so
    still: int  # tasks whose last attempt failed so


@dataclass(frozen=True)
class Failures:
    """Counts over every task tried (not estimates), and over the reviewed failed tasks."""

    tasks: int
    first_pass: int  # failed on the first attempt
    first_pass_rate: float
    still: int  # failed still, after the retries
    still_rate: float
    retried: int
    healed: int  # failed first, answered on a retry
    by_cause: tuple[CauseCount, ...]
    reviewed: int  # failed tasks a reviewer labelled
    labelled_by_hand: int
    reviewed_none: int
    from_store: bool = False  # the attempts are the learned store's (else one per task read: no retries known)


def failures(attempts: Mapping[int, Sequence[Attempt]], rows: Sequence[Row]) -> Failures:
    """Tasks Prelabel could not pre-label, as counts over every task it tried (not estimates: each is known):
    on the first attempt, and still after the retries (Label Studio asks again for a failed task); by cause.
    Reviewed failed tasks were labelled by hand: they are in no accuracy figure."""
    tasks = len(attempts)
    first = [tried[0] for tried in attempts.values() if tried and tried[0].failed]
    still = [tried[-1] for tried in attempts.values() if tried and tried[-1].failed]
    causes = sorted({str(a.cause) for a in first + still})
    counted = [(cause, sum(1 for a in first if str(a.cause) == cause), sum(1 for a in still if str(a.cause) == cause))
               for cause in causes]
    counted.sort(key=lambda entry: (-entry[1], -entry[2], entry[0]))
    reviewed = [row for row in rows if row.failed]
    return Failures(
        tasks=tasks, first_pass=len(first), first_pass_rate=_ratio(len(first), tasks),
        still=len(still), still_rate=_ratio(len(still), tasks),
        retried=sum(1 for tried in attempts.values() if len(tried) > 1),
        healed=sum(1 for tried in attempts.values() if tried and tried[0].failed and not tried[-1].failed),
        by_cause=tuple(CauseCount(cause, on_first, now) for cause, on_first, now in counted),
        reviewed=len(reviewed), labelled_by_hand=sum(1 for row in reviewed if row.truth is not None),
        reviewed_none=sum(1 for row in reviewed if row.truth is None))


# ---- helpers -----------------------------------------------------------------------------------------------------

def _score(row: Row) -> float:
    """The score of a scored row (scored() keeps only those with one)."""
    if row.score is None:
        raise ValueError(f"task {row.task_id} has no score")
    return row.score


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _times(values: Sequence[float]) -> Times:
    if not values:
        return Times(0, None, None)
    return Times(len(values), statistics.median(values), statistics.fmean(values))


def weights_for(strata: Mapping[str | None, int], reviewed: Mapping[str | None, int]) -> dict[str | None, float]:
    """Each reviewed task of stratum h stands for N_h / r_h tasks of the project. A stratum nobody reviewed
    yet has no weight (the report says how many tasks that leaves out)."""
    return {stratum: strata[stratum] / reviewed[stratum] for stratum in strata if reviewed.get(stratum)}
