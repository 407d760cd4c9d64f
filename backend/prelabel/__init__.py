"""Prelabel: pre-labels inspection photos for Label Studio.

Data flows one way: Label Studio -> `service` -> queue (`jobs`) -> `pipeline` (candidates -> normalise -> fuse)
-> Label Studio (`delivery`, `studio`); `learning` turns reviewers' annotations into synonyms of the
`vocabulary`; `report` measures the pre-labels on reviewed tasks; `local` runs it all on one machine; `cli` is
the `prelabel` command.
Each package's docstring says its one idea and lists its modules; the flow in full: docs/architecture.md.

The modules every layer shares:
- `settings`: every setting, from environment variables (nothing else reads the environment).
- `parts`: the one place that builds Redis, the Label Studio client, the learned store and the vocabulary in
  force from Settings.
- `metrics`: Prometheus counters kept in Redis, shared by every process.
- `workers`: workers counted by a heartbeat of their own (the service's /health, `prelabel jobs`).
- `perthread`, `sqlite`: per-thread database connections; SQLite files several processes open at once.
- `text`, `redact`: strings from outside made safe to keep and print; credentials masked wherever text leaves.
"""
