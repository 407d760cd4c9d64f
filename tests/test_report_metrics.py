"""The report's statistics on small hand-made rows; every expected value is worked out by hand in a comment.

z = 1.959964, z^2 = 3.841459 throughout.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest

from prelabel.pipeline.result import NamedMatch
from prelabel.report import metrics
from prelabel.report.records import Attempt, Row

approx = pytest.approx


def row(truth, predicted, **fields) -> Row:
    return Row(task_id=fields.pop("task_id", 0), truth=truth, predicted=predicted, **fields)


# ---- Wilson intervals and how many tasks a margin needs -----------------------------------------------------

def test_wilson_interval():
    # 8 of 10: p = 0.8, z^2/n = 0.384146, denominator 1.384146;
    # centre = (0.8 + 0.192073) / 1.384146 = 0.716740
    # half = 1.959964 * sqrt(0.8 * 0.2 / 10 + 3.841459 / 400) / 1.384146 = 1.959964 * 0.160011 / 1.384146 = 0.226578
    assert metrics.wilson(8, 10) == (approx(0.490162, abs=1e-6), approx(0.943318, abs=1e-6))


def test_wilson_all_correct_and_none_correct():
    # p = 1: centre = (1 + z^2/2n) / (1 + z^2/n), half = (z^2/2n) / (1 + z^2/n): low = n / (n + z^2)
    low, high = metrics.wilson(10, 10)
    assert low == approx(10 / 13.841459, abs=1e-6) and high == approx(1.0)  # 0.722467
    # p = 0: high = z^2 / (n + z^2) = 3.841459 / 8.841459 = 0.434482
    assert metrics.wilson(0, 5) == (0.0, approx(0.434482, abs=1e-6))
    assert metrics.wilson(0, 0) == (0.0, 1.0)  # nothing reviewed: nothing known


def test_wilson_holds_its_share_exactly_at_none_and_all():
    """Rounding once left 0 of 3 with a low end of 5.6e-17 and 10 of 10 with a high end of 0.9999999999999999:
    the report's stage bars drew a negative error bar and failed (a region project's report, issue 26)."""
    assert metrics.wilson(0, 3)[0] == 0.0 and metrics.wilson(10, 10)[1] == 1.0
    assert all(metrics.wilson(0, n)[0] == 0.0 and metrics.wilson(n, n)[1] == 1.0 for n in range(1, 200))


def test_tasks_for_margin():
    # p = 1: half-width = z^2 / (2 (n + z^2)) <= 0.03  <=>  n >= z^2 / 0.06 - z^2 = 64.024 - 3.841 = 60.18: 61
    assert metrics.tasks_for_margin(1.0, 0.03) == 61
    # p = 0.5: half-width = (z / 2) / sqrt(n + z^2) <= 0.05  <=>  n >= (z / 0.1)^2 - z^2 = 384.146 - 3.841 = 380.3
    assert metrics.tasks_for_margin(0.5, 0.05) == 381
    # <= 0.03  <=>  n >= (z / 0.06)^2 - z^2 = 1067.07 - 3.84 = 1063.2
    assert metrics.tasks_for_margin(0.5, 0.03) == 1064


def test_estimate_unweighted_and_more_tasks():
    # 5 of 10 right, weights 1: the plain Wilson interval; +-5 needs 381 tasks (above), so 371 more; +-3: 1054
    found = metrics.estimate([True] * 5 + [False] * 5, [1.0] * 10)
    assert (found.value, found.n, found.n_effective, found.weight) == (0.5, 10, 10.0, 10.0)
    assert (found.low, found.high) == metrics.wilson(5, 10)
    assert found.more_tasks_for(0.05) == 371 and found.more_tasks_for(0.03) == 1054


def test_estimate_weighted_by_strata():
    # Stratum A: 10 tasks, 2 reviewed (weight 5 each), 1 right; stratum B: 4 tasks, all 4 reviewed and right.
    # p = (5 + 4) / (10 + 4) = 9 / 14 = 0.642857; Kish n_eff = 14^2 / (2 * 25 + 4 * 1) = 196 / 54 = 3.629630
    found = metrics.estimate([True, False, True, True, True, True], [5, 5, 1, 1, 1, 1])
    assert found.value == approx(9 / 14) and found.n_effective == approx(196 / 54) and found.n == 6
    # Wilson at n = 3.629630: z^2/n = 1.058361, denominator 2.058361; centre = (0.642857 + 0.529180) / 2.058361
    # = 0.569403; half = 1.959964 * sqrt(0.642857 * 0.357143 / 3.629630 + 3.841459 / (4 * 3.629630^2))
    # / 2.058361 = 1.959964 * sqrt(0.063253 + 0.072897) / 2.058361 = 0.351349
    assert (found.low, found.high) == (approx(0.218054, abs=1e-5), approx(0.920752, abs=1e-5))
    # +-5 points at p = 0.642857: half-width at n = 349 is 0.050020, at n = 350 0.049950, so 350 tasks taken
    # without weights; the design effect 6 / 3.629630 = 1.653061 makes that ceil(350 * 1.653061) = 579
    # reviewed tasks, 573 more than the 6
    assert found.more_tasks_for(0.05) == 573


def test_weights_for_strata():
    # N_h / r_h: 10 / 2 = 5, 4 / 4 = 1, none: 6 / 1 = 6; a stratum nobody reviewed gets no weight
    assert metrics.weights_for({"A": 10, "B": 4, None: 6, "C": 3}, {"A": 2, "B": 4, None: 1}) == {
        "A": 5.0, "B": 1.0, None: 6.0}


def test_weighted_accuracy_of_a_sample():
    # Strata as above plus none (6 tasks, 1 reviewed, right): (5 * 1 + 4 * 1 + 6 * 1) / (10 + 4 + 6) = 15 / 20
    rows = ([row("A", "A", weight=5), row("B", "A", weight=5)] + [row("B", "B", weight=1)] * 4
            + [row(None, None, weight=6)])
    found = metrics.accuracy(rows)
    assert found.value == approx(0.75) and found.n == 7
    assert found.n_effective == approx(400 / 90)  # 20^2 / (2 * 25 + 4 * 1 + 36)
    assert metrics.accuracy([row(r.truth, r.predicted) for r in rows]).value == approx(6 / 7)  # unweighted


# ---- classes ----------------------------------------------------------------------------------------------------

EIGHT = [row("A", "A"), row("A", "A"), row("A", "B"), row("B", "B"), row("B", None), row(None, None),
         row(None, "A"), row("C", "A")]  # C: a label outside the vocabulary


def test_per_class_precision_recall_f1():
    scores = {score.label: score for score in metrics.per_class(EIGHT)}
    assert list(scores) == ["A", "B", "C", None]
    a = scores["A"]  # predicted A: rows 1, 2, 7, 8 (2 right): P = 2/4; reviewed A: rows 1-3: R = 2/3
    assert (a.precision, a.recall, a.support, a.predicted) == (0.5, approx(2 / 3), 3, 4)
    assert a.f1 == approx(4 / 7)  # 2 * 0.5 * 0.6667 / 1.1667
    b = scores["B"]  # predicted B: rows 3, 4 (1 right); reviewed B: rows 4, 5
    assert (b.precision, b.recall, b.f1, b.support) == (0.5, 0.5, 0.5, 2)
    c = scores["C"]  # never predicted: precision undefined (nothing to divide), recall 0 / 1, F1 undefined
    assert (c.precision, c.recall, c.f1, c.support, c.predicted) == (None, 0.0, None, 1, 0)
    none = scores[None]  # said none: rows 5, 6 (row 6 right); reviewed none: rows 6, 7
    assert (none.precision, none.recall, none.f1, none.support) == (0.5, 0.5, 0.5, 2)


def test_macro_and_micro_averages():
    averages = metrics.averages(EIGHT, metrics.per_class(EIGHT))
    # macro over A, B, C (labels reviewers gave; none has its own section), of what is defined (C's precision
    # and F1 are not): P (0.5 + 0.5) / 2, R (2/3 + 1/2 + 0) / 3 = 7/18, F1 (4/7 + 1/2) / 2 = 0.535714
    assert asdict(averages.macro) == {"precision": 0.5, "recall": approx(7 / 18), "f1": approx(0.535714)}
    # micro: right with a label (rows 1, 2, 4) = 3; Prelabel gave a label on 6; reviewers gave one on 6
    assert asdict(averages.micro) == {"precision": 0.5, "recall": 0.5, "f1": 0.5}


def test_none_answers():
    found = metrics.none_answers(EIGHT)
    # said none on rows 5, 6 (2 of 8); right on row 6; row 5 the reviewer found B; reviewers said none on
    # rows 6, 7; row 7 Prelabel had given A
    assert asdict(found) == {"said_none": 2, "said_none_share": 0.25, "said_none_right": 1, "said_none_precision": 0.5,
                     "missed_labels": 1, "reviewer_none": 2, "none_recall": 0.5, "label_where_none": 1}


def test_frequent_confusions():
    # four mistakes of one task each: ties ordered by the reviewed label, then the predicted one
    assert [(c.truth, c.predicted, c.tasks) for c in metrics.frequent_confusions(EIGHT)] == [
        ("A", "B", 1), ("B", None, 1), ("C", "A", 1), (None, "A", 1)]
    assert metrics.frequent_confusions(EIGHT)[0].share == 1 / 8


def test_no_none_anywhere_micro_equals_accuracy():
    rows = [row("A", "A"), row("A", "B"), row("B", "B"), row("C", "C"), row("C", "A")]
    averages = metrics.averages(rows, metrics.per_class(rows))
    # 3 right of 5 everywhere: micro P = 3/5 (5 labels given), micro R = 3/5 (5 labels reviewed) = accuracy
    assert averages.micro.precision == averages.micro.recall == metrics.accuracy(rows).value == 0.6
    assert metrics.none_answers(rows).said_none == 0
    assert None not in {score.label for score in metrics.per_class(rows)}


def test_one_class_all_correct():
    rows = [row("A", "A")] * 4
    [score] = metrics.per_class(rows)
    assert (score.label, score.precision, score.recall, score.f1, score.support) == ("A", 1.0, 1.0, 1.0, 4)
    assert asdict(metrics.averages(rows, [score]).macro) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    found = metrics.accuracy(rows)
    assert found.value == 1.0 and found.low == approx(4 / 7.841459)  # n / (n + z^2) = 0.510109
    assert metrics.frequent_confusions(rows) == []


def test_top_k():
    rows = [row("A", "B", ranking=("B", "A", "C")), row("B", "B", ranking=("B", "C")),
            row(None, None, ranking=("A",)), row("C", "A", ranking=("A", "B", "D", "E", "C")), row("D", "D")]
    found = metrics.top_k(rows)
    # counted: rows 1, 2, 4 (a ranking and a label). top-1: row 2; top-2: + row 1; top-5: + row 4
    assert {k: (e.value, e.n) for k, e in found.items()} == {1: (approx(1 / 3), 3), 2: (approx(2 / 3), 3),
                                                             3: (approx(2 / 3), 3), 5: (1.0, 3)}


# ---- stages and normalisation ---------------------------------------------------------------------------------

STAGED = [
    row("A", "A", stages={"mllm": "A", "clip_image": "B", "fused": "A", "final": "A"}, method="exact"),
    row("B", "B", stages={"mllm": None, "clip_image": "B", "fused": "B", "final": "B"}, method="none"),
    row(None, None, stages={"clip_image": "A", "fused": "A", "final": None}, method="none"),
    row("C", "D"),  # no stage scores kept: left out of the ablation, no method
]


def test_stage_accuracy_on_the_same_tasks():
    found = metrics.stage_accuracy(STAGED, ["mllm", "clip_image", "fused", "final", "other"])
    # rows 1-3. mllm: A=A, None!=B, (absent: none)=None -> 2/3; clip: 1/3 (row 2); fused: rows 1, 2 -> 2/3;
    # final: 3/3; "other" no task has -> left out
    assert {stage: (e.value, e.n) for stage, e in found.items()} == {
        "mllm": (approx(2 / 3), 3), "clip_image": (approx(1 / 3), 3), "fused": (approx(2 / 3), 3), "final": (1.0, 3)}


def test_methods_share_and_accuracy():
    found = {entry.method: entry for entry in metrics.methods(STAGED)}
    # 3 tasks with a method: none 2 (row 2 wrong: MLLM none, reviewer B; row 3 right), exact 1 (right)
    assert (found["none"].tasks, found["none"].share, found["none"].accuracy.value) == (2, approx(2 / 3), 0.5)
    assert (found["exact"].tasks, found["exact"].share, found["exact"].accuracy.value) == (
        1, approx(1 / 3), 1.0)
    assert [entry.method for entry in metrics.methods(STAGED)] == ["none", "exact"]  # biggest share first


def test_unmatched_strings_with_reviewers_labels():
    rows = [
        row("A", "A", candidates=(NamedMatch("BMSB-ish", "classification", None, 0.0, "none"),
                                  NamedMatch("a bug on a leaf", "description", None, 0.0, "none"))),
        row("B", None, candidates=(NamedMatch("bmsb-ish", "candidate", None, 0.0, "none"),
                                   NamedMatch("BMSB-ish", "classification", None, 0.0, "none"))),
        row("B", "B", candidates=(NamedMatch("Rice weevil", "classification", "B", 0.97, "exact"),)),
    ]
    # "BMSB-ish" in two tasks (case folded, counted once per task); descriptions and matched strings left out
    assert [asdict(entry) for entry in metrics.unmatched_strings(rows)] == [
        {"string": "BMSB-ish", "tasks": 2, "reviewed_as": (("A", 1), ("B", 1))}]


def test_the_could_learn_list_holds_only_what_the_screening_lets_through(normalizer):
    from prelabel.vocabulary.screening import check_name

    said = ("weevil", "none", "a", "BMSB and thrips", "marble bug")
    rows = [row("Halyomorpha halys", None, candidates=tuple(NamedMatch(text, "candidate", None, 0.0, "none")
                                                             for text in said))]
    kept = metrics.unmatched_strings(rows, could_name=lambda s, label: check_name(s, label, normalizer) is None)
    assert [entry.string for entry in kept] == ["marble bug"]
    assert len(metrics.unmatched_strings(rows)) == len(said)  # without a vocabulary, nothing to screen with


# ---- calibration ----------------------------------------------------------------------------------------------

SCORED = [row("A", "A", score=0.95), row("B", "B", score=0.95), row("A", "B", score=0.85),
          row("C", "C", score=0.85), row("A", "A", score=0.55), row("B", "C", score=0.15), row("A", None)]


def test_reliability_and_ece():
    bins, ece = metrics.reliability(SCORED)
    filled = [(b.low, b.tasks, b.score, b.accuracy) for b in bins if b.tasks]
    assert filled == [(0.1, 1, 0.15, 0.0), (0.5, 1, 0.55, 1.0), (0.8, 2, approx(0.85), 0.5), (0.9, 2, 0.95, 1.0)]
    assert len(bins) == 10
    # 6 scored (the none answer has no score): (1 * |0 - 0.15| + 1 * |1 - 0.55| + 2 * |0.5 - 0.85|
    # + 2 * |1 - 0.95|) / 6 = (0.15 + 0.45 + 0.7 + 0.1) / 6 = 1.4 / 6
    assert ece == approx(1.4 / 6)


def test_reliability_puts_a_score_of_one_in_the_last_bin():
    bins, ece = metrics.reliability([row("A", "A", score=1.0), row("A", "A", score=0.9)])
    assert bins[-1].tasks == 2 and ece == approx(0.05)  # mean score 0.95, accuracy 1: gap 0.05


def test_auto_accept_needs_the_lower_bound_to_reach_the_target():
    # 9 right of 9 at score 0.9: observed 100%, lower bound 9 / (9 + z^2) = 70.1%: no threshold for 95%.
    # n / (n + z^2) >= 0.95 from n = 73 (72 / 75.84 = 0.9494, 73 / 76.84 = 0.9500): 64 more, all above it
    nine = [row("A", "A", score=0.9, task_id=i) for i in range(9)]
    found = metrics.auto_accept(nine, 0.95)
    assert found.recommended is None and found.settle.low == approx(9 / (9 + 1.959964**2), abs=1e-6)
    assert found.settle.more_tasks == 64 and metrics.tasks_for_lower_bound(1.0, 0.95) == 73
    # 300 reviewed: 200 at 0.95 all right, 100 at 0.5 with 60 right. >= 0.95: 200 / 203.84 = 98.1% >= 95%;
    # >= 0.5: 260 / 300 = 86.7%, under the target: 0.95 is recommended, covering 2/3 of the tasks
    many = ([row("A", "A", score=0.95, task_id=i) for i in range(200)]
            + [row("A", "A" if i < 60 else "B", score=0.5, task_id=200 + i) for i in range(100)])
    found = metrics.auto_accept(many, 0.95)
    recommended = found.recommended
    assert (recommended.threshold, recommended.tasks, recommended.coverage) == (0.95, 200, approx(2 / 3))
    assert recommended.low == approx(200 / (200 + 1.959964**2), abs=1e-6) and recommended.low >= 0.95
    # Accuracy at or under the target above every threshold: no number of tasks settles it
    assert metrics.auto_accept([row("A", "B", score=0.9)], 0.95).settle is None
    assert metrics.tasks_for_lower_bound(0.95, 0.95) is None


def test_coverage_curve_and_threshold():
    curve = metrics.coverage_curve(SCORED)
    # 7 tasks in all (the none answer is never covered). >= 0.95: 2 right of 2; >= 0.85: 3 of 4;
    # >= 0.55: 4 of 5; >= 0.15: 4 of 6
    assert [(p.threshold, p.tasks, p.coverage, p.accuracy) for p in curve] == [
        (0.95, 2, approx(2 / 7), 1.0), (0.85, 4, approx(4 / 7), 0.75), (0.55, 5, approx(5 / 7), 0.8),
        (0.15, 6, approx(6 / 7), approx(4 / 6))]
    assert metrics.threshold_for(curve, 0.95).threshold == 0.95
    # accuracy is not monotone in the threshold: 0.55 reaches 80% (4 of 5) although 0.85 does not
    assert metrics.threshold_for(curve, 0.8).threshold == 0.55
    assert metrics.threshold_for(metrics.coverage_curve([row("A", "B", score=0.9)]), 0.5) is None


# ---- comparing versions ----------------------------------------------------------------------------------------

def test_mcnemar_exact():
    # 1 vs 5 discordant: P(X <= 1 | Bin(6, 1/2)) = (1 + 6) / 64; two-sided 14 / 64
    assert metrics.mcnemar_exact(1, 5) == 14 / 64
    assert metrics.mcnemar_exact(0, 10) == 2 / 1024
    assert metrics.mcnemar_exact(3, 3) == 1.0  # 2 * 42/64 > 1: capped
    assert metrics.mcnemar_exact(0, 0) == 1.0


def test_paired_difference():
    pairs = [(True, True)] * 3 + [(True, False)] + [(False, True)] * 5 + [(False, False)]
    found = metrics.paired_difference(pairs)
    # 10 tasks: 4/10 vs 8/10; difference (5 - 1) / 10 = 0.4; se = sqrt(5 + 1 - 4^2 / 10) / 10 = sqrt(4.4) / 10
    # = 0.209762; 0.4 -+ 1.959964 * 0.209762 = 0.4 -+ 0.411126
    assert (found.first_accuracy, found.second_accuracy, found.difference) == (0.4, 0.8, approx(0.4))
    assert (found.low, found.high) == (approx(-0.011126, abs=1e-6), approx(0.811126, abs=1e-6))
    assert (found.both_right, found.only_first_right, found.only_second_right, found.neither_right) == (
        3, 1, 5, 1)
    assert found.p_value == 14 / 64


# ---- reviewer time and cost ---------------------------------------------------------------------------------------

TIMED = [row("A", "A", lead_time=4.0), row("A", "A", lead_time=6.0), row("B", "B", lead_time=5.0),
         row("A", "B", lead_time=20.0), row("B", None, lead_time=30.0), row("B", "B")]


def test_reviewer_time_with_tasks_without_prelabels():
    found = metrics.reviewer_time(TIMED, [40.0, 50.0, 60.0])
    # accepted: 4, 6, 5 (median 5); corrected: 20, 30 (median 25); without: median 50; accepted share of the
    # timed tasks 3/5: with pre-labels 0.6 * 5 + 0.4 * 25 = 13 s; saved per 1,000: 1000 * (50 - 13) = 37,000 s
    assert (found.accepted.median, found.corrected.median, found.without_prelabel.median) == (
        5.0, 25.0, 50.0)
    assert found.accepted.mean == 5.0 and found.corrected.tasks == 2
    assert (found.seconds_per_image, found.baseline, found.saved_per_1000_seconds) == (
        approx(13.0), "without_prelabel", approx(37_000))


def test_reviewer_time_without_a_baseline_uses_corrections():
    # no task without a pre-label: a correction stands for labelling from scratch: 1000 * (25 - 13) = 12,000 s
    found = metrics.reviewer_time(TIMED, [])
    assert (found.baseline, found.saved_per_1000_seconds) == ("corrected", approx(12_000))
    all_right = metrics.reviewer_time([row("A", "A", lead_time=3.0)], [])
    assert all_right.saved_per_1000_seconds is None  # nothing corrected: no estimate


def test_cost_counts_every_attempt_and_prices_a_fresh_run():
    attempts = {
        # task 1 failed once (a timeout after 3 calls, no tokens) and was answered on the retry
        1: [Attempt(True, "stage1:timeout", {"mllm_calls": 3, "cache_hits": 0, "prompt_tokens": 0,
                                             "completion_tokens": 0, "seconds": 30.0}),
            Attempt(False, None, {"mllm_calls": 2, "cache_hits": 0, "prompt_tokens": 1000, "completion_tokens": 100,
                                  "seconds": 3.0})],
        # task 2: stage 1 from the cache (it took 400 + 40 tokens when asked), stage 2 asked
        2: [Attempt(False, None, {"mllm_calls": 1, "cache_hits": 1, "prompt_tokens": 500, "completion_tokens": 50,
                                  "saved_prompt_tokens": 400, "saved_completion_tokens": 40, "seconds": 1.0})],
        3: [Attempt(False, None, {})],  # no usage kept: not counted
    }
    found = metrics.cost(attempts, prompt_price=0.15, completion_price=0.6)
    # per image over 2 tasks: calls (3 + 2 + 1) / 2 = 3, hits 0.5, prompt 750, completion 75, 17 s.
    # A fresh run: calls 3 + 0.5 = 3.5, prompt 750 + 200 = 950, completion 75 + 20 = 95;
    # 1000 images: 1000 * (950 * 0.15 + 95 * 0.6) / 1e6 = 1000 * 199.5 / 1e6 = 0.1995
    assert (found.tasks, found.attempts) == (2, 3)
    assert {key: asdict(found.per_image)[key] for key in metrics.USAGE_KEYS} == {
        "mllm_calls": 3.0, "cache_hits": 0.5, "prompt_tokens": 750.0, "completion_tokens": 75.0, "seconds": 17.0}
    assert asdict(found.fresh) == {"mllm_calls": 3.5, "prompt_tokens": 950.0, "completion_tokens": 95.0}
    assert found.price_per_1000_images == approx(0.1995)
    # The cache saved 200 + 20 tokens an image: 1000 * (200 * 0.15 + 20 * 0.6) / 1e6 = 0.042
    assert found.cache_savings.calls == 1 and found.cache_savings.price_per_1000_images == approx(0.042)
    assert (found.failed.attempts, found.failed.mllm_calls, found.failed.price) == (1, 3, 0.0)
    assert metrics.cost(attempts).price_per_1000_images is None
    assert metrics.cost({3: [Attempt(False, None, {})]}).tasks == 0


def test_failures_first_pass_after_retries_and_by_cause():
    attempts = {
        1: [Attempt(True, "stage1:timeout"), Attempt(False)],  # healed
        2: [Attempt(True, "stage1:timeout"), Attempt(True, "stage1:server_error")],  # still failed
        3: [Attempt(True, "image:unavailable")],
        4: [Attempt(False)], 5: [Attempt(False)],
    }
    rows = [row("A", None, task_id=2, failed=True), row(None, None, task_id=3, failed=True), row("A", "A", task_id=4)]
    found = metrics.failures(attempts, rows)
    # first attempt: 3 of 5 failed (60%); after retries: 2 (40%); one healed, two retried
    assert (found.tasks, found.first_pass, found.first_pass_rate) == (5, 3, approx(0.6))
    assert (found.still, found.still_rate, found.healed, found.retried) == (2, approx(0.4), 1, 2)
    assert [asdict(entry) for entry in found.by_cause] == [{"cause": "stage1:timeout", "first_pass": 2, "still": 0},
                                 {"cause": "image:unavailable", "first_pass": 1, "still": 1},
                                 {"cause": "stage1:server_error", "first_pass": 0, "still": 1}]
    assert (found.reviewed, found.labelled_by_hand, found.reviewed_none) == (2, 1, 1)
    assert not rows[1].correct  # a failed task is never "accepted", whatever the reviewer chose
