"""What /webhook lets onto the feedback queue: no duplicate of a job still waiting, and no more than a bound.

/webhook is unauthenticated (Label Studio sends webhooks without credentials), so anyone who reaches it can
post. What a feedback job does depends only on (action, project, annotation ids): it reads the annotations back
from Label Studio. So a webhook naming the same as a job that has not started yet adds nothing, and queues
nothing; once that job starts, the next one is queued again (an update after the job read the annotation must
be read too). The marker expires after PRELABEL_WEBHOOK_WINDOW, so a lost job never blocks its successors.
Beyond PRELABEL_FEEDBACK_QUEUE_MAX waiting jobs, /webhook refuses (503) rather than letting Redis grow.
"""

from __future__ import annotations

import hashlib
import json
import math

from redis import Redis
from rq.job import Job

from prelabel.jobs import queues

PREFIX = "prelabel:webhook-waiting:"


class FeedbackQueueFull(RuntimeError):
    """The feedback queue holds its maximum: the webhook was not queued."""


def _key(action: str, project_id: int | None, annotation_ids: list[int]) -> str:
    what = json.dumps([action, project_id, sorted(set(annotation_ids))])
    return PREFIX + hashlib.sha256(what.encode()).hexdigest()


def admit_feedback(redis: Redis, action: str, project_id: int | None, annotation_ids: list[int], window: float,
                   limit: int) -> Job | None:
    """The queued job, or None when the same job is already waiting. Raises FeedbackQueueFull."""
    key = _key(action, project_id, annotation_ids)
    if not redis.set(key, 1, nx=True, ex=max(1, math.ceil(window))):
        return None
    waiting = queues.queue(redis, queues.FEEDBACK).count
    if waiting >= limit:
        redis.delete(key)
        raise FeedbackQueueFull(f"the feedback queue is full ({waiting} jobs waiting, PRELABEL_FEEDBACK_QUEUE_MAX="
                                f"{limit}): {action} not queued, try again later")
    try:
        return queues.enqueue_feedback(redis, action, project_id, annotation_ids)
    except BaseException:
        redis.delete(key)
        raise


def started(redis: Redis, action: str, project_id: int | None, annotation_ids: list[int]) -> None:
    """Called by the job as it starts: from now on an identical webhook is news again."""
    redis.delete(_key(action, project_id, annotation_ids))
