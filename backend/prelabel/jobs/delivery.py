"""Prediction results shared by the service and the workers through Redis, and who delivers each one.

A task's prediction reaches Label Studio exactly once per model_version, by one of two ways: in a /predict
response (Label Studio stores it) or written by a worker through the API. Whoever delivers first claims the
(model_version, task) pair in Redis; the other gives up. The service waits a short budget for an interactive
result; when it gives up it asks the worker to deliver (`hand_over`) and then looks once more, and the worker,
after storing a result, checks whether it was handed over: one of the two always sees the other's write, and
the claim makes sure only one of them delivers.

Results are derived data (a worker can recompute them), so Redis, even without persistence, is the right place.
"""

from __future__ import annotations

import json

from redis import Redis

from prelabel.learning.store import LearnedStore
from prelabel.pipeline.result import ImagePrediction
from prelabel.studio.client import LabelStudio, StudioError
from prelabel.studio.labelconfig import Control
from prelabel.studio.predictions import prediction_json

RESULT_TTL = 7 * 24 * 3600
PENDING_TTL = 3600  # a task queued this long ago and still not done may be queued again


class ResultStore:
    def __init__(self, redis: Redis, prefix: str = "prelabel"):
        self.redis = redis
        self.prefix = prefix

    def _key(self, kind: str, model_version: str) -> str:
        return f"{self.prefix}:{kind}:{model_version}"

    def put(self, model_version: str, task_id: int, prediction: dict | None) -> None:
        """Store a task's prediction; None records that the pipeline found no label for it."""
        key = self._key("result", model_version)
        self.redis.hset(key, str(task_id), json.dumps(prediction))
        self.redis.expire(key, RESULT_TTL)

    def get(self, model_version: str, task_id: int) -> tuple[bool, dict | None]:
        """(found, prediction): a stored None means 'done, no label'."""
        raw = self.redis.hget(self._key("result", model_version), str(task_id))
        return (False, None) if raw is None else (True, json.loads(raw))

    def claim(self, model_version: str, task_id: int) -> bool:
        """True for exactly one caller per (model_version, task): that caller delivers the prediction."""
        key = self._key("claimed", model_version)
        won = bool(self.redis.sadd(key, str(task_id)))
        self.redis.expire(key, RESULT_TTL)
        return won

    def release(self, model_version: str, task_id: int) -> None:
        """Undo a claim whose delivery failed, so a retry can deliver."""
        self.redis.srem(self._key("claimed", model_version), str(task_id))

    def hand_over(self, model_version: str, task_ids: list[int]) -> None:
        """From now on the worker delivers these tasks itself (written through the API)."""
        if task_ids:
            key = self._key("worker-delivers", model_version)
            self.redis.sadd(key, *map(str, task_ids))
            self.redis.expire(key, RESULT_TTL)

    def handed_over(self, model_version: str, task_id: int) -> bool:
        return bool(self.redis.sismember(self._key("worker-delivers", model_version), str(task_id)))

    def mark_pending(self, model_version: str, task_id: int) -> bool:
        """False when the task is already queued for this model_version (do not queue it twice)."""
        return bool(self.redis.set(f"{self._key('pending', model_version)}:{task_id}", 1, nx=True, ex=PENDING_TTL))

    def clear_pending(self, model_version: str, task_id: int) -> None:
        self.redis.delete(f"{self._key('pending', model_version)}:{task_id}")


def deliver(results: ResultStore, studio: LabelStudio, store: LearnedStore, project_id: int,
            predictions: list[ImagePrediction], control: Control, model_version: str, vocabulary_version: str) -> int:
    """Store results; write those handed over (claimed first, so nobody writes twice). Returns writes made."""
    written, version_checked = 0, False
    store.save_prediction_evidence([evidence_row(p, project_id, model_version, vocabulary_version)
                                    for p in predictions])
    for prediction in predictions:
        found = prediction_json(prediction, model_version, control)
        results.put(model_version, prediction.ref, found)
        results.clear_pending(model_version, prediction.ref)
        if found is None or not results.handed_over(model_version, prediction.ref):
            continue
        if not results.claim(model_version, prediction.ref):
            continue
        try:
            if project_id and not version_checked:  # a /predict without a project id names none
                studio.ensure_model_version(project_id, model_version)
                version_checked = True
            if model_version not in studio.model_versions_of(prediction.ref):
                studio.create_prediction(prediction.ref, found)
                written += 1
        except StudioError:
            results.release(model_version, prediction.ref)  # the retry must be able to deliver it
            raise
    return written


def evidence_row(prediction: ImagePrediction, project_id: int, version: str, vocabulary_version: str) -> dict:
    """What feedback needs later: raw MLLM strings, how each normalised, stage scores, the final label."""
    return {"task_id": prediction.ref, "project_id": project_id, "model_version": version,
            "vocabulary_version": vocabulary_version, "label": prediction.label,
            "evidence": {"candidates": prediction.evidence.get("candidates", []),
                         "stage2": prediction.evidence.get("stage2"), "stage_scores": prediction.stage_scores,
                         "errors": prediction.errors}}
