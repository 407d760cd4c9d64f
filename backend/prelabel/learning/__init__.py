"""What reviewers teach: their annotations read back, compared with what Prelabel predicted, and turned into
synonyms under rules the domain expert controls; the vocabulary in force that results.

- `feedback`: what a reviewer's annotation says about a pre-label (a confirmation, a synonym's evidence, a
  verdict that nothing fits, a new class).
- `regions`: what corrected regions teach: a relabelled box like a corrected choice, a moved one nothing.
- `calibrating`: each project's own calibration, refitted from its reviewers' verdicts on its pre-labels.
- `rules`: when a string becomes a learned synonym, and when it never does.
- `store`: the durable store of evidence, synonyms and their change log (SQLite on one machine, PostgreSQL for
  several); `rows`: its rows as typed records (what prediction jobs keep, attempts, reviews, changes).
- `outcome`: what a feedback job did, as typed records (its rq result).
- `review`: what the expert reviews (`prelabel vocab review`), as typed records.
- `in_force`: the vocabulary in force (the expert's file, accepted suggested names, learned synonyms in force)
  and the model_version it makes (per project, where a project has its own calibration).
"""
