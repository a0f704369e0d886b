"""Column-contract helpers shared by the transformations."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from features.errors import MissingColumnsError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def require_columns(df: DataFrame, table: str, columns: Iterable[str]) -> DataFrame:
    """Fail early, naming the table, when a transformation's input lacks columns it reads."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise MissingColumnsError(table, missing)
    return df
