"""An agent's JSON result as the named facts a reply is written with, in every persona.

``reply_for(command, result)`` picks the response (``utter_…`` in ``domain/responses/``) and fills
the variables its five voices and the default use: the same facts, prepared as plain words,
markdown lists with status marks, per-location lines and ``KEY: value`` lines. The wording itself
lives in the responses; nothing here knows which persona is asking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any

STATUS_MARK = {"ok": "✅", "below_reorder_point": "⚠️", "out_of_stock": "🔴", "overstock": "📦"}
STATUS_WORDS = {
    "ok": "healthy",
    "below_reorder_point": "below the reorder point",
    "out_of_stock": "out of stock",
    "overstock": "overstocked",
}
STATUS_CODE = {"ok": "OK", "below_reorder_point": "LOW", "out_of_stock": "OUT", "overstock": "OVER"}
SEVERITY_MARK = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "🔵"}


@dataclass(frozen=True)
class Reply:
    """A response name, its variables and any buttons (follow-ups the user can pick)."""

    response: str
    variables: dict[str, Any]
    buttons: list[dict[str, str]] = field(default_factory=list)


ReplyBuilder = Callable[[Mapping[str, Any]], Reply]


def reply_for(command: str, result: Mapping[str, Any], build: ReplyBuilder) -> Reply:
    """The reply to ``command``'s agent ``result``: ``build``'s, or a business refusal's."""
    outcome = result.get("outcome")
    if outcome:
        return _REFUSALS[outcome](command, result)
    return build(result)


# ------------------------------------------------------------------------------------ helpers
def bullets(lines: Iterable[str]) -> str:
    """Markdown list items, one per line (empty string for none)."""
    return "\n".join(f"- {line}" for line in lines)


def kv(pairs: Iterable[tuple[str, Any]]) -> str:
    """``KEY: value`` lines; None becomes ``NONE`` so every key is always present."""
    return "\n".join(f"{key}: {'NONE' if value is None else value}" for key, value in pairs)


def number(value: Any, places: int = 0) -> str:
    """Thousands-separated number (``1,969.80``); ``n/a`` for None."""
    if value is None or value == "":
        return "n/a"
    amount = float(value)
    return f"{amount:,.{places}f}"


def percent(value: Any) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.1f}%"


def words(value: str | None) -> str:
    return (value or "").replace("_", " ")


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _common(result: Mapping[str, Any]) -> dict[str, Any]:
    return {"query_ms": number(result.get("query_ms"), 1), "timestamp": now_iso()}


# ---------------------------------------------------------------------------------- inventory
def inventory_reply(r: Mapping[str, Any]) -> Reply:
    status = "overstock" if r.get("overstocked") else r["status"]
    locations = r.get("locations") or []
    last = r.get("last_reorder")
    cover = r.get("days_of_coverage")
    reorder_needed = r["total_quantity"] <= r["reorder_point"]
    actions = []
    if reorder_needed:
        actions.append(f'"reorder {r["sku"]}" to order {r.get("suggested_order_quantity")}')
    actions += [f'"alerts {r["sku"]}" for open issues', f'"who supplies {r["sku"]}" for contacts']
    variables = {
        **_common(r),
        "sku": r["sku"],
        "name": r["name"],
        "unit": r["unit"],
        "total": number(r["total_quantity"]),
        "status": STATUS_WORDS.get(status, words(status)),
        "status_mark": STATUS_MARK.get(status, "•"),
        "status_code": STATUS_CODE.get(status, status.upper()),
        "reorder_status": "REQUIRED" if reorder_needed else "NOT_REQUIRED",
        "reorder_point": number(r["reorder_point"]),
        "reorder_quantity": number(r.get("reorder_quantity")),
        "suggested_quantity": number(r.get("suggested_order_quantity")),
        "coverage": "n/a" if cover is None else f"{float(cover):.1f}",
        "usage": number(r.get("avg_daily_usage"), 1),
        "lead_time": r.get("lead_time_days"),
        "on_order": number(r.get("on_order")),
        "supplier": r.get("preferred_supplier") or "none",
        "stock_value": number(r.get("stock_value"), 2),
        "location_count": len(locations),
        "location_lines": bullets(
            f"{loc['location']}: {number(loc['quantity'])}" for loc in locations
        ),
        "location_compact": " · ".join(
            f"{loc['code']} {number(loc['quantity'])}" for loc in locations
        ),
        "hub_lines": bullets(
            f"{STATUS_MARK.get(loc['status'], '•')} **{loc['location']}** ({loc['code']}): "
            f"{number(loc['quantity'])} {r['unit']}, reorder point {number(loc['reorder_point'])}"
            for loc in locations
        ),
        "kv_locations": kv(
            (f"LOC_{loc['code']}", f"{loc['quantity']} {STATUS_CODE.get(loc['status'], 'OK')}")
            for loc in locations
        ),
        "last_reorder": (
            f"{last['po_number']} from {last['supplier']}: {number(last['quantity_ordered'])} "
            f"{r['unit']} ordered {last['ordered_on']}, {words(last['status'])}"
            + (f", expected {last['expected_date']}" if last.get("expected_date") else "")
            if last
            else "none yet"
        ),
        "last_reorder_code": last["po_number"] if last else "NONE",
        "recommendations": bullets(r.get("recommendations") or []),
        "first_recommendation": (r.get("recommendations") or ["Nothing to do."])[0],
        "next_actions": bullets(actions),
        "as_of": r.get("as_of"),
    }
    return Reply("utter_inventory_status", variables)


def location_reply(r: Mapping[str, Any]) -> Reply:
    """What one location holds, most urgent first (ten lines at most; the rest counted)."""
    items = r.get("items") or []
    attention = [item for item in items if item["status"] != "ok"]
    worst = "ok"
    if r["out_of_stock"]:
        worst = "out_of_stock"
    elif r["below_minimum"]:
        worst = "below_reorder_point"

    def line(item: Mapping[str, Any]) -> str:
        minimum = item.get("reorder_point")
        floor = f", minimum {number(minimum)}" if minimum is not None else ""
        return (
            f"{STATUS_MARK.get(item['status'], '•')} **{item['sku']}** {item['name']}: "
            f"{number(item['quantity'])} {item['unit']}{floor}"
        )

    def code(item: Mapping[str, Any]) -> tuple[str, str]:
        return f"ITEM_{item['sku']}", f"{item['quantity']} {STATUS_CODE.get(item['status'], 'OK')}"

    compact = " · ".join(f"{i['sku']} {number(i['quantity'])}" for i in (attention or items)[:5])
    variables = {
        **_common(r),
        "location": r["location"],
        "code": r["code"],
        "products": len(items),
        "units": number(r["total_units"]),
        "stock_value": number(r.get("stock_value"), 2),
        "below_minimum": r["below_minimum"],
        "out_of_stock": r["out_of_stock"],
        "status_mark": STATUS_MARK[worst],
        "status_code": STATUS_CODE[worst],
        "lines": bullets(line(item) for item in items[:10]) or "- nothing stocked here",
        "more": f"\n…and {len(items) - 10} more" if len(items) > 10 else "",
        "compact": compact or "nothing stocked",
        "attention": bullets(line(item) for item in attention[:5]) or "- nothing below its minimum",
        "kv_items": kv(code(item) for item in items) or "ITEMS: NONE",
        "as_of": r.get("as_of"),
    }
    return Reply("utter_location_stock", variables)


# ------------------------------------------------------------------------------------- alerts
def _alert_line(alert: Mapping[str, Any]) -> str:
    where = f" ({alert['location']})" if alert.get("location") else ""
    return f"{SEVERITY_MARK.get(alert['severity'], '•')} #{alert['id']} {alert['title']}{where}"


def _alert_kv(alert: Mapping[str, Any]) -> str:
    return "|".join(
        str(alert.get(key) or "-").upper()
        if key in ("severity", "category", "status")
        else str(alert.get(key) or "-")
        for key in ("severity", "category", "status", "sku", "location")
    )


def _alert_tag(alert: Mapping[str, Any]) -> str:
    subject = alert.get("sku") or words(alert["category"])
    return f"{SEVERITY_MARK.get(alert['severity'], '•')} #{alert['id']} {subject}"


def _filter_words(flt: Mapping[str, Any]) -> str:
    parts = [words(flt.get(k)) for k in ("severity", "category", "sku", "location") if flt.get(k)]
    return ", ".join(parts) if parts else "all"


def alerts_reply(r: Mapping[str, Any]) -> Reply:
    if "detail" in r:
        return _alert_detail(r["detail"])
    alerts = r.get("alerts") or []
    flt = r.get("filter") or {}
    if not alerts:
        return Reply("utter_alerts_none", {"filter": _filter_words(flt), "timestamp": now_iso()})
    severities: dict[str, int] = {}
    places: dict[str, list[str]] = {}
    for alert in alerts:
        severities[alert["severity"]] = severities.get(alert["severity"], 0) + 1
        places.setdefault(alert.get("location") or "All locations", []).append(
            f"{SEVERITY_MARK.get(alert['severity'], '•')} #{alert['id']}"
        )
    variables = {
        "count": len(alerts),
        "total": r.get("total", len(alerts)),
        "filter": _filter_words(flt),
        "severity_counts": ", ".join(f"{n} {s}" for s, n in severities.items()),
        "alert_lines": bullets(_alert_line(a) for a in alerts),
        "alert_details": bullets(f"{_alert_line(a)} — {a['message']}" for a in alerts),
        "alert_compact": " · ".join(_alert_tag(a) for a in alerts[:3])
        + (
            f" · +{r.get('total', len(alerts)) - 3} more" if r.get("total", len(alerts)) > 3 else ""
        ),
        "location_lines": bullets(f"**{place}**: {' '.join(ids)}" for place, ids in places.items()),
        "kv_alerts": kv((f"ALERT_{a['id']}", _alert_kv(a)) for a in alerts),
        "first_id": alerts[0]["id"],
        "timestamp": now_iso(),
    }
    return Reply("utter_alerts_list", variables)


def _alert_detail(a: Mapping[str, Any]) -> Reply:
    handled = []
    if a.get("acknowledged_by"):
        handled.append(f"acknowledged by {a['acknowledged_by']} at {a['acknowledged_at'][:16]}")
    if a.get("resolved_by"):
        handled.append(f"resolved by {a['resolved_by']} at {a['resolved_at'][:16]}")
    variables = {
        "alert_id": a["id"],
        "severity": a["severity"],
        "severity_code": a["severity"].upper(),
        "severity_mark": SEVERITY_MARK.get(a["severity"], "•"),
        "category": words(a["category"]),
        "category_code": a["category"].upper(),
        "status": a["status"],
        "status_code": a["status"].upper(),
        "title": a["title"],
        "message": a["message"],
        "sku": a.get("sku") or "none",
        "location": a.get("location") or "all locations",
        "supplier": a.get("supplier") or "none",
        "po_number": a.get("po_number") or "none",
        "created_at": a["created_at"],
        "history": "; ".join(handled) or "not handled yet",
        "timestamp": now_iso(),
    }
    buttons = []
    if a["status"] == "open":
        buttons.append(
            {
                "title": f"Ack #{a['id']}",
                "payload": f'/acknowledge_alert{{"alert_id": "{a["id"]}"}}',
            }
        )
    if a["status"] != "resolved":
        buttons.append(
            {
                "title": f"Resolve #{a['id']}",
                "payload": f'/resolve_alert{{"alert_id": "{a["id"]}"}}',
            }
        )
    return Reply("utter_alert_detail", variables, buttons)


def alert_change_reply(r: Mapping[str, Any]) -> Reply:
    changed = r.get("changed") or []
    unchanged = r.get("unchanged") or []
    variables = {
        "action": r["action"],
        "action_code": r["action"].upper(),
        "count": len(changed),
        "ids": ", ".join(f"#{a['id']}" for a in changed) or "none",
        "changed_lines": bullets(_alert_line(a) for a in changed),
        "unchanged_count": len(unchanged),
        "unchanged_note": (
            f"{len(unchanged)} already {r['action']} or closed: "
            + ", ".join(f"#{a['id']}" for a in unchanged)
            if unchanged
            else ""
        ),
        "timestamp": now_iso(),
    }
    if not changed:
        return Reply("utter_alerts_unchanged", variables)
    return Reply("utter_alerts_changed", variables)


# --------------------------------------------------------------------------- reports & metrics
def report_reply(r: Mapping[str, Any]) -> Reply:
    summary = r.get("summary") or {}
    figures = [
        (key, value)
        for key, value in summary.items()
        if key not in ("report_type", "start", "end", "rows") and not isinstance(value, dict)
    ]
    shown = [(k, ", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in figures]
    variables = {
        **_common(r),
        "report_type": r["report_type"],
        "report_type_code": r["report_type"].upper(),
        "start": r["start"],
        "end": r["end"],
        "report_id": r["report_id"],
        "rows": r["row_count"],
        "csv_path": r["csv_path"],
        "chart_path": r.get("chart_path") or "none",
        # What a reply shows: the files' names (they follow as media, or as attachments).
        "csv_file": PurePath(r["csv_path"]).name,
        "chart_file": PurePath(r["chart_path"]).name if r.get("chart_path") else "none",
        "summary_lines": bullets(f"{words(k)}: {v}" for k, v in shown),
        "headline": f"{words(shown[0][0])}: {shown[0][1]}" if shown else f"{r['row_count']} rows",
        "kv_summary": kv((k.upper(), v) for k, v in shown),
    }
    buttons = [
        {"title": "Share", "payload": f'/share_report{{"report_id": "{r["report_id"]}"}}'},
        {
            "title": "Schedule weekly",
            "payload": f'/schedule_report{{"report_type": "{r["report_type"]}"}}',
        },
    ]
    return Reply("utter_report_ready", variables, buttons)


def metrics_reply(r: Mapping[str, Any]) -> Reply:
    by_severity = r.get("open_alerts_by_severity") or {}
    opening, closing = float(r["opening_stock_value"]), float(r["stock_value"])
    variables = {
        **_common(r),
        "start": r["start"],
        "end": r["end"],
        "revenue": number(r["revenue"], 2),
        "cogs": number(r["cost_of_goods_sold"], 2),
        "gross_margin": number(float(r["revenue"]) - float(r["cost_of_goods_sold"]), 2),
        "turnover": r.get("turnover") or "n/a",
        "fill_rate": percent(r.get("fill_rate")),
        "stock_value": number(closing, 2),
        "stock_value_change": f"{closing - opening:+,.2f}",
        "units_sold": number(r["units_sold"]),
        "units_received": number(r["units_received"]),
        "units_consumed": number(r["units_consumed"]),
        "stockouts": r["stockout_events"],
        "out_of_stock": r["products_out_of_stock"],
        "open_alerts": r["open_alerts"],
        "alerts_by_severity": ", ".join(f"{n} {s}" for s, n in by_severity.items() if n) or "none",
        "kv_alerts": kv((f"ALERTS_{s.upper()}", n) for s, n in by_severity.items()),
    }
    return Reply("utter_metrics", variables)


def digest_reply(r: Mapping[str, Any]) -> Reply:
    due = r.get("orders_due") or []
    risks = r.get("top_risks") or []
    new_alerts = r.get("new_alerts") or []
    variables = {
        **_common(r),
        "day": r["day"],
        "movement_count": r["movement_count"],
        "units_in": number(r["units_in"]),
        "units_out": number(r["units_out"]),
        "orders_received": r["orders_received"],
        "new_alert_count": len(new_alerts),
        "unresolved": r["unresolved_alerts"],
        "due_count": len(due),
        "late_count": sum(1 for o in due if o["days_late"] > 0),
        "due_lines": bullets(
            f"{o['po_number']} {o['supplier']} → {o['location']}: {o['units']} units"
            + (f", {o['days_late']} days late" if o["days_late"] else ", due today")
            for o in due
        )
        or "- none",
        "risk_count": len(risks),
        "risk_lines": bullets(_risk_line(x) for x in risks) or "- none",
        "risk_compact": " · ".join(f"{STATUS_MARK.get(x['status'], '•')} {x['sku']}" for x in risks)
        or "none",
        "alert_lines": bullets(_alert_line(a) for a in new_alerts[:5]) or "- none",
        "kv_risks": kv(
            (f"RISK_{x['sku']}", f"{x['total_quantity']} {STATUS_CODE.get(x['status'], 'OK')}")
            for x in risks
        ),
    }
    return Reply("utter_daily_digest", variables)


def _risk_line(x: Mapping[str, Any]) -> str:
    mark = STATUS_MARK.get(x["status"], "•")
    cover = x["days_of_coverage"] or "n/a"
    return (
        f"{mark} **{x['sku']}** {x['name']}: {number(x['total_quantity'])} left (reorder point "
        f"{x['reorder_point']}, {cover} days, {number(x['on_order'])} on order)"
    )


# ---------------------------------------------------------------------------------- suppliers
def _supplier_line(s: Mapping[str, Any]) -> str:
    actual = s.get("actual_lead_time_days") or "n/a"
    return (
        f"**{s['name']}** — {s.get('contact_name') or '-'}, {s.get('email') or '-'}, "
        f"{s.get('phone') or '-'}; lead time {s['promised_lead_time_days']} d promised, "
        f"{actual} d actual; {s['open_orders']} open, {s['late_orders']} late"
    )


def _supplier_fields(s: Mapping[str, Any]) -> str:
    fields = (
        s["name"], s.get("email"), s.get("phone"), s["promised_lead_time_days"],
        s.get("actual_lead_time_days"), s["open_orders"], s["late_orders"],
    )  # fmt: skip
    return "|".join("-" if value is None else str(value) for value in fields)


def _score_line(s: Mapping[str, Any]) -> str:
    mark = "✅" if float(s.get("on_time_rate") or 0) >= 0.85 else "⚠️"
    return (
        f"{s['rank']}. {mark} **{s['supplier']}**: {percent(s.get('on_time_rate'))} on time, "
        f"fill {percent(s.get('fill_rate'))}, avg delay {s.get('avg_delay_days') or 'n/a'} d, "
        f"{s['overdue']} overdue"
    )


def suppliers_reply(r: Mapping[str, Any]) -> Reply:
    suppliers = r.get("suppliers") or []
    first = suppliers[0]
    variables = {
        "count": len(suppliers),
        "for_sku": r.get("for_sku") or "",
        "name": first["name"],
        "contact": first.get("contact_name") or "no contact name",
        "email": first.get("email") or "no e-mail",
        "phone": first.get("phone") or "no phone",
        "promised_lead": first["promised_lead_time_days"],
        "actual_lead": first.get("actual_lead_time_days") or "n/a",
        "product_count": len(first.get("products") or []),
        "products": ", ".join(p["sku"] for p in first.get("products") or []) or "none",
        "open_orders": first["open_orders"],
        "late_orders": first["late_orders"],
        "last_delivery": first.get("last_delivery") or "none",
        "status_mark": "✅" if first["late_orders"] == 0 else "⚠️",
        "supplier_lines": bullets(_supplier_line(s) for s in suppliers),
        "kv_suppliers": kv(
            (f"SUPPLIER_{i}", _supplier_fields(s)) for i, s in enumerate(suppliers, 1)
        ),
        "timestamp": now_iso(),
    }
    return Reply("utter_supplier_info", variables)


def performance_reply(r: Mapping[str, Any]) -> Reply:
    scores = r.get("scores") or []
    if not scores:
        return Reply("utter_supplier_performance_empty", {"start": r["start"], "end": r["end"]})
    best, worst = scores[0], scores[-1]
    variables = {
        **_common(r),
        "start": r["start"],
        "end": r["end"],
        "count": len(scores),
        "on_time": percent(r.get("overall_on_time_rate")),
        "fill_rate": percent(r.get("overall_fill_rate")),
        "best": best["supplier"],
        "best_on_time": percent(best.get("on_time_rate")),
        "worst": worst["supplier"],
        "worst_on_time": percent(worst.get("on_time_rate")),
        "worst_overdue": worst["overdue"],
        "ranking_lines": "\n".join(_score_line(s) for s in scores),
        "ranking_compact": " · ".join(
            f"{s['rank']}. {s['supplier']} {percent(s.get('on_time_rate'))}" for s in scores
        ),
        "kv_scores": kv(
            (
                f"SUPPLIER_{s['rank']}",
                f"{s['supplier']}|{s.get('on_time_rate') or '-'}|{s.get('fill_rate') or '-'}|"
                f"{s.get('avg_delay_days') or '-'}|{s['overdue']}",
            )
            for s in scores
        ),
    }
    return Reply("utter_supplier_performance", variables)


def scan_reply(r: Mapping[str, Any]) -> Reply:
    raised = r.get("raised") or []
    cleared = r.get("cleared") or []
    variables = {
        "raised_count": len(raised),
        "cleared_count": len(cleared),
        "unresolved": r.get("unresolved_count", 0),
        "raised_lines": bullets(_alert_line(a) for a in raised) or "- none",
        "cleared_lines": bullets(_alert_line(a) for a in cleared) or "- none",
        "as_of": r.get("as_of"),
        "timestamp": now_iso(),
    }
    return Reply("utter_monitor_scan", variables)


# ------------------------------------------------------------------------------ stock changes
def reorder_reply(r: Mapping[str, Any]) -> Reply:
    variables = {
        "po_number": r["po_number"],
        "status": r["status"],
        "status_code": r["status"].upper(),
        "sku": r["sku"],
        "name": r["name"],
        "unit": r["unit"],
        "quantity": number(r["quantity"]),
        "supplier": r["supplier"],
        "location": r["location"],
        "total_cost": number(r["total_cost"], 2),
        "unit_cost": number(r["unit_cost"], 2),
        "expected_date": r["expected_date"],
        "lead_time": r["lead_time_days"],
        "on_hand": number(r["on_hand"]),
        "on_order_before": number(r["on_order_before"]),
        "quantity_source": words(r.get("quantity_source")),
        "notes": bullets(r.get("notes") or []),
        "replayed_note": " (already placed for this request — not ordered twice)"
        if r.get("replayed")
        else "",
        "timestamp": now_iso(),
    }
    return Reply("utter_reorder_created", variables)


def stock_update_reply(r: Mapping[str, Any]) -> Reply:
    status = r["status"]
    variables = {
        "sku": r["sku"],
        "name": r["name"],
        "unit": r["unit"],
        "location": r["location"],
        "mode": r["mode"],
        "kind": words(r["kind"]),
        "kind_code": r["kind"].upper(),
        "previous": number(r["previous_quantity"]),
        "new": number(r["new_quantity"]),
        "change": f"{r['change']:+,}",
        "total": number(r["total_quantity"]),
        "reorder_point": number(r["reorder_point"]),
        "status": STATUS_WORDS.get(status, words(status)),
        "status_mark": STATUS_MARK.get(status, "•"),
        "status_code": STATUS_CODE.get(status, status.upper()),
        "movement_id": r.get("movement_id") or "none",
        "replayed_note": " (already recorded — not applied twice)" if r.get("replayed") else "",
        "timestamp": now_iso(),
    }
    return Reply("utter_stock_updated", variables)


# ----------------------------------------------------------------------------------- refusals
def _not_found(command: str, r: Mapping[str, Any]) -> Reply:
    suggestions = r.get("suggestions") or []
    variables = {
        "kind": r["kind"],
        "reference": r["reference"],
        "suggestion_count": len(suggestions),
        "suggestions": ", ".join(s["label"] for s in suggestions) or "nothing close",
        "suggestion_lines": "\n".join(f"{i}. {s['label']}" for i, s in enumerate(suggestions, 1)),
        "first_suggestion": suggestions[0]["value"] if suggestions else "",
        "command": words(command),
    }
    entity = {"product": "sku", "supplier": "supplier", "location": "location"}.get(r["kind"])
    buttons = (
        [
            {"title": s["label"][:20], "payload": f'/{command}{{"{entity}": "{s["value"]}"}}'}
            for s in suggestions[:5]
        ]
        if entity
        else []
    )
    response = "utter_not_found_suggestions" if suggestions else "utter_not_found"
    return Reply(response, variables, buttons)


def _invalid(command: str, r: Mapping[str, Any]) -> Reply:
    return Reply(
        "utter_invalid_input",
        {"command": words(command), "field": words(r["field"]), "message": r["message"]},
    )


def _conflict(command: str, r: Mapping[str, Any]) -> Reply:
    return Reply("utter_conflict", {"command": words(command), "message": r["message"]})


def _denied(command: str, r: Mapping[str, Any]) -> Reply:
    return Reply(
        "utter_permission_denied", permission_variables(command, r["role"], r["allowed_roles"])
    )


def permission_variables(command: str, role: str, allowed_roles: Iterable[str]) -> dict[str, Any]:
    allowed = list(allowed_roles)
    return {
        "command": words(command),
        "role": role,
        "allowed_roles": " or ".join(allowed),
        "allowed_code": ",".join(a.upper() for a in allowed),
    }


_REFUSALS: dict[str, Callable[[str, Mapping[str, Any]], Reply]] = {
    "not_found": _not_found,
    "invalid_input": _invalid,
    "conflict": _conflict,
    "permission_denied": _denied,
}


# ------------------------------------------------------------------------------ pushed alerts
def alert_push_reply(alert: Mapping[str, Any]) -> Reply:
    """A new alert pushed to a subscriber, with Ack / Resolve to act on it from the chat."""
    where = " · ".join(str(alert[k]) for k in ("sku", "location", "supplier") if alert.get(k))
    variables = {
        "alert_id": alert["id"],
        "severity": alert["severity"],
        "severity_code": str(alert["severity"]).upper(),
        "mark": SEVERITY_MARK.get(alert["severity"], "•"),
        "title": alert["title"],
        "message": alert["message"],
        "where": where or "-",
        "category": words(alert["category"]),
        "category_code": str(alert["category"]).upper(),
        "timestamp": now_iso(),
    }
    buttons = [
        {"title": "Ack", "payload": f'/acknowledge_alert{{"alert_id": "{alert["id"]}"}}'},
        {"title": "Resolve", "payload": f'/resolve_alert{{"alert_id": "{alert["id"]}"}}'},
    ]
    return Reply("utter_alert_pushed", variables, buttons)
