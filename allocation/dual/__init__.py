"""The dual-decomposition solver: the allocation LP at scale, in the style of LinkedIn's DuaLip.

The exact LP builds one OR-Tools variable per pair, which stops scaling long before production
sizes. Here only the coupling constraints are dualised (item caps lambda, item floors mu, the
creator-likes definition nu, and the optional creator exposure caps rho and global budget beta,
which read exposure only and so fold into each item's price); everything per user stays local,
including the optional per-user category caps, which nest inside the user's capacity. With a small ridge gamma on x and
on the happiness segments y, the dual function g is smooth and its maximisers are closed-form:
- per user: x = clip(c/gamma - tau_u, 0, 1) with tau_u >= 0 the smallest threshold keeping
  sum x <= k_u (a projection onto the capped box, solved for all users at once by safeguarded
  Newton steps on their thresholds; with category caps, max(tau_u, s_g) after a first search for
  each group's own s_g);
- per creator: y = clip((w s - nu)/gamma, 0, width), i.e. each happiness segment is bought while
  its slope beats the price of a like.
Each dual step is a handful of vectorised passes over the pair arrays plus per-item and per-creator
sums (np.bincount), never a Python loop over users or pairs. Duals move by accelerated projected
gradient (FISTA) with backtracking and adaptive restarts; gamma shrinks in stages (continuation).

Certificates are for the unregularised chord LP the exact solver solves: any dual point gives the
upper bound sum_u [k_u t_u + sum_p max(c_p - t_u, 0)] + sum_ck width max(w s - nu, 0)
+ lambda.cap - mu.floor (+ rho.creator_cap + beta budget; LP duality of the capped box, valid for
every t_u >= 0), and the returned primal is the regularised maximiser repaired to be strictly
feasible (scaled down per category group and user, then per capped item, creator and budget) and
then refilled: where that left a user's room idle, the pairs worth showing for themselves take it,
best score first, in the share each item's, creator's and the budget's room allows (the duals' ties
often fall on full items, and the exact optimum fills that room). The relative gap between the two
is the stopping rule.

The pieces, one module each, named as in the DuaLip paper:

- `projection`: the per-user projection onto the capped box (and nested category caps);
- `sides`: the item and creator side, the coupling rows whose prices are the duals;
- `pairs`: where the pairs are (`PairSide`: `LocalPairs` here, `jobs.steps.allocate.dual_on_spark.SparkPairs` on
  executors) and the numpy kernel both run over a block of pairs;
- `bound`: the Lagrangian bound over the users' boxes and the pricing behind the working set;
- `objective`: the smoothed dual function, its gradient and the certificate of a check;
- `optimizer`: `DualSolver` and the accelerated gradient ascent with continuation.
"""
from __future__ import annotations

from allocation.dual.arrays import sum_by
from allocation.dual.bound import UserPricing, capped_box_bound
from allocation.dual.objective import Check, DualObjective
from allocation.dual.optimizer import DualOutcome, DualSolver, iterate
from allocation.dual.pairs import (
                                   Certificate,
                                   LocalPairs,
                                   PairArrays,
                                   PairSide,
                                   PairSums,
                                   pair_scores,
                                   plan_sums,
                                   plan_totals,
                                   refill_kinds,
                                   refill_want,
                                   refill_worth,
)
from allocation.dual.projection import (
    fill_rooms,
    project_capped_box,
    project_nested,
    scale_to_capacity,
    user_excess,
)
from allocation.dual.sides import Sides, all_fitted, cap_shrink
from allocation.problem import Duals

__all__ = [
    "Certificate", "Check", "DualObjective", "DualOutcome", "DualSolver", "Duals", "LocalPairs", "PairArrays",
    "PairSide", "PairSums", "Sides", "UserPricing", "all_fitted", "cap_shrink", "capped_box_bound", "fill_rooms", "iterate", "pair_scores",
    "plan_sums", "plan_totals", "project_capped_box", "project_nested", "refill_kinds", "refill_want", "refill_worth", "scale_to_capacity", "sum_by", "user_excess",
]
