"""What every table and column means, in one place.

`features/schemas.py` attaches these to the StructFields (metadata "comment"), from where they are
written into each Delta table when it is created (table description, column comments), printed by
`fairshot tables --describe` and rendered into docs/tables.md (`python -m jobs.warehouse.tables_doc`). A
column means the same in every table unless its table says otherwise (`TABLES[key][1]`); a test
keeps every column of every table described.
"""
from __future__ import annotations

# Columns that mean the same wherever they appear.
COLUMNS: dict[str, str] = {
    "ds": "the logical date 'YYYY-MM-DD': the day of the logs (bronze), or the day whose logs a night planned "
          "from (the plan serves ds+1); every table is partitioned by it",
    "run_id": "the plan (or job) that wrote the row: '<ds>-<digest of the config hash and the solver's inputs>'",
    "user_id": "the user, as the source names them (string ids are mapped to integers at ingest)",
    "item_id": "the item (video or live stream)",
    "creator_id": "the creator who posted the item",
    "category": "the item's content category",
    "user_key": "the user's id as the source gave it, as text (a CSV's name or UUID; an integer id as itself): "
                "what the feed and an analyst look a user up by",
    "item_key": "the item's id as the source gave it, as text (see user_key)",
    "creator_key": "the creator's id as the source gave it, as text (see user_key)",
    "item_type": "'video' or 'live'",
    "created_at": "when the item (or creator) was created, UTC",
    "live_start": "a live stream's start, UTC (empty for videos)",
    "live_end": "a live stream's end, UTC (empty for videos)",
    "is_new": "the item is new: younger than features.new_item_days",
    "plan_stage": "where the item stands in the creator-side plan (features.plan_window): 'stage k' of the "
                  "lifecycle's traffic pools, 'graduated' (had every stage), 'expired' (older than "
                  "features.max_plan_age_days) or 'left: likes below its category' (judged at a stage's end); "
                  "'new' or 'not new' under the age window",
    "is_new_creator": "the creator is new: younger than features.new_creator_days",
    "trailing_likes": "likes the creator's items received in the feature window before ds (L0 in the model)",
    "p_active": "estimated chance the user is active on ds+1 (the availability model, or the smoothed frequency)",
    "p_click": "estimated chance the user clicks the item if shown (ranking head or heuristic)",
    "p_long_view": "estimated chance of a long view if shown",
    "p_like": "estimated chance of a like if shown (new items: optimistic, at a posterior quantile)",
    "p_like_mean": "the like estimate without new items' optimism (the head's or heuristic's calibrated mean): "
                   "what scores a policy in evaluate, while p_like is what the optimiser bets with",
    "p_follow": "estimated chance the user follows the creator if shown",
    "p_skip": "estimated chance the user skips the item if shown",
    "user_value": "the pair's value to the user if shown: allocation.value_weights applied to the p_* estimates "
                  "(skips count against)",
    "x": "the plan's probability of serving the pair on ds+1 (0..1; a user's x sum to at most their slots)",
    "selected": "the pair was drawn for serving by seeded systematic rounding (each pair with probability x)",
    "expected_exposure": "expected times the pair is seen: x times the user's chance of being there for it",
    "expected_likes": "expected likes from these exposures: expected_exposure times p_like",
    "n_candidates": "candidate pairs (users) the item had",
    "quota": "the item's expected exposures under the plan (sum of its pairs' expected_exposure)",
    "cap": "the most expected exposures the item may get tomorrow: allocation.item_cap, or what is left of its "
           "lifecycle stage if less",
    "floor": "the exploration floor: expected exposures an item in the plan should get (allocation.new_item_floor, "
             "times allocation.first_item_floor_factor for a creator's first items; at most the cap), soft: each "
             "missing one costs allocation.floor_penalty",
    "creator_item_rank": "the item's place among its creator's items by creation (1 = the creator's first)",
    "in_plan": "the creator-side plan holds the item tonight (features.plan_window)",
    "stage_remaining": "exposures left before the item's lifecycle stage ends (empty outside the lifecycle)",
    "predicted_for": "the day whose outcomes the row predicts or scores",
    "base_rate": "the share of positive outcomes among the rows scored",
    "auc": "area under the ROC curve (0.5: no better than chance)",
    "log_loss": "mean negative log-likelihood of the outcomes under the predictions (lower is better)",
    "calibration_error": "|mean predicted - observed rate| per equal-width bin of the prediction (ten), weighted "
                         "by the bin's rows (0: calibrated)",
    "n_users": "users counted",
    "n_items": "items counted",
    "n_creators": "creators counted",
    "n_rows": "rows scored",
    "seconds": "wall-clock seconds",
    "solver": "which solver made the plan: 'exact:<OR-Tools backend>' (the LP), 'dual' (dual decomposition) or "
              "'dual:executors' (the same, with the pairs on the Spark executors)",
    "objective": "the LP's objective: user value + creator_weight x happiness gain - floor penalties",
    "bound": "an upper bound on the objective (equal to it for an optimal LP)",
    "gap": "|bound - objective| / max(1, |bound|): how far from optimal the plan may be",
    "max_violation": "the worst excess over any hard constraint (capacity, cap, category cap, creator cap, budget)",
    "exposure_gini": "Gini coefficient of exposure over items, zero-exposure items included (0 equal, 1 one takes all)",
    "top1_share": "share of all exposure taken by the top 1% of items",
    "new_item_coverage": "share of new items with at least one expected exposure",
    "creators_with_like_share": "expected share of creators with at least one like: mean over creators of "
                                "1 - prod(1 - expected likes of each exposure)",
    "new_creators_with_like_share": "the same over new creators",
    "expected_new_likes": "expected likes the creator's items get from the plan",
    "happiness_gain": "H(L0 + new likes) - H(L0) summed: the concave creator-happiness the plan adds",
    "marginal_value": "what one more like for the creator is worth to the objective: creator_weight x H'(L0 + likes)",
    "creator_weight": "the creator term's weight (allocation.creator_weight, in readable units)",
    "error": "why this row could not be computed (empty when it could)",
    "price": "the constraint's price (dual value) at the solution, >= 0",
    "likes": "likes counted",
    "long_views": "long views counted",
    "skips": "skips counted",
    "follows": "follows counted",
    "clicks": "clicks counted",
    "exposures": "exposures counted",
    "age_days": "days from creation to the end of ds",
    "followers": "the creator's followers as the source reports them",
    "skip_rate": "skips (exposures with neither a click nor a long view) / exposures, smoothed towards the "
                 "category's rate (items) or the global rate (affinity)",
    "seed": "the simulation seed (config seed + i)",
}

# The staged and the published plan: the same columns.
_ALLOCATIONS = {"user_rank": "the pair's rank among the user's pairs (by x to 9 decimals, then user value, then item id)"}
_QUOTAS = {"expected_likes": "the item's expected likes under the plan",
           "floor_shortfall": "expected exposures the item is below its floor",
           "shadow_price": "the price of the item's cap (0 unless the cap binds)"}
_RUNS = {
    "status": "'staged', 'published', 'superseded' (replaced by a later publish) or 'audit_failed'",
    "true_objective": "the objective with the exact concave H instead of its chords",
    "iterations": "solver iterations", "solve_seconds": "seconds the solver took",
    "n_pairs": "candidate pairs in the problem", "config_hash": "hash of the effective config "
    "(placement left out: storage, spark, report, source.path)",
    "code_version": "the git commit the code ran from ('-dirty' with uncommitted changes), or the package "
                    "version outside a checkout",
    "message": "a warning (a degenerate plan: too few users or items; a thin plan: quotas reach under a fifth of "
               "the items; floors unmet: a tenth or more of the floored items end short of their floor, and whether "
               "the users' slots could hold the floors at all; a plan short of its bound: certified gap over "
               "10x the target), or the failed checks of an audit_failed run",
    "report_path": "the HTML report written for the run", "published_at": "when it was published, UTC",
    "superseded_at": "when a later publish replaced it, UTC",
    "gold_versions": "the gold tables' Delta versions at publish (JSON)",
    "new_item_coverage": "share of new items with at least one expected exposure as planned (x times the "
                         "model's p_available); audit.policy_evaluation gives the same figure under ds+1's truth",
    "creators_with_like_share": "expected share of creators with at least one like as planned (the model's "
                                "availability and like estimates); audit.policy_evaluation: under ds+1's truth",
    "solver_reason": "why that solver ran: the setting that chose it and, under allocation.solver=auto, the "
                     "night's pairs against allocation.dual_above_pairs (empty for runs before the column existed)"}

# key -> (what the table holds, its columns' meanings where they differ from or add to COLUMNS)
TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "bronze.events": ("Every logged exposure and its outcome, as ingested and validated from the source; "
                      "one row per (user, item, time).", {
        "ts": "when the exposure happened, UTC",
        "surface": "where it was shown: 'video' (the video feed) or 'live' (live streams)",
        "is_click": "1 if the user clicked", "is_long_view": "1 if the user watched long (a long view)",
        "is_like": "1 if the user liked", "is_follow": "1 if the user followed the creator",
        "is_share": "1 if the user shared", "is_comment": "1 if the user commented",
        "is_hate": "1 if the user said they dislike it (a hard negative: never shown that creator again)",
        "watch_time_ms": "milliseconds watched",
        "is_rand": "1 if the item was shown at random (KuaiRand's unbiased exposures), 0 otherwise"}),
    "bronze.events_rejected": ("Source rows ingest refused, each with the file, the line, the column and the rule "
                               "it broke; nothing is dropped silently.", {
        "source_file": "the source file the row came from", "raw": "the row as read",
        "column": "the column that broke a rule", "rule": "the rule it broke",
        "source_line": "the row's line in its file"}),
    "bronze.items": ("The items known on ds, as the source describes them.", {
        "duration_s": "the video's length in seconds"}),
    "bronze.creators": ("The creators known on ds.", {}),
    "bronze.users": ("The users known on ds.", {"registered_at": "when the user registered, UTC"}),
    "bronze.id_map": ("The source's text ids known on ds (a CSV whose ids are names or UUIDs; sources with "
                      "integer ids have none): each one and the integer it became, xxhash64(text) with the sign "
                      "bit cleared. Ingest refuses two source ids that map to one integer.", {
        "kind": "'user', 'item' or 'creator'",
        "source_id": "the id as the source wrote it (trimmed)",
        "internal_id": "the integer every other table uses for it",
        "first_seen": "when the source first shows it: a user's first interaction, an item's creation, a "
                      "creator's first item, UTC"}),
    "silver.user_features": ("Each user's activity over the trailing windows ending ds (1, 7 and 28 days).", {
        "active_days_1": "days with any exposure in the last 1 day", "active_days_7": "... in the last 7 days",
        "active_days_28": "... in the last 28 days", "exposures_1": "exposures in the last 1 day",
        "exposures_7": "exposures in the last 7 days", "exposures_28": "exposures in the last 28 days",
        "sessions_7": "sessions in 7 days (a pause of more than 30 minutes starts a new one)",
        "sessions_28": "sessions in 28 days", "clicks_28": "clicks in 28 days", "long_views_28": "long views in 28 days",
        "likes_28": "likes in 28 days", "follows_28": "follows in 28 days", "skips_28": "skips in 28 days",
        "skip_rate_28": "skips / exposures in 28 days, unsmoothed (empty without exposures)", "days_since_active": "days since the user's last exposure",
        "hourly_profile": "24 shares: when in the day (UTC hour) the user is active"}),
    "silver.user_category_affinity": ("How much each user likes each category, from positives and skips, smoothed "
                                      "towards the global rate.", {
        "exposures": "the user's exposures to the category in the window",
        "positives": "long views, likes and follows among them", "skips": "skips among them",
        "positive_rate": "positives / exposures, smoothed", "affinity": "positive rate less skip rate, smoothed: "
        "the retriever ranks users by it", "video_affinity": "the same from videos only"}),
    "silver.user_availability": ("Who will be there on ds+1 and how many creator-side slots each user has: the "
                                 "optimiser's per-user capacity (DualRec's user-availability module).", {
        "expected_requests": "expected feed requests on ds+1: p_active x requests when active",
        "slot_capacity": "creator-side slots: features.slot_share of the requests, at most features.max_slots",
        "p_source": "which estimate p_active is: 'model' (logistic model) or 'smoothed' (too little history)"}),
    "audit.availability_evaluation": ("Each night's backtest of the availability estimators: predict a day from "
                                      "the day before and score against who came.", {
        "estimator": "'uac_model' or 'smoothed_frequency'",
        "hit_rate": "share of users predicted active (p >= 0.5) who came"}),
    "silver.item_features": ("Each item's age, newness and smoothed outcome rates over the feature window.", {
        "click_rate": "clicks / exposures, smoothed towards the category", "long_view_rate": "the same for long views",
        "like_rate": "the same for likes (the Beta posterior's mean)",
        "like_alpha": "the like rate's Beta posterior alpha (prior + likes)",
        "like_beta": "the like rate's Beta posterior beta (prior + exposures without a like)",
        "follow_rate": "follows / exposures, smoothed"}),
    "silver.creator_features": ("Each creator's age, items and trailing likes: where they are on the happiness "
                                "curve.", {"n_items": "items the creator has posted"}),
    "silver.user_factors": ("Each user's ALS factors (implicit feedback, skips as negatives) fitted on the "
                            "feature window ending ds; written when the ranking heads or the ALS retriever "
                            "read them.", {"factors": "the user's embedding: candidates.als_rank floats"}),
    "silver.item_factors": ("Each logged item's ALS factors from the same fit as silver.user_factors; a new "
                            "item without logs borrows its creator's or category's when the heads read them.", {
        "factors": "the item's embedding: candidates.als_rank floats"}),
    "silver.candidates": ("The (user, item) pairs the optimiser may use: the retriever's users for each eligible "
                          "item, scored by the ranking heads.", {
        "source": "how the pair was found: 'category_affinity', 'cross_domain_affinity' (live streams, from video "
                  "affinity), 'als', or 'als_cold_start_<how>' (an item ALS has not seen yet)",
        "retrieval_score": "the retriever's score (affinity, or the ALS dot product)",
        "tier": "1: among the item's best-suited users; 2: drawn from its wider audience (exploration)",
        "p_available": "the chance the user is there for this item: p_active, lower for a live stream outside "
                       "their usual hours"}),
    "silver.ranking_heads": ("The ranking heads that scored ds's candidates: one logistic regression per outcome, "
                             "trained on ds's exposures with the features of ds-1. P(outcome) = sigmoid(intercept "
                             "+ sum of coefficient x (feature - mean) / scale). The next night's backtest reads "
                             "them to predict a day they never saw.", {
        "head": "click, long_view, like, follow or skip (a head with too few of either label is absent: the "
                "heuristic scored it)",
        "feature": "the pair feature (features.ranking.FEATURES); '' is the row of the intercept",
        "mean": "the feature's mean over the training rows (0 for the intercept)",
        "scale": "the feature's standard deviation over the training rows (1 for the intercept or a constant feature)",
        "coefficient": "the weight on the standardised feature; the intercept on the intercept's row",
        "n_rows": "training rows the head was fitted on (a seeded sample above candidates.heads_max_rows)"}),
    "audit.retrieval_evaluation": ("Each night's recall@N of the retrievers against the synthetic world's truth.", {
        "retriever": "the retriever scored", "items": "'all' or 'new' items", "n": "N in recall@N",
        "recall_at_n": "share of the truly best N users per item that the retriever found"}),
    "audit.ranking_evaluation": ("Each night's backtest of the ranking heads (trained on ds-1, predicting ds) "
                                 "against the heuristic on the same rows.", {
        "head": "click, long_view, like, follow or skip", "scorer": "'heads', 'heads_calibrated' (the heads through "
        "the Platt map the night before fitted: out of sample; only with candidates.calibrate_heads on) or "
        "'heuristic'",
        "items": "'all' or 'new' items", "rows": "'all' exposures, or 'random' only (KuaiRand's unbiased rows)",
        "platt_slope": "heads rows: slope a of the Platt map fitted on these held-out rows, P(y) = "
        "sigmoid(a logit(p) + b); tonight's candidates pass through it when candidates.calibrate_heads is on "
        "(off by default)",
        "platt_intercept": "heads rows: intercept b of that Platt map"}),
    "audit.ranking_calibration": ("Reliability curves of the ranking heads on the backtest's held-out day: mean "
                                  "predicted against observed rate in bins of equal count.", {
        "head": "click, long_view, like, follow or skip", "scorer": "'heads' (as trained) or 'heads_calibrated' "
        "(through the night before's Platt map)", "bin": "the bin (0 = lowest predictions), equal counts",
        "mean_predicted": "mean predicted probability in the bin", "observed_rate": "share of the bin's exposures "
        "with the outcome"}),
    "staging.allocations": ("The plan allocate wrote, before publish audits it: one row per candidate pair.",
                            _ALLOCATIONS),
    "staging.item_quotas": ("Per item of the staged plan: quota, cap, floor and the cap's price.", _QUOTAS),
    "staging.creator_outcomes": ("Per creator of the staged plan: expected new likes and happiness.", {}),
    "staging.allocation_runs": ("The staged plan's run record, before publish audits it.", _RUNS),
    "gold.allocations": ("The published plan the feed reads: one row per candidate pair of each run (read only "
                         "the run gold.allocation_runs marks published: the views do).", _ALLOCATIONS),
    "gold.item_quotas": ("Per item of each run: quota, cap, floor and the cap's price.", _QUOTAS),
    "gold.creator_outcomes": ("Per creator of each run: expected new likes, happiness gain and the value of one "
                              "more like.", {}),
    "gold.allocation_runs": ("The run ledger: every plan of a day with its status; the one row with status "
                             "'published' is what the feed reads.", _RUNS),
    "audit.quality_results": ("Every check the publish gate ran on a staged plan: great-expectations suites and "
                              "the model's invariants.", {
        "suite": "the suite the check belongs to", "table_name": "the table checked",
        "expectation": "the check", "success": "whether it passed", "observed": "what was observed"}),
    "audit.solver_trace": ("The solver's convergence: objective, bound and gap per checkpoint.", {
        "iteration": "the iteration of this point"}),
    "audit.solver_duals": ("The solver's prices for ds's latest allocate (warm start for the next day's dual "
                           "solve).", {
        "kind": "'item_cap', 'item_floor', 'creator_likes', 'creator_cap' or 'exposure_budget'",
        "id": "the item or creator id (0 for the budget)"}),
    "audit.allocation_explanations": ("Why each pair of each run got its x: its score at the solver's prices "
                                      "against its user's slot price (allocation/explain.py).", {
        "p_available": "the chance the user is there for the item (a in the model)",
        "value_term": "a x user_value: the user's part of the score",
        "creator_term": "a x p_like x like_price: the creator's next like at its price",
        "item_term": "a x (floor_price - cap_price - creator-cap and budget prices): the item's part",
        "score": "value_term + creator_term + item_term: what serving the pair once earns at the prices",
        "slot_price": "the score the user's last slot went for (0 with slots to spare)",
        "reduced_cost": "score - slot_price: > 0 served, < 0 not served, 0 a tie",
        "reason": "the verdict in words: served, part-served, outbid, below zero, or off-price",
        "cap_price": "the price of the item's cap", "floor_price": "the price of the item's floor (its bonus per "
        "exposure up to the floor)", "like_price": "the price of one like for the item's creator"}),
    "audit.policy_evaluation": ("Each night's comparison of policies (a control feed: the world's feed on the "
                                "synthetic world, the logged feed in the plan's slots and the whole logged feed "
                                "on real logs; each user's top-k of the "
                                "candidates, the linear optimiser, fairshot at several creator weights) scored "
                                "against ds+1.", {
        "policy": "the policy scored: world_feed, logged_slots or logged (the controls: logged_slots is the "
        "logging feed's first k_u exposures on ds+1 of each planned user who came, k_u the user's slots in the "
        "plan, scored by the plans' estimator; logged is all it showed them, observed), user_side, "
        "creator_linear, fairshot, fairshot_w=<w>", "truth": "what it is scored against: 'synthetic truth', 'next-day logs' (who came; "
        "outcomes estimated) or 'observed: logged on ds+1'",
        "user_value": "expected user value of the policy's plan", "user_value_kept": "user_value / the "
        "control's in the same slots (world_feed or logged_slots where there is one and its value is above "
        "zero, else user_side; empty for logged, whose totals span the whole feed)", "expected_long_views": "expected long views", "expected_skips": "expected skips",
        "reach_threshold": "E: the exposures an item needs to count as reached",
        "expo_reach": "new items with at least E expected exposures", "n_new_items": "new items that day",
        "user_share": "the share of the night's users the policies were re-solved for: 1, or below 1 on a night "
        "of more than evaluation.max_pairs pairs, whose figures are a seeded sample's, scaled to the night "
        "(totals / share; an item reached at share x E; a creator's chance of no like to the power 1 / share)",
        "uac_hit_rate": "share of the plan's exposure that went to users who did come on ds+1",
        "new_item_coverage": "share of new items with at least one expected exposure under `truth` (the ledger's "
                             "figure of the same name is the plan's own estimate)",
        "solve_seconds": "seconds the policy's solve took", "expected_exposure": "total expected exposures",
        "expected_likes": "total expected likes",
        "replay_matched": "observed, real logs with random exposures (KuaiRand's is_rand = 1) on ds+1: the policy's "
                          "matched exposures, the sum of its x over the random exposures of its candidate pairs "
                          "(the logged row: every random exposure of the plan's users, i.e. serving at random)",
        "replay_like_rate": "observed: likes per matched exposure (each random exposure weighted by the policy's x)",
        "replay_like_ci": "half width of replay_like_rate's 95% interval (normal, weighted mean's standard error)",
        "replay_long_view_rate": "observed: long views per matched exposure",
        "replay_long_view_ci": "half width of replay_long_view_rate's 95% interval"}),
    "audit.policy_item_exposure": ("Per policy and item: the exposure each policy gives it (the report's charts).", {
        "policy": "the policy", "creator_trailing_likes": "the creator's trailing likes (L0)",
        "exposure": "the item's expected exposures under the policy"}),
    "audit.availability_calibration": ("Reliability curve of p_active: mean predicted against observed, in bins.", {
        "truth": "what was observed: 'synthetic truth' or 'next-day logs'", "bin": "the bin (0..9, equal width)",
        "mean_predicted": "mean p_active in the bin", "observed_rate": "share of the bin's users who came"}),
    "audit.step_timings": ("How long each step of each night took.", {
        "step": "the step", "finished_at": "when it finished, UTC"}),
    "audit.simulation_daily": ("`fairshot simulate`: one row per simulation, seed, arm and simulated day (ds: the "
                               "first simulated day).", {
        "arm": "'control' (the user-side feed), 'treatment' (the same feed serving fairshot's plan), a named "
               "variant of fairshot's config, or a baseline in the same slots: 'boost' (the feed's ranking of the "
               "items the plan may hold) or 'explore' (those items at random)",
        "day_index": "the simulated day, from 0", "date": "its date",
        "plan_published": "a plan was published for the day (treatment)",
        "active_users": "users who came", "exposures": "exposures served",
        "plan_exposures": "exposures served from fairshot's plan", "active_creators": "creators who posted recently",
        "new_creators_posting": "new creators who posted", "creators_joined": "creators who joined",
        "creators_quit": "creators who stopped", "items_posted": "items posted",
        "creators_with_like": "expected creators with at least one like",
        "new_creators_with_like": "the same among new creators",
        "discovery": "share of the truly best new items that reached E exposures within 2 days",
        "median_hours_to_first_like": "median hours from posting to a new item's first like",
        "liked_within_48h_share": "share of new items liked within 48 hours",
        "user_value": "value users got (from the world's true probabilities)",
        "new_creator_retention_7d": "share of creators who joined 7 days before and still post",
        "new_creator_retention_14d": "... 14 days", "new_creator_retention_28d": "... 28 days",
        "likes_per_active_user": "likes / active users", "long_views_per_active_user": "long views / active users",
        "skips_per_active_user": "skips / active users", "user_value_per_active_user": "user value / active users",
        "creators_with_like_ceiling": "the most creators_with_like any plan in the arm's slots could reach: every "
                                      "posting creator with an item in the plan's window liked for sure (a bound; "
                                      "an arm without a plan: its own figure)",
        "exposure_gini_floor": "the lowest exposure_gini any plan in the arm's slots could reach: the plan's "
                               "exposures poured onto the least-exposed items of its window, the rest as served "
                               "(a bound; an arm without a plan: its own figure)",
        "creator_exposure_gini": "Gini coefficient of the day's exposures over the creators posting, those with no "
                                 "exposure included: what creators experience (0 equal, 1 one takes all)",
        "creator_exposure_gini_floor": "the lowest creator_exposure_gini any plan in the arm's slots could reach: the "
                                       "plan's exposures poured onto the least-exposed posting creators with an item "
                                       "in its window, the feed's as served (a bound; an arm without a plan: its own "
                                       "figure)"}),
    "audit.simulation_summary": ("`fairshot simulate`: per simulation, seed, metric and arm, the arm against "
                                 "control over the whole period.", {
        "metric": "the metric", "arm": "the arm read against control: treatment (fairshot under the config), a "
                                       "named variant, or a baseline (boost, explore)",
        "control": "the metric in the control arm", "value": "the metric in this arm",
        "ratio": "value / control", "days": "simulated days"}),
}
