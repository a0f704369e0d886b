"""Content digests of one day of a warehouse: what the nightly job decided, without its wall clock.

Two warehouses that should hold the same plan (local mode and a cluster, Spark's Delta writer and
delta-rs, the code before and after a refactor or an upgrade) are compared table by table in one
line each, without moving the tables anywhere: `fairshot fingerprint --ds D --warehouse W`.
The tests keep a digest file of the tiny world (tests/golden/) for the same reason.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from jobs.config import Config
from jobs.warehouse import io
from jobs.warehouse.tables import REGISTRY

VOLATILE = frozenset({"seconds", "finished_at", "published_at", "superseded_at", "gold_versions", "solve_seconds",
                      "report_path", "code_version"})
"""Columns that differ between any two runs of the same inputs: wall-clock figures, where a file
was written, and the code version (which gains '-dirty' when a file is edited between two runs)."""

SKIPPED = frozenset({"audit.step_timings"})
"""Tables that record how long, not what."""


def canonical(frame: pd.DataFrame, decimals: int = 9) -> pd.DataFrame:
    """Volatile columns out, arrays as tuples (sortable), floats rounded, rows in one order."""
    frame = frame.drop(columns=[c for c in frame.columns if c in VOLATILE])
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object and values.map(lambda v: isinstance(v, (list, np.ndarray))).any():
            frame[column] = values.map(lambda v: None if v is None else
                                       tuple(np.round(np.asarray(v, float), decimals)))
        elif values.dtype.kind == "f":
            frame[column] = values.astype("float64").round(decimals)
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def digest(frame: pd.DataFrame, decimals: int = 6) -> str:
    """A short hash of the frame's canonical content. Six decimals by default: far above the last
    bits that summation order or a CPU's vector width can change, far below any decision."""
    text = canonical(frame, decimals).to_csv(index=False, float_format=f"%.{decimals}f")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def table_digests(config: Config, ds: str) -> dict[str, tuple[int, str]]:
    """{table key: (rows of day ds, digest)} for every Delta table that has day ds."""
    from deltalake import DeltaTable

    found: dict[str, tuple[int, str]] = {}
    for key in REGISTRY:
        uri = io.table_uri(config, key)
        if key in SKIPPED or not DeltaTable.is_deltatable(uri):
            continue
        table = DeltaTable(uri)
        partitions = [("ds", "=", ds)] if "ds" in table.metadata().partition_columns else None
        frame = table.to_pandas(partitions=partitions)
        if partitions is None:
            if "ds" not in frame.columns:       # not a table of days
                continue
            frame = frame[frame["ds"] == ds]
        if len(frame):
            found[key] = (len(frame), digest(frame))
    return found
