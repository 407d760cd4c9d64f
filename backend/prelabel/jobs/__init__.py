"""Work handed from the service (or `prelabel run`) to workers through RQ/Redis; `prelabel.delivery` takes it back.

- `queues`: the queueing API: queue names, `enqueue_predictions`, `enqueue_feedback` (jobs named by path, so the
  service imports no pipeline).
- `bursts`: small /predict requests arriving together, gathered into one job per (queue, project, version).
- `admission`: what /webhook lets onto the feedback queue: no duplicate of a waiting job, a bound.
- `worker`: `prelabel worker`, an rq SimpleWorker that loads the models once for every job it runs.
- `context`: what a worker keeps between jobs: the parts, the pipeline, the learning rules.
- `readahead`: the next job's tasks and first images, read while the current job runs.
- `headstart`: the next job's first images started in the MLLM slots the current job's last ones leave free.
- `predict`, `feedback`: the job bodies: pre-label tasks and deliver them; record a reviewer's annotation.
- `bulk`: `prelabel run` and `prelabel jobs`.
"""
