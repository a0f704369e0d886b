"""`fairshot explain`: why an item got its quota, a user their slots, a creator their likes.

Read from the published plan and its explanation (the views `item_explanations`,
`user_explanations` and `published_explanations` of sql/views.sql, over DuckDB like `fairshot
query`, so an answer takes seconds and an analyst can run the same SQL). The numbers are the
solver's own prices (allocation/explain.py): a pair is served because its score beats its user's
slot price, and an item's quota sits where its cap, its floor or its pairs' scores put it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from allocation.explain import OFF_PRICE, SHORT
from jobs.analysis.query import connect
from jobs.config import Config
from jobs.errors import QueryError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

PAIR_COLUMNS = ["user_id", "item_id", "p_available", "user_value", "p_like", "value_term", "creator_term",
                "item_term", "score", "slot_price", "reduced_cost", "x", "selected", "reason"]


def _rows(connection: duckdb.DuckDBPyConnection, sql: str, **params: object) -> pd.DataFrame:
    return connection.execute(sql, params).df()


def source_keys(connection: duckdb.DuckDBPyConnection, ds: str, kind: str) -> dict[int, str]:
    """The source's own ids of one kind on ds (`bronze.id_map`): empty where the source's ids are integers."""
    rows = _rows(connection, "SELECT internal_id, source_id FROM bronze_id_map WHERE ds = $ds AND kind = $kind",
                 ds=ds, kind=kind)
    return dict(zip(rows["internal_id"].astype("int64"), rows["source_id"]))


def resolve_id(connection: duckdb.DuckDBPyConnection, ds: str, kind: str, value: object) -> int:
    """An id as the analyst has it: the internal integer, or the source's own text (a CSV's name)."""
    text = str(value).strip()
    if text.isdigit() and int(text) < 2**63:   # a number is itself: the source's numbers are never hashed,
        return int(text)                        # and fairshot's own ids (a hash has 19 digits) are numbers
    found = _rows(connection, "SELECT internal_id FROM bronze_id_map WHERE ds = $ds AND kind = $kind AND "
                  "source_id = $id", ds=ds, kind=kind, id=text)
    if found.empty:
        raise QueryError(f"bronze.id_map: no {kind} with the source id {text!r} on ds={ds} (ids are the source's "
                         "own as the files wrote them, or fairshot's integers)")
    return int(found["internal_id"].iloc[0])


def _named(number: int, keys: dict[int, str]) -> str:
    """'<source id> (id <n>)' where the source named it otherwise, else the number."""
    key = keys.get(int(number))
    return f"{key} (id {number})" if key is not None and key != str(number) else str(number)


def _with_keys(pairs: pd.DataFrame, users: dict[int, str], items: dict[int, str]) -> pd.DataFrame:
    """The pairs with the source's own ids in front, where it has text ids."""
    out = pairs
    if items:
        out = out.assign(item_key=out["item_id"].map(lambda i: items.get(int(i), str(i))))
    if users:
        out = out.assign(user_key=out["user_id"].map(lambda u: users.get(int(u), str(u))))
    return out


def _number(value: object) -> str:
    return "-" if value is None or value != value else f"{float(value):.4g}"  # noqa: PLR0124 - NaN check


def _pairs_table(pairs: pd.DataFrame, limit: int, drop: str) -> str:
    if pairs.empty:
        return "  no pair explanations were kept for this run (planned before fairshot kept them?)"
    shown = pairs.sort_values(["score", "user_id", "item_id"], ascending=[False, True, True]).head(limit)
    shown = shown.assign(reason=shown["reason"].map(SHORT).fillna(shown["reason"]))
    keys = [c for c in ("user_key", "item_key") if c in shown and c.replace("key", "id") != drop]
    text = shown[keys + [c for c in PAIR_COLUMNS if c != drop]].to_string(index=False,
                                                                        float_format=lambda v: f"{v:.4g}")
    more = f"\n  ({len(pairs)} candidate pairs, the {limit} best scores shown; --limit for more)" \
        if len(pairs) > limit else ""
    return "\n".join("  " + line for line in text.splitlines()) + more


def _verdicts(pairs: pd.DataFrame) -> str:
    counts = pairs["reason"].value_counts()
    words = ", ".join(f"{n} {SHORT.get(reason, reason)}" for reason, n in counts.items())
    off = int((pairs["reason"] == OFF_PRICE).sum())
    agree = (f"the prices reproduce all {len(pairs)} of the solver's choices" if not off else
             f"the prices reproduce {len(pairs) - off} of {len(pairs)} choices (the dual solver's plan is "
             f"optimal to its gap, not exactly)")
    return f"{words}\n  {agree}"


def _published_run(connection: duckdb.DuckDBPyConnection, ds: str) -> pd.Series:
    runs = _rows(connection, "SELECT run_id, solver, solver_reason, objective FROM published_runs WHERE ds = $ds",
                 ds=ds)
    if runs.empty:
        raise QueryError(f"gold.allocation_runs: no published plan for ds={ds} (see `fairshot tables`)")
    return runs.iloc[0]


def _run_words(run: pd.Series) -> str:
    """The published run and its solver, with why that solver ran where the ledger says (runs
    before `solver_reason` existed read NULL)."""
    why = run.get("solver_reason")
    return f"published run {run.run_id} ({run.solver}" + (f"; {why})" if isinstance(why, str) and why else ")")


def explain_item(connection: duckdb.DuckDBPyConnection, ds: str, item: int, limit: int) -> str:
    run = _published_run(connection, ds)
    found = _rows(connection, "SELECT * FROM item_explanations WHERE ds = $ds AND item_id = $item", ds=ds, item=item)
    stage = _item_stage(connection, ds, item)
    if found.empty:
        raise QueryError(f"gold.item_quotas: item_id {item} is not in the published plan of ds={ds} "
                         f"({stage or _unknown_item(connection, ds, item)})")
    q = found.iloc[0]
    binds = {"cap": f"its cap binds: one more exposure would be worth {_number(q.cap_price)} to the plan",
             "floor": f"its floor binds: each exposure up to the floor earns a bonus of {_number(q.floor_price)}"
                      + (f" (still {_number(q.floor_shortfall)} short of it)" if q.floor_shortfall > 1e-9 else ""),
             "neither": "neither binds: its quota is what its pairs won against other items for users' slots"}[q.binds]
    pairs = _with_keys(_rows(connection, "SELECT * FROM published_explanations WHERE ds = $ds AND item_id = $item",
                             ds=ds, item=item), source_keys(connection, ds, "user"), {})
    creators = source_keys(connection, ds, "creator")
    return "\n".join([
        f"item {_named(item, source_keys(connection, ds, 'item'))} on {ds} "
        f"(creator {_named(q.creator_id, creators)}, {'new' if q.is_new else 'not new'}), "
        f"{_run_words(run)}",
        f"  {stage}" if stage else f"  plan stage: {q.plan_stage}",
        f"  quota {_number(q.quota)} expected exposures; cap {_number(q.cap)}, floor {_number(q.floor)}",
        f"  {binds}",
        f"  creator {_named(q.creator_id, creators)}: {_number(q.creator_trailing_likes)} trailing likes, "
        f"+{_number(q.creator_expected_new_likes)} expected from this plan; one more like is worth "
        f"{_number(q.creator_marginal_value)} (the solver's price of a like: {_number(q.like_price)})",
        f"  {q.n_candidates} candidate users: " + (_verdicts(pairs) if not pairs.empty else "none"),
        "  per pair: score = value_term + creator_term + item_term; served when it beats the user's slot_price "
        "(outbid: the user's slots went to higher scores; below zero: not worth a slot)",
        _pairs_table(pairs, limit, drop="item_id"),
    ])


def _item_stage(connection: duckdb.DuckDBPyConnection, ds: str, item: int) -> str:
    """Where the item stands in the creator-side plan and why, from silver.item_features (empty if it is not there)."""
    rows = _rows(connection, "SELECT plan_stage, in_plan, age_days, exposures, likes, like_alpha, like_beta, "
                 "stage_remaining, creator_item_rank FROM silver_item_features WHERE ds = $ds AND item_id = $item",
                 ds=ds, item=item)
    return "" if rows.empty else stage_reason(rows.iloc[0])


def _unknown_item(connection: duckdb.DuckDBPyConnection, ds: str, item: int) -> str:
    """Why silver.item_features has no row of the item on ds: it came later, or it is no item of
    this warehouse (a mistyped id, or another world's)."""
    later = _rows(connection, "SELECT min(ds) AS first FROM silver_item_features WHERE item_id = $item AND ds > $ds",
                  ds=ds, item=item)["first"].iloc[0]
    if isinstance(later, str):
        return f"not in silver.item_features that day: created later, first there on {later}"
    return "no such item in silver.item_features on any day: check the id (`fairshot query` lists the plan's)"


def stage_reason(row: pd.Series) -> str:
    """One line: the item's plan stage, its evidence (exposures, its like rate's posterior against its
    category's rate, which the posterior's prior is) and what follows from them."""
    total = float(row.like_alpha + row.like_beta)
    strength = total - float(row.exposures)                # the prior's pseudo-exposures
    category = (float(row.like_alpha) - float(row.likes)) / strength if strength > 0 else float("nan")
    mean = float(row.like_alpha) / total if total > 0 else float("nan")
    sd = (mean * (1 - mean) / (total + 1)) ** 0.5 if total > 0 else float("nan")
    evidence = (f"{int(row.exposures)} exposures and {int(row.likes)} likes so far, {row.age_days:.1f} days old; "
                f"like rate {mean:.4f} \u00b1 {sd:.4f} (posterior) against its category's {category:.4f}")
    first = " (its creator's first item)" if int(row.creator_item_rank) == 1 else ""
    stage = str(row.plan_stage)
    if stage.startswith("stage "):
        return (f"plan stage: {stage}{first}, {_number(row.stage_remaining)} exposures left before it is judged; "
                f"{evidence}")
    why = {"graduated": "had every stage of its fair shot, so the ordinary feed takes it from here",
           "expired": "older than features.max_plan_age_days, so it left the plan whatever its stage",
           "new": "in the plan's age window (features.new_item_days)",
           "not new": "older than the plan's age window (features.new_item_days)"}.get(
        stage, "judged at a stage's end: even its posterior's upper bound was below its category's rate")
    return f"plan stage: {stage}{first}: {why}; {evidence}"


def explain_user(connection: duckdb.DuckDBPyConnection, ds: str, user: int, limit: int) -> str:
    run = _published_run(connection, ds)
    found = _rows(connection, "SELECT * FROM user_explanations WHERE ds = $ds AND user_id = $user", ds=ds, user=user)
    if found.empty:
        raise QueryError(f"audit.allocation_explanations: user_id {user} has no candidate pair in the published "
                         f"plan of ds={ds} (not expected to be active, or no item suits them)")
    u = found.iloc[0]
    pairs = _with_keys(_rows(connection, "SELECT * FROM published_explanations WHERE ds = $ds AND user_id = $user",
                             ds=ds, user=user), {}, source_keys(connection, ds, "item"))
    full = u.slots_planned >= u.slot_capacity - 1e-6
    return "\n".join([
        f"user {_named(user, source_keys(connection, ds, 'user'))} on {ds}, {_run_words(run)}",
        f"  chance of being active {_number(u.p_active)}; {_number(u.slot_capacity)} creator-side slots, "
        f"{_number(u.slots_planned)} planned ({int(u.n_selected)} selected after rounding)",
        (f"  the slots are full: the last went for a score of {_number(u.slot_price)}, so a pair must beat that"
         if full and u.slot_price > 0 else
         "  slots to spare: every pair with a positive score is served"),
        f"  {u.n_candidates} candidate items: {_verdicts(pairs)}",
        _pairs_table(pairs, limit, drop="user_id"),
    ])


def explain_creator(connection: duckdb.DuckDBPyConnection, ds: str, creator: int, limit: int) -> str:
    run = _published_run(connection, ds)
    outcome = _rows(connection, "SELECT * FROM published_creator_outcomes WHERE ds = $ds AND creator_id = $creator",
                    ds=ds, creator=creator)
    if outcome.empty:
        raise QueryError(f"gold.creator_outcomes: creator_id {creator} has no eligible item in the published plan "
                         f"of ds={ds}")
    c = outcome.iloc[0]
    items = _rows(connection, "SELECT item_key, item_id, is_new, n_candidates, quota, cap, floor, binds, cap_price, "
                  "floor_price, n_served, n_part_served, n_outbid, n_not_worth FROM item_explanations "
                  "WHERE ds = $ds AND creator_id = $creator ORDER BY quota DESC, item_id", ds=ds, creator=creator)
    price = _rows(connection, "SELECT MAX(like_price) AS p FROM published_explanations WHERE ds = $ds "
                  "AND creator_id = $creator", ds=ds, creator=creator)["p"].iloc[0]
    table = items.head(limit).to_string(index=False, float_format=lambda v: f"{v:.4g}")
    return "\n".join([
        f"creator {_named(creator, source_keys(connection, ds, 'creator'))} on {ds} "
        f"({'new' if c.is_new_creator else 'established'}), "
        f"{_run_words(run)}",
        f"  {_number(c.trailing_likes)} likes in the trailing window; this plan expects "
        f"+{_number(c.expected_new_likes)} (happiness +{_number(c.happiness_gain)})",
        f"  one more like is worth {_number(c.marginal_value)} to the plan (the solver's price of a like: "
        f"{_number(price)}): the fewer likes a creator has, the more the next one is worth",
        f"  {len(items)} eligible item(s):",
        "\n".join("  " + line for line in table.splitlines()),
    ])


def explain(config: Config, ds: str, *, item: int | str | None = None, user: int | str | None = None,
            creator: int | str | None = None, limit: int = 20) -> str:
    """The text `fairshot explain` prints for exactly one of item, user or creator, each given as
    fairshot's integer or as the source's own id (a CSV's text)."""
    chosen = [(name, value) for name, value in (("item", item), ("user", user), ("creator", creator))
              if value is not None]
    if len(chosen) != 1:
        raise QueryError("fairshot explain needs exactly one of --item, --user or --creator")
    connection = connect(config)
    name, value = chosen[0]
    explainer = {"item": explain_item, "user": explain_user, "creator": explain_creator}[name]
    return explainer(connection, ds, resolve_id(connection, ds, name, value), limit)
