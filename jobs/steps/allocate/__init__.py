"""The allocate step (`step.run`) and its parts: the problem built from silver (`problem`, or
`spark_problem` when the pairs stay on the executors), the staged plan every path writes
(`staged_plan`), and the executors' path (`executors`: the dual solver on Spark, `dual_on_spark`,
and the publish audit of such a plan, `executor_audit`). publish and evaluate read the staged plan
and the problem through the names below."""
from jobs.steps.allocate.staged_plan import previous_duals
from jobs.steps.allocate.step import load_problem, on_executors, run, solve_in_driver, solver_from_config

__all__ = ["load_problem", "on_executors", "previous_duals", "run", "solve_in_driver", "solver_from_config"]
