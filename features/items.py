"""Item and creator features: engagement rates with their uncertainty, newness, trailing likes.

An item's like rate is a Beta posterior whose prior is its category's rate worth
`prior_strength` exposures: an item with 3 exposures says little, and its alpha/beta say how
little, which is what later optimism for new items needs.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.users import is_skip

RATES = ("click", "long_view", "like", "follow", "skip")
GRADUATED, EXPIRED, FLOPPED = "graduated", "expired", "left: likes below its category"


@dataclass(frozen=True)
class PlanWindow:
    """Which items the creator-side plan holds, and how much more each may get.

    `lifecycle` runs each item through traffic pools, as short-video platforms do with new uploads:
    stage k lasts until the item has `stage_exposures[k]` exposures (every surface counts); at each
    stage's end it is judged on the evidence so far, its like rate's Beta posterior against its
    category's rate, and leaves if even the posterior's upper bound (mean + `flop_z` sd) is below
    it; past the last stage it graduates to the ordinary feed, and at `max_age_days` it leaves
    whatever its stage. So an item that did not take off on its first day keeps its shot, and one
    that clearly flops stops taking slots from its peers. Little evidence keeps the posterior near
    the category's rate, so a few unlucky exposures never end a shot. `age` is the window before:
    items younger than `new_item_days`, without stages."""

    kind: str = "age"
    new_item_days: float = 2.0
    max_age_days: float = 7.0
    stage_exposures: tuple[int, ...] = (20, 100, 400)
    flop_z: float = 2.0

    @classmethod
    def from_features(cls, features: Mapping) -> PlanWindow:
        """From the config's `features` section."""
        return cls(kind=features["plan_window"], new_item_days=float(features["new_item_days"]),
                   max_age_days=float(features["max_plan_age_days"]),
                   stage_exposures=tuple(int(b) for b in features["stage_exposures"]), flop_z=float(features["flop_z"]))


def _day_end(ds: str):  # noqa: ANN202 - a Column
    return F.date_add(F.lit(ds).cast("date"), 1).cast("timestamp")


def _engagement(events: DataFrame) -> DataFrame:
    return events.select("item_id", F.col("is_click").alias("click"), F.col("is_long_view").alias("long_view"),
                         F.col("is_like").alias("like"), F.col("is_follow").alias("follow"),
                         is_skip().cast("int").alias("skip"))


def build_item_features(items: DataFrame, events: DataFrame, *, ds: str, new_item_days: float,
                        prior_strength: float, plan: PlanWindow | None = None) -> DataFrame:
    """Each item's counts and smoothed rates over the events' window, its age, and where it stands in
    the creator-side plan (`plan`; the age window of `new_item_days` if not given)."""
    plan = plan or PlanWindow(new_item_days=new_item_days)
    engagement = _engagement(events)
    per_item = engagement.groupBy("item_id").agg(
        F.count(F.lit(1)).alias("exposures"), *[F.sum(r).cast("long").alias(f"{r}s") for r in RATES])
    by_category = engagement.join(items.select("item_id", "category"), "item_id").groupBy("category").agg(
        *[F.avg(r).alias(f"_prior_{r}") for r in RATES])
    overall = engagement.agg(*[F.avg(r).alias(f"_global_{r}") for r in RATES])
    m = float(prior_strength)
    out = (items.join(per_item, "item_id", "left").na.fill(0, ["exposures", *[f"{r}s" for r in RATES]])
           .join(by_category, "category", "left").crossJoin(F.broadcast(overall)))
    for r in RATES:
        prior = F.coalesce(F.col(f"_prior_{r}"), F.col(f"_global_{r}"), F.lit(0.0))
        out = out.withColumn(f"{r}_rate", (F.col(f"{r}s") + m * prior) / (F.col("exposures") + m))
    like_prior = F.coalesce(F.col("_prior_like"), F.col("_global_like"), F.lit(0.0))
    order = Window.partitionBy("creator_id").orderBy("created_at", "item_id")
    featured = (out
                .withColumn("like_alpha", F.col("likes") + m * like_prior)
                .withColumn("like_beta", F.col("exposures") - F.col("likes") + m * (1 - like_prior))
                .withColumn("age_days", (F.unix_timestamp(_day_end(ds)) - F.unix_timestamp("created_at")) / 86_400.0)
                .withColumn("is_new", F.col("age_days") < F.lit(float(new_item_days)))
                .withColumn("creator_item_rank", F.row_number().over(order)))
    return _with_plan_stage(featured, plan, like_prior)


def _with_plan_stage(items: DataFrame, plan: PlanWindow, category_like_rate: Column) -> DataFrame:
    """in_plan, plan_stage and stage_remaining (exposures left in the stage; empty outside the lifecycle)."""
    if plan.kind == "age":
        in_plan = F.col("age_days") < F.lit(plan.new_item_days)
        return (items.withColumn("in_plan", in_plan)
                .withColumn("plan_stage", F.when(in_plan, F.lit("new")).otherwise(F.lit("not new")))
                .withColumn("stage_remaining", F.lit(None).cast("double")))
    budgets = plan.stage_exposures
    passed = sum(((F.col("exposures") >= F.lit(b)).cast("int") for b in budgets), F.lit(0))
    total = F.col("like_alpha") + F.col("like_beta")
    mean = F.col("like_alpha") / total
    upper = mean + F.lit(plan.flop_z) * F.sqrt(mean * (1 - mean) / (total + 1))
    stage = (F.when(passed >= len(budgets), F.lit(GRADUATED))
             .when(F.col("age_days") >= F.lit(plan.max_age_days), F.lit(EXPIRED))
             .when((passed >= 1) & (upper < category_like_rate), F.lit(FLOPPED))
             .otherwise(F.concat(F.lit("stage "), (passed + 1).cast("string"))))
    stage_end = F.element_at(F.array(*[F.lit(float(b)) for b in budgets]), F.least(passed + 1, F.lit(len(budgets))))
    return (items.withColumn("plan_stage", stage)
            .withColumn("in_plan", F.col("plan_stage").startswith("stage "))
            .withColumn("stage_remaining", F.when(F.col("in_plan"), stage_end - F.col("exposures"))))


def build_creator_features(creators: DataFrame, items: DataFrame, events: DataFrame, *, ds: str,
                           new_creator_days: float) -> DataFrame:
    """trailing_likes is L0, the point on the happiness curve each creator starts tomorrow from."""
    likes = (events.join(items.select("item_id", "creator_id"), "item_id")
             .groupBy("creator_id").agg(F.sum("is_like").cast("long").alias("trailing_likes")))
    n_items = items.groupBy("creator_id").agg(F.count(F.lit(1)).alias("n_items"))
    return (creators.join(n_items, "creator_id", "left").join(likes, "creator_id", "left")
            .na.fill(0, ["n_items", "trailing_likes"])
            .withColumn("age_days", (F.unix_timestamp(_day_end(ds)) - F.unix_timestamp("created_at")) / 86_400.0)
            .withColumn("is_new_creator", F.col("age_days") < F.lit(float(new_creator_days))))
