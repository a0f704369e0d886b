"""The config's schema: every key of conf/base.yaml with its type, range or choices.

conf/base.yaml holds the defaults and says what each key does; this says what each may hold. Both
list the same keys (unknown keys are refused and none may be missing), so neither can drift: a
key added to one and not the other fails every start-up, and the first test.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    """A config section: unknown keys are refused, and values keep their declared type (an int
    where a float is declared is taken as that float; text accepts any scalar, since YAML reads
    `2026-04-14` as a date)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _as_text(value: Any) -> Any:
    return value if isinstance(value, (dict, list, str)) else str(value)


Text = Annotated[str, BeforeValidator(_as_text)]
Positive = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
NightlyStep = Literal["ingest", "features", "candidates", "allocate", "publish"]


class SparkSection(_Section):
    master: Text
    app_name: Text
    shuffle_partitions: PositiveInt
    driver_memory: Text
    log_level: Text
    adaptive_execution: Literal["auto", "enabled", "disabled"]
    delta_jars: Text
    s3_jars: Text
    allocate_on_executors: Literal["auto", "always", "never"]
    codegen: bool
    java_options: str


class StorageSection(_Section):
    warehouse: Text
    engine: Literal["auto", "delta-rs", "delta-spark"]
    retain_superseded_hours: NonNegative
    scratch: str


class CsvColumns(_Section):
    user_id: Text
    item_id: Text
    ts: Text
    is_click: Text
    is_long_view: Text
    is_like: Text
    is_follow: Text
    is_share: Text
    is_comment: Text
    is_hate: Text
    watch_time_ms: Text
    creator_id: Text
    category: Text
    created_at: Text


class CsvSection(_Section):
    interactions_file: Text
    items_file: Text
    time_unit: Literal["auto", "s", "ms", "us", "iso"]
    encoding: Text
    columns: CsvColumns


class SourceSection(_Section):
    kind: Literal["synthetic", "kuairand", "csv"]
    path: Text
    timezone: Text
    max_rejected_share: Share
    csv: CsvSection


class SampleSection(_Section):
    n_users: PositiveInt
    n_creators: PositiveInt
    n_categories: PositiveInt
    n_days: PositiveInt
    end_ds: Text
    items_per_creator_day: Positive
    live_share: Share
    new_creator_share: Share
    zipf_exponent: Positive
    requests_per_active_day: Positive


class FeaturesSection(_Section):
    lookback_days: PositiveInt
    new_item_days: PositiveInt
    plan_window: Literal["lifecycle", "age"]
    max_plan_age_days: PositiveInt
    stage_exposures: list[PositiveInt]
    flop_z: NonNegative
    new_creator_days: PositiveInt
    availability_prior_days: Positive
    availability_half_life_days: Positive
    availability_training_days: PositiveInt
    availability_min_history_days: PositiveInt
    availability_reg_param: NonNegative
    availability_max_rows: PositiveInt
    slot_share: Share
    max_slots: PositiveInt
    like_prior_strength: Positive
    affinity_prior_strength: Positive
    backtests: bool

    @field_validator("stage_exposures")
    @classmethod
    def _stages_grow(cls, budgets: list[int]) -> list[int]:
        if not budgets or any(later <= earlier for earlier, later in zip(budgets, budgets[1:])):
            raise ValueError("must list at least one stage, each ending at more exposures than the one before")
        return budgets

    @model_validator(mode="after")
    def _window_covers_the_plan(self) -> FeaturesSection:
        # an item's exposures are counted over the lookback window: it must reach back to the oldest item in play
        if self.plan_window == "lifecycle" and self.max_plan_age_days > self.lookback_days:
            raise ValueError(f"max_plan_age_days ({self.max_plan_age_days}) must be at most lookback_days "
                             f"({self.lookback_days}): an item's exposures are counted over the lookback window")
        return self


class CandidatesSection(_Section):
    retriever: Literal["category_affinity", "als"]
    users_per_item: PositiveInt
    min_p_active: Share
    wide_share: Share
    wide_pool_factor: PositiveInt
    items_per_audience: PositiveInt
    als_rank: PositiveInt
    als_iterations: PositiveInt
    als_reg_param: NonNegative
    als_alpha: Positive
    optimism_z: NonNegative
    ranker: Literal["heads", "heuristic"]
    ranking_reg_param: NonNegative
    heads_max_rows: PositiveInt
    calibrate_heads: bool
    backtests: bool
    backtest_items: NonNegativeInt


class ValueWeights(_Section):
    click: float
    long_view: float
    like: float
    follow: float
    skip: Annotated[float, Field(le=0, description="a skip is negative feedback")]


class AllocationSection(_Section):
    solver: Literal["exact", "dual", "auto"]
    dual_above_pairs: NonNegativeInt
    dual_gap_tolerance: Positive
    dual_max_iterations: PositiveInt
    lp_backend: Literal["GLOP", "PDLP", "CLP", "HIGHS_LP"]
    time_limit_seconds: Positive
    creator_weight: NonNegative
    happiness: Literal["log", "sqrt", "saturating"]
    happiness_tau: Positive
    happiness_segments: PositiveInt
    item_cap: NonNegative
    new_item_floor: NonNegative
    first_items: NonNegativeInt
    first_item_floor_factor: Positive
    floor_penalty: NonNegative
    max_category_share: Share
    max_creator_share: Share
    budget_share: Share
    value_weights: ValueWeights


class EvaluationSection(_Section):
    reach_threshold: Positive
    creator_weights: list[NonNegative]
    calibration_bins: PositiveInt
    max_pairs: PositiveInt


class SimulationSection(_Section):
    days: PositiveInt
    seeds: PositiveInt
    nightly_steps: list[NightlyStep]
    creators_joining_per_day: NonNegative
    posting_lift_at_10_likes: NonNegative
    response_window_days: PositiveInt
    quit_after_days: PositiveInt
    quit_probability: Share
    user_value_elasticity: NonNegative
    feed_temperature: Positive
    feed_interest_weight: NonNegative
    feed_popularity_weight: NonNegative
    feed_freshness_days: Positive
    feed_engagement_prior: Positive
    sweep: dict[str, list[float]]

    @field_validator("sweep")
    @classmethod
    def _sweeps_world_assumptions(cls, sweep: dict[str, list[float]]) -> dict[str, list[float]]:
        numeric = {"creators_joining_per_day", "posting_lift_at_10_likes", "quit_probability", "user_value_elasticity",
                   "feed_temperature", "feed_interest_weight", "feed_popularity_weight", "feed_freshness_days",
                   "feed_engagement_prior"}
        unknown = sorted(set(sweep) - numeric)
        if unknown:
            raise ValueError(f"{unknown} are not assumptions of the world; sweep any of {sorted(numeric)}")
        uneven = sorted(key for key, values in sweep.items() if len(values) != 2)
        if uneven:
            raise ValueError(f"{uneven}: each assumption takes two values, [low, high]")
        return sweep

    @field_validator("nightly_steps")
    @classmethod
    def _starts_with_ingest_and_publishes(cls, steps: list[str]) -> list[str]:
        if steps[:1] != ["ingest"] or "publish" not in steps:
            raise ValueError("must start with ingest and end up publishing")
        return steps


class ReportSection(_Section):
    path: Text


class PublishSection(_Section):
    tolerance: NonNegative


class Settings(_Section):
    """The whole config, as conf/base.yaml lays it out (its comments say what each key does)."""

    seed: int
    spark: SparkSection
    storage: StorageSection
    source: SourceSection
    sample: SampleSection
    features: FeaturesSection
    candidates: CandidatesSection
    allocation: AllocationSection
    evaluation: EvaluationSection
    simulation: SimulationSection
    report: ReportSection
    publish: PublishSection
