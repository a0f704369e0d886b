"""The README's first command, on the tiny world: `fairshot demo` end to end through the CLI."""
from __future__ import annotations

from deltalake import DeltaTable

from jobs.cli import main


def test_demo_publishes_and_says_where(tmp_path, capsys, spark):
    warehouse = tmp_path / "warehouse"
    # the command is under test here, not the heads (tests/test_pipeline.py runs those)
    assert main(["demo", "--env", "test", "--set", f"storage.warehouse={warehouse}",
                 "--set", "candidates.ranker=heuristic", "--set", "candidates.backtests=false"]) == 0
    out = capsys.readouterr().out
    assert "published" in out and str(warehouse) in out
    runs = DeltaTable(str(warehouse / "gold" / "allocation_runs")).to_pandas()
    assert runs["status"].tolist() == ["published"]
    # it ends with the policy table and the report's path
    assert "policies (audit.policy_evaluation)" in out and "user_side" in out
    assert f"report: {runs['report_path'].iloc[0]}" in out and (tmp_path / "reports").is_dir()
    assert main(["tables", "--env", "test", "--set", f"storage.warehouse={warehouse}"]) == 0
    assert "gold.allocations" in capsys.readouterr().out
