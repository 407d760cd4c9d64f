"""What Redis keeps of each task's delivery per model_version: its result, who delivers it, and whether it is queued.

The protocol these serve is told in prelabel.delivery; the ledger of unconfirmed deliveries is
prelabel.delivery.ledger.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from redis import Redis

from prelabel.studio.columns import without_columns
from prelabel.studio.predictions import StudioPrediction

RESULT_TTL = 7 * 24 * 3600  # the default of PRELABEL_RESULT_DAYS
FAILURE_TTL = 300
CLAIM_TTL = 120  # a delivery in flight; after it, Label Studio's own record decides
ANSWERED = "response"  # what a /predict response's claim holds; a writer's holds WRITING
WRITING = "writer"
# A response's claim, taken or renewed: 1 when nobody else delivers the task (KEYS[1] the claim, ARGV[1] ANSWERED,
# ARGV[2] the TTL). One script, so a writer cannot take the claim between the check and the renewal.
_CLAIM_ANSWER = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('EXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
"""
PENDING_TTL = 6 * 3600  # an upper bound only: a pending task whose job is gone is queued again at once


def made_from(data: object, label_config: str) -> str:
    """Identifies what a result is made from: the task's data as Label Studio holds it (key order does not
    matter), less the list columns Prelabel writes there itself (prelabel.studio.columns: writing them changes no
    prediction), and the project's labeling config, which says where the label goes. A result made for another
    config is not this one's: after a control is renamed, Label Studio drops, without an error, a prediction
    that names the old one (prelabel.delivery.writer)."""
    # ASCII escapes: a lone surrogate in task data must not fail the request (hashing costs it nothing).
    found = json.dumps([without_columns(data), label_config], sort_keys=True, default=str)
    return hashlib.sha256(found.encode()).hexdigest()[:16]


class ResultStore:
    def __init__(self, redis: Redis, prefix: str = "prelabel", keep: int = RESULT_TTL):
        """`keep`: seconds a result (and a hand-over) is kept after its last write (PRELABEL_RESULT_DAYS)."""
        self.redis = redis
        self.prefix = prefix
        self.keep = keep
        self._claim_answer = redis.register_script(_CLAIM_ANSWER)

    def _key(self, kind: str, model_version: str) -> str:
        return f"{self.prefix}:{kind}:{model_version}"

    # ---- results ---------------------------------------------------------------------------------------

    def put(self, model_version: str, task_id: int, data: str, prediction: StudioPrediction) -> None:
        """Keep a task's decided prediction (a label or an honest none), for the task data it was made from."""
        self.put_handed_over(model_version, task_id, data, prediction)

    def put_handed_over(self, model_version: str, task_id: int, data: str, prediction: StudioPrediction) -> bool:
        """put(), then handed_over(), in one round trip (a job's every prediction: not four)."""
        key = self._key("result", model_version)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, str(task_id), _kept(data, prediction))
            pipe.expire(key, self.keep)
            pipe.hdel(self._key("failed-at", model_version), str(task_id))
            pipe.sismember(self._key("worker-delivers", model_version), str(task_id))
            return bool(pipe.execute()[-1])

    def get(self, model_version: str, task_id: int, data: str) -> StudioPrediction | None:
        """The prediction made for exactly this task data, or None."""
        return _found(self.redis.hget(self._key("result", model_version), str(task_id)), data)

    def get_many(self, model_version: str, data: dict[int, str]) -> dict[int, StudioPrediction]:
        """get() for each task of `data` (task id: the data its result must be made from), in one round trip:
        those that have one."""
        if not data:
            return {}
        raw = self.redis.hmget(self._key("result", model_version), [str(task_id) for task_id in data])
        return {task_id: found for (task_id, made), kept in zip(data.items(), raw, strict=True)
                if (found := _found(kept, made)) is not None}

    def put_failure(self, model_version: str, task_id: int, data: str, prediction: StudioPrediction) -> None:
        """A failure, kept only minutes and only for a /predict waiting on this task: it shows the reviewer why,
        and the next request asks again."""
        key = f"{self._key('failure', model_version)}:{task_id}"
        self.redis.set(key, _kept(data, prediction), ex=FAILURE_TTL)

    def mark_failed(self, model_version: str, task_id: int, at: float) -> None:
        """When the task's last try failed (Label Studio holds no prediction for it: see failed_recently)."""
        key = self._key("failed-at", model_version)
        self.redis.hset(key, str(task_id), repr(at))
        self.redis.expire(key, self.keep)

    def failed_at(self, model_version: str, task_ids: list[int]) -> dict[int, float]:
        """When each of these tasks' last try failed, for those whose last try did."""
        if not task_ids:
            return {}
        found = self.redis.hmget(self._key("failed-at", model_version), [str(task_id) for task_id in task_ids])
        return {task_id: float(at) for task_id, at in zip(task_ids, found, strict=True) if at is not None}

    def get_failure(self, model_version: str, task_id: int, data: str) -> StudioPrediction | None:
        return _found(self.redis.get(f"{self._key('failure', model_version)}:{task_id}"), data)

    def clear_failures(self, model_version: str, task_ids: Iterable[int]) -> None:
        """Forget earlier failures of tasks about to be tried again: a /predict waiting on the new try must not
        take an old failure for its answer."""
        keys = [f"{self._key('failure', model_version)}:{task_id}" for task_id in task_ids]
        if keys:
            self.redis.delete(*keys)

    # ---- who delivers ----------------------------------------------------------------------------------

    def claim(self, model_version: str, task_id: int) -> bool:
        """True for exactly one writer per (model_version, task) while a delivery is in flight."""
        return bool(self.redis.set(f"{self._key('claim', model_version)}:{task_id}", WRITING, nx=True,
                                   ex=CLAIM_TTL))

    def claim_answer(self, model_version: str, task_id: int) -> bool:
        """True when a /predict response may deliver this task: nobody is delivering it, or a response already
        did. A repeated /predict gets the same answer again (idempotent): Label Studio asks again only for a
        task that lacks the prediction (it never stored the first answer, or two people opened the task at
        once; the reconciler removes a double then). A writer's claim keeps responses off."""
        key = f"{self._key('claim', model_version)}:{task_id}"
        return bool(self._claim_answer(keys=[key], args=[ANSWERED, CLAIM_TTL]))

    def release(self, model_version: str, task_ids: Iterable[int]) -> None:
        keys = [f"{self._key('claim', model_version)}:{task_id}" for task_id in task_ids]
        if keys:
            self.redis.delete(*keys)

    def hand_over(self, model_version: str, task_ids: list[int]) -> None:
        """From now on a worker delivers these tasks itself (written through the API)."""
        if task_ids:
            key = self._key("worker-delivers", model_version)
            self.redis.sadd(key, *map(str, task_ids))
            self.redis.expire(key, self.keep)

    def take_back(self, model_version: str, task_ids: list[int]) -> None:
        """A /predict waits on these tasks now: its response delivers them, not a worker (an earlier hand-over,
        by a bulk run, would let the worker's write race the response, and the reviewer see nothing)."""
        if task_ids:
            self.redis.srem(self._key("worker-delivers", model_version), *map(str, task_ids))

    def handed_over(self, model_version: str, task_id: int) -> bool:
        return bool(self.redis.sismember(self._key("worker-delivers", model_version), str(task_id)))

    # ---- pending: queued in a job that still lives -------------------------------------------------------

    def mark_pending(self, model_version: str, task_id: int, job_id: str) -> bool:
        """False when the task is already queued for this model_version in a job that still lives."""
        key = f"{self._key('pending', model_version)}:{task_id}"
        if self.redis.set(key, job_id, nx=True, ex=PENDING_TTL):
            return True
        holder = self.redis.get(key)
        if holder is not None and self._job_alive(holder.decode() if isinstance(holder, bytes) else str(holder)):
            return False
        self.redis.set(key, job_id, ex=PENDING_TTL)  # its job finished, failed or vanished: take it over
        return True

    def clear_pending(self, model_version: str, task_ids: Iterable[int]) -> None:
        keys = [f"{self._key('pending', model_version)}:{task_id}" for task_id in task_ids]
        if keys:
            self.redis.delete(*keys)

    def _job_alive(self, job_id: str) -> bool:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job, JobStatus

        try:
            status = Job.fetch(job_id, connection=self.redis).get_status(refresh=False)
        except NoSuchJobError:
            return False
        return status in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def _kept(data: str, prediction: StudioPrediction) -> str:
    return json.dumps({"data": data, "prediction": prediction.to_json()})


def _found(raw: bytes | str | None, data: str) -> StudioPrediction | None:
    """The kept prediction if it was made from exactly this task data."""
    if raw is None:
        return None
    found = json.loads(raw)
    return StudioPrediction.from_json(found["prediction"]) if found.get("data") == data else None
