"""Agent types the workers can run: each builds its typed request from the execution context.

A runner is ``fn(session, actor, context, run) -> dict`` (JSON-ready). It runs inside the
worker's transaction: its writes commit together with the execution's result, or not at all.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from misybot import clock
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


def _entities(context: Mapping[str, Any]) -> dict[str, Any]:
    return dict(context.get("entities") or {})


def _check_inventory(session, actor, context, run) -> dict:
    from misybot.agents.inventory import InventoryQuery, check_inventory

    e = _entities(context)
    query = InventoryQuery(sku=e.get("sku"), product=e.get("product"), location=e.get("location"))
    return to_json(check_inventory(session, actor, query))


def _report_period(e: Mapping[str, Any]) -> tuple[date, date]:
    if e.get("start_date") and e.get("end_date"):
        return date.fromisoformat(e["start_date"]), date.fromisoformat(e["end_date"])
    today = clock.today()
    return today - timedelta(days=6), today


def _generate_report(session, actor, context, run) -> dict:
    from misybot.agents.reports import ReportRequest, generate_report
    from misybot.settings import get_settings

    e = _entities(context)
    start, end = _report_period(e)
    request = ReportRequest(report_type=e.get("report_type") or "inventory", start=start, end=end)
    run.check()
    return to_json(generate_report(session, actor, request, get_settings().reports_dir))


def _reorder(session, actor, context, run) -> dict:
    from misybot.agents.reorder import ReorderRequest, reorder

    e = _entities(context)
    request = ReorderRequest(
        sku=e.get("sku"),
        product=e.get("product"),
        quantity=e.get("quantity"),
        supplier=e.get("supplier"),
        location=e.get("location"),
        idempotency_key=run.idempotency_key,
    )
    return to_json(reorder(session, actor, request))


def _scan_alerts(session, actor, context, run) -> dict:
    from misybot.agents.alerts import AlertScanRequest, scan_alerts

    return to_json(scan_alerts(session, actor, AlertScanRequest()))


def _weekly_inventory_report(session, actor, context, run) -> dict:
    from misybot.agents.reports import ReportRequest, generate_report
    from misybot.settings import get_settings

    today = clock.today()
    request = ReportRequest(report_type="inventory", start=today - timedelta(days=6), end=today)
    return to_json(generate_report(session, actor, request, get_settings().reports_dir))


def default_registry() -> dict[str, AgentSpec]:
    """The agent types the assistant enqueues (the actions issue adds the remaining commands)."""
    return {
        "check_inventory": AgentSpec(_check_inventory, timeout_s=30),
        "generate_report": AgentSpec(_generate_report, timeout_s=120),
        "reorder_stock": AgentSpec(_reorder, timeout_s=30),
        # Recurring monitors (run_agent): a stock and delivery scan that raises/clears alerts.
        "inventory_monitor": AgentSpec(_scan_alerts, timeout_s=120),
        "alert_generator": AgentSpec(_scan_alerts, timeout_s=120),
        "report_generator": AgentSpec(_weekly_inventory_report, timeout_s=300),
    }
