"""Crash injection at commit points, so tests can prove what a crash leaves behind.

A point is `before-commit:<table>`, `after-commit:<table>` (e.g. `after-commit:gold.allocations`)
or `commit#N`, the N-th commit since the point was armed, whatever the table. Two ways to arm one:
- `FAIRSHOT_CRASH_AT=<point>` in a process's environment: when the point is reached the whole
  process group gets SIGKILL -- the Python driver and its Spark JVM at once, as an out-of-memory
  killer or a lost node would do it;
- `armed(point)` in-process: reaching the point raises `SimulatedCrash`, a BaseException that no
  step catches, so the step stops dead there and the test goes on in the same Spark session
  (seconds instead of a JVM start per crash).
Unarmed (always, in production) a commit costs one dictionary lookup here.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "FAIRSHOT_CRASH_AT"
_state: dict[str, object] = {"point": None, "commits": 0}


class SimulatedCrash(BaseException):
    """Raised at an armed point; a BaseException so that `except Exception` cannot swallow it."""


@contextmanager
def armed(point: str) -> Iterator[None]:
    _state.update(point=point, commits=0)
    try:
        yield
    finally:
        _state.update(point=None, commits=0)


def _crash(point: str) -> None:
    if _state["point"] is not None:
        raise SimulatedCrash(point)
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _target() -> str | None:
    return _state["point"] or os.environ.get(ENV)  # type: ignore[return-value]


def before_commit(table: str) -> None:
    if _target() == f"before-commit:{table}":
        _crash(f"before-commit:{table}")


def after_commit(table: str) -> None:
    _state["commits"] = int(_state["commits"]) + 1  # type: ignore[call-overload]
    target = _target()
    if target in (f"after-commit:{table}", f"commit#{_state['commits']}"):
        _crash(str(target))
