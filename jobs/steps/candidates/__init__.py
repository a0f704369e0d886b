"""The candidates step (`step.run`) and its parts: the ranking heads (`ranking`: trained, applied
and backtested) and, on the synthetic world, the retrievers' backtest (`retrieval_backtest`)."""
from jobs.steps.candidates.step import run

__all__ = ["run"]
