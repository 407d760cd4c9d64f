"""The web service Label Studio calls: the ML backend's endpoints, answering fast and handing the work to workers.

Runs under gunicorn (`prelabel serve`); imports neither openai nor torch, so it starts in half a second and
/health answers however busy the workers are.

- `app`: the Flask application factory: builds the process's parts, Basic auth, errors, logging.
- `routes`: /health, /setup, /predict, /webhook, /versions, /metrics; one snapshot of the vocabulary in force
  per request.
- `backend`: what the handlers share: the parts, the config cache, the thread budget.
- `configs`: labeling configs as /setup and /predict read them: size-capped, each distinct one parsed once.
"""
