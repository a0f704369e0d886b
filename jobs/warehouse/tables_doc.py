"""docs/tables.md and `fairshot tables --describe`, rendered from the table registry's descriptions
(features/descriptions.py), so the page cannot drift from the code: a test regenerates it and
compares. Rewrite the page with `python -m jobs.warehouse.tables_doc > docs/tables.md`."""
from __future__ import annotations

from jobs.warehouse.tables import REGISTRY, TableSpec

LAYERS = ("bronze", "silver", "staging", "gold", "audit")
INTRO = """# Tables

Every Delta table fairshot writes, by layer, with what each column means. Generated from
`features/descriptions.py` by `python -m jobs.warehouse.tables_doc > docs/tables.md` (a test keeps it
current); the same descriptions are written into each Delta table when it is created (its
description and column comments) and printed by `fairshot tables --describe`.

Analysts read the published plan through the views of `sql/views.sql` (`feed_plan`,
`published_item_quotas`, `published_creator_outcomes`, `item_explanations`, ...), which show only
the run the ledger (`gold.allocation_runs`) marks published. Under `fairshot sql` and `fairshot
query` each table is also a view named `<layer>_<table>`, e.g. `gold_allocations`.
"""


def _type(spec: TableSpec, column: str) -> str:
    return spec.schema[column].dataType.simpleString()


def markdown() -> str:
    parts = [INTRO]
    for layer in LAYERS:
        parts.append(f"## {layer}\n")
        for spec in (s for s in REGISTRY.values() if s.layer == layer):
            parts.append(f"### `{spec.key}`\n\n{spec.description} Partitioned by "
                         f"{', '.join(f'`{c}`' for c in spec.partition_by)}.\n")
            parts.append("| column | type | meaning |\n|---|---|---|")
            # a '|' inside a cell would end it: Markdown tables need it escaped
            parts += [f"| `{f.name}` | {_type(spec, f.name)} | {spec.column_description(f.name).replace('|', chr(92) + '|')} |"
                      for f in spec.schema.fields]
            parts.append("")
    return "\n".join(parts)


def text(keys: list[str] | None = None) -> str:
    """Plain text for the terminal: every table (or `keys`), its description and its columns."""
    lines = []
    for spec in REGISTRY.values():
        if keys and spec.key not in keys:
            continue
        lines += [f"{spec.key}: {spec.description}"]
        lines += [f"    {f.name:30} {_type(spec, f.name):16} {spec.column_description(f.name)}" for f in spec.schema.fields]
        lines.append("")
    return "\n".join(lines).rstrip("\n")


if __name__ == "__main__":
    print(markdown(), end="")
