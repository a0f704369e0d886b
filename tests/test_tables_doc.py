"""Every table and column is described in one place, and docs/tables.md is that place rendered."""
from __future__ import annotations

from pathlib import Path

from features.descriptions import TABLES
from jobs.cli import main
from jobs.warehouse.tables import REGISTRY
from jobs.warehouse.tables_doc import markdown

ROOT = Path(__file__).resolve().parent.parent


def test_every_table_and_column_has_a_description():
    assert set(TABLES) == set(REGISTRY), "features/descriptions.py and the registry name different tables"
    for spec in REGISTRY.values():
        assert len(spec.description) > 20, spec.key
        for field in spec.schema.fields:
            assert len(spec.column_description(field.name)) > 5, (spec.key, field.name)
        stale = set(TABLES[spec.key][1]) - set(spec.schema.fieldNames())
        assert not stale, f"{spec.key}: descriptions of columns it does not have: {stale}"


def test_docs_tables_md_is_generated_from_the_descriptions():
    """Regenerate with `python -m jobs.warehouse.tables_doc > docs/tables.md` when this fails."""
    assert (ROOT / "docs" / "tables.md").read_text() == markdown()


def test_tables_describe_prints_the_named_tables_and_names_an_unknown_one(capsys):
    assert main(["tables", "--describe", "gold.item_quotas"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gold.item_quotas: ") and "shadow_price" in out and "bronze.events" not in out
    assert main(["tables", "--describe", "gold.nope"]) == 1
    assert "no table gold.nope" in capsys.readouterr().err
