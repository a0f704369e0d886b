"""Errors of the jobs layer: one root, builtin bases where they fit."""
from features.errors import DataContractError


class FairshotError(Exception):
    """Root of the errors raised by `jobs`."""


class ConfigError(FairshotError, ValueError):
    """A config key or value is wrong; the message names the key and the rule."""


class StorageError(FairshotError, OSError):
    """A Delta table could not be read or committed; nothing was published by the failed call."""


class QueryError(FairshotError, ValueError):
    """A SQL file cannot run as given (a named parameter has no value); the message names it."""


class PublishGateFailed(FairshotError):
    """The audit before publishing failed; `failed_checks` lists what, and nothing was published."""

    def __init__(self, ds: str, failed_checks: list[str]) -> None:
        self.ds, self.failed_checks = ds, failed_checks
        super().__init__(f"audit for ds={ds} failed, nothing published: " + "; ".join(failed_checks))


__all__ = ["ConfigError", "DataContractError", "FairshotError", "PublishGateFailed", "QueryError", "StorageError"]
