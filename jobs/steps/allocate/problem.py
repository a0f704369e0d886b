"""Between Spark and the optimiser: feature frames -> AllocationProblem, and results -> frames.

Ids become dense positions here and only here, so `allocation/` never sees an id and `jobs` never
does index arithmetic elsewhere.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocation import AllocationProblem, AllocationResult, HappinessCurve
from allocation.happiness import creator_lambda
from jobs.config import Config

# What the plan reads of each eligible item (silver.item_features); the stage sets its cap and floor.
PLAN_ITEM_COLUMNS = ("item_id", "creator_id", "category", "is_new", "plan_stage", "stage_remaining",
                     "creator_item_rank")


@dataclass(frozen=True)
class OptionalLimits:
    """docs/DESIGN.md's optional constraints as config sets them for one day's users: the most slots of
    one category per user (None: off), the most expected exposure per creator and in total (inf:
    off). Shares are of the expected slots, sum of p_active x slot_capacity over the plan's users.
    Built in one place so that allocate and the publish audit check the same limits."""

    category_cap: np.ndarray | None
    creator_cap: float
    budget: float

    @classmethod
    def from_config(cls, config: Config, p_active: np.ndarray, capacity: np.ndarray) -> OptionalLimits:
        share = config["allocation"]["max_category_share"]
        return cls.of_slots(config, float(np.dot(p_active, capacity)),
                            np.maximum(1.0, np.floor(share * capacity)) if share < 1.0 else None)

    @classmethod
    def of_slots(cls, config: Config, slots: float, category_cap: np.ndarray | None) -> OptionalLimits:
        """From the expected slots, summed wherever the users are (the Spark problem sums them on
        the executors and keeps the category caps as a column there)."""
        a = config["allocation"]
        on = lambda share: share < 1.0  # noqa: E731 - a share of 1 switches a constraint off
        return cls(category_cap, a["max_creator_share"] * slots if on(a["max_creator_share"]) else np.inf,
                   a["budget_share"] * slots if on(a["budget_share"]) else np.inf)


@dataclass(frozen=True)
class ProblemFrames:
    """The problem plus the id of every position, to map results back."""

    problem: AllocationProblem
    pairs: pd.DataFrame      # user_id, item_id, creator_id, p_like, p_available, user_value (pair order)
    users: pd.DataFrame      # user_id, p_active, slot_capacity (user order)
    items: pd.DataFrame      # PLAN_ITEM_COLUMNS, cap, floor, n_candidates (item order)
    creators: pd.DataFrame   # creator_id, trailing_likes, is_new_creator (creator order)
    user_share: float = 1.0  # the share of the night's users the problem holds (`assemble_problem`)


def assemble_problem(config: Config, candidates: pd.DataFrame, availability: pd.DataFrame,
                     eligible: pd.DataFrame, creators: pd.DataFrame, user_share: float = 1.0) -> ProblemFrames:
    """`eligible` holds every item the plan is for, with or without candidates, so an item nobody
    fits still shows up with its unmet floor instead of vanishing.

    `user_share` < 1 says the candidates are those of a random share f of the night's users (the
    evaluation of a night too large to re-solve whole). Each item and creator then meets f of its
    audience, so what is counted per item or creator shrinks with it: caps, floors and trailing
    likes by f, the happiness scale tau by f (H_f(f L) = H(L)), and lambda by f, so that a like is
    worth what it is worth in the whole problem. Solved, the sample prices pairs as the whole night
    would, and its exposures and likes are f of the night's."""
    a = config["allocation"]
    if not 0.0 < user_share <= 1.0:
        raise ValueError(f"user_share must be in (0, 1], got {user_share}")
    pairs = candidates.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)
    users = (availability[availability["user_id"].isin(pairs["user_id"])]
             .sort_values("user_id").reset_index(drop=True))
    items = plan_items(config, eligible, pairs.groupby("item_id").size())
    creators = plan_creators(creators, items)
    pair_user = position(users, "user_id", pairs["user_id"])
    pair_item = position(items, "item_id", pairs["item_id"])
    if (pair_user < 0).any() or (pair_item < 0).any():
        raise ValueError("silver.candidates: user_id or item_id not among available users / eligible items")
    curve = happiness_curve(config)
    capacity = users["slot_capacity"].to_numpy(float)
    limits = OptionalLimits.from_config(config, users["p_active"].to_numpy(float), capacity)
    f = float(user_share)
    problem = AllocationProblem.from_arrays(
        curve=dataclasses.replace(curve, tau=curve.tau * f) if f < 1.0 else curve,
        pair_user=pair_user, pair_item=pair_item,
        pair_value=pairs["user_value"].to_numpy(float), pair_like=pairs["p_like"].to_numpy(float),
        pair_availability=pairs["p_available"].to_numpy(float),
        user_availability=users["p_active"].to_numpy(float),
        user_capacity=capacity,
        item_creator=position(creators, "creator_id", items["creator_id"]),
        item_cap=items["cap"].to_numpy(float) * f, item_floor=items["floor"].to_numpy(float) * f,
        creator_base_likes=creators["trailing_likes"].to_numpy(float) * f,
        creator_weight=f * creator_lambda(a["creator_weight"], curve, pairs["user_value"].to_numpy(float)),
        floor_penalty=a["floor_penalty"],
        item_category=item_categories(items),
        user_category_cap=limits.category_cap, creator_cap=np.full(len(creators), limits.creator_cap),
        exposure_budget=limits.budget,
    )
    return ProblemFrames(problem, pairs, users, items, creators, f)


def happiness_curve(config: Config) -> HappinessCurve:
    a = config["allocation"]
    return HappinessCurve(kind=a["happiness"], tau=a["happiness_tau"], n_segments=a["happiness_segments"])


def plan_items(config: Config, eligible: pd.DataFrame, n_candidates: pd.Series) -> pd.DataFrame:
    """The plan's items in item order (their positions), with cap, floor and candidate count.

    An item may get at most what is left of its lifecycle stage (the rest of its shot is judged on
    the evidence first), and a creator's first items a larger floor: one more like matters most to a
    creator with none, and their first items are where they decide whether to go on posting."""
    a = config["allocation"]
    items = eligible.sort_values("item_id").reset_index(drop=True)
    cap = np.minimum(float(a["item_cap"]), items["stage_remaining"].fillna(np.inf).to_numpy(float))
    first = items["creator_item_rank"].to_numpy(np.int64) <= int(a["first_items"])
    floor = np.minimum(float(a["new_item_floor"]) * np.where(first, float(a["first_item_floor_factor"]), 1.0), cap)
    return items.assign(cap=cap, floor=floor,
                        n_candidates=items["item_id"].map(n_candidates).fillna(0).astype("int64"))


def plan_creators(creators: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """The creators of the plan's items in creator order; every item's creator must be known."""
    creators = (creators[creators["creator_id"].isin(items["creator_id"])]
                .sort_values("creator_id").reset_index(drop=True))
    missing_creators = set(items["creator_id"]) - set(creators["creator_id"])
    if missing_creators:
        raise ValueError(f"silver.item_features: creator_id {sorted(missing_creators)[:5]} "
                         "not in silver.creator_features")
    return creators


def position(frame: pd.DataFrame, column: str, values: pd.Series) -> np.ndarray:
    """Where each value sits in frame[column] (-1: not there)."""
    return pd.Index(frame[column]).get_indexer(values)


def item_categories(items: pd.DataFrame) -> np.ndarray:
    """Each item's category as a position (the diversity caps group a user's pairs by it)."""
    return pd.factorize(items["category"].fillna(""), sort=True)[0]


def inputs_fingerprint(frames: ProblemFrames, warm_start: object | None = None) -> str:
    """A digest of everything the solver sees (and of the warm start, which moves the dual solver's
    answer within its gap): equal fingerprints under one config give equal plans."""
    digest = hashlib.sha256()
    digest_frames(digest, (frames.pairs, frames.users, frames.items, frames.creators))
    digest_warm_start(digest, warm_start)
    return digest.hexdigest()


def digest_frames(digest: hashlib._Hash, frames: Iterable[pd.DataFrame]) -> None:
    """Add frames' columns and rows (in order) to a digest."""
    for frame in frames:
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())


def digest_warm_start(digest: hashlib._Hash, warm_start: object | None) -> None:
    """Add a warm start's prices to a digest: it moves the dual solver's answer within its gap."""
    if warm_start is not None:
        for value in vars(warm_start).values():
            digest.update(np.asarray(value, dtype=float).tobytes())


def result_frames(frames: ProblemFrames, result: AllocationResult, selected: np.ndarray,
                  run_id: str) -> dict[str, pd.DataFrame]:
    problem = frames.problem
    exposure = problem.pair_expected_exposure(result.x)
    allocations = frames.pairs[["user_id", "item_id", "creator_id"]].assign(
        run_id=run_id, x=result.x, selected=selected,
        expected_exposure=exposure, expected_likes=exposure * problem.pair_like)
    allocations["user_rank"] = user_ranks(allocations["user_id"], allocations["item_id"], result.x,
                                          frames.pairs["user_value"])
    item_likes = np.bincount(problem.pair_item, weights=exposure * problem.pair_like, minlength=problem.n_items)
    item_quotas = frames.items[["item_id", "creator_id", "is_new", "plan_stage", "cap", "floor", "n_candidates"]].assign(
        run_id=run_id, quota=result.item_exposure, floor_shortfall=result.item_floor_slack,
        shadow_price=result.item_shadow_price, expected_likes=item_likes)
    creator_outcomes = frames.creators[["creator_id", "is_new_creator"]].assign(
        run_id=run_id, trailing_likes=frames.creators["trailing_likes"].astype(float),
        expected_new_likes=result.creator_new_likes, happiness_gain=result.creator_happiness_gain,
        marginal_value=result.creator_marginal_value)
    return {"allocations": allocations, "item_quotas": item_quotas, "creator_outcomes": creator_outcomes}


def user_ranks(user_id: pd.Series, item_id: pd.Series, x: np.ndarray, user_value: pd.Series) -> np.ndarray:
    """Each pair's rank among its user's pairs, by x, then user value, then item id. x equal to 9
    decimals is a tie: the solver's last bits differ between machines. Needs all of a user's pairs."""
    frame = pd.DataFrame({"user_id": user_id.to_numpy(), "item_id": item_id.to_numpy(), "_x": np.round(x, 9),
                          "_v": user_value.to_numpy()})
    ordered = frame.sort_values(["user_id", "_x", "_v", "item_id"], ascending=[True, False, False, True])
    return (ordered.groupby("user_id").cumcount() + 1).sort_index().to_numpy("int32")
