"""The PoC review sample: stratified by predicted label (none is a stratum, and so are the tasks Prelabel failed
on), reproducible from its seed.

Allocation: every stratum first gets a minimum (5 tasks, or all it has; less when n is too small for five per
stratum), so a label Prelabel gives once in a thousand images is still reviewed; the rest of n goes to the
strata in proportion to the tasks they have left, rounded by largest remainder. The report weights each
reviewed task back by N_h / r_h, so the oversampled rare strata do not distort the project-wide figures.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prelabel.report.records import ReportInputError

DEFAULT_MINIMUM = 5


def allocate(population: Mapping[str | None, int], n: int, minimum: int = DEFAULT_MINIMUM) -> dict[str | None, int]:
    """Tasks to sample per stratum: a minimum each, the rest proportional to what is left, summing to n."""
    total = sum(population.values())
    if n >= total:
        return dict(population)
    floor = min(minimum, n // len(population))
    if floor == 0:
        raise ReportInputError(f"-n {n} is smaller than the number of strata ({len(population)} predicted labels, "
                               f"none included): give at least -n {len(population)} so every stratum is reviewed")
    given = {stratum: min(size, floor) for stratum, size in population.items()}
    rest = n - sum(given.values())
    left = {stratum: population[stratum] - given[stratum] for stratum in population}
    quotas = {stratum: rest * left[stratum] / sum(left.values()) for stratum in population} if rest else {}
    for stratum, quota in quotas.items():
        given[stratum] += math.floor(quota)
    # Largest remainders first; ties go to the bigger stratum, then by name, so the result is reproducible.
    order = sorted(quotas, key=lambda s: (-(quotas[s] - math.floor(quotas[s])), -population[s], _key(s)))
    for stratum in order[:n - sum(given.values())]:
        given[stratum] += 1
    return given


def choose(strata: Mapping[str | None, Sequence[int]], sizes: Mapping[str | None, int],
           seed: int) -> dict[int, str | None]:
    """task id -> stratum of the chosen tasks. The same tasks, sizes and seed choose the same tasks."""
    generator = random.Random(seed)
    chosen: dict[int, str | None] = {}
    for stratum in sorted(strata, key=_key):
        for task_id in generator.sample(sorted(strata[stratum]), sizes.get(stratum, 0)):
            chosen[task_id] = stratum
    return dict(sorted(chosen.items()))


@dataclass(frozen=True)
class Design:
    """What the report needs to weight the strata back; written into every sampled task's meta."""

    sample_id: str
    seed: int
    model_version: str
    population: Mapping[str | None, int]
    sampled: Mapping[str | None, int]

    @classmethod
    def new(cls, seed: int, model_version: str, population: Mapping[str | None, int],
            sampled: Mapping[str | None, int]) -> Design:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cls(f"{stamp}-seed{seed}", seed, model_version, dict(population), dict(sampled))

    def mark(self, stratum: str | None) -> dict[str, Any]:
        """What meta.prelabel_sample holds: this sample, the task's stratum, every stratum's size (JSON for Label
        Studio's task meta: Any, as the SDK takes it)."""
        return {"id": self.sample_id, "seed": self.seed, "model_version": self.model_version, "stratum": stratum,
                "strata": [{"label": s, "population": self.population[s], "sampled": self.sampled.get(s, 0)}
                           for s in sorted(self.population, key=_key)]}


def _key(stratum: str | None) -> tuple[bool, str]:
    return stratum is not None, stratum or ""  # none first, then labels by name
