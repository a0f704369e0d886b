"""Tables as Spark SQL views, for analysts and the feed's read contract in sql/."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from jobs.config import Config
from jobs.errors import QueryError
from jobs.warehouse import io, storage
from jobs.warehouse.tables import REGISTRY

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


def view_name(key: str) -> str:
    return key.replace(".", "_")


def register_views(spark: SparkSession, config: Config) -> list[str]:
    """Each table as a temp view `<layer>_<name>` (current version), then the views in sql/views.sql."""
    for key in REGISTRY:
        io.read_table(spark, config, key).createOrReplaceTempView(view_name(key))
    for statement in statements((SQL_DIR / "views.sql").read_text()):
        spark.sql(statement)
    return sorted(view_name(key) for key in REGISTRY)


def statements(text: str) -> list[str]:
    """The statements of a SQL text, split at the `;` outside strings and comments; comments out."""
    found, current = [], []
    for token in _SPLIT.finditer(text):
        piece = token.group(0)
        if piece.startswith("--") or piece.startswith("/*"):
            current.append(" ")
        elif piece == ";":
            found.append("".join(current))
            current = []
        else:
            current.append(piece)
    found.append("".join(current))
    return [statement.strip() for statement in found if statement.strip()]


def read_statements(path: str) -> list[str]:
    """The statements of a SQL file; a file with none is a QueryError naming it."""
    found = statements(Path(path).read_text())
    if not found:
        raise QueryError(f"{path} holds no SQL statement")
    return found


def run_sql_file(spark: SparkSession, config: Config, path: str, params: dict[str, str]) -> DataFrame:
    """Run the statements of a SQL file (named parameters like :ds); returns the last result."""
    register_views(spark, config)
    result = None
    for statement in read_statements(path):
        result = spark.sql(bind_parameters(statement, params, path))
    return result


# A quoted string or identifier (backslash or doubled-quote escapes) or a comment: SQL text in
# which neither a `;` nor a `:name` means anything.
_QUOTED_OR_COMMENT = r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|--[^\n]*|/\*.*?\*/"
# ... or a named parameter (`:ds`, not the `::` of a cast).
_TOKENS = re.compile(_QUOTED_OR_COMMENT + r"|(?<![:\w]):([A-Za-z_]\w*)", re.DOTALL)
# ... or a statement's end, or any run of other characters.
_SPLIT = re.compile(_QUOTED_OR_COMMENT + r"|;|[^'\"`;/-]+|.", re.DOTALL)


def bind_parameters(statement: str, params: dict[str, object], source: str = "the statement", *,
                    dialect: str = "spark") -> str:
    """Replace each named parameter `:name` outside strings and comments by a SQL literal.

    Spark binds `:name` itself (`spark.sql(..., args=)`), but not with Delta's SQL extension
    loaded: Delta 4.4's parser drops the parameters of Spark 4.2 (UNBOUND_SQL_PARAMETER), and the
    extension is what Spark's Delta writer needs. One binding for both engines keeps a SQL file's
    parameters the same text for `fairshot sql` and `fairshot query`; only a string's quote
    escaping differs (Spark: backslash; DuckDB, standard SQL: doubled quote). A missing parameter
    is named, not a stack trace."""
    missing: list[str] = []

    def literal(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if name not in params:
            missing.append(name)
            return match.group(0)
        value = params[name]
        if isinstance(value, bool) or value is None:
            return {True: "TRUE", False: "FALSE", None: "NULL"}[value]
        if isinstance(value, (int, float)):
            return repr(value)
        if dialect == "duckdb":
            return "'" + str(value).replace("'", "''") + "'"
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    bound = _TOKENS.sub(literal, statement)
    if missing:
        raise QueryError(f"{source}: parameter(s) {', '.join(':' + m for m in sorted(set(missing)))} not given "
                         "(--ds binds :ds, --param NAME=VALUE any other)")
    return bound


def describe_tables(config: Config) -> list[dict[str, object]]:
    """Every table with its path, Delta version and rows per partition (from the Delta log, no scan)."""
    from deltalake import DeltaTable

    rows = []
    for key in REGISTRY:
        uri = io.table_uri(config, key)
        if not DeltaTable.is_deltatable(uri):
            rows.append({"table": key, "path": uri, "version": None, "rows": 0, "partitions": 0})
            continue
        delta = DeltaTable(uri)
        actions = pa.table(delta.get_add_actions(flatten=True)).to_pydict()
        rows.append({"table": key, "path": uri, "version": delta.version(),
                     "rows": int(sum(n or 0 for n in actions["num_records"])),
                     "partitions": len(set(actions["partition.ds"]))})
    return rows


def relative(path: str) -> str:
    """A local path relative to here (shorter to read); an object-store URI as it is."""
    if storage.is_object_store(path):
        return path
    try:
        return os.path.relpath(path)
    except ValueError:
        return path
