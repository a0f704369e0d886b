"""The `fairshot` command line: one subcommand per step, plus run, backfill, demo, query, sql and tables."""
from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from collections.abc import Sequence

from jobs.config import Config, load_config
from jobs.dates import parse_ds, shift
from jobs.errors import ConfigError, DataContractError, FairshotError, QueryError
from jobs.warehouse import storage

LOG = logging.getLogger("fairshot")


def _ds(text: str) -> str:
    try:
        return parse_ds(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", default=argparse.SUPPRESS, help="config overlay conf/<env>.yaml (default: local)")
    common.add_argument("--set", dest="overrides", action="append", default=argparse.SUPPRESS, metavar="KEY=VALUE",
                        help="override one config value, e.g. --set allocation.creator_weight=2.0 (repeatable)")
    common.add_argument("--source", default=argparse.SUPPRESS, help="synthetic | kuairand | csv (= --set source.kind)")
    common.add_argument("--path", default=argparse.SUPPRESS, help="the source's data folder (= --set source.path)")
    common.add_argument("--set-all", dest="set_all", default=argparse.SUPPRESS, metavar="'K=V K=V'",
                        help="several overrides in one argument, space-separated (for schedulers)")
    common.add_argument("--warehouse", default=argparse.SUPPRESS,
                        help="the warehouse URI (= --set storage.warehouse; empty: the config's)")
    parser = argparse.ArgumentParser(prog="fairshot", parents=[common],
                                     description="Creator-side exposure allocation, one nightly run per ds.")
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("sample", parents=[common], help="generate the synthetic world into the landing area")
    sample.add_argument("--csv", metavar="FOLDER", help="instead, write it as interactions.csv + items.csv for "
                        "--source csv (creators named, timestamps in seconds)")
    for name, text in (("ingest", "source files of ds -> bronze"), ("features", "bronze -> silver features"),
                       ("candidates", "features -> candidate pairs"), ("allocate", "candidates -> staged plan"),
                       ("publish", "audit the staged plan, then publish it"),
                       ("evaluate", "compare policies on ds's candidates against the truth about ds+1"),
                       ("report", "write the run's HTML report beside the warehouse"), ("run", "every step for ds"),
                       ("catch-up", "ingest the days of ds's feature window that the source has and bronze lacks")):
        sub.add_parser(name, parents=[common], help=text).add_argument("--ds", type=_ds, required=True)
    backfill = sub.add_parser("backfill", parents=[common], help="run every step for each day of a range")
    backfill.add_argument("--start", type=_ds, required=True)
    backfill.add_argument("--end", type=_ds, required=True)
    sub.add_parser("demo", parents=[common],
                   help="sample world -> ingest every day -> plan, evaluate and report the last day")
    sql = sub.add_parser("sql", parents=[common], help="run a Spark SQL file over the tables (views <layer>_<name>)")
    query = sub.add_parser("query", parents=[common], help="the same SQL file without Spark (DuckDB over the "
                           "Delta tables): seconds, for questions that fit one machine")
    for parser_ in (sql, query):
        parser_.add_argument("file")
        parser_.add_argument("--ds", type=_ds, help="bound to :ds in the file")
        parser_.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                             help="bound to :NAME in the file (repeatable)")
        parser_.add_argument("--limit", type=int, default=50, help="rows shown as a table")
    query.add_argument("--format", default="table", help="table | csv | json | parquet (parquet needs --output)")
    query.add_argument("--output", metavar="FILE", help="write the whole result here instead of stdout")
    explain = sub.add_parser("explain", parents=[common], help="why the published plan gave an item its quota, "
                             "a user their slots or a creator their likes: the solver's prices, pair by pair")
    explain.add_argument("--ds", type=_ds, required=True)
    whom = explain.add_mutually_exclusive_group(required=True)
    whom.add_argument("--item", help="an item: fairshot's item_id, or the source's own id (a CSV's text)")
    whom.add_argument("--user", help="a user: user_id, or the source's own id")
    whom.add_argument("--creator", help="a creator: creator_id, or the source's own id (a name)")
    explain.add_argument("--limit", type=int, default=20, help="candidate pairs shown (best scores first)")
    tables = sub.add_parser("tables", parents=[common], help="list the tables with their versions and row counts")
    tables.add_argument("--describe", nargs="*", metavar="TABLE",
                        help="instead, what each table (or the named ones, e.g. gold.allocations) and column means")
    sub.add_parser("mark-complete", parents=[common],
                   help="declare the source's logs complete through ds (the watermark the Airflow DAG waits on); "
                        "for an export that nothing upstream marks").add_argument("--ds", type=_ds, required=True)
    sub.add_parser("fingerprint", parents=[common], help="a digest of each table's rows for ds, without wall-clock "
                   "columns: compare two warehouses line by line").add_argument("--ds", type=_ds, required=True)
    simulate = sub.add_parser("simulate", parents=[common], help="closed-loop A/B on the synthetic world: the "
                              "user-side feed against the same feed serving fairshot's nightly plan")
    simulate.add_argument("--days", type=int, help="simulated days (default simulation.days)")
    simulate.add_argument("--seeds", type=int, help="how many seeds, from the config's seed on (default simulation.seeds)")
    simulate.add_argument("--arm", action="append", dest="arms", metavar="NAME[:KEY=VALUE,...]",
                          help="an arm beside control (repeatable; default: treatment): treatment (fairshot under "
                               "the config), a variant NAME:KEY=VALUE[,KEY=VALUE] (fairshot under those overrides), "
                               "or a baseline in the same slots without a nightly job: boost, explore")
    simulate.add_argument("--sweep", nargs="*", metavar="ASSUMPTION",
                          help="run it once per corner of simulation.sweep (each world assumption low, then high; "
                               "all of them, or the ones named) and say corner by corner whether each arm's lead holds")
    return parser


def _print_tables(config: Config) -> None:
    from jobs.warehouse.catalog import describe_tables, relative

    print(f"{'table':34} {'version':>7} {'rows':>9} {'days':>4}  path")
    for row in describe_tables(config):
        version = "-" if row["version"] is None else row["version"]
        print(f"{row['table']:34} {version:>7} {row['rows']:>9} {row['partitions']:>4}  {relative(row['path'])}")


def _print_run(config: Config, ds: str) -> None:
    from jobs.warehouse import io
    from jobs.warehouse.spark import get_spark

    spark = get_spark(config)
    runs = io.read_table(spark, config, "gold.allocation_runs", ds=ds).toPandas()
    if runs.empty:
        print(f"no run recorded for ds={ds}")
        return
    # This job's run (the one staged last) if the ledger has it, else the published one.
    staged = io.read_table(spark, config, "staging.allocation_runs", ds=ds).toPandas()["run_id"].tolist()
    rank = runs["run_id"].isin(staged).map({True: 0, False: 2}) + runs["status"].ne("published").astype(int)
    run = runs.assign(_rank=rank).sort_values("_rank").iloc[0]
    print(f"\nplan for {shift(ds, 1)} (ds={ds}), run {run.run_id}: {run.status}")
    print(f"  solver {run.solver}: objective {run.objective:.4f} (bound {run.bound:.4f}, gap {run.gap:.2e}), "
          f"{run.solve_seconds:.2f}s, {run.n_pairs} pairs / {run.n_users} users / {run.n_items} items")
    print(f"  new items reaching >= 1 expected exposure: {run.new_item_coverage:.1%}; "
          f"item exposure Gini {run.exposure_gini:.3f}, top-1% share {run.top1_share:.1%}")
    if isinstance(run.message, str) and run.message:
        print(f"  WARNING {run.message}")
    print(f"  creators with a new like (expected share): {run.creators_with_like_share:.1%} "
          f"(new creators: {run.new_creators_with_like_share:.1%}); max constraint violation {run.max_violation:.2e}")
    recall = io.read_table(spark, config, "audit.retrieval_evaluation", ds=ds).toPandas()
    for items, group in recall.groupby("items", sort=False):
        figures = ", ".join(f"{r.retriever} {r.recall_at_n:.3f}" for r in group.itertuples())
        print(f"  retrieval recall@{group['n'].iloc[0]} vs the true best users ({items} items, "
              f"{group['n_items'].iloc[0]}): {figures}")
    heads = io.read_table(spark, config, "audit.ranking_evaluation", ds=ds).toPandas()
    for (head, items), group in heads.groupby(["head", "items"], sort=False):
        figures = ", ".join(f"{r.scorer} AUC {r.auc:.3f} / log loss {r.log_loss:.3f}"
                            for r in group.sort_values("scorer").itertuples())
        print(f"  ranking head {head} on ds's {group['rows'].iloc[0]} exposures ({items} items, "
              f"{group['n_rows'].iloc[0]} rows): {figures}")
    backtest = io.read_table(spark, config, "audit.availability_evaluation", ds=ds).toPandas()
    for row in backtest.sort_values("estimator", ascending=False).itertuples():
        print(f"  availability backtest (predict {row.predicted_for} from the day before), {row.estimator}: "
              f"AUC {row.auc:.3f}, log loss {row.log_loss:.3f}, calibration error {row.calibration_error:.3f}, "
              f"hit rate {row.hit_rate:.3f} ({row.n_users} users, base rate {row.base_rate:.3f})")
    policies = io.read_table(spark, config, "audit.policy_evaluation", ds=ds).toPandas()
    policies = policies[policies["run_id"] == run.run_id]
    if not policies.empty:
        from jobs.steps.evaluate import policy_table

        print("\npolicies (audit.policy_evaluation), " + policy_table(policies.reset_index(drop=True)))
    if isinstance(run.report_path, str) and run.report_path:
        print(f"\nreport: {run.report_path}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        shortcuts = [f"source.kind={args.source}"] if hasattr(args, "source") else []
        shortcuts += [f"source.path={args.path}"] if hasattr(args, "path") else []
        shortcuts += [f"storage.warehouse={args.warehouse}"] if getattr(args, "warehouse", "") else []
        shortcuts += getattr(args, "set_all", "").split()
        config = load_config(getattr(args, "env", "local"), shortcuts + getattr(args, "overrides", []))
        storage.check_reachable(config["storage"]["warehouse"])
        return _dispatch(args, config)
    except ConfigError as error:
        print(f"fairshot: config error: {error}", file=sys.stderr)
        return 2
    except (DataContractError, FairshotError) as error:
        print(f"fairshot: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - anything else: one line for the person, the traceback in a file
        path = _write_traceback(args)
        first_line = (str(error).strip().splitlines() or [""])[0][:300]
        print(f"fairshot: unexpected {type(error).__name__}: {first_line}\n"
              f"  the full traceback is in {path}", file=sys.stderr)
        return 3


def _write_traceback(args: argparse.Namespace) -> str:
    """The current exception's traceback into $FAIRSHOT_LOG_DIR (default ./logs); returns its path."""
    import datetime as dt
    import traceback

    folder = os.path.abspath(os.environ.get("FAIRSHOT_LOG_DIR", "logs"))
    os.makedirs(folder, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    path = os.path.join(folder, f"fairshot-{args.command}-{stamp}-{os.getpid()}.log")
    with open(path, "w", encoding="utf-8") as out:
        out.write(f"fairshot {' '.join(sys.argv[1:])}\n\n{traceback.format_exc()}")
    return path


def _dispatch(args: argparse.Namespace, config: Config) -> int:
    if args.command == "query":  # before the pipeline's imports (Spark ML, matplotlib): seconds count here
        from jobs.analysis.query import check_format, run_query_file, write_result

        check_format(args.format, args.output)
        text = write_result(run_query_file(config, args.file, _query_params(args)), args.format, args.output,
                            args.limit)
        print(text if text is not None else f"wrote {args.output}")
        return 0
    if args.command == "tables" and args.describe is not None:   # the registry only: no Spark, no warehouse
        from jobs.warehouse.tables import REGISTRY
        from jobs.warehouse.tables_doc import text

        unknown = [key for key in args.describe if key not in REGISTRY]
        if unknown:
            raise QueryError(f"no table {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
        print(text(args.describe))
        return 0
    if args.command == "fingerprint":   # delta-rs only: no Spark
        from jobs.analysis.fingerprint import table_digests

        for key, (rows, value) in table_digests(config, args.ds).items():
            print(f"{key:34} {rows:>9} {value}")
        return 0
    if args.command == "explain":
        from jobs.analysis.explain import explain

        print(explain(config, args.ds, item=args.item, user=args.user, creator=args.creator, limit=args.limit))
        return 0
    from jobs import pipeline
    from jobs.sources.synthetic import WorldParams, generate_landing, generate_world, landing_root
    from jobs.warehouse.spark import get_spark

    command = args.command
    if command == "sample" and args.csv:
        from jobs.sources.synthetic import write_csv_export

        summary = write_csv_export(generate_world(WorldParams.from_config(config)), args.csv)
        print(f"CSV world: {summary['interactions']} interactions, {summary['items']} items, "
              f"{summary['days'][0]} .. {summary['days'][-1]} -> {summary['root']}\n"
              f"plan its last day: fairshot run{'' if config.env == 'local' else f' --env {config.env}'} "
              f"--source csv --path {args.csv} --ds {summary['days'][-1]}")
    elif command == "sample":
        summary = generate_landing(WorldParams.from_config(config), landing_root(config))
        print(f"sample world: {summary['users']} users, {summary['creators']} creators, {summary['items']} items, "
              f"{summary['events']} events over {len(summary['days'])} days -> {summary['root']}")
    elif command in pipeline.STEPS:
        output = pipeline.run_step(config, command, args.ds, get_spark(config))
        text = output.figures.pop("policies", None)
        print(output)
        if text:
            print(text)
    elif command == "catch-up":
        print(f"ingested {pipeline.catch_up(config, args.ds, get_spark(config)) or 'nothing: no day missing'}")
    elif command == "run":
        spark = get_spark(config)
        pipeline.catch_up(config, args.ds, spark)
        pipeline.run_day(config, args.ds, spark)
        _print_run(config, args.ds)
    elif command == "backfill":
        pipeline.backfill(config, args.start, args.end)
        _print_tables(config)
    elif command == "demo":
        started = time.perf_counter()
        summary = generate_landing(WorldParams.from_config(config), landing_root(config))
        days = summary["days"]
        spark = get_spark(config)
        pipeline.ingest_days(config, days, spark, timed_as=days[-1])      # the whole history in one pass
        pipeline.run_day(config, days[-1], spark, steps=tuple(step for step in pipeline.STEPS if step != "ingest"))
        print(f"\nsample world: {summary['users']} users, {summary['creators']} creators, {summary['items']} items, "
              f"{summary['events']} events, {days[0]} .. {days[-1]}\n")
        _print_tables(config)
        _print_run(config, days[-1])
        # the query must name the same config layer and warehouse, or it reads the default one
        warehouse = config["storage"]["warehouse"]
        where = (f" --env {shlex.quote(config.env)}" if config.env != "local" else "") + (
            f" --warehouse {shlex.quote(warehouse)}" if warehouse != load_config(config.env)["storage"]["warehouse"]
            else "")
        print(f"\ndemo finished in {time.perf_counter() - started:.0f}s. The Delta tables are under "
              f"{config['storage']['warehouse']}/ (read them with any Delta reader, or "
              f"`fairshot query sql/feed_plan.sql --ds {days[-1]}{where}`).")
    elif command == "sql":
        from jobs.warehouse.catalog import run_sql_file

        run_sql_file(get_spark(config), config, args.file, _query_params(args)).show(args.limit, truncate=False)
    elif command == "tables":
        _print_tables(config)
    elif command == "mark-complete":
        from jobs.sources.base import source_root
        from jobs.sources.landing import WATERMARK_FILE, mark_complete_through

        root = source_root(config)
        mark_complete_through(root, args.ds)
        print(f"{os.path.join(root, WATERMARK_FILE)}: logs complete through {args.ds}")
    elif command == "simulate":
        if args.sweep is not None:
            _sweep(config, args.days, args.seeds, args.arms, args.sweep)
        else:
            _simulate(config, args.days, args.seeds, args.arms)
    return 0


def _query_params(args: argparse.Namespace) -> dict[str, object]:
    """--ds and each --param NAME=VALUE, as the named parameters of a SQL file."""
    params: dict[str, object] = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise QueryError(f"--param {item!r} must look like NAME=VALUE")
        params[name] = value
    if args.ds:
        params["ds"] = args.ds
    return params


def _simulate(config: Config, days: int | None, seeds: int | None, arms: list[str] | None) -> None:
    import pandas as pd

    from jobs.simulation import loop
    from jobs.simulation.report import also_read_rows, arm_rows, target_rows
    from jobs.warehouse.spark import get_spark

    output = loop.run(config, get_spark(config), days=days, n_seeds=seeds, arms=arms)
    print(f"\nsimulation {output.sim_id}: {output.daily['day_index'].max()} days, seeds "
          f"{sorted(output.daily['seed'].unique().tolist())}, {output.seconds:.0f} s "
          f"(nightly job median {pd.Series(output.nightly_seconds).median():.1f} s per day)")
    print("targets, treatment against control (median of seeds):")
    for r in target_rows(output.summary).itertuples():
        change = "" if pd.isna(r.change) else f" ({r.change:+.1%})"
        bound = "" if pd.isna(r.bound) else f" (the best any plan in these slots could do: {r.bound:+.1%})"
        print(f"  {r.target:60} control {r.control:10.3f}  treatment {r.value:10.3f}{change}  "
              f"{'met' if r.met else 'not met'}{bound}")
    print("also read:")
    for r in also_read_rows(output.summary).itertuples():
        change = "" if pd.isna(r.change) else f" ({r.change:+.1%})"
        print(f"  {r.figure:60} control {r.control:10.3f}  treatment {r.value:10.3f}{change}")
    arms_table = arm_rows(output.summary)
    if arms_table["arm"].nunique() > 1:
        print("arms against control (median of seeds; 'ahead': the treatment leads this arm):")
        for r in arms_table.itertuples():
            ahead = "" if pd.isna(r.treatment_leads) else ("  treatment ahead" if r.treatment_leads
                                                             else "  TREATMENT BEHIND")
            print(f"  {r.arm:12} {r.metric:32} control {r.control:10.3f}  arm {r.value:10.3f} ({r.change:+.1%}){ahead}")
    print(f"tables: audit.simulation_daily, audit.simulation_summary (run_id = {output.sim_id})\n"
          f"report: {output.report_path}")


def _sweep(config: Config, days: int | None, seeds: int | None, arms: list[str] | None,
           assumptions: list[str]) -> None:
    from jobs.simulation import sweep
    from jobs.warehouse.spark import get_spark

    sweep.corners(config, assumptions)   # a misnamed assumption stops before any simulation runs
    output = sweep.run(config, get_spark(config), days=days, n_seeds=seeds, arms=arms, assumptions=assumptions)
    print("\nacross the world's assumptions (median of seeds; lead: more creators with a like than control, "
          f"value kept >= {sweep.LEAD_VALUE_KEPT:.0%}):")
    for r in output.table.itertuples():
        ahead = "" if r.ahead_of_baselines is None else (
            "  ahead of the baselines" if r.ahead_of_baselines else f"  BEHIND {r.behind_on}")
        print(f"  {r.corner:36} {r.arm:10} creators with a like {r.creators_with_like_change:+7.1%}  value kept "
              f"{r.value_kept:6.1%}  lead {'holds' if r.lead_holds else 'DOES NOT HOLD'}{ahead}")
    print(f"report: {output.report_path}")


if __name__ == "__main__":
    sys.exit(main())
