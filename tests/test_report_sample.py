"""The review sample's allocation and choice, with the arithmetic worked out by hand."""

from __future__ import annotations

import pytest

from prelabel.report.records import ReportInputError
from prelabel.report.sample import Design, allocate, choose


def test_allocation_minimum_then_proportional():
    # 20 tasks over A 80, B 15, none 5, at least 5 each: 5 + 5 + 5 = 15, 5 left for what remains (A 75, B 10,
    # none 0 of 85): quotas A 5 * 75/85 = 4.41, B 0.59: floors A 4, B 0; the last task to the largest
    # remainder (B 0.59 > A 0.41): A 9, B 6, none 5
    assert allocate({"A": 80, "B": 15, None: 5}, 20) == {"A": 9, "B": 6, None: 5}


def test_rare_strata_are_not_missed():
    # A stratum of 2 tasks gets both, though proportional allocation would give it 0.2 of a task
    sizes = allocate({"common": 990, "rare": 2, None: 8}, 100)
    assert sizes["rare"] == 2 and sizes[None] == 5 and sum(sizes.values()) == 100


def test_allocation_lowers_the_minimum_when_n_is_small():
    # 8 tasks, 4 strata: the minimum falls to 8 // 4 = 2: A 2, B 2, C 1, D 1 (all they have) = 6; 2 left for A 98
    # and B 48 of 146: quotas A 1.34, B 0.66 -> A 1, B 0, and the last to B (0.66 > 0.34): A 3, B 3, C 1, D 1
    assert allocate({"A": 100, "B": 50, "C": 1, "D": 1}, 8) == {"A": 3, "B": 3, "C": 1, "D": 1}


def test_allocation_takes_everything_when_n_covers_the_project():
    assert allocate({"A": 3, None: 2}, 10) == {"A": 3, None: 2}


def test_allocation_refuses_fewer_tasks_than_strata():
    with pytest.raises(ReportInputError, match="give at least -n 3"):
        allocate({"A": 10, "B": 10, None: 10}, 2)


def test_choice_is_reproducible_and_stays_in_its_stratum():
    strata = {"A": list(range(1, 81)), "B": list(range(81, 96)), None: list(range(96, 101))}
    sizes = {"A": 9, "B": 6, None: 5}
    first = choose(strata, sizes, seed=7)
    assert choose({k: list(reversed(v)) for k, v in strata.items()}, sizes, seed=7) == first  # order given: moot
    assert choose(strata, sizes, seed=8) != first
    assert len(first) == 20
    for stratum, ids in strata.items():
        assert sum(1 for task_id, s in first.items() if s == stratum and task_id in ids) == sizes[stratum]


def test_the_mark_carries_the_whole_design():
    design = Design.new(7, "prelabel-x", {"A": 80, None: 5}, {"A": 9, None: 5})
    mark = design.mark("A")
    assert mark["id"].endswith("Z-seed7") and mark["stratum"] == "A" and mark["model_version"] == "prelabel-x"
    assert mark["strata"] == [{"label": None, "population": 5, "sampled": 5},
                              {"label": "A", "population": 80, "sampled": 9}]
