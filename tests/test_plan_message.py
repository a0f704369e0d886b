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


def test_a_thin_plan_is_named_with_its_likeliest_reason():
    import numpy as np

    from jobs.steps.allocate.staged_plan import thin_warning

    few = np.r_[np.full(3, 5.0), np.zeros(97)]                      # 3 of 100 items reached
    assert "the retriever found users for only 10 of them" in thin_warning(few, expected_slots=1e6,
                                                                          items_with_candidates=10)
    slots = thin_warning(few, expected_slots=40.0, items_with_candidates=100)
    assert slots.startswith("thin plan: 3 of 100 items") and "40 expected) are fewer than the items" in slots
    assert "caps and the pairs' values" in thin_warning(few, expected_slots=1e6, items_with_candidates=None)
    assert thin_warning(np.r_[np.full(25, 1.0), np.zeros(75)], expected_slots=40.0, items_with_candidates=100) == ""
    assert thin_warning(np.zeros(9), expected_slots=0.0, items_with_candidates=0) == ""   # too few items to judge
    message = plan_message(SOLVED, gap_tolerance=1e-3, thin=slots)
    assert message == slots


def test_floors_left_short_are_named_with_whether_the_slots_could_hold_them():
    import numpy as np

    from jobs.steps.allocate.staged_plan import floors_short_warning

    floor = np.r_[np.full(20, 5.0), np.zeros(5)]                  # 20 floored items, 5 without a floor
    met = np.r_[np.full(20, 5.0), np.full(5, 2.0)]
    assert floors_short_warning(met, floor, expected_slots=200.0) == ""
    one_short = met.copy()
    one_short[0] = 4.0                                            # 1 of 20: under a tenth, not worth a line
    assert floors_short_warning(one_short, floor, expected_slots=200.0) == ""
    starved = met.copy()
    starved[:4], starved[4:6] = 0.0, 2.5                          # 6 of 20 short, 4 with nothing
    words = floors_short_warning(starved, floor, expected_slots=80.0)
    assert words.startswith("floors unmet: 6 of 20 floored items end short of their floor (4 with no exposure)")
    assert "the floors add up to 100 expected exposures and the plan places 85" in words
    assert "more than the users' slots hold (80)" in words
    assert "allocation.floor_penalty" in floors_short_warning(starved, floor, expected_slots=500.0)
    assert floors_short_warning(starved[:9], floor[:9], expected_slots=80.0) == ""   # too few floored items to judge
    assert plan_message(SOLVED, gap_tolerance=1e-3, floors=words) == words
