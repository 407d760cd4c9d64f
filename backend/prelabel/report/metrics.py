"""The report's statistics: pure functions over rows (one reviewed task each, with a weight).

Weights: without a sample every row weighs 1. With a `prelabel sample`, a row of stratum h weighs N_h / r_h
(tasks of the stratum in the project / reviewed tasks of the stratum), so weighted shares are the stratified
estimates of the whole project's figures. Confidence intervals are Wilson score intervals at the Kish effective
sample size (sum w)^2 / sum w^2: equal weights give the plain Wilson interval; unequal weights widen it. That
ignores what stratifying gains, so with a sample the intervals are on the safe side.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prelabel.report.records import Attempt, MetricsJson, Row

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


def averages(rows: Sequence[Row], scores: Sequence[ClassScore]) -> dict[str, dict[str, float]]:
    """Macro: the mean over labels that reviewers gave (support > 0), of the figures defined (a label never
    predicted has no precision to average). Micro: pooled counts. Both over the vocabulary's labels only: none
    is the negative answer and has its own section. With no none anywhere, micro precision = micro recall =
    accuracy."""
    labelled = [score for score in scores if score.label is not None and score.support > 0]
    macro = {key: _mean([value for score in labelled if (value := getattr(score, key)) is not None])
             for key in ("precision", "recall", "f1")}
    hits = sum(row.weight for row in rows if row.correct and row.truth is not None)
    said = sum(row.weight for row in rows if row.predicted is not None)
    present = sum(row.weight for row in rows if row.truth is not None)
    precision, recall = _ratio(hits, said), _ratio(hits, present)
    micro = {"precision": precision, "recall": recall, "f1": _ratio(2 * precision * recall, precision + recall)}
    return {"macro": macro, "micro": micro}


def none_answers(rows: Sequence[Row]) -> dict[str, float | int]:
    """The none class, explicitly: how often Prelabel said none and was right, how often a reviewer found a
    label it missed, how often it gave a label where the reviewer said none."""
    said_none = [row for row in rows if row.predicted is None]
    right = [row for row in said_none if row.truth is None]
    missed = [row for row in said_none if row.truth is not None]
    false_alarms = [row for row in rows if row.predicted is not None and row.truth is None]
    reviewed_none = [row for row in rows if row.truth is None]
    total = sum(row.weight for row in rows)
    return {
        "said_none": len(said_none),
        "said_none_share": _ratio(sum(r.weight for r in said_none), total),
        "said_none_right": len(right),
        "said_none_precision": _ratio(sum(r.weight for r in right), sum(r.weight for r in said_none)),
        "missed_labels": len(missed),
        "reviewer_none": len(reviewed_none),
        "none_recall": _ratio(sum(r.weight for r in right), sum(r.weight for r in reviewed_none)),
        "label_where_none": len(false_alarms),
    }


def frequent_confusions(rows: Sequence[Row], limit: int = 10) -> list[MetricsJson]:
    """The most frequent (reviewed label, predicted label) mistakes, most weighted tasks first."""
    cells = [(truth, predicted, count, weight) for (truth, predicted), (count, weight) in confusion(rows).items()
             if truth != predicted]
    total = sum(row.weight for row in rows)
    cells.sort(key=lambda cell: (-cell[3], -cell[2], str(cell[0]), str(cell[1])))
    return [{"truth": truth, "predicted": predicted, "tasks": count, "share": _ratio(weight, total)}
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


def methods(rows: Sequence[Row]) -> list[MetricsJson]:
    """Per match method: share of tasks, and how often the MLLM + normaliser's label was the reviewed one."""
    with_method = [row for row in rows if row.method is not None]
    total = sum(row.weight for row in with_method)
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in with_method:
        groups[row.method].append(row)  # type: ignore[index]
    table = []
    for method, group in groups.items():
        hits = [(row.stages or {}).get("mllm") == row.truth for row in group]
        table.append({"method": method, "tasks": len(group), "share": _ratio(sum(r.weight for r in group), total),
                      "accuracy": estimate(hits, (row.weight for row in group))})
    return sorted(table, key=lambda entry: (-entry["share"], entry["method"]))


def unmatched_strings(rows: Sequence[Row], limit: int = 20,
                      could_name: Callable[[str, str], bool] | None = None) -> list[MetricsJson]:
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
        found.append({"string": string, "tasks": count,
                      "reviewed_as": [[label, n] for label, n in labels[key].most_common()]})
    return found[:limit]


# ---- calibration -------------------------------------------------------------------------------------------------

def scored(rows: Sequence[Row]) -> list[Row]:
    """Tasks with a predicted label and its score: only those can be auto-accepted by a threshold."""
    return [row for row in rows if row.predicted is not None and row.score is not None]


def reliability(rows: Sequence[Row], bins: int = 10) -> tuple[list[MetricsJson], float]:
    """Equal-width score bins [i/bins, (i+1)/bins) (the last one closed) with their mean score and
    accuracy; the expected calibration error sum_b (w_b / w) |accuracy_b - score_b|."""
    table: list[MetricsJson] = []
    pairs = [(row.score or 0.0, row) for row in scored(rows)]
    total = sum(row.weight for _, row in pairs)
    ece = 0.0
    for number in range(bins):
        low, high = number / bins, (number + 1) / bins
        inside = [(s, row) for s, row in pairs if low <= s < high or (number == bins - 1 and s == high)]
        weight = sum(row.weight for _, row in inside)
        if not inside:
            table.append({"low": low, "high": high, "tasks": 0, "score": None, "accuracy": None})
            continue
        mean_score = sum(s * row.weight for s, row in inside) / weight
        hit_rate = sum(row.weight for _, row in inside if row.correct) / weight
        ece += weight / total * abs(hit_rate - mean_score)
        table.append({"low": low, "high": high, "tasks": len(inside), "score": mean_score, "accuracy": hit_rate})
    return table, ece


def coverage_curve(rows: Sequence[Row]) -> list[MetricsJson]:
    """For each score threshold t (the scores found): the share of all tasks with a label scored >= t
    (coverage; tasks where Prelabel said none are never covered) and the accuracy on them."""
    total = sum(row.weight for row in rows)
    ordered = sorted(scored(rows), key=lambda row: -(row.score or 0.0))
    points, weight, hits = [], 0.0, 0.0
    for index, row in enumerate(ordered):
        weight += row.weight
        hits += row.weight if row.correct else 0.0
        if index + 1 < len(ordered) and ordered[index + 1].score == row.score:
            continue  # a threshold takes every task of its score
        points.append({"threshold": row.score, "tasks": index + 1, "coverage": _ratio(weight, total),
                       "accuracy": hits / weight})
    return points


def threshold_for(points: Sequence[MetricsJson], target: float) -> MetricsJson | None:
    """The lowest threshold whose covered tasks reach the target accuracy (so the most tasks), or None."""
    reaching = [point for point in points if point["accuracy"] >= target]
    return min(reaching, key=lambda point: point["threshold"]) if reaching else None


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


def auto_accept(rows: Sequence[Row], target: float) -> MetricsJson:
    """The score threshold above which pre-labels may be accepted unreviewed: the lowest one (so the most tasks)
    whose covered tasks' accuracy has a 95% Wilson lower bound (at the Kish effective size) at or above the
    target. An observed accuracy at the target is not enough: with 9 right of 9 the project's could be 70%.
    Without one, `settle` says how many more reviewed tasks (taken like these) would settle the threshold that
    needs the fewest: those above it must grow until the lower bound of its accuracy reaches the target."""
    total = sum(row.weight for row in rows)
    reviewed = len(rows)
    ordered = sorted(scored(rows), key=lambda row: -(row.score or 0.0))
    points: list[dict[str, Any]] = []
    weight = squares = hits = 0.0  # running sums, so 10,000 tasks take one pass
    for index, row in enumerate(ordered):
        weight, squares = weight + row.weight, squares + row.weight * row.weight
        hits += row.weight if row.correct else 0.0
        if index + 1 < len(ordered) and ordered[index + 1].score == row.score:
            continue  # a threshold takes every task of its score
        effective = weight * weight / squares
        low, high = wilson(hits / weight * effective, effective)
        points.append({"threshold": row.score, "tasks": index + 1, "coverage": _ratio(weight, total),
                       "accuracy": hits / weight, "low": low, "high": high, "n_effective": effective})
    holding = [point for point in points if point["low"] >= target]
    recommended = min(holding, key=lambda point: point["threshold"]) if holding else None
    settle = None
    if recommended is None:
        options: list[dict[str, Any]] = []
        for point in points:
            needed = tasks_for_lower_bound(point["accuracy"], target)
            if needed is None:
                continue
            design_effect = point["tasks"] / point["n_effective"]
            more_above = max(0, math.ceil(needed * design_effect) - point["tasks"])
            # Only a share of new reviewed tasks falls above the threshold: as many as among these.
            more = math.ceil(more_above * reviewed / point["tasks"])
            options.append({**point, "more_tasks": more})
        settle = min(options, key=lambda option: (option["more_tasks"], option["threshold"])) if options else None
    return {"target": target, "reviewed": reviewed, "recommended": recommended, "settle": settle,
            "points": points}


# ---- comparing two model versions --------------------------------------------------------------------------------

def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value: the discordant tasks split by a fair coin under "no difference"."""
    n = only_first + only_second
    if n == 0:
        return 1.0
    tail: float = sum(math.comb(n, i) for i in range(min(only_first, only_second) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired_difference(pairs: Sequence[tuple[bool, bool]], z: float = Z95) -> MetricsJson:
    """Accuracy of the second version minus the first on the same tasks, a Wald interval for a paired
    difference, and McNemar's exact test. Unweighted: the test counts tasks."""
    n = len(pairs)
    both = sum(1 for a, b in pairs if a and b)
    only_first = sum(1 for a, b in pairs if a and not b)
    only_second = sum(1 for a, b in pairs if b and not a)
    difference = (only_second - only_first) / n if n else 0.0
    spread = math.sqrt(max(0.0, only_first + only_second - (only_second - only_first) ** 2 / n)) / n if n else 0.0
    return {"tasks": n, "both_right": both, "only_first_right": only_first, "only_second_right": only_second,
            "neither_right": n - both - only_first - only_second,
            "first_accuracy": _ratio(both + only_first, n), "second_accuracy": _ratio(both + only_second, n),
            "difference": difference, "low": difference - z * spread, "high": difference + z * spread,
            "p_value": mcnemar_exact(only_first, only_second)}


# ---- reviewer time and cost --------------------------------------------------------------------------------------

def reviewer_time(rows: Sequence[Row], without_prelabel: Sequence[float]) -> MetricsJson:
    """Lead times of accepted and corrected pre-labels (and of tasks reviewed without one). Medians, so one
    task left open over lunch does not decide; the time saved per 1,000 images compares the expected time
    per image with pre-labels (accuracy x accepted + (1 - accuracy) x corrected) with the time without:
    the tasks without a pre-label where there are some, else a corrected task (labelling it yourself)."""
    timed = [row for row in rows if row.lead_time is not None]
    accepted = [row.lead_time or 0.0 for row in timed if row.correct]
    corrected = [row.lead_time or 0.0 for row in timed if not row.correct]
    groups = {"accepted": _times(accepted), "corrected": _times(corrected),
              "without_prelabel": _times(without_prelabel)}
    share = accuracy(timed).value if timed else 0.0
    result: dict[str, Any] = {**groups, "accepted_share": share, "baseline": None, "seconds_per_image": None,
              "saved_per_1000_seconds": None}
    if not accepted or not corrected:
        return result
    with_prelabels = share * groups["accepted"]["median"] + (1 - share) * groups["corrected"]["median"]
    baseline = "without_prelabel" if without_prelabel else "corrected"
    result.update(baseline=baseline, seconds_per_image=with_prelabels,
                  saved_per_1000_seconds=1000 * (groups[baseline]["median"] - with_prelabels))
    return result


USAGE_KEYS = ("mllm_calls", "cache_hits", "prompt_tokens", "completion_tokens", "seconds")
SAVED_KEYS = ("saved_prompt_tokens", "saved_completion_tokens")  # what cache hits would have cost fresh


def price(prompt_tokens: float, completion_tokens: float, prompt_price: float | None,
          completion_price: float | None) -> float | None:
    """The price of these tokens at prices per million tokens; None without prices."""
    if prompt_price is None and completion_price is None:
        return None
    return (prompt_tokens * (prompt_price or 0) + completion_tokens * (completion_price or 0)) / 1_000_000


def cost(attempts: Mapping[int, Sequence[Attempt]], prompt_price: float | None = None,
         completion_price: float | None = None) -> MetricsJson:
    """What pre-labelling cost, over every attempt at every task (failed ones and retries included), per image
    of the tasks that kept their usage. Per image as a fresh run would pay: a cache hit is a call and its
    tokens again (the cache keeps what the answer took); what the cache saved this time is apart. With prices
    per million tokens, the price per 1,000 images."""
    used = {task: [a for a in tried if a.usage] for task, tried in attempts.items()}
    used = {task: tried for task, tried in used.items() if tried}
    every = [attempt for tried in used.values() for attempt in tried]
    totals = {key: float(sum(a.usage.get(key, 0) for a in every)) for key in (*USAGE_KEYS, *SAVED_KEYS)}
    images = len(used)
    per_image = {key: _ratio(value, images) for key, value in totals.items()}
    fresh = {"mllm_calls": per_image["mllm_calls"] + per_image["cache_hits"],
             "prompt_tokens": per_image["prompt_tokens"] + per_image["saved_prompt_tokens"],
             "completion_tokens": per_image["completion_tokens"] + per_image["saved_completion_tokens"]}
    failed = [attempt for attempt in every if attempt.failed]
    failed_totals = {key: float(sum(a.usage.get(key, 0) for a in failed))
                     for key in ("mllm_calls", "prompt_tokens", "completion_tokens")}
    per_1000 = price(1000 * fresh["prompt_tokens"], 1000 * fresh["completion_tokens"], prompt_price,
                     completion_price)
    saved = price(1000 * per_image["saved_prompt_tokens"], 1000 * per_image["saved_completion_tokens"],
                  prompt_price, completion_price)
    return {"tasks": images, "attempts": len(every), "totals": totals, "per_image": per_image, "fresh": fresh,
            "cache_savings": {"calls": totals["cache_hits"], "prompt_tokens": totals["saved_prompt_tokens"],
                              "completion_tokens": totals["saved_completion_tokens"],
                              "price_per_1000_images": saved},
            "failed": {"attempts": len(failed), **failed_totals,
                       "price": price(failed_totals["prompt_tokens"], failed_totals["completion_tokens"],
                                      prompt_price, completion_price)},
            "price_per_1000_images": per_1000 if images else None}


# ---- failures ----------------------------------------------------------------------------------------------------

def failures(attempts: Mapping[int, Sequence[Attempt]], rows: Sequence[Row]) -> MetricsJson:
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
    by_cause = [{"cause": cause, "first_pass": on_first, "still": now} for cause, on_first, now in counted]
    reviewed = [row for row in rows if row.failed]
    return {"tasks": tasks, "first_pass": len(first), "first_pass_rate": _ratio(len(first), tasks),
            "still": len(still), "still_rate": _ratio(len(still), tasks),
            "retried": sum(1 for tried in attempts.values() if len(tried) > 1),
            "healed": sum(1 for tried in attempts.values() if tried and tried[0].failed and not tried[-1].failed),
            "by_cause": by_cause, "reviewed": len(reviewed),
            "labelled_by_hand": sum(1 for row in reviewed if row.truth is not None),
            "reviewed_none": sum(1 for row in reviewed if row.truth is None)}


# ---- helpers -----------------------------------------------------------------------------------------------------

def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _times(values: Sequence[float]) -> MetricsJson:
    if not values:
        return {"tasks": 0, "median": None, "mean": None}
    return {"tasks": len(values), "median": statistics.median(values), "mean": statistics.fmean(values)}


def weights_for(strata: Mapping[str | None, int], reviewed: Mapping[str | None, int]) -> dict[str | None, float]:
    """Each reviewed task of stratum h stands for N_h / r_h tasks of the project. A stratum nobody reviewed
    yet has no weight (the report says how many tasks that leaves out)."""
    return {stratum: strata[stratum] / reviewed[stratum] for stratum in strata if reviewed.get(stratum)}
