"""The allocation problem and its result: flat arrays in, flat arrays out.

Everything the optimiser needs is one frozen `AllocationProblem` of numpy arrays indexed by pair,
user, item and creator position, so that the exact LP and later solvers share one input and can be
checked against each other. Ids never enter this package; `jobs` maps them to positions and back.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from allocation.errors import InvalidProblemError
from allocation.happiness import HappinessCurve


class Status(enum.StrEnum):
    OPTIMAL = "optimal"
    CONVERGED = "converged"
    MAX_ITER = "max_iter"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    FAILED = "failed"


def _as_float(name: str, values: np.ndarray, length: int | None = None) -> np.ndarray:
    array = np.ascontiguousarray(values, dtype=float)
    if array.ndim != 1:
        raise InvalidProblemError(f"{name} must be one-dimensional, got shape {array.shape}")
    if length is not None and array.shape[0] != length:
        raise InvalidProblemError(f"{name} has {array.shape[0]} entries, expected {length}")
    if not np.all(np.isfinite(array)):
        raise InvalidProblemError(f"{name} has non-finite values")
    return array


def _as_index(name: str, values: np.ndarray, upper: int, length: int | None = None) -> np.ndarray:
    array = np.ascontiguousarray(values, dtype=np.int64)
    if array.ndim != 1 or (length is not None and array.shape[0] != length):
        raise InvalidProblemError(f"{name} must be one-dimensional with {length} entries")
    if array.size and (array.min() < 0 or array.max() >= upper):
        raise InvalidProblemError(f"{name} has positions outside [0, {upper})")
    return array


def _as_cap(name: str, values: object, length: int) -> np.ndarray:
    """An upper limit per row: finite or +inf (no limit), never negative or NaN."""
    array = np.ascontiguousarray(np.broadcast_to(np.asarray(values, dtype=float), (length,)))
    if np.isnan(array).any() or (array.size and array.min() < 0):
        raise InvalidProblemError(f"{name} must be >= 0 (inf for no limit) and not NaN")
    return array


def nested_groups(owner: np.ndarray, category: np.ndarray, pair_cap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Groups for diversity caps: one owner's (user's) pairs of one category. Returns (group of each
    pair, cap of each group), where `pair_cap` is the cap on each pair's row (its user's)."""
    keys, group = np.unique(owner * (int(category.max(initial=0)) + 1) + category, return_inverse=True)
    group_cap = np.zeros(keys.size)
    group_cap[group] = pair_cap
    return group.astype(np.int64).reshape(-1), group_cap


def _require_range(name: str, array: np.ndarray, low: float, high: float = np.inf) -> None:
    if array.size and (array.min() < low or array.max() > high):
        raise InvalidProblemError(
            f"{name} must lie in [{low}, {high}], got [{array.min():.6g}, {array.max():.6g}]"
        )


@dataclass(frozen=True)
class AllocationProblem:
    """maximise sum a_u v_p x_p + weight * sum_c [H(L0_c + likes_c) - H(L0_c)] - penalty * sum_i s_i.

    Pairs p = (user, item) carry value v_p and like probability p_p; users carry availability a_u
    and slot capacity k_u; items carry their creator, an exposure cap and a soft exploration floor.
    `segment_width`/`segment_slope` (creators x K) are H's chords; build them with `from_arrays`.
    `pair_availability` (default a_u of the pair's user) is the chance the user is there for this
    item: lower than a_u for a live stream that airs outside the user's usual hours.

    The optional constraints of docs/DESIGN.md (each +inf, i.e. off, by default):
    - diversity: sum of x over one user's items of one category <= `user_category_cap[u]`
      (`item_category` gives each item's category position);
    - creator share: sum of expected exposure over a creator's items <= `creator_cap[c]`;
    - budget: total expected exposure <= `exposure_budget`.
    """

    pair_user: np.ndarray
    pair_item: np.ndarray
    pair_value: np.ndarray
    pair_like: np.ndarray
    user_availability: np.ndarray
    user_capacity: np.ndarray
    item_creator: np.ndarray
    item_cap: np.ndarray
    item_floor: np.ndarray
    creator_base_likes: np.ndarray
    segment_width: np.ndarray
    segment_slope: np.ndarray
    creator_weight: float
    floor_penalty: float
    curve: HappinessCurve = field(default_factory=HappinessCurve)
    pair_availability: np.ndarray | None = None
    item_category: np.ndarray | None = None
    user_category_cap: np.ndarray | None = None
    creator_cap: np.ndarray | None = None
    exposure_budget: float = np.inf

    def __post_init__(self) -> None:
        n_users = np.asarray(self.user_availability).shape[0]
        n_items = np.asarray(self.item_creator).shape[0]
        n_creators = np.asarray(self.creator_base_likes).shape[0]
        n_pairs = np.asarray(self.pair_user).shape[0]
        set_ = object.__setattr__
        set_(self, "pair_user", _as_index("pair_user", self.pair_user, n_users))
        set_(self, "pair_item", _as_index("pair_item", self.pair_item, n_items, n_pairs))
        for name, length in (("pair_value", n_pairs), ("pair_like", n_pairs),
                             ("user_availability", n_users), ("user_capacity", n_users),
                             ("item_cap", n_items), ("item_floor", n_items),
                             ("creator_base_likes", n_creators)):
            set_(self, name, _as_float(name, getattr(self, name), length))
        set_(self, "item_creator", _as_index("item_creator", self.item_creator, n_creators))
        if self.pair_availability is None:
            set_(self, "pair_availability", self.user_availability[self.pair_user])
        set_(self, "pair_availability", _as_float("pair_availability", self.pair_availability, n_pairs))
        _require_range("pair_availability", self.pair_availability, 0.0, 1.0)
        _require_range("pair_like", self.pair_like, 0.0, 1.0)
        _require_range("user_availability", self.user_availability, 0.0, 1.0)
        _require_range("user_capacity", self.user_capacity, 0.0)
        _require_range("item_cap", self.item_cap, 0.0)
        _require_range("item_floor", self.item_floor, 0.0)
        _require_range("creator_base_likes", self.creator_base_likes, 0.0)
        if not (np.isfinite(self.creator_weight) and self.creator_weight >= 0):
            raise InvalidProblemError(f"creator_weight must be >= 0, got {self.creator_weight}")
        if not (np.isfinite(self.floor_penalty) and self.floor_penalty >= 0):
            raise InvalidProblemError(f"floor_penalty must be >= 0, got {self.floor_penalty}")
        width = np.asarray(self.segment_width, dtype=float)
        slope = np.asarray(self.segment_slope, dtype=float)
        if width.ndim != 2 or width.shape != slope.shape or width.shape[0] != n_creators:
            raise InvalidProblemError(
                f"segment_width/segment_slope must both be (creators={n_creators}, K), "
                f"got {width.shape} and {slope.shape}")
        if not (np.all(np.isfinite(width)) and np.all(np.isfinite(slope))):
            raise InvalidProblemError("segment_width/segment_slope have non-finite values")
        if width.size and (width.min() < 0 or slope.min() < 0):
            raise InvalidProblemError("segment widths and slopes must be >= 0 (H increasing)")
        if np.any(np.diff(slope, axis=1) > 1e-12):
            raise InvalidProblemError("segment slopes must be non-increasing: H must be concave")
        set_(self, "segment_width", width)
        set_(self, "segment_slope", slope)
        set_(self, "user_category_cap", _as_cap("user_category_cap", np.inf if self.user_category_cap is None
                                                else self.user_category_cap, n_users))
        if self.item_category is None:
            if np.isfinite(self.user_category_cap).any():
                raise InvalidProblemError("user_category_cap needs item_category")
            set_(self, "item_category", np.zeros(n_items, dtype=np.int64))
        category = np.asarray(self.item_category)
        set_(self, "item_category", _as_index("item_category", category, int(category.max(initial=0)) + 1, n_items))
        set_(self, "creator_cap", _as_cap("creator_cap", np.inf if self.creator_cap is None else self.creator_cap,
                                          n_creators))
        budget = float(self.exposure_budget)
        if np.isnan(budget) or budget < 0:
            raise InvalidProblemError(f"exposure_budget must be >= 0 (inf for none), got {budget}")
        set_(self, "exposure_budget", budget)

    @classmethod
    def from_arrays(cls, *, curve: HappinessCurve, **arrays: object) -> AllocationProblem:
        """Build H's segments from the data: each creator's curve spans L0 .. L0 + the most likes
        its items could earn if every candidate pair were served."""
        pair_user = np.asarray(arrays["pair_user"], dtype=np.int64)
        pair_item = np.asarray(arrays["pair_item"], dtype=np.int64)
        item_creator = np.asarray(arrays["item_creator"], dtype=np.int64)
        base = np.asarray(arrays["creator_base_likes"], dtype=float)
        availability = np.asarray(arrays["user_availability"], dtype=float)
        like = np.asarray(arrays["pair_like"], dtype=float)
        if pair_user.size and (pair_user.max() >= availability.size or pair_item.max() >= item_creator.size):
            raise InvalidProblemError("pair_user/pair_item have positions outside their tables")
        given = arrays.get("pair_availability")
        pair_availability = availability[pair_user] if given is None else np.asarray(given, dtype=float)
        if pair_availability.shape != like.shape:
            raise InvalidProblemError("pair_availability must have one entry per pair")
        max_extra = np.bincount(item_creator[pair_item], weights=pair_availability * like, minlength=base.size)
        width, slope = curve.segments(base, max_extra)
        return cls(segment_width=width, segment_slope=slope, curve=curve, **arrays)  # type: ignore[arg-type]

    @property
    def n_pairs(self) -> int:
        return int(self.pair_user.shape[0])

    @property
    def n_users(self) -> int:
        return int(self.user_availability.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_creator.shape[0])

    @property
    def n_creators(self) -> int:
        return int(self.creator_base_likes.shape[0])

    @property
    def has_category_caps(self) -> bool:
        return bool(np.isfinite(self.user_category_cap).any())

    def pair_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """(group of each pair, cap of each group) for the diversity caps: a group is one user's
        candidates of one category, so every group lies inside one user."""
        return nested_groups(self.pair_user, self.item_category[self.pair_item],
                             self.user_category_cap[self.pair_user])

    def pair_expected_exposure(self, x: np.ndarray) -> np.ndarray:
        return self.pair_availability * x

    def item_exposure(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(self.pair_item, weights=self.pair_expected_exposure(x), minlength=self.n_items)

    def creator_new_likes(self, x: np.ndarray) -> np.ndarray:
        likes = self.pair_expected_exposure(x) * self.pair_like
        return np.bincount(self.item_creator[self.pair_item], weights=likes, minlength=self.n_creators)

    def creator_exposure(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(self.item_creator, weights=self.item_exposure(x), minlength=self.n_creators)

    def max_violation(self, x: np.ndarray) -> float:
        """The worst excess over any hard constraint (capacities, caps, diversity, budget)."""
        exposure = self.item_exposure(x)
        excess = [np.bincount(self.pair_user, weights=x, minlength=self.n_users) - self.user_capacity,
                  exposure - self.item_cap, self.creator_exposure(x) - self.creator_cap,
                  np.array([exposure.sum() - self.exposure_budget])]
        if self.has_category_caps:
            group, cap = self.pair_groups()
            excess.append(np.bincount(group, weights=x, minlength=cap.size) - cap)
        return float(max(np.max(e, initial=0.0) for e in excess))

    def objective(self, x: np.ndarray) -> float:
        """The true objective (exact H, not its chords) of a plan x."""
        user_value = float(np.dot(self.pair_expected_exposure(x), self.pair_value))
        gain = self.curve.value(self.creator_base_likes + self.creator_new_likes(x)) - self.curve.value(
            self.creator_base_likes)
        shortfall = np.maximum(self.item_floor - self.item_exposure(x), 0.0)
        return user_value + self.creator_weight * float(gain.sum()) - self.floor_penalty * float(shortfall.sum())


@dataclass(frozen=True)
class Duals:
    """Prices of the dualised constraints: item caps (lam >= 0), item floors (0 <= mu <= penalty),
    the creators' likes (nu >= 0), the creators' exposure caps (rho >= 0) and the global exposure
    budget (beta >= 0). Both solvers return them (the exact LP's are its row duals, signs made
    alike): stored with a run, they warm-start the next day's dual solve and explain the plan
    (allocation/explain.py)."""

    item_cap: np.ndarray
    item_floor: np.ndarray
    creator_likes: np.ndarray
    creator_cap: np.ndarray
    budget: float

    @classmethod
    def zeros(cls, n_items: int, n_creators: int) -> Duals:
        return cls(np.zeros(n_items), np.zeros(n_items), np.zeros(n_creators), np.zeros(n_creators), 0.0)


@dataclass(frozen=True)
class TracePoint:
    """One step of a solver's convergence: its primal objective, dual bound and their gap so far."""

    iteration: int
    seconds: float
    objective: float
    bound: float
    gap: float
    max_violation: float


@dataclass(frozen=True)
class AllocationResult:
    """A solved plan with its certificates. `objective` is the LP's (chord) objective and `bound` an
    upper bound on it; `true_objective` re-scores x with the exact concave H."""

    x: np.ndarray
    item_exposure: np.ndarray
    item_floor_slack: np.ndarray
    item_shadow_price: np.ndarray
    creator_new_likes: np.ndarray
    creator_happiness_gain: np.ndarray
    creator_marginal_value: np.ndarray
    status: Status
    solver: str
    objective: float
    bound: float
    true_objective: float
    iterations: int
    seconds: float
    log: tuple[str, ...] = ()
    trace: tuple[TracePoint, ...] = ()
    duals: Duals | None = None    # the solver's prices: warm starts and explanations

    @property
    def gap(self) -> float:
        return abs(self.bound - self.objective) / max(1.0, abs(self.bound))
