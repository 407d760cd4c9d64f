"""ResultStore against a real Redis: what several tasks' reads in one round trip return."""

from __future__ import annotations

from prelabel.delivery.results import ResultStore
from prelabel.pipeline.identity import ModelVersion
from prelabel.studio.predictions import StudioPrediction


def test_get_many_returns_what_get_returns_for_each_task(redis_conn):
    results = ResultStore(redis_conn)
    model_version = ModelVersion("0123abcd", "4567ef01")
    version = str(model_version)
    kept = StudioPrediction(model_version, 0.5, ({"from_name": "label", "value": {"choices": ["red"]}},))
    results.put(version, 1, "data-1", kept)
    results.put(version, 2, "data-2", kept)
    asked = {1: "data-1", 2: "other data", 3: "data-3"}  # 2 was made from other data; 3 has no result
    found = results.get_many(version, asked)
    assert found == {task_id: got for task_id, data in asked.items()
                     if (got := results.get(version, task_id, data)) is not None}
    assert list(found) == [1] and found[1].to_json() == kept.to_json()
    assert results.get_many(version, {}) == {}


def test_put_handed_over_keeps_the_result_and_says_who_delivers(redis_conn):
    results = ResultStore(redis_conn)
    version = str(ModelVersion("0123abcd", "4567ef01"))
    kept = StudioPrediction(ModelVersion("0123abcd", "4567ef01"), 0.5, ())
    results.hand_over(version, [1])
    results.mark_failed(version, 1, 1.0)
    assert results.put_handed_over(version, 1, "data-1", kept) is True
    assert results.put_handed_over(version, 2, "data-2", kept) is False  # a /predict response delivers it
    assert results.get(version, 1, "data-1") is not None and results.get(version, 2, "data-2") is not None
    assert results.failed_at(version, [1, 2]) == {}  # a result replaces the failure noted before
