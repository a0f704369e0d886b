"""Creator-side exposure allocation: the model, its solvers and its metrics. numpy and OR-Tools only."""
from allocation.dual import DualSolver
from allocation.errors import AllocationError, InvalidProblemError, SolverFailedError
from allocation.happiness import HappinessCurve
from allocation.lp import LPSolver
from allocation.problem import AllocationProblem, AllocationResult, Duals, Status, TracePoint
from allocation.rounding import systematic_rounding
from allocation.solvers import Solver, SolverChoice, choose_solver, make_solver

__all__ = [
    "AllocationError", "AllocationProblem", "DualSolver", "Duals", "choose_solver", "SolverChoice", "AllocationResult", "HappinessCurve", "InvalidProblemError",
    "LPSolver", "Solver", "SolverFailedError", "Status", "TracePoint", "make_solver", "systematic_rounding",
]
