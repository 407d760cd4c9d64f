"""The PoC accuracy report (`prelabel report`) and the review sample it weights back (`prelabel sample`).

Data flows one way: sources (Label Studio, an export file, the learned store) -> records (one per task) ->
figures (pure metrics over rows) -> plots, html, metrics.json, tasks.csv. Only `sources` imports other
prelabel modules, so the rest reads and tests on its own.
"""
