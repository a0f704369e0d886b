"""The schema of every table, as explicit StructTypes: the contract between steps.

`ds` (the logical date, 'YYYY-MM-DD') is the last column of every table and its partition.
"""
from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)


def _schema(*fields: tuple[str, object]) -> StructType:
    return StructType([StructField(name, dtype, True) for name, dtype in fields] +  # type: ignore[arg-type]
                      [StructField("ds", StringType(), False)])


FLAG_COLUMNS = ("is_click", "is_long_view", "is_like", "is_follow", "is_share", "is_comment", "is_hate")

EVENTS = _schema(
    ("user_id", LongType()), ("item_id", LongType()), ("ts", TimestampType()), ("surface", StringType()),
    *((flag, IntegerType()) for flag in FLAG_COLUMNS),
    ("watch_time_ms", LongType()), ("is_rand", IntegerType()),
)
EVENTS_REJECTED = _schema(
    ("source_file", StringType()), ("raw", StringType()), ("column", StringType()), ("rule", StringType()),
    ("source_line", LongType()),
)
ITEMS = _schema(
    ("item_id", LongType()), ("creator_id", LongType()), ("category", StringType()),
    ("item_type", StringType()), ("created_at", TimestampType()), ("duration_s", DoubleType()),
    ("live_start", TimestampType()), ("live_end", TimestampType()),
)
CREATORS = _schema(("creator_id", LongType()), ("created_at", TimestampType()), ("followers", LongType()))
USERS = _schema(("user_id", LongType()), ("registered_at", TimestampType()))

USER_FEATURES = _schema(
    ("user_id", LongType()),
    ("active_days_1", LongType()), ("active_days_7", LongType()), ("active_days_28", LongType()),
    ("exposures_1", LongType()), ("exposures_7", LongType()), ("exposures_28", LongType()),
    ("sessions_7", LongType()), ("sessions_28", LongType()), ("clicks_28", LongType()), ("long_views_28", LongType()), ("likes_28", LongType()),
    ("follows_28", LongType()), ("skips_28", LongType()), ("skip_rate_28", DoubleType()),
    ("days_since_active", IntegerType()), ("hourly_profile", ArrayType(DoubleType())),
)
USER_CATEGORY_AFFINITY = _schema(
    ("user_id", LongType()), ("category", StringType()), ("exposures", LongType()),
    ("positives", LongType()), ("skips", LongType()), ("positive_rate", DoubleType()),
    ("skip_rate", DoubleType()), ("affinity", DoubleType()), ("video_affinity", DoubleType()),
)
USER_AVAILABILITY = _schema(
    ("user_id", LongType()), ("p_active", DoubleType()), ("expected_requests", DoubleType()),
    ("slot_capacity", IntegerType()), ("p_source", StringType()),
)
AVAILABILITY_EVALUATION = _schema(
    ("predicted_for", StringType()), ("estimator", StringType()), ("n_users", LongType()),
    ("base_rate", DoubleType()), ("auc", DoubleType()), ("log_loss", DoubleType()),
    ("calibration_error", DoubleType()), ("hit_rate", DoubleType()),
)
ITEM_FEATURES = _schema(
    ("item_id", LongType()), ("creator_id", LongType()), ("category", StringType()),
    ("item_type", StringType()), ("age_days", DoubleType()), ("is_new", BooleanType()),
    ("live_start", TimestampType()), ("live_end", TimestampType()), ("exposures", LongType()), ("clicks", LongType()),
    ("long_views", LongType()), ("likes", LongType()), ("follows", LongType()), ("skips", LongType()),
    ("click_rate", DoubleType()), ("long_view_rate", DoubleType()), ("like_rate", DoubleType()),
    ("like_alpha", DoubleType()), ("like_beta", DoubleType()), ("follow_rate", DoubleType()),
    ("skip_rate", DoubleType()), ("creator_item_rank", IntegerType()), ("in_plan", BooleanType()),
    ("plan_stage", StringType()), ("stage_remaining", DoubleType()),
)
CREATOR_FEATURES = _schema(
    ("creator_id", LongType()), ("age_days", DoubleType()), ("n_items", LongType()),
    ("followers", LongType()), ("trailing_likes", LongType()), ("is_new_creator", BooleanType()),
)
USER_FACTORS = _schema(("user_id", LongType()), ("factors", ArrayType(FloatType())))
ITEM_FACTORS = _schema(("item_id", LongType()), ("factors", ArrayType(FloatType())))
CANDIDATES = _schema(
    ("user_id", LongType()), ("item_id", LongType()), ("creator_id", LongType()), ("source", StringType()),
    ("retrieval_score", DoubleType()), ("tier", IntegerType()), ("p_available", DoubleType()),
    ("p_click", DoubleType()), ("p_long_view", DoubleType()), ("p_like", DoubleType()), ("p_like_mean", DoubleType()),
    ("p_follow", DoubleType()), ("p_skip", DoubleType()), ("user_value", DoubleType()),
)
ALLOCATIONS = _schema(
    ("run_id", StringType()), ("user_id", LongType()), ("item_id", LongType()), ("creator_id", LongType()),
    ("x", DoubleType()), ("selected", BooleanType()), ("user_rank", IntegerType()),
    ("expected_exposure", DoubleType()), ("expected_likes", DoubleType()),
    ("user_key", StringType()), ("item_key", StringType()), ("creator_key", StringType()),
)
ITEM_QUOTAS = _schema(
    ("run_id", StringType()), ("item_id", LongType()), ("creator_id", LongType()), ("is_new", BooleanType()),
    ("plan_stage", StringType()), ("quota", DoubleType()), ("floor", DoubleType()), ("cap", DoubleType()), ("floor_shortfall", DoubleType()),
    ("shadow_price", DoubleType()), ("expected_likes", DoubleType()), ("n_candidates", LongType()),
    ("item_key", StringType()), ("creator_key", StringType()),
)
CREATOR_OUTCOMES = _schema(
    ("run_id", StringType()), ("creator_id", LongType()), ("is_new_creator", BooleanType()),
    ("trailing_likes", DoubleType()), ("expected_new_likes", DoubleType()),
    ("happiness_gain", DoubleType()), ("marginal_value", DoubleType()),
    ("creator_key", StringType()),
)
# The source's own ids where they were text (a CSV's names, UUIDs): what each internal id stands for.
ID_MAP = _schema(("kind", StringType()), ("source_id", StringType()), ("internal_id", LongType()),
                 ("first_seen", TimestampType()))
ALLOCATION_RUNS = _schema(
    ("run_id", StringType()), ("status", StringType()), ("solver", StringType()),
    ("objective", DoubleType()), ("bound", DoubleType()), ("gap", DoubleType()),
    ("true_objective", DoubleType()), ("iterations", LongType()), ("solve_seconds", DoubleType()),
    ("n_pairs", LongType()), ("n_users", LongType()), ("n_items", LongType()), ("n_creators", LongType()),
    ("max_violation", DoubleType()), ("exposure_gini", DoubleType()), ("top1_share", DoubleType()),
    ("new_item_coverage", DoubleType()), ("creators_with_like_share", DoubleType()),
    ("new_creators_with_like_share", DoubleType()), ("config_hash", StringType()),
    ("code_version", StringType()), ("message", StringType()), ("report_path", StringType()),
    ("published_at", StringType()), ("superseded_at", StringType()), ("gold_versions", StringType()),
    ("solver_reason", StringType()),
)
RETRIEVAL_EVALUATION = _schema(
    ("predicted_for", StringType()), ("retriever", StringType()), ("items", StringType()), ("n", LongType()),
    ("n_items", LongType()), ("recall_at_n", DoubleType()),
)
RANKING_EVALUATION = _schema(
    ("predicted_for", StringType()), ("head", StringType()), ("scorer", StringType()), ("items", StringType()),
    ("rows", StringType()), ("n_rows", LongType()), ("base_rate", DoubleType()), ("auc", DoubleType()),
    ("log_loss", DoubleType()), ("calibration_error", DoubleType()), ("platt_slope", DoubleType()),
    ("platt_intercept", DoubleType()),
)
RANKING_HEADS = _schema(
    ("head", StringType()), ("feature", StringType()), ("mean", DoubleType()), ("scale", DoubleType()),
    ("coefficient", DoubleType()), ("n_rows", LongType()),
)
RANKING_CALIBRATION = _schema(
    ("predicted_for", StringType()), ("head", StringType()), ("scorer", StringType()), ("bin", IntegerType()),
    ("n_rows", LongType()), ("mean_predicted", DoubleType()), ("observed_rate", DoubleType()),
)
QUALITY_RESULTS = _schema(
    ("run_id", StringType()), ("suite", StringType()), ("table_name", StringType()),
    ("expectation", StringType()), ("success", BooleanType()), ("observed", StringType()),
)
POLICY_EVALUATION = _schema(
    ("run_id", StringType()), ("predicted_for", StringType()), ("policy", StringType()),
    ("creator_weight", DoubleType()), ("truth", StringType()), ("user_value", DoubleType()),
    ("user_value_kept", DoubleType()), ("expected_exposure", DoubleType()), ("expected_likes", DoubleType()),
    ("expected_long_views", DoubleType()), ("expected_skips", DoubleType()), ("reach_threshold", DoubleType()),
    ("expo_reach", DoubleType()), ("n_new_items", LongType()), ("user_share", DoubleType()),
    ("new_item_coverage", DoubleType()),
    ("creators_with_like_share", DoubleType()), ("new_creators_with_like_share", DoubleType()),
    ("exposure_gini", DoubleType()), ("top1_share", DoubleType()), ("happiness_gain", DoubleType()),
    ("uac_hit_rate", DoubleType()), ("solve_seconds", DoubleType()), ("error", StringType()),
    ("replay_matched", DoubleType()), ("replay_like_rate", DoubleType()), ("replay_like_ci", DoubleType()),
    ("replay_long_view_rate", DoubleType()), ("replay_long_view_ci", DoubleType()),
)
POLICY_ITEM_EXPOSURE = _schema(
    ("run_id", StringType()), ("policy", StringType()), ("item_id", LongType()), ("creator_id", LongType()),
    ("is_new", BooleanType()), ("creator_trailing_likes", DoubleType()), ("exposure", DoubleType()),
)
AVAILABILITY_CALIBRATION = _schema(
    ("run_id", StringType()), ("predicted_for", StringType()), ("truth", StringType()), ("bin", IntegerType()),
    ("n_users", LongType()), ("mean_predicted", DoubleType()), ("observed_rate", DoubleType()),
)
SOLVER_TRACE = _schema(
    ("run_id", StringType()), ("solver", StringType()), ("iteration", LongType()), ("seconds", DoubleType()),
    ("objective", DoubleType()), ("bound", DoubleType()), ("gap", DoubleType()), ("max_violation", DoubleType()),
)
SIMULATION_COUNTS = ("active_users", "exposures", "plan_exposures", "active_creators", "new_creators_posting",
                     "creators_joined", "creators_quit", "items_posted")
SIMULATION_FIGURES = (
    "creators_with_like", "creators_with_like_share", "new_creators_with_like", "new_creators_with_like_share",
    "new_item_coverage", "exposure_gini", "top1_share", "discovery", "median_hours_to_first_like",
    "liked_within_48h_share", "likes", "long_views", "skips", "user_value", "new_creator_retention_7d",
    "new_creator_retention_14d", "new_creator_retention_28d", "likes_per_active_user", "long_views_per_active_user",
    "skips_per_active_user", "user_value_per_active_user", "creators_with_like_ceiling", "exposure_gini_floor",
    "creator_exposure_gini", "creator_exposure_gini_floor",
)
SIMULATION_DAILY = _schema(   # one row per simulation, seed, arm and simulated day (ds: the first simulated day)
    ("run_id", StringType()), ("seed", LongType()), ("arm", StringType()), ("day_index", IntegerType()),
    ("date", StringType()), ("plan_published", BooleanType()),
    *((name, LongType()) for name in SIMULATION_COUNTS), *((name, DoubleType()) for name in SIMULATION_FIGURES),
)
SIMULATION_SUMMARY = _schema(  # one row per simulation, seed, metric and arm: control, the arm's value, ratio
    ("run_id", StringType()), ("seed", LongType()), ("metric", StringType()), ("arm", StringType()),
    ("control", DoubleType()), ("value", DoubleType()), ("ratio", DoubleType()), ("days", IntegerType()),
)
STEP_TIMINGS = _schema(
    ("run_id", StringType()), ("step", StringType()), ("seconds", DoubleType()), ("finished_at", StringType()),
)
ALLOCATION_EXPLANATIONS = _schema(   # one row per candidate pair of a run: allocation/explain.py
    ("run_id", StringType()), ("user_id", LongType()), ("item_id", LongType()), ("creator_id", LongType()),
    ("p_available", DoubleType()), ("user_value", DoubleType()), ("p_like", DoubleType()),
    ("x", DoubleType()), ("selected", BooleanType()), ("value_term", DoubleType()), ("creator_term", DoubleType()),
    ("item_term", DoubleType()), ("score", DoubleType()), ("slot_price", DoubleType()),
    ("reduced_cost", DoubleType()), ("reason", StringType()),
    ("cap_price", DoubleType()), ("floor_price", DoubleType()), ("like_price", DoubleType()),
)
SOLVER_DUALS = _schema(
    ("run_id", StringType()), ("kind", StringType()), ("id", LongType()), ("price", DoubleType()),
)
