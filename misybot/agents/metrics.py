"""Metrics: stock value, turnover, fill rate, stock-outs and open alerts for a date range."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from misybot.agents.common import check_range, elapsed_ms
from misybot.clock import days_bounds
from misybot.db.models import Alert, Product, PurchaseOrder, PurchaseOrderLine, StockMovement
from misybot.enums import AlertSeverity, AlertStatus, MovementKind, PurchaseOrderStatus
from misybot.permissions import Operation
from misybot.store.stock import movement_totals, quantities_at
from misybot.store.tenancy import Actor

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class MetricsRequest:
    start: date
    end: date


@dataclass(frozen=True)
class Metrics:
    """Key figures for the local days ``start`` … ``end``; money at current unit cost/price.

    ``turnover`` is cost of goods sold over the average of opening and closing stock value;
    ``fill_rate`` is units received / units ordered on purchase orders received in the range;
    ``stockout_events`` counts movements that emptied a product at a location.
    """

    start: date
    end: date
    opening_stock_value: Decimal
    stock_value: Decimal  # at the end of the range
    units_sold: int
    units_consumed: int
    units_received: int
    revenue: Decimal
    cost_of_goods_sold: Decimal
    turnover: Decimal | None
    fill_rate: Decimal | None
    stockout_events: int
    products_out_of_stock: int  # at the end of the range
    open_alerts: int  # unresolved now
    open_alerts_by_severity: dict[str, int]
    query_ms: float


def compute_metrics(session: Session, actor: Actor, request: MetricsRequest) -> Metrics:
    """Key inventory figures of the actor's company for a date range."""
    started = time.perf_counter()
    actor.require(Operation.VIEW)
    check_range(request.start, request.end)
    company_id = actor.company_id
    since, until = days_bounds(request.start, request.end)
    products = {
        p.id: p
        for p in session.execute(select(Product).where(Product.company_id == company_id)).scalars()
    }
    opening = quantities_at(session, company_id, since)
    closing = quantities_at(session, company_id, until)
    moved = movement_totals(session, company_id, since, until)

    def units(kind: MovementKind) -> dict[int, int]:
        return {pid: qty for (pid, k), qty in moved.items() if k is kind}

    sold, consumed, received = (
        units(MovementKind.SALE),
        units(MovementKind.CONSUMPTION),
        units(MovementKind.RECEIPT),
    )
    opening_value = _value(opening, products)
    closing_value = _value(closing, products)
    cogs = sum((products[pid].unit_cost * -qty for pid, qty in sold.items()), ZERO)
    revenue = sum(((products[pid].unit_price or ZERO) * -qty for pid, qty in sold.items()), ZERO)
    average_value = (opening_value + closing_value) / 2
    turnover = (
        (cogs / average_value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if average_value > 0
        else None
    )
    ordered, delivered = session.execute(
        select(
            func.coalesce(func.sum(PurchaseOrderLine.quantity_ordered), 0),
            func.coalesce(func.sum(PurchaseOrderLine.quantity_received), 0),
        )
        .join(
            PurchaseOrder,
            (PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            & (PurchaseOrder.company_id == PurchaseOrderLine.company_id),
        )
        .where(
            PurchaseOrderLine.company_id == company_id,
            PurchaseOrder.status == PurchaseOrderStatus.RECEIVED,
            PurchaseOrder.received_date >= request.start,
            PurchaseOrder.received_date <= request.end,
        )
    ).one()
    stockouts = session.execute(
        select(func.count(StockMovement.id)).where(
            StockMovement.company_id == company_id,
            StockMovement.occurred_at >= since,
            StockMovement.occurred_at < until,
            StockMovement.quantity < 0,
            StockMovement.balance_after == 0,
        )
    ).scalar_one()
    by_severity = dict(
        session.execute(
            select(Alert.severity, func.count(Alert.id))
            .where(Alert.company_id == company_id, Alert.status != AlertStatus.RESOLVED)
            .group_by(Alert.severity)
        ).all()
    )
    severities = {s.value: int(by_severity.get(s, 0)) for s in AlertSeverity}
    return Metrics(
        start=request.start,
        end=request.end,
        opening_stock_value=opening_value,
        stock_value=closing_value,
        units_sold=-sum(sold.values()),
        units_consumed=-sum(consumed.values()),
        units_received=sum(received.values()),
        revenue=revenue,
        cost_of_goods_sold=cogs,
        turnover=turnover,
        fill_rate=(
            (Decimal(int(delivered)) / Decimal(int(ordered))).quantize(Decimal("0.001"))
            if ordered
            else None
        ),
        stockout_events=int(stockouts),
        products_out_of_stock=sum(
            1 for pid, p in products.items() if p.active and closing.get(pid, 0) <= 0
        ),
        open_alerts=sum(severities.values()),
        open_alerts_by_severity=severities,
        query_ms=elapsed_ms(started),
    )


def _value(quantities: dict[int, int], products: dict) -> Decimal:
    return sum(
        (products[pid].unit_cost * qty for pid, qty in quantities.items() if pid in products), ZERO
    )
