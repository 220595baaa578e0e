"""Agent types the workers can run: each builds its typed request from the execution context.

A runner is ``fn(session, actor, context, run) -> dict`` (JSON-ready). It runs inside the
worker's transaction: its writes commit together with the execution's result, or not at all.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from misybot.store.tenancy import Actor


class Cancelled(Exception):
    """The execution was cancelled (stop_agent) or its lease was lost while it ran."""


class TransientError(Exception):
    """A failure worth retrying (a runner raises it for, e.g., an unreachable provider)."""


@dataclass
class RunContext:
    """What a runner knows about its execution; ``check()`` is the cooperative cancel point."""

    execution_id: int
    attempt: int
    cancel_event: threading.Event = dataclasses.field(default_factory=threading.Event)
    # Set when the worker gave up waiting (time limit): the run stops without a verdict.
    abandoned: bool = False

    def abandon(self) -> None:
        self.abandoned = True
        self.cancel_event.set()

    @property
    def idempotency_key(self) -> str:
        """Stable across retries of one execution (agents replay instead of acting twice)."""
        return f"execution:{self.execution_id}"

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check(self) -> None:
        """Raise ``Cancelled`` if the execution should stop now."""
        if self.cancel_event.is_set():
            raise Cancelled(f"execution {self.execution_id} cancelled")


Runner = Callable[[Session, Actor, Mapping[str, Any], RunContext], dict]


@dataclass(frozen=True)
class AgentSpec:
    """A runnable agent type and its time limit (None: the worker's default)."""

    run: Runner
    timeout_s: float | None = None


def to_json(value: Any) -> Any:
    """Agent results (dataclasses, Decimals, dates, paths, enums) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | Path):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def answering_errors(runner: Runner) -> Runner:
    """``runner`` whose business errors (not found, invalid input, conflict, permission) are an
    answer for the user — a result with ``outcome`` — instead of a failed execution."""
    from misybot.errors import Conflict, InvalidInput, NotFound
    from misybot.permissions import PermissionDenied

    def run(session, actor, context, ctx) -> dict:
        try:
            with session.begin_nested():  # nothing half-written when the agent refuses
                return runner(session, actor, context, ctx)
        except NotFound as error:
            suggestions = [{"value": s.value, "label": s.label} for s in error.suggestions]
            return {"outcome": "not_found", "kind": error.kind, "reference": error.reference,
                    "suggestions": suggestions}  # fmt: skip
        except InvalidInput as error:
            return {"outcome": "invalid_input", "field": error.field, "message": error.message}
        except Conflict as error:
            return {"outcome": "conflict", "message": str(error)}
        except PermissionDenied as error:
            return {"outcome": "permission_denied", "operation": error.operation.value,
                    "role": error.role.value,
                    "allowed_roles": [r.value for r in error.allowed_roles]}  # fmt: skip

    return run


def default_registry() -> dict[str, AgentSpec]:
    """The agent types the assistant enqueues: one per command of ``misybot.commands`` (business
    refusals answered), and the recurring monitors ``run_agent`` starts."""
    from misybot.commands import COMMANDS, MONITORS  # the table imports the runners, which use this

    return {
        **{
            command.intent: AgentSpec(answering_errors(command.run), command.timeout_s)
            for command in COMMANDS
            if command.run is not None
        },
        **{monitor.agent_type: AgentSpec(monitor.run, monitor.timeout_s) for monitor in MONITORS},
    }
