"""The error every bad request becomes: raised by the query layer and by access control alike, so it lives
below both (HTTP 400 / 404, CLI exit 2)."""
from __future__ import annotations


class QueryError(ValueError):
    """A bad query: `param` names what was wrong (HTTP 400, CLI exit 2)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message

    def to_json(self) -> dict[str, str]:
        return {"error": self.message, "parameter": self.param}


class UnknownMetric(QueryError):
    """No such metric (HTTP 404)."""
