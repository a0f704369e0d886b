"""Errors of the allocation package: one root, builtin bases where they fit, so callers can
catch either ours or the builtin and tests can assert exact types."""


class AllocationError(Exception):
    """Root of every error raised by `allocation`."""


class InvalidProblemError(AllocationError, ValueError):
    """The problem's arrays are inconsistent (shapes, ranges, non-finite values, non-concave H)."""


class SolverFailedError(AllocationError, RuntimeError):
    """The solver ended without a usable solution (infeasible, unbounded, abnormal, time-out)."""
