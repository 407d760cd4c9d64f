"""A Label Studio task as Prelabel reads it: built and checked here, where Label Studio's task list enters
(prelabel.studio.client), and spoken everywhere after (the jobs, the writer, the reconciler, the feedback).

Only the fields Prelabel reads, each in the one form the rest of the code handles: Label Studio's list gives
`predictions_model_versions` and `annotations_ids` as one comma-joined string on SQLite and a list on PostgreSQL
(data_manager/serializers.py, _pretty_results); both become sets here. A listing asks only for some fields
(`include`): a field it left out reads as empty (`data` as None).

Why not label-studio-sdk's types (`LseTask`, `Prediction`): they are Fern's UncheckedBaseModel, built without
validation (an `id` of "abc" and `data` of 5 go through as they are), their `id` is optional, `data` is required
even when the listing left it out, and the comma-joined strings stay strings; building one costs 200-400 µs
against about 20 µs for this record with its checks (2026-12-07, a 2-core shared VM, load average 5.6). So Prelabel
keeps its own small frozen record and checks it once, here; the SDK stays the way predictions are written and
single objects are read (prelabel.studio.client).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prelabel.studio.errors import StudioError

__all__ = ["LISTED_IDS_CUT", "MAX_ID", "HeldPrediction", "MalformedTask", "Task", "studio_id"]
MAX_ID = 2 ** 63  # Label Studio's ids are 64-bit database keys
# Label Studio cuts a listed task's `annotations_ids` at 500 characters (data_manager/serializers.py,
# CHAR_LIMITS): a list that long cannot be trusted whole.
LISTED_IDS_CUT = 500


class MalformedTask(StudioError):
    """A task Label Studio listed that Prelabel cannot read (no integer id, data that is not an object...).
    `task_id`: its id when it has a usable one, so the failure is that task's alone."""

    def __init__(self, message: str, task_id: int | None = None):
        super().__init__(message)
        self.task_id = task_id


def studio_id(value: object) -> int | None:
    """An id Label Studio's database could have made (a positive 64-bit integer, sent as a JSON integer), or
    None. A boolean is no id (`true` is not task 1)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < MAX_ID:
        return value
    return None


@dataclass(frozen=True)
class HeldPrediction:
    """A prediction Label Studio holds on a task (a listing with `predictions`): whose version, which id, what
    result. Any field may be missing from what Label Studio answered: then None (or no result)."""

    id: int | None
    model_version: str | None
    result: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> HeldPrediction:
        version = value.get("model_version")
        result = value.get("result")
        return cls(studio_id(value.get("id")), version if isinstance(version, str) else None,
                   tuple(r for r in result if isinstance(r, Mapping)) if isinstance(result, list) else ())


@dataclass(frozen=True)
class Task:
    """One listed task: `data` None when the listing did not ask for it; `versions`, the model_versions of its
    predictions (`predictions_model_versions`); `predictions`, those listed whole (`predictions`);
    `annotation_ids`, its annotations' ids, None when not listed or cut by Label Studio (LISTED_IDS_CUT)."""

    id: int
    project: int
    data: Mapping[str, Any] | None = None
    versions: frozenset[str] = frozenset()
    predictions: tuple[HeldPrediction, ...] = ()
    annotation_ids: frozenset[int] | None = None
    total_predictions: int = 0
    total_annotations: int = 0

    @classmethod
    def from_json(cls, value: object, project: int) -> Task:
        """The task of one entry of Label Studio's task list (project `project`); a MalformedTask saying what is
        wrong with it, and naming its id where it has one."""
        if not isinstance(value, Mapping):
            raise MalformedTask(f"Label Studio listed a task that is not an object ({type(value).__name__})")
        task_id = studio_id(value.get("id"))
        if task_id is None:
            raise MalformedTask(f"Label Studio listed a task without an integer id ({value.get('id')!r:.40})")
        data = value.get("data")
        if data is not None and not isinstance(data, Mapping):
            raise MalformedTask("its data is not an object", task_id)
        predictions = value.get("predictions")
        return cls(task_id, project, data, frozenset(_listed(value.get("predictions_model_versions"))),
                   tuple(HeldPrediction.from_json(p) for p in predictions if isinstance(p, Mapping))
                   if isinstance(predictions, list) else (),
                   _annotation_ids(value.get("annotations_ids")),
                   _count(value.get("total_predictions")), _count(value.get("total_annotations")))

    def holds(self, version: object) -> bool:
        """Whether it holds a prediction of this model_version (whole versions, never substrings:
        "prelabel-a-b" is inside "prelabel-a-b-failed")."""
        return str(version) in self.versions


def _listed(value: object) -> list[str]:
    """The items of a listed field: "a,b" (SQLite) or ["a", "b"] (PostgreSQL), stripped, empty ones left out."""
    items: list[Any] = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
    return [text for text in (str(item).strip() for item in items) if text]


def _annotation_ids(value: object) -> frozenset[int] | None:
    if not isinstance(value, str | list) or (isinstance(value, str) and len(value) >= LISTED_IDS_CUT):
        return None  # not listed, or cut by Label Studio (the last id may be a part)
    return frozenset(int(item) for item in _listed(value) if item.isascii() and item.isdigit())


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
