"""Errors the chat layer renders: what was not found, what input was wrong, what conflicts."""

from __future__ import annotations

from dataclasses import dataclass


class MisybotError(Exception):
    """Base of the errors an agent call can raise on purpose."""


@dataclass(frozen=True)
class Suggestion:
    """A "did you mean" candidate: the value to use (a SKU, a name) and how to show it."""

    value: str
    label: str


class NotFound(MisybotError):
    """Nothing of ``kind`` matches ``reference`` in the caller's company."""

    def __init__(self, kind: str, reference: str, suggestions: tuple[Suggestion, ...] = ()):
        self.kind = kind
        self.reference = reference
        self.suggestions = tuple(suggestions)
        message = f"no {kind} matches {reference!r}"
        if self.suggestions:
            message += "; did you mean " + ", ".join(s.label for s in self.suggestions) + "?"
        super().__init__(message)


class InvalidInput(MisybotError):
    """A request field has a value the operation cannot accept."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class Conflict(MisybotError):
    """The operation does not apply to the current state (e.g. acknowledging a resolved alert)."""
