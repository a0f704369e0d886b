"""The ledger row's message for a valid plan worth a second look (jobs/steps/allocate/staged_plan.py)."""
from __future__ import annotations

from jobs.steps.allocate.staged_plan import plan_message

SOLVED = {"n_pairs": 5_000, "n_users": 400, "n_items": 50, "n_creators": 40, "gap": 5e-4, "iterations": 170}


def test_a_plan_within_ten_times_the_target_gap_or_without_a_bound_gets_no_message():
    assert plan_message(SOLVED, gap_tolerance=1e-3) == ""
    assert plan_message({**SOLVED, "gap": 9.9e-3}, gap_tolerance=1e-3) == ""
    assert plan_message({**SOLVED, "gap": float("nan")}, gap_tolerance=1e-3) == ""


def test_a_wide_gap_and_a_degenerate_plan_are_both_named():
    message = plan_message({**SOLVED, "gap": 0.172, "iterations": 5000, "n_creators": 1}, gap_tolerance=1e-3)
    assert message.startswith("degenerate plan: only 1 creators")
    assert "plan short of its bound: certified gap 17.20% after 5000 iterations (target 0.001)" in message
