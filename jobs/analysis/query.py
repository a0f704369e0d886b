"""`fairshot query`: the project's SQL over the Delta tables in seconds, without Spark.

An analyst's eight-row question should not wait for a JVM. Each table's current version is opened
by delta-rs as an Arrow dataset (only the files of that version; DuckDB pushes filters such as
`ds = ...` down to the partition folders) and registered in an in-process DuckDB under the same
name `fairshot sql` gives it, `<layer>_<name>`; then `sql/views.sql` defines the feed's read
contract (`published_runs`, `feed_plan`, ...) from the very same text. So a query file, its
parameters and the "published runs only" rule are one thing for both engines; `fairshot sql`
(Spark) stays for scans too big for one machine.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from jobs.config import Config
from jobs.errors import QueryError
from jobs.warehouse import io
from jobs.warehouse.catalog import SQL_DIR, bind_parameters, read_statements, statements, view_name
from jobs.warehouse.tables import REGISTRY, table

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

FORMATS = ("table", "csv", "json", "parquet")


def connect(config: Config) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with every table and the feed contract's views (a missing table is empty)."""
    import duckdb
    from deltalake import DeltaTable
    from pyspark.sql.pandas.types import to_arrow_schema  # a type mapping only: no JVM

    connection = duckdb.connect()
    for key in REGISTRY:
        uri = io.table_uri(config, key)
        expected = to_arrow_schema(table(key).schema, timezone="UTC")
        data = DeltaTable(uri).to_pyarrow_dataset() if DeltaTable.is_deltatable(uri) else expected.empty_table()
        missing = [f for f in expected if f.name not in data.schema.names]
        if not missing:
            connection.register(view_name(key), data)
            continue
        # a table written before a column was added: the column reads as empty, typed by the schema
        name = view_name(key)
        connection.register(f"_stored_{name}", data)
        connection.register(f"_added_{name}", expected.empty_table().select([f.name for f in missing]))
        connection.execute(f"CREATE VIEW {name} AS SELECT s.*, a.* FROM _stored_{name} s "
                           f"LEFT JOIN _added_{name} a ON FALSE")
    for statement in statements((SQL_DIR / "views.sql").read_text()):
        connection.execute(statement)
    return connection


def run_query_file(config: Config, path: str, params: dict[str, object]) -> pa.Table:
    """Run the statements of a SQL file (named parameters like :ds); returns the last result."""
    import duckdb

    found = read_statements(path)
    connection = connect(config)
    result = None
    for statement in found:
        bound = bind_parameters(statement, params, path, dialect="duckdb")
        try:
            result = connection.sql(bound)    # a relation for a query, None for a statement such as CREATE VIEW
        except duckdb.Error as error:
            raise QueryError(f"{path}: {type(error).__name__}: {str(error).splitlines()[0]}") from None
    if result is None:
        raise QueryError(f"{path}: its last statement returns no rows to show")
    return result.to_arrow_table()


def check_format(fmt: str, output: str | None) -> None:
    """Before any query runs: a bad --format is named at once, not after the scan."""
    if fmt not in FORMATS:
        raise QueryError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "parquet" and not output:
        raise QueryError("--format parquet needs --output FILE")


def write_result(result: pa.Table, fmt: str, output: str | None, limit: int) -> str | None:
    """The result as a text table (first `limit` rows) or CSV/JSON lines on stdout, or as a file
    in any format. Returns what to print, or None when a file was written."""
    import pyarrow.parquet as pq

    check_format(fmt, output)
    if fmt == "parquet":
        pq.write_table(result, output)
        return None
    frame = result.to_pandas()
    if fmt == "table" and frame.empty:
        text = "  ".join(frame.columns) + "\n(0 rows)"
    elif fmt == "table":
        shown = frame.head(limit).to_string(index=False)
        more = f"\n({len(frame)} rows, first {limit} shown)" if len(frame) > limit else f"\n({len(frame)} rows)"
        text = shown + more
    elif fmt == "csv":
        text = frame.to_csv(index=False).rstrip("\n")
    else:
        text = frame.to_json(orient="records", lines=True, date_format="iso").rstrip("\n")
    if output:
        Path(output).write_text(text + "\n")
        return None
    return text
