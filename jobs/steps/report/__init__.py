"""The report step (`step.run`: gather, render, write) and its charts (`charts`, which the
simulation's page draws with too)."""
from jobs.steps.report.step import gather, render, run

__all__ = ["gather", "render", "run"]
