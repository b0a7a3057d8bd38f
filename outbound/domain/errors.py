"""Every error outbound raises on purpose, under one base.

Messages name the field, the bad value (``!r``) and a hint; phone numbers and secrets are masked
before they reach a message (see ``outbound.domain.masking``).
"""

from __future__ import annotations

from dataclasses import dataclass


class OutboundError(Exception):
    """Base of every deliberate outbound error."""


class ConfigError(OutboundError):
    """Settings or policies are invalid, or the database is not at the expected schema."""


class SchemaError(ConfigError):
    """The database is unmigrated or newer than this code; the message says which command to run."""


class DatabaseUnavailable(OutboundError):
    """The database cannot be written or reached (read-only file, missing directory, server
    down); the message names the database, the cause and the fix."""


class NotFoundError(OutboundError):
    """A customer, notification or campaign does not exist."""


@dataclass
class FieldProblem:
    field: str
    value: object
    hint: str

    def __str__(self) -> str:
        return f"{self.field}: {self.value!r} {self.hint}"


class ValidationError(OutboundError):
    """Input is invalid. Carries every problem found, not just the first."""

    def __init__(self, problems: list[FieldProblem] | str, *, where: str = "") -> None:
        if isinstance(problems, str):
            self.problems: list[FieldProblem] = []
            message = problems
        else:
            self.problems = problems
            message = "; ".join(str(p) for p in problems)
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ChannelError(OutboundError):
    """A provider call failed."""


class TransientChannelError(ChannelError):
    """Worth retrying later (timeouts, 5xx, throttling)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentChannelError(ChannelError):
    """Retrying will not help (invalid number, unregistered token)."""
