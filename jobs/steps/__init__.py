"""The nightly steps, in the order a night runs them (`jobs.pipeline.STEPS`):

ingest -> features -> candidates -> allocate -> publish -> evaluate -> report

Each step reads its inputs from the warehouse, writes its outputs in one commit per table, and is
idempotent for its ds. A step with parts is a package whose `step.py` holds its `run` and whose
other modules are the parts only it (or a later step) uses: `features/` (the availability model,
the day's ALS fit), `candidates/` (the ranking heads, the retrievers' backtest), `allocate/` (the
problem, the staged plan, the executors' path and the dual solver on Spark), `report/` (the
charts). `ingest`, `publish` and `evaluate` are one module each; `common` is what every step
shares (its output record, run ids, row counts).
"""
