"""Label Studio as Prelabel talks to it: its API, the images it serves, its projects, and the JSON it reads.

- `client`, `errors`: the API (tasks, images, predictions, annotations, the project's model_version);
  `StudioError`, one line that says what failed and why.
- `tasks`: a listed task as Prelabel reads it (`Task`: id, project, data, the versions and predictions it holds,
  its annotations' ids), built and checked once where it enters; a malformed one costs only itself.
- `fetch`: a task's image: which hosts, which paths get the token, redirects, private addresses, bytes, deadline.
- `setup`: `prelabel setup`: a project made ready, idempotently; each refusal in one sentence.
- `labelconfig`: which <Choices>/<Taxonomy> over which <Image> gets the label, the none choice, the evidence
  box; the shipped config.
- `predictions`: the prediction JSON Label Studio reads, holding only what the project's config can show.
- `evidence`: the reviewer's text: why this label (or none, or failed), the MLLM's words, how each matched.
- `wording`: that text's phrases in the reviewers' language (English, Japanese); the reasons' own sentences
  are pipeline/reasons.py's.
- `columns`: the suggestion and its score written into each task's data, for Label Studio's task list.
- `boxes`: rectangle regions read from a result; a prediction's boxes matched with a reviewer's by IoU (kept,
  moved, relabelled, deleted, drawn), for the learning and the report.
- `accepted`: the mark on Prelabel's own annotations (`prelabel accept`), which nothing learns from.
"""
