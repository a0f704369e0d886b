"""Config: conf/base.yaml, an overlay per environment, then `--set key.path=value` overrides.

base.yaml is the schema: an overlay may only set keys it has, to values of the same type, so a
typo fails at start-up instead of silently doing nothing. The effective config is hashed; the hash
goes into every run record, so two runs with the same hash and inputs must agree. Only what can
change an output is hashed: where the tables live, how Spark runs and where reports go are left
out, so a moved warehouse or a cluster run names the same runs as the laptop.
"""
from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jobs.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
# Keys that say where things live or how they run, never what is computed: left out of the hash.
PLACEMENT_KEYS = ("spark", "storage", "report", "source.path")

_positive = (lambda v: v > 0, "must be > 0")
_non_negative = (lambda v: v >= 0, "must be >= 0")
_share = (lambda v: 0 <= v <= 1, "must be in [0, 1]")
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "spark.shuffle_partitions": _positive,
    "spark.adaptive_execution": (lambda v: v in ("auto", "enabled", "disabled"),
                                 "must be one of auto, enabled, disabled"),
    "storage.engine": (lambda v: v in ("auto", "delta-rs", "delta-spark"),
                       "must be one of auto, delta-rs, delta-spark"),
    "source.kind": (lambda v: v in ("synthetic", "kuairand", "csv"), "must be one of synthetic, kuairand, csv"),
    "source.csv.time_unit": (lambda v: v in ("auto", "s", "ms", "us", "iso"), "must be one of auto, s, ms, us, iso"),
    "source.max_rejected_share": _share,
    "sample.n_users": _positive, "sample.n_creators": _positive, "sample.n_categories": _positive,
    "sample.n_days": _positive, "sample.items_per_creator_day": _positive,
    "sample.live_share": _share, "sample.new_creator_share": _share,
    "sample.zipf_exponent": _positive, "sample.requests_per_active_day": _positive,
    "features.lookback_days": _positive, "features.new_item_days": _positive,
    "features.new_creator_days": _positive, "features.availability_prior_days": _positive,
    "features.availability_half_life_days": _positive, "features.slot_share": _share,
    "features.max_slots": _positive, "features.like_prior_strength": _positive,
    "features.affinity_prior_strength": _positive, "features.availability_training_days": _positive,
    "features.availability_min_history_days": _positive, "features.availability_reg_param": _non_negative,
    "candidates.users_per_item": _positive, "candidates.min_p_active": _share,
    "candidates.retriever": (lambda v: v in ("als", "category_affinity"), "must be one of als, category_affinity"),
    "candidates.wide_share": _share, "candidates.wide_pool_factor": _positive, "candidates.als_rank": _positive,
    "candidates.als_iterations": _positive, "candidates.als_reg_param": _non_negative,
    "candidates.als_alpha": _positive, "candidates.optimism_z": _non_negative,
    "candidates.ranker": (lambda v: v in ("heads", "heuristic"), "must be one of heads, heuristic"),
    "candidates.ranking_reg_param": _non_negative, "candidates.backtest_items": _non_negative,
    "allocation.solver": (lambda v: v in ("exact", "dual", "auto"), "must be one of exact, dual, auto"),
    "allocation.dual_above_pairs": _non_negative, "allocation.dual_gap_tolerance": _positive,
    "allocation.dual_max_iterations": _positive,
    "allocation.lp_backend": (lambda v: v in ("GLOP", "PDLP", "CLP", "HIGHS_LP"),
                              "must be one of GLOP, PDLP, CLP, HIGHS_LP"),
    "allocation.time_limit_seconds": _positive,
    "allocation.creator_weight": _non_negative,
    "allocation.happiness": (lambda v: v in ("log", "sqrt", "saturating"),
                             "must be one of log, sqrt, saturating"),
    "allocation.happiness_tau": _positive, "allocation.happiness_segments": _positive,
    "allocation.item_cap": _non_negative, "allocation.new_item_floor": _non_negative,
    "allocation.floor_penalty": _non_negative, "allocation.max_category_share": _share,
    "allocation.max_creator_share": _share, "allocation.budget_share": _share, "publish.tolerance": _non_negative,
    "storage.retain_superseded_hours": _non_negative,
    "simulation.days": _positive, "simulation.seeds": _positive, "simulation.creators_joining_per_day": _non_negative,
    "simulation.posting_lift_at_10_likes": _non_negative, "simulation.response_window_days": _positive,
    "simulation.quit_after_days": _positive, "simulation.quit_probability": _share,
    "simulation.user_value_elasticity": _non_negative, "simulation.feed_temperature": _positive,
    "simulation.feed_popularity_weight": _non_negative,
    "simulation.feed_interest_weight": _non_negative, "simulation.feed_freshness_days": _positive,
    "simulation.feed_engagement_prior": _positive,
    "simulation.nightly_steps": (lambda v: list(v)[:1] == ["ingest"] and set(v) <= {
        "ingest", "features", "candidates", "allocate", "publish"} and "publish" in v,
        "must start with ingest, end up publishing, and name only ingest, features, candidates, allocate, publish"),
    "evaluation.reach_threshold": _positive, "evaluation.calibration_bins": _positive,
    "evaluation.creator_weights": (lambda v: all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0
                                                 for w in v), "must be a list of numbers >= 0"),
}


@dataclass(frozen=True)
class Config:
    """The effective, validated config. Read with `config["allocation"]["creator_weight"]` or
    `config.get("allocation.creator_weight")`."""

    values: Mapping[str, Any]
    env: str

    def __getitem__(self, section: str) -> Any:
        return self.values[section]

    def get(self, dotted: str) -> Any:
        node: Any = self.values
        for part in dotted.split("."):
            node = node[part]
        return node

    @property
    def hash(self) -> str:
        """What the outputs depend on: every key except the PLACEMENT_KEYS."""
        values = copy.deepcopy(dict(self.values))
        for dotted in PLACEMENT_KEYS:
            *parents, leaf = dotted.split(".")
            node = values
            for part in parents:
                node = node.get(part, {})
            node.pop(leaf, None)
        canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def with_overrides(self, overrides: Iterable[str]) -> Config:
        values = copy.deepcopy(dict(self.values))
        for item in overrides:
            key, value = _parse_override(item)
            _assign(values, key, value, origin="--set")
        _validate(values)
        return Config(values, self.env)


def load_config(env: str = "local", overrides: Iterable[str] = (), conf_dir: Path = CONF_DIR) -> Config:
    base_path = conf_dir / "base.yaml"
    values = _read_yaml(base_path)
    overlay_path = conf_dir / f"{env}.yaml"
    if not overlay_path.exists():
        known = sorted(p.stem for p in conf_dir.glob("*.yaml") if p.stem != "base")
        raise ConfigError(f"no overlay for environment {env!r}: {overlay_path} missing (known: {known})")
    for key, value in _flatten(_read_yaml(overlay_path)):
        _assign(values, key, value, origin=overlay_path.name)
    # Source defaults (its day zone, what 'new' means in its catalogue) sit between the environment
    # and the command line, so `--set source.kind=kuairand` brings them and `--set` still wins.
    overrides = list(overrides)
    kind = next((_parse_override(o)[1] for o in reversed(overrides) if o.split("=", 1)[0].strip() == "source.kind"),
                values["source"]["kind"])
    source_path = conf_dir / f"source_{kind}.yaml"
    if source_path.exists():
        for key, value in _flatten(_read_yaml(source_path)):
            _assign(values, key, value, origin=source_path.name)
    config = Config(values, env)
    _validate(values)
    return config.with_overrides(overrides)


def _read_yaml(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        loaded = yaml.safe_load(handle) or {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return loaded


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            pairs.extend(_flatten(value, dotted + "."))
        else:
            pairs.append((dotted, value))
    return pairs


def _parse_override(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.path=value")
    key, raw = item.split("=", 1)
    return key.strip(), yaml.safe_load(raw) if raw.strip() else ""


def _assign(values: dict[str, Any], dotted: str, value: Any, origin: str) -> None:
    node = values
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[:depth]) or "the top level"
            options = sorted(node) if isinstance(node, dict) else []
            raise ConfigError(f"{origin}: unknown config key {dotted!r} ({part!r} is not under {where}; "
                              f"known: {options})")
        if depth < len(parts) - 1:
            node = node[part]
    current = node[parts[-1]]
    if isinstance(current, dict):
        raise ConfigError(f"{origin}: {dotted!r} is a section; set one of its keys {sorted(current)}")
    node[parts[-1]] = _coerce(dotted, current, value, origin)


def _coerce(dotted: str, current: Any, value: Any, origin: str) -> Any:
    """Keep the default's type. YAML reads `2026-04-14` as a date, so strings accept any scalar."""
    if isinstance(current, bool):
        ok = isinstance(value, bool)
    elif isinstance(current, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and (isinstance(current, float) or isinstance(value, int))
        value = type(current)(value) if ok else value
    elif isinstance(current, str):
        ok = not isinstance(value, (dict, list))
        value = str(value) if ok else value
    else:
        ok = type(value) is type(current)
    if not ok:
        raise ConfigError(f"{origin}: {dotted!r} must be of type {type(current).__name__} "
                          f"(like its default {current!r}), got {value!r}")
    return value


def _validate(values: Mapping[str, Any]) -> None:
    flat = dict(_flatten(values))
    for key, (check, rule) in RULES.items():
        if not check(flat[key]):
            raise ConfigError(f"config {key!r} {rule}, got {flat[key]!r}")
    weights = values["allocation"]["value_weights"]
    if weights["skip"] > 0:
        raise ConfigError("config 'allocation.value_weights.skip' must be <= 0: a skip is negative feedback")
