"""The features step (`step.run`) and its parts: the availability model (`availability`: fit,
predict tomorrow, backtest) and the day's ALS fit (`factors`, which the candidates step's ranking
heads also read)."""
from jobs.steps.features.step import run

__all__ = ["run"]
