"""Work handed from the service (or `prelabel run`) to workers through RQ/Redis, and its way back into Label Studio.

- `queues`: the queueing API: queue names, `enqueue_predictions`, `enqueue_feedback` (jobs named by path, so the
  service imports no pipeline).
- `admission`: what /webhook lets onto the feedback queue: no duplicate of a waiting job, a bound.
- `worker`: `prelabel worker`, an rq SimpleWorker that loads the models once for every job it runs.
- `context`: what a worker keeps between jobs: the parts, the pipeline, the learning rules.
- `predict`, `feedback`: the job bodies: pre-label tasks and deliver them; record a reviewer's annotation.
- `delivery`: results in Redis and who delivers each (the response or a worker), exactly once per model_version.
- `writer`: predictions written into Label Studio in bulk, gathered across a worker's jobs.
- `maintenance`: workers counted by their own heartbeat; the reconciler that checks delivered predictions.
- `bulk`: `prelabel run` and `prelabel jobs`.
"""
