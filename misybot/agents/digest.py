"""Daily digest: what changed today — movements, new alerts, orders due, top risks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from misybot.agents.alerts import UNRESOLVED, AlertInfo, alert_infos
from misybot.agents.common import as_of_or_today, elapsed_ms
from misybot.clock import days_bounds
from misybot.db.models import Alert, Location, PurchaseOrder, StockMovement, Supplier
from misybot.enums import MovementKind, PurchaseOrderStatus, StockStatus
from misybot.permissions import Operation
from misybot.store.purchasing import order_quantities
from misybot.store.stock import stock_positions
from misybot.store.tenancy import Actor

TOP_RISKS = 5
_STATUS_ORDER = {StockStatus.OUT_OF_STOCK: 0, StockStatus.BELOW_REORDER_POINT: 1, StockStatus.OK: 2}


@dataclass(frozen=True)
class DigestRequest:
    day: date | None = None  # default today


@dataclass(frozen=True)
class MovementSummary:
    kind: MovementKind
    count: int
    units: int  # signed total


@dataclass(frozen=True)
class DueOrder:
    po_number: str
    supplier: str
    location: str
    expected_date: date
    days_late: int  # 0 when due today
    units: int


@dataclass(frozen=True)
class RiskItem:
    sku: str
    name: str
    total_quantity: int
    reorder_point: int
    status: StockStatus
    days_of_coverage: Decimal | None
    lead_time_days: int
    on_order: int


@dataclass(frozen=True)
class DailyDigest:
    day: date
    movements: tuple[MovementSummary, ...]
    movement_count: int
    units_in: int
    units_out: int
    orders_received: int
    new_alerts: tuple[AlertInfo, ...]
    unresolved_alerts: int
    orders_due: tuple[DueOrder, ...]  # sent, expected today or earlier, not yet received
    top_risks: tuple[RiskItem, ...]
    query_ms: float


def daily_digest(session: Session, actor: Actor, request: DigestRequest) -> DailyDigest:
    """Summary of one day for the actor's company."""
    started = time.perf_counter()
    actor.require(Operation.VIEW)
    day = as_of_or_today(request.day)
    company_id = actor.company_id
    since, until = days_bounds(day, day)
    movement_rows = session.execute(
        select(StockMovement.kind, func.count(StockMovement.id), func.sum(StockMovement.quantity))
        .where(
            StockMovement.company_id == company_id,
            StockMovement.occurred_at >= since,
            StockMovement.occurred_at < until,
        )
        .group_by(StockMovement.kind)
    ).all()
    movements = tuple(
        sorted(
            (
                MovementSummary(MovementKind(kind), int(count), int(units or 0))
                for kind, count, units in movement_rows
            ),
            key=lambda m: list(MovementKind).index(m.kind),
        )
    )
    in_out = session.execute(
        select(
            func.coalesce(func.sum(case((StockMovement.quantity > 0, StockMovement.quantity))), 0),
            func.coalesce(func.sum(case((StockMovement.quantity < 0, StockMovement.quantity))), 0),
        ).where(
            StockMovement.company_id == company_id,
            StockMovement.occurred_at >= since,
            StockMovement.occurred_at < until,
        )
    ).one()
    new_alerts = list(
        session.execute(
            select(Alert)
            .where(
                Alert.company_id == company_id,
                Alert.created_at >= since,
                Alert.created_at < until,
            )
            .order_by(Alert.id)
        ).scalars()
    )
    unresolved = session.execute(
        select(func.count(Alert.id)).where(
            Alert.company_id == company_id, Alert.status.in_(UNRESOLVED)
        )
    ).scalar_one()
    received_today = session.execute(
        select(func.count(PurchaseOrder.id)).where(
            PurchaseOrder.company_id == company_id,
            PurchaseOrder.status == PurchaseOrderStatus.RECEIVED,
            PurchaseOrder.received_date == day,
        )
    ).scalar_one()
    positions = stock_positions(session, company_id, day)
    risky = [
        p
        for p in positions
        if p.status is not StockStatus.OK
        or (p.days_of_coverage is not None and p.days_of_coverage < p.product.lead_time_days)
    ]
    risky.sort(key=lambda p: (_STATUS_ORDER[p.status], p.days_of_coverage or 0, p.product.sku))
    return DailyDigest(
        day=day,
        movements=movements,
        movement_count=sum(m.count for m in movements),
        units_in=int(in_out[0]),
        units_out=-int(in_out[1]),
        orders_received=int(received_today),
        new_alerts=alert_infos(session, company_id, new_alerts),
        unresolved_alerts=int(unresolved),
        orders_due=_orders_due(session, company_id, day),
        top_risks=tuple(
            RiskItem(
                sku=p.product.sku,
                name=p.product.name,
                total_quantity=p.total,
                reorder_point=p.product.reorder_point,
                status=p.status,
                days_of_coverage=p.days_of_coverage,
                lead_time_days=p.product.lead_time_days,
                on_order=p.on_order,
            )
            for p in risky[:TOP_RISKS]
        ),
        query_ms=elapsed_ms(started),
    )


def _orders_due(session: Session, company_id: int, day: date) -> tuple[DueOrder, ...]:
    rows = session.execute(
        select(PurchaseOrder, Supplier.name, Location.name)
        .join(
            Supplier,
            (Supplier.id == PurchaseOrder.supplier_id)
            & (Supplier.company_id == PurchaseOrder.company_id),
        )
        .join(
            Location,
            (Location.id == PurchaseOrder.location_id)
            & (Location.company_id == PurchaseOrder.company_id),
        )
        .where(
            PurchaseOrder.company_id == company_id,
            PurchaseOrder.status == PurchaseOrderStatus.SENT,
            PurchaseOrder.expected_date <= day,
        )
        .order_by(PurchaseOrder.expected_date, PurchaseOrder.id)
    ).all()
    quantities = order_quantities(session, company_id, [order.id for order, _s, _l in rows])
    return tuple(
        DueOrder(
            po_number=order.number,
            supplier=supplier,
            location=location,
            expected_date=order.expected_date,
            days_late=(day - order.expected_date).days,
            units=quantities.get(order.id, (0, 0))[0],
        )
        for order, supplier, location in rows
    )
