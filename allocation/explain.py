"""Why each pair got its serving probability: the plan read back through its prices.

At an optimum of the allocation LP every pair's fate follows from prices (the KKT conditions).
Score each pair by what serving it once earns at the solver's prices,

    score_p = a_p v_p                               the user's value,
            + a_p p_p nu_c                          the creator's next like, at the like's price,
            + a_p (mu_i - lam_i - rho_c - beta)     the item's floor bonus less its cap price
                                                    (and the creator-cap and budget prices),

and give each user a slot price sigma_u, the score its last slot went for. Then the plan serves a
pair (x = 1) whose score beats its user's slot price, skips it (x = 0) when the score falls short,
and shares a slot (0 < x < 1) only at a tie: `reduced_cost = score - slot_price` says which.

The slot price is read off the plan rather than taken from a solver: the dual solver prices users
only implicitly, and the LP's user duals need not be unique. For a user whose capacity binds it is
the mean score of the pairs it part-serves, or else the best score it turned down (never below 0);
a user with room to spare has slot price 0. With per-category caps, a category group that is full
on its own has its own (higher) slot price, found the same way.

An analyst asking "why did this item get this quota?" reads the item's prices and its pairs'
scores; `consistent` says whether the numbers add up to the solver's choices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocation.problem import AllocationProblem, Duals

# What happened to a pair, and why, in the words `fairshot explain` prints.
SERVED = "served: its score beats the user's slot price"
SHARED = "part-served: its score ties the user's slot price"
OUTBID = "not served: the user's slots went to higher scores"
NOT_WORTH = "not served: its score is below zero"
OFF_PRICE = "off-price: the solver's choice and these prices disagree"
SHORT = {SERVED: "served", SHARED: "part-served", OUTBID: "outbid", NOT_WORTH: "below zero", OFF_PRICE: "off-price"}


@dataclass(frozen=True)
class PairExplanation:
    """Per pair, in value units per unit of serving: the score's three terms, the slot price the
    pair faced, their difference and the verdict."""

    user_value: np.ndarray
    creator_value: np.ndarray
    item_price: np.ndarray
    score: np.ndarray
    slot_price: np.ndarray
    reduced_cost: np.ndarray
    reason: np.ndarray


def _sums(owner: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(owner, weights=weights, minlength=n).astype(float, copy=False)


def _slot_prices(score: np.ndarray, x: np.ndarray, owner: np.ndarray, cap: np.ndarray,
                 counted: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """(slot price, binding) per owner from the pairs `counted` towards it; x within `tol` of 0
    or 1 counts as 0 or 1."""
    n = cap.shape[0]
    load = _sums(owner, x, n)
    binding = np.isfinite(cap) & (load >= np.where(np.isfinite(cap), cap, 0.0) - tol * np.maximum(1.0, load))
    part = counted & (x > tol) & (x < 1.0 - tol)
    n_part = _sums(owner, part.astype(float), n)
    tie = np.divide(_sums(owner, np.where(part, score, 0.0), n), n_part, out=np.zeros(n), where=n_part > 0)
    turned_down = np.full(n, -np.inf)
    skipped = counted & (x <= tol)
    np.maximum.at(turned_down, owner[skipped], score[skipped])
    price = np.where(n_part > 0, tie, np.maximum(turned_down, 0.0))
    return np.where(binding, price, 0.0), binding


def explain_pairs(problem: AllocationProblem, x: np.ndarray, duals: Duals, *, x_tol: float = 1e-6,
                  value_tol: float = 1e-6) -> PairExplanation:
    """Each pair's score at `duals`, its slot price and the verdict on x (see the module's text).

    x within `x_tol` of 0 or 1 counts as 0 or 1, and scores within `value_tol` (relative to the
    largest score) as a tie. The exact LP's plans are explained at the defaults; the dual
    solver's, which are a ridge-smoothed optimum repaired to be feasible, at looser ones
    (`tolerances`)."""
    group, group_cap = problem.pair_groups() if problem.has_category_caps else (None, None)
    a = problem.pair_availability
    return explain_block(PairTerms.at(a * problem.pair_value, a, a * problem.pair_like, problem.pair_item,
                                      problem.item_creator[problem.pair_item], duals),
                         np.asarray(x, dtype=float), problem.pair_user, problem.user_capacity, group, group_cap,
                         x_tol=x_tol, value_tol=value_tol)


@dataclass(frozen=True)
class PairTerms:
    """A pair's score in its three terms at given duals; per pair, so any block of pairs has its own."""

    user_value: np.ndarray
    creator_value: np.ndarray
    item_price: np.ndarray

    @classmethod
    def at(cls, base: np.ndarray, a: np.ndarray, like: np.ndarray, item: np.ndarray, creator: np.ndarray,
           duals: Duals) -> PairTerms:
        """base = a v and like = a p, as the dual solver's kernel holds them."""
        return cls(base, like * duals.creator_likes[creator],
                   a * (duals.item_floor[item] - duals.item_cap[item] - duals.creator_cap[creator] - duals.budget))

    @property
    def score(self) -> np.ndarray:
        return self.user_value + self.creator_value + self.item_price


def explain_block(terms: PairTerms, x: np.ndarray, user: np.ndarray, capacity: np.ndarray,
                  group: np.ndarray | None = None, group_cap: np.ndarray | None = None, *, x_tol: float = 1e-6,
                  value_tol: float = 1e-6, score_scale: float | None = None) -> PairExplanation:
    """`explain_pairs` for a block of pairs holding all pairs of its users (slot prices are per
    user, and per category group inside a user). `score_scale` is the largest |score| over the
    whole plan, for a block to judge ties as the whole plan would (default: this block's)."""
    score = terms.score
    largest = float(np.abs(score).max(initial=0.0)) if score_scale is None else score_scale
    scale = value_tol * max(1.0, largest)
    every = np.ones(x.size, dtype=bool)
    if group is not None and group_cap is not None:
        group_price, group_full = _slot_prices(score, x, group, group_cap, every, x_tol)
        in_full_group = group_full[group]
        user_price, _ = _slot_prices(score, x, user, capacity, ~in_full_group, x_tol)
        slot_price = np.where(in_full_group, np.maximum(group_price[group], user_price[user]), user_price[user])
    else:
        user_price, _ = _slot_prices(score, x, user, capacity, every, x_tol)
        slot_price = user_price[user]

    reduced_cost = score - slot_price
    served, skipped = x >= 1.0 - x_tol, x <= x_tol
    reason = np.select(
        [served & (reduced_cost >= -scale), skipped & (reduced_cost <= scale) & (score <= scale),
         skipped & (reduced_cost <= scale), ~served & ~skipped & (np.abs(reduced_cost) <= scale)],
        [SERVED, NOT_WORTH, OUTBID, SHARED], default=OFF_PRICE)
    return PairExplanation(terms.user_value, terms.creator_value, terms.item_price, score, slot_price, reduced_cost,
                           reason)


def tolerances(solver: str) -> dict[str, float]:
    """`explain_pairs`' tolerances for a plan from `solver` (AllocationResult.solver)."""
    return {} if solver.startswith("exact") else {"x_tol": 1e-3, "value_tol": 1e-2}


def consistent(explanation: PairExplanation) -> np.ndarray:
    """Per pair: do the prices reproduce the solver's choice? (False only for OFF_PRICE.)"""
    return explanation.reason != OFF_PRICE


def binding_limit(quota: np.ndarray, cap: np.ndarray, floor: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Per item, the limit its quota sits on: 'cap', 'floor' (at or below a positive floor) or
    'neither' (its pairs' scores set it). The view item_explanations says the same in SQL."""
    quota, cap, floor = (np.asarray(v, dtype=float) for v in (quota, cap, floor))
    at_cap = quota >= cap - tol * np.maximum(1.0, cap)
    at_floor = (floor > 0) & (quota <= floor + tol * np.maximum(1.0, floor))
    return np.where(at_cap, "cap", np.where(at_floor, "floor", "neither"))
