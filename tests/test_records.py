"""The typed records that cross floors: each round-trips through the JSON it is kept as (Redis, task meta, the
learned store, rq's job results), and reads back what older versions wrote without failing."""

from __future__ import annotations

import dataclasses
import json

from prelabel.jobs.queues import PredictionJobResult
from prelabel.pipeline.identity import ModelVersion, is_ours
from prelabel.pipeline.reasons import NAMED, Reason
from prelabel.pipeline.result import (
    FAILED,
    LABEL,
    Evidence,
    ImagePrediction,
    NamedMatch,
    Stage1Answer,
    Stage2Match,
)
from prelabel.studio.predictions import StudioPrediction

VERSION = "prelabel-1a2b3c4d-5e6f7a8b"


def full() -> ImagePrediction:
    evidence = Evidence(
        Stage1Answer("A stink bug on a leaf.", "BMSB", ("BMSB", "weevil")),
        [NamedMatch("BMSB", "classification", "Halyomorpha halys", 0.97, "alias"),
         NamedMatch("weevil", "candidate", None, 0.0, "ambiguous", (("Sitophilus oryzae", 0.33),
                                                                   ("Sitophilus zeamais", 0.33)))],
        Stage2Match("Halyomorpha halys", "Halyomorpha halys", "exact", 1.0), ["Nezara viridula"],
        ["Halyomorpha halys", "Nezara viridula"], ["description", "image"])
    return ImagePrediction("photo.jpg", 7, "Halyomorpha halys", 0.86, [("Halyomorpha halys", 0.86)],
                           {"final": {"Halyomorpha halys": 0.86}}, evidence, {}, state=LABEL,
                           why=Reason(NAMED, words="BMSB", method="alias"),
                           usage={"mllm_calls": 2, "prompt_tokens": 900})


def test_an_image_prediction_round_trips_nested_and_flat():
    prediction = full()
    # The store's rows never held the shortlist and the fused features (task meta does).
    flat = dataclasses.replace(prediction.evidence, shortlist=None, fusion_features=None)
    for kept, evidence in ((prediction.to_dict(), prediction.evidence), (prediction.evidence_json(), flat)):
        back = ImagePrediction.from_dict(json.loads(json.dumps(kept)), ref=7)
        assert back.evidence == evidence
        assert (back.stage_scores, back.ranking, back.usage, back.state, back.why) == (
            prediction.stage_scores, prediction.ranking, prediction.usage, prediction.state, prediction.why)
    assert ImagePrediction.from_dict(prediction.to_dict()).to_dict() == prediction.to_dict()


def test_evidence_json_keeps_the_shape_of_the_stored_rows():
    row = full().evidence_json()
    assert sorted(row) == ["candidates", "errors", "ranking", "reason", "score", "stage1", "stage2", "stage_scores",
                           "state", "usage", "vetoed", "why"]
    assert row["why"] == {"code": "named", "words": "BMSB", "method": "alias"}  # the record beside its sentence
    assert row["reason"] == "named by the MLLM (alias match of 'BMSB')"
    assert row["candidates"][1] == {"text": "weevil", "source": "candidate", "label": None, "score": 0.0,
                                    "method": "ambiguous", "alternatives": [{"label": "Sitophilus oryzae",
                                                                             "score": 0.33},
                                                                            {"label": "Sitophilus zeamais",
                                                                             "score": 0.33}]}
    assert Evidence().to_dict() == {}  # a stage that did not run leaves no key behind


def test_old_and_malformed_rows_read_back_without_failing():
    old = {"candidates": [{"text": "brown marble bug", "source": "classification", "label": None,
                           "method": "none"}, "junk", {"text": 5}],
           "stage1": None, "stage2": "broken", "vetoed": [None, "A"], "ranking": [["A"], [], "x", ["B", "0.5"]],
           "stage_scores": {"final": {"A": "high"}, "fused": [1]}, "errors": "none", "usage": {"x": True, "y": 2}}
    back = ImagePrediction.from_dict(old)
    assert [c.text for c in back.evidence.candidates] == ["brown marble bug", ""]
    assert back.evidence.candidates[0].score == 0.0 and back.evidence.stage2 is None
    assert back.evidence.vetoed == ["A"] and back.ranking == [("A", 0.0), ("B", 0.0)]
    assert back.stage_scores == {"final": {"A": 0.0}} and back.errors == {} and back.usage == {"y": 2}
    assert ImagePrediction.from_dict({}).evidence == Evidence()


def test_the_model_version_knows_a_failure():
    version = ModelVersion.parse(VERSION)
    assert version is not None and not version.failed and str(version) == VERSION
    failure = version.failure()
    assert str(failure) == VERSION + "-failed" and failure.failed and failure.real() == version
    assert ModelVersion.parse(str(failure)) == failure
    assert failure.supersedes(ModelVersion.parse("prelabel-00000000-5e6f7a8b-failed"))
    assert not failure.supersedes(ModelVersion.parse("prelabel-00000000-5e6f7a8b"))  # never over a real one
    assert version.supersedes(failure) and not version.supersedes(version)
    assert is_ours(str(failure)) and not is_ours("other-model") and not is_ours(None)
    assert ModelVersion.parse(VERSION + "-failed-failed") is None


def test_a_studio_prediction_round_trips_as_label_studio_reads_it():
    prediction = StudioPrediction(ModelVersion.parse(VERSION).failure(), 0.0, ({"type": "textarea"},))
    kept = json.loads(json.dumps(prediction.to_json()))
    assert kept == {"model_version": VERSION + "-failed", "score": 0.0, "result": [{"type": "textarea"}]}
    assert StudioPrediction.from_json(kept) == prediction and prediction.failed
    assert prediction.to_json(task=3)["task"] == 3


def test_a_job_result_round_trips_and_reads_an_older_one():
    result = PredictionJobResult(VERSION, tasks=3, labelled=1, none=1, delivering=2, failed={9: "image: 404"},
                                 failures_by_cause={"image:unavailable": 1}, cached=2)
    assert PredictionJobResult.from_json(json.loads(json.dumps(result.to_json()))) == result
    assert PredictionJobResult.from_json(None) == PredictionJobResult("None")
    older = {"tasks": 2, "labelled": 2, "none": 0, "delivering": 2, "failed": {}, "model_version": VERSION}
    assert PredictionJobResult.from_json(older).labelled == 2 and FAILED == "failed"
