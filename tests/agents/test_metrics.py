"""Metrics recomputed from movements, order lines and alerts."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from seeded import TODAY, actor_as, company
from sqlalchemy import select

from misybot import clock
from misybot.agents.metrics import MetricsRequest, compute_metrics
from misybot.db.models import Alert, Product, PurchaseOrder, PurchaseOrderLine, StockMovement
from misybot.enums import AlertStatus, MovementKind, PurchaseOrderStatus

START, END = TODAY - timedelta(days=29), TODAY


def test_metrics_for_the_last_30_days(session):
    metrics = compute_metrics(session, actor_as(session, "joao"), MetricsRequest(START, END))

    demo = company(session)
    products = {
        p.id: p
        for p in session.execute(select(Product).where(Product.company_id == demo.id)).scalars()
    }
    moves = (
        session.execute(select(StockMovement).where(StockMovement.company_id == demo.id))
        .scalars()
        .all()
    )
    before, after, in_range = defaultdict(int), defaultdict(int), []
    for move in moves:
        day = clock.local_date(move.occurred_at)
        if day < START:
            before[move.product_id] += move.quantity
        if day <= END:
            after[move.product_id] += move.quantity
        if START <= day <= END:
            in_range.append(move)

    def total(kind):
        return sum(m.quantity for m in in_range if m.kind is kind)

    def value(quantities):
        return sum((products[pid].unit_cost * q for pid, q in quantities.items()), Decimal(0))

    sold = [m for m in in_range if m.kind is MovementKind.SALE]
    cogs = sum((products[m.product_id].unit_cost * -m.quantity for m in sold), Decimal(0))
    revenue = sum((products[m.product_id].unit_price * -m.quantity for m in sold), Decimal(0))
    average = (value(before) + value(after)) / 2
    received_lines = session.execute(
        select(PurchaseOrderLine.quantity_ordered, PurchaseOrderLine.quantity_received)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(
            PurchaseOrder.company_id == demo.id,
            PurchaseOrder.status == PurchaseOrderStatus.RECEIVED,
            PurchaseOrder.received_date.between(START, END),
        )
    ).all()
    unresolved = (
        session.execute(
            select(Alert.severity).where(
                Alert.company_id == demo.id, Alert.status != AlertStatus.RESOLVED
            )
        )
        .scalars()
        .all()
    )

    assert metrics.units_sold == -total(MovementKind.SALE)
    assert metrics.units_consumed == -total(MovementKind.CONSUMPTION)
    assert metrics.units_received == total(MovementKind.RECEIPT)
    assert metrics.opening_stock_value == value(before)
    assert metrics.stock_value == value(after)
    assert metrics.cost_of_goods_sold == cogs
    assert metrics.revenue == revenue
    assert metrics.turnover == (cogs / average).quantize(Decimal("0.01"), ROUND_HALF_UP)
    ordered = sum(o for o, _r in received_lines)
    received = sum(r for _o, r in received_lines)
    assert metrics.fill_rate == (Decimal(received) / ordered).quantize(Decimal("0.001"))
    assert metrics.stockout_events == sum(
        1 for m in in_range if m.quantity < 0 and m.balance_after == 0
    )
    assert metrics.products_out_of_stock == sum(1 for pid in products if after[pid] <= 0)
    assert metrics.open_alerts == len(unresolved)
    assert metrics.open_alerts_by_severity["critical"] == sum(
        1 for s in unresolved if s.value == "critical"
    )
