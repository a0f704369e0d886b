"""The logical date `ds` and its arithmetic. Steps never look at the clock: they get a ds."""
from __future__ import annotations

import datetime as dt


def parse_ds(text: str) -> str:
    """Check a ds is an ISO calendar date ('2026-04-14') and return it normalised."""
    try:
        return dt.date.fromisoformat(str(text).strip()).isoformat()
    except ValueError:
        raise ValueError(f"ds must be a calendar date YYYY-MM-DD, got {text!r}") from None


def shift(ds: str, days: int) -> str:
    return (dt.date.fromisoformat(ds) + dt.timedelta(days=days)).isoformat()


def day_range(start: str, end: str) -> list[str]:
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    if last < first:
        raise ValueError(f"end {end} is before start {start}")
    return [(first + dt.timedelta(days=d)).isoformat() for d in range((last - first).days + 1)]
