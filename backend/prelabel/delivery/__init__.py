"""How a prediction reaches Label Studio exactly once per model_version, and what Redis keeps for that.

Label Studio itself is the record of what was delivered: a task has a prediction of model_version V or it does
not (a prediction deleted there is simply missing, and is delivered again). Redis keeps only what is in flight:

- results (`results.py`): each task's computed prediction per V, keyed with a hash of the task data it was
  computed from (read back from Label Studio by the worker) and of the labeling config it was made for, so data
  posted to /predict cannot poison what other callers get, and a result made for a control since renamed is
  not delivered. Only decisions (a label or an honest none) are kept; failures are not, so they are tried again.
- claims (`results.py`): a short lock per (V, task) taken by whoever is about to deliver it, the /predict
  response or a worker's bulk write, so two never deliver the same task at once. A writer reads the tasks'
  predictions back from Label Studio under the claim, writes what is missing, and releases it.
- hand-over (`results.py`): a /predict that waits for a worker (a handful of tasks, interactive) delivers the
  results itself; when it gives up it hands the tasks over and looks once more, and the worker, after storing a
  result, checks whether it was handed over. One of the two always sees the other's write; the claim makes sure
  only one delivers.
- pending (`results.py`): which job a task is queued in, so it is not queued twice while that job lives.
- the ledger (`ledger.py`): every delivery not yet confirmed by Label Studio (a response Label Studio may never
  have stored, a write a worker died before making).
- the writer (`writer.py`): a worker's predictions, written in bulk under their claims.
- the list columns (`columns.py`): the suggestion and score each prediction also writes into its task's data,
  one Data Manager action per distinct value, after the predictions.
- the reconciler (`reconciler.py`): checks the ledger's due entries against Label Studio and delivers what is
  missing, so a lost response or a killed worker loses nothing.

The service, the job bodies and the reconciler speak this package's types (Outgoing, ResultStore, Ledger); the
queues (prelabel.jobs) sit above it and hand it what to requeue.
"""
