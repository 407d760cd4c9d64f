"""The PoC accuracy report (`prelabel report`), the review sample it weights back (`prelabel sample`), the
auto-accept it recommends (`prelabel accept`), and a project's own calibration (`prelabel calibrate`).

Data flows one way: sources (Label Studio, an export file, the learned store) -> records (one per task) ->
figures (pure metrics over rows) -> plots, html, metrics.json, tasks.csv. Only `sources` imports other
prelabel modules (besides the calibration's names for what made a score, pipeline/calibration.py), so the rest
reads and tests on its own. What the report shows and why: docs/report.md.

- `records`: what the report knows about a task (annotations, predictions by model_version, evidence, sample
  mark), and a row.
- `parse`: Label Studio JSON (an export, or `prelabel predict` output) -> records.
- `sources`: Label Studio, export files, the learned store: the one module that imports the rest of Prelabel.
- `metrics`: the statistics, pure functions over rows, each figure a frozen record.
- `figures`: the policies, and every figure as one record (`document.ReportMetrics`).
- `document`: the records of the report's document, the field names metrics.json's keys.
- `jsonfile`: metrics.json written from the records and read back into them (the one place with string keys).
- `regions`: a region project's figures: predicted and reviewed boxes matched by IoU, per-label precision and
  recall, boxes drawn and deleted, reviewer time.
- `sample`, `marking`: the sample's allocation and choice; its marks and saved views in Label Studio.
- `plots`, `fonts`, `html`, `templates/`, `output`: the plots, the embedded font, the page (its sentences per
  language in `templates/say.<language>.j2`), the three files.
- `words`: the page's headings and introductions in the project's language (English, Japanese).
- `accept`: `prelabel accept`: unreviewed pre-labels above a threshold made into annotations marked as Prelabel's.
- `calibrate`: `prelabel calibrate`: the project's calibration model, fitted on its reviewers' verdicts.
- `cli`: `prelabel report`, `prelabel sample`, `prelabel accept` and `prelabel calibrate`.
"""
