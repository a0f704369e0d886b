"""Errors of the feature layer. A broken data contract names its table, column and rule, so the
person on call knows where to look without reading a stack trace."""


class DataContractError(ValueError):
    """Data broke a rule: `table`, `column` and `rule` say which."""

    def __init__(self, table: str, column: str, rule: str, detail: str = "") -> None:
        self.table, self.column, self.rule = table, column, rule
        message = f"table {table!r}, column {column!r}: rule {rule!r} broken"
        detail = " ".join(detail.split("\n"))   # one line, whatever a raw row held
        super().__init__(f"{message}: {detail}" if detail else message)


class MissingColumnsError(DataContractError):
    """A DataFrame lacks columns a transformation needs."""

    def __init__(self, table: str, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(table, ", ".join(missing), "required column present",
                         f"missing {missing}")
