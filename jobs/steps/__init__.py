"""The nightly steps, one module each, in the order a night runs them (`jobs.pipeline.STEPS`):

ingest -> build_features -> build_candidates -> allocate -> publish -> evaluate -> report

Each step reads its inputs from the warehouse, writes its outputs in one commit per table, and is
idempotent for its ds. Beside them sit the parts only one step uses: `availability` (the
features step's availability model), `ranking` and `evaluate_retrieval` (the candidates step's
ranking heads and retrieval backtest), `build_problem` and `dual_on_spark` (the allocate step's
problem frames and its solver on Spark executors), `report_charts` (the report's charts) and
`common` (what every step shares: its output record, run ids, row counts).
"""
