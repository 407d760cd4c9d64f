"""What the expert reviews (`prelabel vocab review`), as typed records: every learned string once, in the state the
rule and the experts' decisions leave it (Learning.review builds it, learning/rules.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TaskRef = tuple[int | None, int]  # (project, task): where a reviewer taught it


@dataclass(frozen=True)
class Support:
    """The annotations behind one (string, label) pair: the string as first written, how many annotations,
    their vouched reviewers and up to five example tasks."""

    string: str
    count: int = 0
    reviewers: tuple[int, ...] = ()
    tasks: tuple[TaskRef, ...] = ()


@dataclass(frozen=True)
class ReviewEntry:
    """One learned (string, label) pair. `status`: promoted, accepted (in force), rejected, or pending;
    `decided_by`: "reviewers" (promoted by their agreement) or the expert who decided."""

    string: str | None
    label: str
    status: str
    decided_by: str | None = None
    support: Support | None = None
    named: str | None = None  # a model error: the label the vocabulary gives the string

    @property
    def count(self) -> int:
        return self.support.count if self.support else 0

    @property
    def reviewers(self) -> tuple[int, ...]:
        return self.support.reviewers if self.support else ()

    @property
    def tasks(self) -> tuple[TaskRef, ...]:
        return self.support.tasks if self.support else ()


@dataclass(frozen=True)
class Conflict:
    """A string pointing at several labels: one entry per label, and the labels it is in force for."""

    string: str | None
    labels: tuple[ReviewEntry, ...]
    in_force: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewClass:
    """A label reviewers chose that the vocabulary lacks, with what the MLLM said of those images."""

    label: str
    count: int
    strings: tuple[str, ...] = ()
    tasks: tuple[TaskRef, ...] = ()


@dataclass(frozen=True)
class SynonymReview:
    """Everything learned, by what the expert can do with it. `left_out`: undecided strings the screening leaves
    out, counted by its flag; `evidence`: rows of reviewers' evidence, counted by kind."""

    in_force: tuple[ReviewEntry, ...] = ()
    pending: tuple[ReviewEntry, ...] = ()  # names the vocabulary lacks, most supported first
    conflicts: tuple[Conflict, ...] = ()
    model_errors: tuple[ReviewEntry, ...] = ()  # most supported first
    rejected: tuple[ReviewEntry, ...] = ()
    left_out: Mapping[str, int] = field(default_factory=dict)
    new_classes: tuple[NewClass, ...] = ()
    evidence: Mapping[str, int] = field(default_factory=dict)

    def empty(self) -> bool:
        """Nothing for the expert: no string learned, no new class (evidence rows alone are not work)."""
        return not (self.in_force or self.pending or self.conflicts or self.model_errors or self.rejected
                    or self.left_out or self.new_classes)

    def entries(self) -> list[ReviewEntry]:
        """Every pair shown with its evidence, conflicts' included."""
        return [*self.in_force, *self.pending, *self.rejected, *self.model_errors,
                *(entry for conflict in self.conflicts for entry in conflict.labels)]
