"""Config: conf/base.yaml, an overlay per environment, then `--set key.path=value` overrides.

base.yaml holds every key with its default and `Settings` (pydantic) is the schema: types, ranges
and choices, checked once the layers are merged, so a typo or a bad value fails at start-up
instead of silently doing nothing. The effective config is hashed; the hash goes into every run
record, so two runs with the same hash and inputs must agree. Only what can change an output is
hashed: where the tables live, how Spark runs and where reports go are left out, so a moved
warehouse or a cluster run names the same runs as the laptop.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from jobs.config_schema import Settings
from jobs.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
# Keys that say where things live or how they run, never what is computed: left out of the hash.
PLACEMENT_KEYS = ("spark", "storage", "report", "source.path")


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-9` (no dot) as a string, so `--set allocation.dual_gap_tolerance=1e-9`
    was refused as 'not a float'; this loader also reads YAML 1.2's exponent floats as floats."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


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
        return Config(_validate(values), self.env)


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
    return Config(_validate(values), env).with_overrides(overrides)


def _read_yaml(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        loaded = yaml.load(handle, Loader=_Loader) or {}
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
    return key.strip(), yaml.load(raw, Loader=_Loader) if raw.strip() else ""


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
    node[parts[-1]] = value


def _validate(values: dict[str, Any]) -> dict[str, Any]:
    """The merged layers checked against `Settings`; returns them with declared types applied
    (an int given for a float is that float). The first broken rule is named with its key."""
    try:
        return Settings.model_validate(values).model_dump()
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"] if not isinstance(part, int))
        got = "" if first["type"] == "missing" else f", got {first['input']!r}"
        raise ConfigError(f"config {key!r} {_rule(first)}{got}") from None


def _rule(error: Mapping[str, Any]) -> str:
    """pydantic's error as the rule a person reads: must be >= 0, must be one of a, b, ..."""
    kind, ctx = error["type"], error.get("ctx", {})
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {limit}"
    if kind == "literal_error":
        return "must be one of " + ctx["expected"].replace("'", "").replace(" or ", ", ")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"must be of type {kind.split('_')[0].replace('string', 'str')}"
    if kind == "extra_forbidden":
        return "is not a key of the schema (jobs/config_schema.py)"
    if kind == "missing":
        return "is missing: every key of the schema (jobs/config_schema.py) needs its default in conf/base.yaml"
    return error["msg"].removeprefix("Value error, ")
