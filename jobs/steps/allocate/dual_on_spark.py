"""The dual solver distributed on Spark: the pairs stay on the executors, only prices travel.

The iteration (`allocation.dual.iterate`) runs on the driver and holds O(items + creators): the
duals, the item caps/floors and the creators' happiness segments. Every evaluation of the dual is
one Spark job over blocks of pairs, each block holding all pairs of its users (partitioned by
user, so each user's capacity projection is local to a block). A task gets the current prices in
a broadcast and returns its block's exposure per item, likes per creator and a few scalars; the
driver adds them up.

Why blocks and not `mapInPandas` over a cached DataFrame: a mapInPandas pass ships every row from
the JVM to Python each time, measured at ~5 s per pass over 10M cached pairs on local[2], and the
solver needs hundreds of passes. Here the pairs are written once as Parquet, one directory per
block, and each Python worker keeps the blocks it has read in memory across tasks (Spark reuses
its Python workers), so a pass costs the numpy kernel plus the task overhead. A worker that has
not seen a block reads it from the Parquet files, so correctness never depends on the cache.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from allocation.dual import (
    Certificate,
    DualOutcome,
    Duals,
    DualSolver,
    PairSums,
    Sides,
    all_fitted,
    capped_box_bound,
    fill_rooms,
    iterate,
    pair_scores,
    plan_sums,
    plan_totals,
    refill_kinds,
    refill_want,
    refill_worth,
    scale_to_capacity,
    sum_by,
    user_excess,
)
from allocation.problem import nested_groups
from jobs.warehouse import storage

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from allocation import AllocationProblem

LOG = logging.getLogger(__name__)

PAIR_COLUMNS = ("user_id", "item", "a", "base", "like", "capacity", "category", "category_cap")
"""The pairs frame: `item` indexes the items (0..n_items-1); base = a v and like = a p are the
availability-weighted value and like probability; capacity is the user's k_u on each of its rows,
category the item's category position and category_cap the user's diversity cap (inf: none)."""

_BLOCKS: dict[tuple[str, int], dict[str, np.ndarray]] = {}   # per Python worker: the blocks it holds


class PairBlockError(RuntimeError):
    """An executor could not read the pair block the driver wrote: the solve would otherwise go on
    without those users' pairs and publish a plan for the wrong problem."""


def _read_block(root: str, block: int, expected_rows: int) -> dict[str, np.ndarray]:
    """Block `block`'s columns, read through the filesystem its URI names (a local folder, file://,
    s3://, hdfs://); a block the driver wrote as empty has no folder and is empty here too."""
    if expected_rows == 0:
        return {name: np.zeros(0) for name in PAIR_COLUMNS}
    import pyarrow.parquet as pq

    location = f"{root}/block={block}"
    try:
        filesystem, path = storage.filesystem(location)
        table = pq.read_table(path, filesystem=filesystem, columns=list(PAIR_COLUMNS))
    except (OSError, ValueError) as error:
        raise PairBlockError(f"pair block {block} at {location} ({expected_rows} rows written) cannot be read on "
                             f"this executor: {error}. The solver's blocks must be on storage every executor "
                             "sees (the warehouse URI, or allocation workdir on shared storage), not a "
                             "driver-local folder") from error
    if table.num_rows != expected_rows:
        raise PairBlockError(f"pair block {block} at {location}: read {table.num_rows} rows, the driver wrote "
                             f"{expected_rows}; the block folder changed during the solve")
    return {name: table.column(name).to_numpy() for name in PAIR_COLUMNS}


def _block(root: str, block: int, item_creator: np.ndarray, expected_rows: int) -> dict[str, np.ndarray]:
    key = (root, block)
    if key not in _BLOCKS:
        for stale in [k for k in _BLOCKS if k[0] != root]:      # one solve's blocks at a time
            del _BLOCKS[stale]
        arrays = _read_block(root, block, expected_rows)
        users, local_user = np.unique(arrays["user_id"].astype(np.int64), return_inverse=True)
        capacity = np.zeros(users.size)
        capacity[local_user] = arrays["capacity"]
        item = arrays["item"].astype(np.int64)
        block = {"user_id": users, "user": local_user.astype(np.int64), "user_capacity": capacity,
                 "item": item, "creator": item_creator[item], "a": arrays["a"].astype(float),
                 "base": arrays["base"].astype(float), "like": arrays["like"].astype(float),
                 "group": None, "group_cap": None}
        category_cap = arrays["category_cap"].astype(float)
        if np.isfinite(category_cap).any():     # a user's pairs are all in its block, so its groups are too
            block["group"], block["group_cap"] = nested_groups(local_user.astype(np.int64),
                                                               arrays["category"].astype(np.int64), category_cap)
        _BLOCKS[key] = block
    return _BLOCKS[key]


@dataclass(frozen=True)
class _Prices:
    """What one pass needs besides its block: broadcast to the tasks."""

    root: str
    block_rows: tuple[int, ...]      # rows the driver wrote per block: a block read otherwise is an error
    item_creator: np.ndarray
    n_creators: int
    item_price: np.ndarray
    nu: np.ndarray
    gamma: float
    shrink: np.ndarray | None = None          # per item: the scaled plan brought under every cap
    rooms: tuple[np.ndarray, ...] = ()        # per refill round, per item: the room it fills
    shares: tuple[np.ndarray, ...] = ()       # per finished round, per item: its additions' share of that room
    floor_rounds: tuple[bool, ...] = ()       # per refill round: whether it is a floor round (refill_kinds)
    floor_penalty: float = 0.0


def _plan(b: dict[str, np.ndarray], prices: _Prices) -> tuple[np.ndarray, np.ndarray, PairSums]:
    """(scores, regularised plan, its sums) of one block at the broadcast prices."""
    c = pair_scores(b["base"], b["a"], b["like"], b["item"], b["creator"], prices.item_price, prices.nu)
    sums, x, _ = plan_sums(c, b["a"], b["like"], b["item"], b["creator"], b["user"], b["user_capacity"],
                           prices.gamma, prices.item_price.shape[0], prices.n_creators, None, b["group"], b["group_cap"])
    return c, x, sums


def _evaluate_block(block: int, prices: _Prices) -> tuple[float, np.ndarray, np.ndarray]:
    _, _, sums = _plan(_block(prices.root, block, prices.item_creator, prices.block_rows[block]), prices)
    return sums.value, sums.exposure, sums.likes


def _bound_block(block: int, prices: _Prices) -> tuple[float, np.ndarray]:
    """The users' bound and the exposure of the capacity-scaled plan (the repair's first half)."""
    b = _block(prices.root, block, prices.item_creator, prices.block_rows[block])
    c, x, _ = _plan(b, prices)
    bound = capped_box_bound(c, b["user"], b["user_capacity"], None, b["group"], b["group_cap"]).bound
    scaled = scale_to_capacity(x, b["user"], b["user_capacity"], b["group"], b["group_cap"])
    return bound, sum_by(b["item"], b["a"] * scaled, prices.item_price.shape[0])


def _repaired(b: dict[str, np.ndarray], prices: _Prices) -> tuple[np.ndarray, np.ndarray]:
    """The block's plan scaled down to every cap and refilled in the finished rounds, and what the
    round under way adds (before the driver shares the items' and creators' room among it)."""
    c, x, _ = _plan(b, prices)
    x = scale_to_capacity(x, b["user"], b["user_capacity"], b["group"], b["group_cap"]) * prices.shrink[b["item"]]
    added = np.zeros_like(x)
    for round_, (room, floor_round) in enumerate(zip(prices.rooms, prices.floor_rounds, strict=True)):
        want = refill_want(x, refill_worth(b["base"], b["a"], prices.floor_penalty, floor_round), b["a"], b["item"], room)
        added = fill_rooms(x, c, want, b["user"], b["user_capacity"], b["group"], b["group_cap"])
        if round_ < len(prices.shares):     # a finished round: the driver has shared its room
            x, added = x + added * prices.shares[round_][b["item"]], np.zeros_like(x)
    return x, added


def _repaired_block(block: int, prices: _Prices) -> tuple[float, np.ndarray, np.ndarray, float, np.ndarray,
                                                            np.ndarray, np.ndarray]:
    """The plan's totals and excess so far, and the round under way's per-item exposure, likes and
    value (the driver shares the remaining room among them: every term is linear in an item's share)."""
    b = _block(prices.root, block, prices.item_creator, prices.block_rows[block])
    x, added = _repaired(b, prices)
    n_items = prices.shrink.shape[0]
    totals = plan_totals(x, b["base"], b["a"], b["like"], b["item"], b["creator"], n_items, prices.n_creators)
    return (totals.value, totals.exposure, totals.likes,
            user_excess(x, b["user"], b["user_capacity"], b["group"], b["group_cap"]),
            sum_by(b["item"], b["a"] * added, n_items), sum_by(b["item"], b["like"] * added, n_items),
            sum_by(b["item"], b["base"] * added, n_items))


def _norm_block(block: int, prices: _Prices) -> tuple[np.ndarray, np.ndarray, float]:
    """Row sums of A per item and creator, and a bound on its largest column sum (a pair's column
    holds a for its item's cap, a again if the item has a floor, and its like), for
    ||A||^2 <= ||A||_1 ||A||_inf."""
    b = _block(prices.root, block, prices.item_creator, prices.block_rows[block])
    column = 2 * b["a"] + b["like"]
    return (sum_by(b["item"], b["a"], prices.item_price.shape[0]), sum_by(b["creator"], b["like"], prices.n_creators),
            float(column.max(initial=0.0)))


def _plan_rows(blocks, prices: _Prices):  # noqa: ANN001, ANN202 - an RDD partition's iterator
    for block in blocks:
        b = _block(prices.root, block, prices.item_creator, prices.block_rows[block])
        x, _ = _repaired(b, prices)
        users = b["user_id"][b["user"]]
        yield from zip(users.tolist(), b["item"].tolist(), x.tolist())


@dataclass
class SparkPairs:
    """`allocation.dual.PairSide` over pair blocks on Spark executors (see the module docstring)."""

    spark: SparkSession
    root: str
    block_rows: tuple[int, ...]
    sides: Sides
    refill_rounds: int = 3
    passes: int = 0
    pass_seconds: float = 0.0
    _best: _Prices | None = field(default=None, repr=False)
    _last: _Prices | None = field(default=None, repr=False)

    def _prices(self, item_price: np.ndarray, nu: np.ndarray, gamma: float, **repair: np.ndarray) -> _Prices:
        return _Prices(self.root, self.block_rows, self.sides.item_creator, self.sides.n_creators, item_price, nu,
                       gamma, **repair)

    @property
    def n_blocks(self) -> int:
        return len(self.block_rows)

    def _run(self, task, prices: _Prices) -> list:  # noqa: ANN001 - a block function
        started = time.perf_counter()
        sc = self.spark.sparkContext
        shared = sc.broadcast(prices)
        try:
            out = sc.parallelize(range(self.n_blocks), self.n_blocks).map(lambda b: task(b, shared.value)).collect()
        finally:
            shared.destroy()
        self.passes += 1
        self.pass_seconds += time.perf_counter() - started
        return out

    def typical_value(self) -> float:
        from pyspark.sql import functions as F

        pairs = self.spark.read.parquet(self.root)
        median = pairs.where("base != 0").agg(F.percentile(F.abs("base"), 0.5)).first()[0]
        return float(median) if median is not None and np.isfinite(median) and median > 0 else 1.0

    def operator_norm_squared(self, floored: np.ndarray) -> float:
        out = self._run(_norm_block, self._prices(np.zeros(self.sides.n_items), np.zeros(self.sides.n_creators), 1.0))
        rows = max(float(np.max(sum(o[0] for o in out) * (1 + floored), initial=0.0)),
                   float(np.max(sum(o[1] for o in out), initial=0.0)))
        columns = max(o[2] for o in out)
        return rows * columns + 1e-12 if rows * columns > 0 else 1.0

    def evaluate(self, item_price: np.ndarray, nu: np.ndarray, gamma: float) -> tuple[PairSums, object]:
        out = self._run(_evaluate_block, self._prices(item_price, nu, gamma))
        return PairSums(sum(o[0] for o in out), sum(o[1] for o in out), sum(o[2] for o in out)), None

    def certify(self, item_price: np.ndarray, nu: np.ndarray, gamma: float, plan: object,
                margin: float) -> Certificate:
        """The bound with the capacity-scaled plan's exposure in one pass, then a pass per refill
        round: the plan with the item caps, creator caps and budget applied and the rounds so far,
        and what the round adds where room is left (last, where an item is short of its floor).
        The plan is recomputed from the prices, never shipped."""
        prices = self._prices(item_price, nu, gamma)
        first = self._run(_bound_block, prices)
        scaled_exposure = sum(o[1] for o in first)
        shrink = self.sides.exposure_shrink(scaled_exposure)
        exposure, rooms, shares, kinds = shrink * scaled_exposure, [], [], []
        repair = {"shrink": shrink, "floor_penalty": self.sides.floor_penalty}
        for floor_round in refill_kinds(bool(self.sides.floored.any())):
            for _ in range(max(self.refill_rounds, 1)):
                room = self.sides.floor_room(exposure) if floor_round else self.sides.item_room(exposure)
                if rooms and not room.any():      # the first round's pass also sums the plan: it always runs
                    break
                rooms.append(room)
                kinds.append(floor_round)
                out = self._run(_repaired_block, self._prices(item_price, nu, gamma, rooms=tuple(rooms),
                                                              shares=tuple(shares), floor_rounds=tuple(kinds), **repair))
                value, exposure, likes = (sum(o[k] for o in out) for k in range(3))
                added_exposure, added_likes, added_value = (sum(o[k] for o in out) for k in (4, 5, 6))
                share = (self.sides.floor_share if floor_round else self.sides.addition_shrink)(exposure, added_exposure)
                shares.append(share)
                value += float(np.dot(share, added_value))
                exposure = exposure + share * added_exposure
                likes = likes + sum_by(self.sides.item_creator, share * added_likes, self.sides.n_creators)
                if all_fitted(share, added_exposure):
                    break
        self._last = self._prices(item_price, nu, gamma, rooms=tuple(rooms), shares=tuple(shares),
                                  floor_rounds=tuple(kinds), **repair)
        return Certificate(sum(o[0] for o in first), value, exposure, likes, max(o[3] for o in out))

    def keep_best(self) -> None:
        self._best = self._last

    def plan(self) -> DataFrame:
        """The best plan as a DataFrame (user_id, item, x), computed on the executors."""
        from pyspark.sql import types as T

        prices = self._best
        schema = T.StructType([T.StructField("user_id", T.LongType()), T.StructField("item", T.LongType()),
                               T.StructField("x", T.DoubleType())])
        rows = self.spark.sparkContext.parallelize(range(self.n_blocks), self.n_blocks).mapPartitions(
            lambda blocks: _plan_rows(blocks, prices))
        return self.spark.createDataFrame(rows, schema)


@dataclass(frozen=True)
class SparkDualResult:
    """The distributed solve: its certificates (`outcome`), the plan on the executors, and cost."""

    outcome: DualOutcome
    plan: DataFrame
    passes: int
    seconds_per_pass: float


def write_blocks(pairs: DataFrame, root: str, n_blocks: int) -> None:
    """Partition the pairs by user into `n_blocks` Parquet directories (block=0..n-1)."""
    from pyspark.sql import functions as F

    missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
    if missing:
        raise ValueError(f"pairs frame for the Spark dual solver: missing columns {missing}")
    (pairs.select(*PAIR_COLUMNS).repartition(n_blocks, "user_id").withColumn("block", F.spark_partition_id())
     .write.mode("overwrite").partitionBy("block").parquet(root))


def solve_on_spark(spark: SparkSession, pairs: DataFrame, sides: Sides, settings: DualSolver, workdir: str,
                   n_blocks: int | None = None, warm_start: Duals | None = None) -> SparkDualResult:
    """Solve the allocation LP with the pairs on Spark. `workdir/pair_blocks` holds the pair blocks
    (replaced at each solve). The plan DataFrame is computed from them, so write it before the
    next solve in the same workdir."""
    n_blocks = n_blocks or spark.sparkContext.defaultParallelism
    # A fresh path per solve: the workers' block caches are keyed by it, so a later solve in the
    # same workdir can never be served an earlier solve's pairs.
    blocks_dir = _clear(f"{workdir.rstrip('/')}/pair_blocks")
    root = f"{blocks_dir}/{uuid.uuid4().hex}"
    write_blocks(pairs, root, n_blocks)
    written = dict(spark.read.parquet(root).groupBy("block").count().collect())
    block_rows = tuple(int(written.get(k, 0)) for k in range(n_blocks))
    n_pairs = sum(block_rows)
    side = SparkPairs(spark, root, block_rows, sides, settings.refill_rounds)
    outcome = iterate(sides, side, settings, warm_start)
    per_pass = side.pass_seconds / max(side.passes, 1)
    LOG.info("%s; Spark: %d blocks, %d passes, %.3fs per pass", outcome.line(n_pairs), n_blocks, side.passes,
             per_pass)
    return SparkDualResult(outcome, side.plan(), side.passes, per_pass)


def _clear(location: str) -> str:
    """Empty a folder or object-store prefix of earlier solves' blocks; returns it as a URI Spark
    and every executor resolve alike (a local path made absolute)."""
    storage.remove_tree(location)
    return storage.spark_uri(location)


def pairs_frame(spark: SparkSession, problem: AllocationProblem) -> DataFrame:
    """A problem's pairs in the Spark solver's layout (for tests and benchmarks; a job builds the
    frame from silver tables instead)."""
    a = problem.pair_availability
    frame = pd.DataFrame({"user_id": problem.pair_user.astype(np.int64), "item": problem.pair_item.astype(np.int64),
                          "a": a, "base": a * problem.pair_value, "like": a * problem.pair_like,
                          "capacity": problem.user_capacity[problem.pair_user],
                          "category": problem.item_category[problem.pair_item].astype(np.int64),
                          "category_cap": problem.user_category_cap[problem.pair_user]})
    return spark.createDataFrame(frame)
