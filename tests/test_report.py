"""The report's words: what it warns about, and the limits it names (pure pandas, no Spark)."""
from __future__ import annotations

import pandas as pd

from allocation.explain import binding_limit
from jobs.steps.report.step import warnings


def tables(happiness: dict[str, float], kept: float = 1.0, auc: float = 0.8, base_rate: float = 0.6,
           status: str = "published", message: str = "") -> dict[str, pd.DataFrame]:
    policies = pd.DataFrame([{"policy": name, "happiness_gain": value, "error": "",
                              "user_value_kept": 1.0 if name == "user_side" else kept,
                              "creator_weight": float(name.split("=")[1]) if "=" in name else 1.0}
                             for name, value in happiness.items()])
    return {"run": pd.DataFrame([{"status": status, "message": message}]), "policies": policies,
            "backtest": pd.DataFrame([{"estimator": "uac_model", "auc": auc, "base_rate": base_rate, "n_users": 150}])}


def test_a_healthy_night_has_nothing_to_warn_about():
    assert warnings(tables({"user_side": 0.8, "fairshot": 0.9, "fairshot_w=0": 0.85, "fairshot_w=5": 1.1})) == []


def test_a_control_that_beats_fairshot_on_happiness_is_named():
    beaten_everywhere = warnings(tables({"user_side": 1.2, "fairshot": 0.9, "fairshot_w=5": 1.1}))
    assert len(beaten_everywhere) == 1 and "than any fairshot plan tonight (best 1.100)" in beaten_everywhere[0]
    beaten_at_the_weight = warnings(tables({"user_side": 0.85, "fairshot": 0.80, "fairshot_w=2": 0.83,
                                            "fairshot_w=5": 0.90, "fairshot_w=10": 1.0}))
    assert len(beaten_at_the_weight) == 1 and "beats it is w = 5" in beaten_at_the_weight[0]


def test_a_control_that_does_better_for_creators_is_named_with_each_figure():
    """On real logs the logging feed in the plan's slots is the control, and it can be the fairer one."""
    night = tables({"logged_slots": 0.5, "logged": 0.4, "user_side": 0.8, "fairshot": 0.9})
    figures = {"logged_slots": (0.40, 0.10, 0.80), "logged": (0.90, 0.90, 0.10),
               "user_side": (0.10, 0.05, 0.99), "fairshot": (0.30, 0.20, 0.85)}
    for column, k in (("creators_with_like_share", 0), ("new_item_coverage", 1), ("exposure_gini", 2)):
        night["policies"][column] = [figures[name][k] for name in night["policies"]["policy"]]
    found = [text for text in warnings(night) if "does better for creators" in text]
    assert len(found) == 1 and found[0].startswith("The control, logged feed in the plan's slots (control),")
    assert "creators with ≥1 like 40.0% against fairshot's 30.0%" in found[0]
    assert "exposure Gini 0.800 against fairshot's 0.850" in found[0] and "coverage" not in found[0]
    night["policies"].loc[night["policies"]["policy"] == "logged_slots", "creators_with_like_share"] = 0.2
    night["policies"].loc[night["policies"]["policy"] == "logged_slots", "exposure_gini"] = 0.9
    assert not [text for text in warnings(night) if "does better for creators" in text]


def test_a_costly_plan_a_degenerate_backtest_and_a_failed_run_are_named():
    found = warnings(tables({"user_side": 0.8, "fairshot": 0.9}, kept=0.95, auc=0.5, status="audit_failed",
                            message="plan covers no item"))
    assert any("not published (status audit_failed): plan covers no item" in text for text in found)
    assert any("keeps 95.0% of the control's user value" in text for text in found)
    assert any("backtest of uac_model is degenerate (AUC 0.500" in text for text in found)


def test_binds_names_the_limit_a_quota_sits_on():
    items = pd.DataFrame({"quota": [15.0, 3.0, 7.0, 0.0], "cap": [15.0, 15.0, 15.0, 15.0], "floor": [3.0, 3.0, 3.0, 0.0]})
    assert binding_limit(items["quota"], items["cap"], items["floor"]).tolist() == ["cap", "floor", "neither", "neither"]


def test_yesterday_is_the_published_plans_figure_or_says_why_there_is_none():
    from jobs.steps.report.step import yesterday_note

    run = pd.DataFrame([{"run_id": "r0", "status": "published"}])
    policies = pd.DataFrame([{"policy": "user_side", "new_item_coverage": 0.5},
                             {"policy": "fairshot", "new_item_coverage": 0.97}])
    assert yesterday_note(run, policies, "new_item_coverage", ".1%") == "yesterday 97.0%"
    assert yesterday_note(run, policies.iloc[:0], "new_item_coverage", ".1%") == "yesterday's plan not evaluated"
    assert yesterday_note(run.iloc[:0], policies.iloc[:0], "new_item_coverage", ".1%") == "no plan yesterday"
