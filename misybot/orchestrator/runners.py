"""What each command's agent is given: its typed request, built from the explicit entities the
action put in the execution context (never from re-reading the user's text), and its result as
JSON. A runner is ``fn(session, actor, context, run) -> dict``; it runs inside the worker's
transaction, so its writes commit together with the execution's result, or not at all. The
command table (``misybot.commands``) says which command runs which."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from misybot import clock
from misybot.orchestrator.registry import to_json


def _entities(context: Mapping[str, Any]) -> dict[str, Any]:
    return dict(context.get("entities") or {})


def run_check_inventory(session, actor, context, run) -> dict:
    from misybot.agents.inventory import InventoryQuery, check_inventory

    e = _entities(context)
    query = InventoryQuery(sku=e.get("sku"), product=e.get("product"), location=e.get("location"))
    return to_json(check_inventory(session, actor, query))


def _period(e: Mapping[str, Any], default_days: int) -> tuple[date, date]:
    if e.get("start_date") and e.get("end_date"):
        return date.fromisoformat(e["start_date"]), date.fromisoformat(e["end_date"])
    today = clock.today()
    return today - timedelta(days=default_days - 1), today


def run_generate_report(session, actor, context, run) -> dict:
    from misybot.agents.reports import ReportRequest, generate_report
    from misybot.settings import get_settings

    e = _entities(context)
    start, end = _period(e, default_days=7)
    request = ReportRequest(report_type=e.get("report_type") or "inventory", start=start, end=end)
    run.check()
    return to_json(generate_report(session, actor, request, get_settings().reports_dir))


def run_reorder(session, actor, context, run) -> dict:
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


def run_scan_alerts(session, actor, context, run) -> dict:
    from misybot.agents.alerts import AlertScanRequest, scan_alerts

    return to_json(scan_alerts(session, actor, AlertScanRequest()))


def run_recurring_report(session, actor, context, run) -> dict:
    """The scheduled report: the type asked for when it was scheduled (inventory by default),
    over the seven days up to today."""
    from misybot.agents.reports import ReportRequest, generate_report
    from misybot.settings import get_settings

    today = clock.today()
    report_type = _entities(context).get("report_type") or "inventory"
    request = ReportRequest(report_type=report_type, start=today - timedelta(days=6), end=today)
    return to_json(generate_report(session, actor, request, get_settings().reports_dir))


def run_update_stock(session, actor, context, run) -> dict:
    from misybot.agents.stock import StockUpdateRequest, update_stock
    from misybot.enums import MovementKind

    e = _entities(context)
    request = StockUpdateRequest(
        mode=e.get("mode") or "add",
        kind=MovementKind(e.get("kind") or MovementKind.RECEIPT.value),
        quantity=e.get("quantity"),
        reason=e.get("reason") or "chat",
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


def run_view_alerts(session, actor, context, run) -> dict:
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


def run_acknowledge_alert(session, actor, context, run) -> dict:
    from misybot.agents.alerts import acknowledge_alerts

    return to_json(acknowledge_alerts(session, actor, _alert_action(_entities(context))))


def run_resolve_alert(session, actor, context, run) -> dict:
    from misybot.agents.alerts import resolve_alerts

    return to_json(resolve_alerts(session, actor, _alert_action(_entities(context))))


def run_view_metrics(session, actor, context, run) -> dict:
    from misybot.agents.metrics import MetricsRequest, compute_metrics

    start, end = _period(_entities(context), default_days=30)
    return to_json(compute_metrics(session, actor, MetricsRequest(start=start, end=end)))


def run_daily_digest(session, actor, context, run) -> dict:
    from misybot.agents.digest import DigestRequest, daily_digest

    return to_json(daily_digest(session, actor, DigestRequest()))


def run_check_supplier(session, actor, context, run) -> dict:
    from misybot.agents.suppliers import SupplierQuery, check_supplier

    e = _entities(context)
    query = SupplierQuery(supplier=e.get("supplier"), sku=e.get("sku"), product=e.get("product"))
    return to_json(check_supplier(session, actor, query))


def run_supplier_performance(session, actor, context, run) -> dict:
    from misybot.agents.suppliers import SupplierPerformanceRequest, supplier_performance

    e = _entities(context)
    start, end = _period(e, default_days=90)
    request = SupplierPerformanceRequest(start=start, end=end, supplier=e.get("supplier"))
    return to_json(supplier_performance(session, actor, request))


def run_check_location(session, actor, context, run) -> dict:
    from misybot.agents.location import LocationQuery, check_location

    return to_json(
        check_location(session, actor, LocationQuery(_entities(context).get("location")))
    )
