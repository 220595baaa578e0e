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


def _period(e: Mapping[str, Any], default_days: int) -> tuple[date, date]:
    if e.get("start_date") and e.get("end_date"):
        return date.fromisoformat(e["start_date"]), date.fromisoformat(e["end_date"])
    today = clock.today()
    return today - timedelta(days=default_days - 1), today


def _generate_report(session, actor, context, run) -> dict:
    from misybot.agents.reports import ReportRequest, generate_report
    from misybot.settings import get_settings

    e = _entities(context)
    start, end = _period(e, default_days=7)
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


def _recurring_report(session, actor, context, run) -> dict:
    """The scheduled report: the type asked for when it was scheduled (inventory by default),
    over the seven days up to today."""
    from misybot.agents.reports import ReportRequest, generate_report
    from misybot.settings import get_settings

    today = clock.today()
    report_type = _entities(context).get("report_type") or "inventory"
    request = ReportRequest(report_type=report_type, start=today - timedelta(days=6), end=today)
    return to_json(generate_report(session, actor, request, get_settings().reports_dir))


def _update_stock(session, actor, context, run) -> dict:
    from misybot.agents.stock import StockUpdateRequest, update_stock
    from misybot.nlu.stock_words import stock_change

    e = _entities(context)
    change = stock_change(context.get("text") or "")
    request = StockUpdateRequest(
        mode=change.mode,
        kind=change.kind,
        quantity=e.get("quantity"),
        reason=change.reason,
        sku=e.get("sku"),
        product=e.get("product"),
        location=e.get("location"),
        idempotency_key=run.idempotency_key,
    )
    return to_json(update_stock(session, actor, request))


def _alert_filter(e: Mapping[str, Any], **overrides):
    from misybot.agents.alerts import AlertFilter
    from misybot.enums import AlertCategory, AlertSeverity

    severity = e.get("severity") if e.get("severity") in {s.value for s in AlertSeverity} else None
    category = e.get("category") if e.get("category") in {c.value for c in AlertCategory} else None
    return AlertFilter(
        severity=AlertSeverity(severity) if severity else None,
        category=AlertCategory(category) if category else None,
        sku=e.get("sku"),
        location=e.get("location"),
        **overrides,
    )


def _alert_id(e: Mapping[str, Any]) -> int | None:
    raw = str(e.get("alert_id") or "").lstrip("#").strip()
    return int(raw) if raw.isdigit() else None


def _view_alerts(session, actor, context, run) -> dict:
    from misybot.agents.alerts import alert_infos, get_alert, list_alerts
    from misybot.enums import AlertStatus
    from misybot.permissions import Operation

    e = _entities(context)
    alert_id = _alert_id(e)
    if alert_id is not None:
        actor.require(Operation.VIEW)
        (info,) = alert_infos(
            session, actor.company_id, [get_alert(session, actor.company_id, alert_id)]
        )
        return {"detail": to_json(info)}
    open_only = _alert_filter(e, limit=10)
    listed = list_alerts(session, actor, open_only)
    unresolved = [a for a in listed.alerts if a.status != AlertStatus.RESOLVED]
    return to_json({"alerts": unresolved, "total": listed.total, "filter": listed.filter})


def _alert_action(e: Mapping[str, Any]):
    from misybot.agents.alerts import AlertAction

    alert_id = _alert_id(e)
    if alert_id is not None:
        return AlertAction(alert_id=alert_id)
    return AlertAction(filter=_alert_filter(e))


def _acknowledge_alert(session, actor, context, run) -> dict:
    from misybot.agents.alerts import acknowledge_alerts

    return to_json(acknowledge_alerts(session, actor, _alert_action(_entities(context))))


def _resolve_alert(session, actor, context, run) -> dict:
    from misybot.agents.alerts import resolve_alerts

    return to_json(resolve_alerts(session, actor, _alert_action(_entities(context))))


def _view_metrics(session, actor, context, run) -> dict:
    from misybot.agents.metrics import MetricsRequest, compute_metrics

    start, end = _period(_entities(context), default_days=30)
    return to_json(compute_metrics(session, actor, MetricsRequest(start=start, end=end)))


def _daily_digest(session, actor, context, run) -> dict:
    from misybot.agents.digest import DigestRequest, daily_digest

    return to_json(daily_digest(session, actor, DigestRequest()))


def _check_supplier(session, actor, context, run) -> dict:
    from misybot.agents.suppliers import SupplierQuery, check_supplier

    e = _entities(context)
    query = SupplierQuery(supplier=e.get("supplier"), sku=e.get("sku"), product=e.get("product"))
    return to_json(check_supplier(session, actor, query))


def _supplier_performance(session, actor, context, run) -> dict:
    from misybot.agents.suppliers import SupplierPerformanceRequest, supplier_performance

    e = _entities(context)
    start, end = _period(e, default_days=90)
    request = SupplierPerformanceRequest(start=start, end=end, supplier=e.get("supplier"))
    return to_json(supplier_performance(session, actor, request))


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
    """The agent types the assistant enqueues: one per command, and the recurring monitors."""
    commands = {
        "check_inventory": AgentSpec(_check_inventory, timeout_s=30),
        "generate_report": AgentSpec(_generate_report, timeout_s=120),
        "reorder_stock": AgentSpec(_reorder, timeout_s=30),
        "update_stock": AgentSpec(_update_stock, timeout_s=30),
        "view_alerts": AgentSpec(_view_alerts, timeout_s=30),
        "acknowledge_alert": AgentSpec(_acknowledge_alert, timeout_s=30),
        "resolve_alert": AgentSpec(_resolve_alert, timeout_s=30),
        "view_metrics": AgentSpec(_view_metrics, timeout_s=60),
        "daily_digest": AgentSpec(_daily_digest, timeout_s=60),
        "check_supplier": AgentSpec(_check_supplier, timeout_s=30),
        "supplier_performance": AgentSpec(_supplier_performance, timeout_s=60),
    }
    return {
        **{
            name: AgentSpec(answering_errors(spec.run), spec.timeout_s)
            for name, spec in commands.items()
        },
        # Recurring monitors (run_agent): a stock and delivery scan that raises/clears alerts.
        "inventory_monitor": AgentSpec(_scan_alerts, timeout_s=120),
        "alert_generator": AgentSpec(_scan_alerts, timeout_s=120),
        "report_generator": AgentSpec(_recurring_report, timeout_s=300),
    }
