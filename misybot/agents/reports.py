"""Report generator: inventory, sales, supplier and financial reports as CSV plus a PNG chart."""

from __future__ import annotations

import csv
import logging
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from misybot import clock
from misybot.agents.common import check_range, elapsed_ms
from misybot.agents.suppliers import SupplierPerformanceRequest, supplier_performance
from misybot.clock import days_bounds
from misybot.db.models import Location, Product, Report, StockLevel, StockMovement
from misybot.enums import USAGE_KINDS, MovementKind, ReportType, StockStatus
from misybot.errors import InvalidInput, NotFound
from misybot.permissions import Operation
from misybot.settings import get_settings
from misybot.store.stock import movement_totals, quantities_at, stock_status
from misybot.store.tenancy import Actor

logger = logging.getLogger(__name__)

ZERO = Decimal("0.00")
MAX_RANGE_DAYS = 366 * 2
TOP_N_CHART = 15


@dataclass(frozen=True)
class ReportRequest:
    """A report type over the local days ``start`` … ``end``; ``as_of`` dates "overdue"."""

    report_type: ReportType
    start: date
    end: date
    as_of: date | None = None


@dataclass(frozen=True)
class ReportResult:
    """Where the files are and the figures for the chat reply (JSON-ready: money as strings)."""

    report_id: int
    report_type: ReportType
    start: date
    end: date
    csv_path: Path
    chart_path: Path
    row_count: int
    summary: dict
    query_ms: float


@dataclass
class _Table:
    header: list[str]
    rows: list[list] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    chart: dict = field(default_factory=dict)  # kind, title, labels, series {name: values}


def generate_report(
    session: Session, actor: Actor, request: ReportRequest, reports_dir: Path | None = None
) -> ReportResult:
    """Build a report for the actor's company and write it under ``reports_dir/<company>/``."""
    started = time.perf_counter()
    actor.require(Operation.GENERATE_REPORT)
    report_type = ReportType(request.report_type)
    check_range(request.start, request.end)
    if (request.end - request.start).days > MAX_RANGE_DAYS:
        raise InvalidInput("date_range", f"at most {MAX_RANGE_DAYS} days per report")
    build = {
        ReportType.INVENTORY: _inventory,
        ReportType.SALES: _sales,
        ReportType.SUPPLIER: _supplier,
        ReportType.FINANCIAL: _financial,
    }[report_type]
    table = build(session, actor, request)

    report = Report(
        company_id=actor.company_id,
        report_type=report_type,
        start_date=request.start,
        end_date=request.end,
        format="csv",
        requested_by_id=actor.user_id,
    )
    session.add(report)
    session.flush()
    folder = Path(reports_dir or get_settings().reports_dir) / actor.company_slug
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{report_type.value}-{request.start.isoformat()}-{request.end.isoformat()}-{report.id}"
    csv_path, chart_path = folder / f"{stem}.csv", folder / f"{stem}.png"
    try:
        _write_csv(csv_path, table)
        _write_chart(chart_path, table.chart)
    except BaseException:
        for path in (csv_path, chart_path):
            path.unlink(missing_ok=True)
        raise
    summary = {
        "report_type": report_type.value,
        "start": request.start.isoformat(),
        "end": request.end.isoformat(),
        "rows": len(table.rows),
        **table.summary,
    }
    report.file_path, report.chart_path, report.summary = str(csv_path), str(chart_path), summary
    session.flush()
    logger.info(
        "report.generated company=%s type=%s rows=%d",
        actor.company_slug,
        report_type.value,
        len(table.rows),
    )
    return ReportResult(
        report_id=report.id,
        report_type=report_type,
        start=request.start,
        end=request.end,
        csv_path=csv_path,
        chart_path=chart_path,
        row_count=len(table.rows),
        summary=summary,
        query_ms=elapsed_ms(started),
    )


def get_report(session: Session, actor: Actor, report_id: int) -> Report:
    """The actor's company's report with this id; ``NotFound`` for another company's."""
    actor.require(Operation.VIEW)
    report = session.execute(
        select(Report).where(Report.company_id == actor.company_id, Report.id == report_id)
    ).scalar_one_or_none()
    if report is None:
        raise NotFound("report", f"#{report_id}")
    return report


# --------------------------------------------------------------------------- report builders
def _products(session: Session, company_id: int) -> list[Product]:
    return list(
        session.execute(
            select(Product).where(Product.company_id == company_id).order_by(Product.sku)
        ).scalars()
    )


def _locations(session: Session, company_id: int) -> list[Location]:
    return list(
        session.execute(
            select(Location).where(Location.company_id == company_id).order_by(Location.id)
        ).scalars()
    )


def _inventory(session: Session, actor: Actor, request: ReportRequest) -> _Table:
    start, end = request.start, request.end
    company_id = actor.company_id
    since, until = days_bounds(start, end)
    products, locations = _products(session, company_id), _locations(session, company_id)
    closing: dict[tuple[int, int], int] = {
        (pid, lid): qty
        for pid, lid, qty in session.execute(
            select(StockLevel.product_id, StockLevel.location_id, StockLevel.quantity).where(
                StockLevel.company_id == company_id
            )
        )
    }
    for pid, lid, change in session.execute(
        select(
            StockMovement.product_id, StockMovement.location_id, func.sum(StockMovement.quantity)
        )
        .where(StockMovement.company_id == company_id, StockMovement.occurred_at >= until)
        .group_by(StockMovement.product_id, StockMovement.location_id)
    ):
        closing[(pid, lid)] = closing.get((pid, lid), 0) - int(change)
    moved = movement_totals(session, company_id, since, until)
    table = _Table(
        ["sku", "name", "unit"]
        + [loc.name for loc in locations]
        + [
            "total",
            "reorder_point",
            "status",
            "unit_cost",
            "stock_value",
            "received",
            "used",
            "written_off",
        ]
    )
    totals = {"units": 0, "value": ZERO, "below": 0, "out": 0}
    values = []
    for product in products:
        per_location = [closing.get((product.id, loc.id), 0) for loc in locations]
        total = sum(per_location)
        status = stock_status(total, product.reorder_point)
        value = product.unit_cost * total
        used = -sum(moved.get((product.id, kind), 0) for kind in USAGE_KINDS)
        table.rows.append(
            [
                product.sku,
                product.name,
                product.unit,
                *per_location,
                total,
                product.reorder_point,
                status.value,
                product.unit_cost,
                value,
                moved.get((product.id, MovementKind.RECEIPT), 0),
                used,
                -moved.get((product.id, MovementKind.WRITE_OFF), 0),
            ]
        )
        totals["units"] += total
        totals["value"] += value
        totals["below"] += status is StockStatus.BELOW_REORDER_POINT
        totals["out"] += status is StockStatus.OUT_OF_STOCK
        values.append((value, product.sku))
    values.sort(reverse=True)
    table.summary = {
        "products": len(products),
        "units": totals["units"],
        "stock_value": str(totals["value"]),
        "below_reorder_point": totals["below"],
        "out_of_stock": totals["out"],
        "top_value_skus": [sku for _value, sku in values[:3]],
    }
    top = values[:TOP_N_CHART]
    table.chart = {
        "kind": "barh",
        "title": f"Stock value at {end.isoformat()} (top {len(top)})",
        "labels": [sku for _value, sku in top],
        "series": {"stock value": [float(value) for value, _sku in top]},
    }
    return table


def _sales(session: Session, actor: Actor, request: ReportRequest) -> _Table:
    start, end = request.start, request.end
    company_id = actor.company_id
    since, until = days_bounds(start, end)
    products = {p.id: p for p in _products(session, company_id)}
    locations = _locations(session, company_id)
    rows = session.execute(
        select(
            StockMovement.product_id,
            StockMovement.location_id,
            StockMovement.quantity,
            StockMovement.occurred_at,
        ).where(
            StockMovement.company_id == company_id,
            StockMovement.kind == MovementKind.SALE,
            StockMovement.occurred_at >= since,
            StockMovement.occurred_at < until,
        )
    ).all()
    units: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    per_day: dict[date, int] = {start + timedelta(days=i): 0 for i in range((end - start).days + 1)}
    for pid, lid, quantity, occurred_at in rows:
        units[pid][lid] += -quantity
        per_day[clock.local_date(occurred_at)] += -quantity
    table = _Table(
        ["sku", "name", "units_sold", "unit_price", "revenue"] + [loc.name for loc in locations]
    )
    revenue_total = ZERO
    ranked = sorted(
        units,
        key=lambda pid: (
            -(products[pid].unit_price or ZERO) * sum(units[pid].values()),
            products[pid].sku,
        ),
    )
    for pid in ranked:
        product, sold = products[pid], sum(units[pid].values())
        revenue = (product.unit_price or ZERO) * sold
        revenue_total += revenue
        table.rows.append(
            [product.sku, product.name, sold, product.unit_price or ZERO, revenue]
            + [units[pid].get(loc.id, 0) for loc in locations]
        )
    best_day = max(per_day, key=lambda day: (per_day[day], day)) if rows else None
    table.summary = {
        "units_sold": sum(per_day.values()),
        "revenue": str(revenue_total),
        "products_sold": len(units),
        "top_skus": [products[pid].sku for pid in ranked[:3]],
        "best_day": best_day.isoformat() if best_day else None,
    }
    table.chart = {
        "kind": "line",
        "title": f"Units sold per day, {start.isoformat()} to {end.isoformat()}",
        "labels": [day.isoformat() for day in per_day],
        "series": {"units sold": list(per_day.values())},
    }
    return table


def _supplier(session: Session, actor: Actor, request: ReportRequest) -> _Table:
    start, end = request.start, request.end
    performance = supplier_performance(
        session, actor, SupplierPerformanceRequest(start=start, end=end, as_of=request.as_of)
    )
    table = _Table(
        [
            "rank",
            "supplier",
            "orders",
            "delivered",
            "on_time",
            "overdue",
            "pending",
            "on_time_rate",
            "avg_delay_days",
            "max_delay_days",
            "fill_rate",
            "units_ordered",
            "units_received",
        ]
    )
    for s in performance.scores:
        table.rows.append(
            [
                s.rank,
                s.supplier,
                s.orders,
                s.delivered,
                s.on_time,
                s.overdue,
                s.pending,
                s.on_time_rate,
                s.avg_delay_days,
                s.max_delay_days,
                s.fill_rate,
                s.units_ordered,
                s.units_received,
            ]
        )
    scored = [s for s in performance.scores if s.on_time_rate is not None]
    table.summary = {
        "suppliers": len(performance.scores),
        "overall_on_time_rate": _text(performance.overall_on_time_rate),
        "overall_fill_rate": _text(performance.overall_fill_rate),
        "best": scored[0].supplier if scored else None,
        "worst": scored[-1].supplier if len(scored) > 1 else None,
    }
    table.chart = {
        "kind": "bar",
        "title": f"Supplier on-time and fill rate, {start.isoformat()} to {end.isoformat()}",
        "labels": [s.supplier for s in performance.scores],
        "series": {
            "on-time rate": [float(s.on_time_rate or 0) for s in performance.scores],
            "fill rate": [float(s.fill_rate or 0) for s in performance.scores],
        },
    }
    return table


def _financial(session: Session, actor: Actor, request: ReportRequest) -> _Table:
    start, end = request.start, request.end
    company_id = actor.company_id
    since, until = days_bounds(start, end)
    products = _products(session, company_id)
    opening = quantities_at(session, company_id, since)
    closing = quantities_at(session, company_id, until)
    moved = movement_totals(session, company_id, since, until)
    table = _Table(
        [
            "sku",
            "name",
            "opening_value",
            "purchases",
            "revenue",
            "cost_of_goods_sold",
            "gross_margin",
            "write_offs",
            "other_movements",
            "closing_value",
        ]
    )
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for product in products:
        cost, price = product.unit_cost, product.unit_price or ZERO
        change = {kind: moved.get((product.id, kind), 0) for kind in MovementKind}
        sold = -change[MovementKind.SALE]
        figures = {
            "opening_value": cost * opening.get(product.id, 0),
            "purchases": cost * change[MovementKind.RECEIPT],
            "revenue": price * sold,
            "cost_of_goods_sold": cost * sold,
            "write_offs": cost * -change[MovementKind.WRITE_OFF],
            "other_movements": cost
            * (
                change[MovementKind.CONSUMPTION]
                + change[MovementKind.ADJUSTMENT]
                + change[MovementKind.TRANSFER]
            ),
            "closing_value": cost * closing.get(product.id, 0),
        }
        figures["gross_margin"] = figures["revenue"] - figures["cost_of_goods_sold"]
        if not any(figures.values()):
            continue
        for key, amount in figures.items():
            totals[key] += amount
        table.rows.append([product.sku, product.name] + [figures[c] for c in table.header[2:]])
    margin_pct = (
        (totals["gross_margin"] / totals["revenue"] * 100).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )
        if totals["revenue"]
        else None
    )
    table.summary = {key: str(totals[key]) for key in table.header[2:]}
    table.summary["gross_margin_pct"] = _text(margin_pct)
    labels = [
        "opening_value",
        "purchases",
        "cost_of_goods_sold",
        "write_offs",
        "closing_value",
        "revenue",
    ]
    table.chart = {
        "kind": "bar",
        "title": f"Financial summary, {start.isoformat()} to {end.isoformat()}",
        "labels": [label.replace("_", " ") for label in labels],
        "series": {"amount": [float(totals[label]) for label in labels]},
    }
    return table


# --------------------------------------------------------------------------------- writers
def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _cell(value) -> str:
    return "" if value is None else str(value)


def _write_csv(path: Path, table: _Table) -> None:
    partial = path.with_suffix(".csv.part")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.header)
        writer.writerows([_cell(value) for value in row] for row in table.rows)
    os.replace(partial, path)


def _write_chart(path: Path, chart: dict) -> None:
    # The object-oriented Agg API: no pyplot global state, safe in worker threads.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels: Sequence[str] = chart.get("labels", [])
    series: dict[str, list[float]] = chart.get("series", {})
    figure = Figure(figsize=(10, 5.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    kind = chart.get("kind", "bar")
    if not labels:
        axes.text(0.5, 0.5, "No data in this period", ha="center", va="center")
        axes.set_axis_off()
    elif kind == "barh":
        (values,) = series.values()
        axes.barh(list(labels)[::-1], list(values)[::-1], color="#2f6690")
        axes.set_xlabel(next(iter(series)))
    elif kind == "line":
        for name, values in series.items():
            axes.plot(range(len(labels)), values, marker=".", label=name, color="#2f6690")
        step = max(1, len(labels) // 10)
        axes.set_xticks(range(0, len(labels), step))
        axes.set_xticklabels(list(labels)[::step], rotation=30, ha="right", fontsize=8)
        axes.legend()
    else:
        width = 0.8 / max(1, len(series))
        for index, (name, values) in enumerate(series.items()):
            positions = [i + index * width for i in range(len(labels))]
            axes.bar(positions, values, width=width, label=name)
        axes.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(labels))])
        axes.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
        if len(series) > 1:
            axes.legend()
    axes.set_title(chart.get("title", ""))
    figure.tight_layout()
    partial = path.with_suffix(".png.part")
    figure.savefig(partial, format="png")
    os.replace(partial, path)
