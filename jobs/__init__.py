"""The jobs layer: everything that reads, writes or orchestrates (the `allocation` model and the
`features` transformations stay free of I/O).

- `cli` (the `fairshot` command) and `pipeline` (a night's steps in order, catch-up, backfill; what
  the Airflow DAG calls) are the entry points; `config`, `dates` and `errors` are shared by all.
- `steps/`: the nightly steps, one module each, in pipeline order.
- `warehouse/`: the table registry, storage, reads and writes, quality suites, Spark session.
- `sources/`: the adapters that land a day of logs (synthetic world, KuaiRand, a mapped CSV).
- `analysis/`: reading what was published (explain, query, fingerprint).
- `world/`: the synthetic world in motion and its own feed (the evaluate step's control, the
  simulation's world).
- `simulation/`: the closed-loop A/B of `fairshot simulate`.
"""
