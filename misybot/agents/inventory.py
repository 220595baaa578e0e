"""Inventory monitor: one product's stock per location, status, usage, coverage and advice."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from misybot import clock
from misybot.agents.common import as_of_or_today, elapsed_ms
from misybot.db.models import Supplier
from misybot.enums import PurchaseOrderStatus, StockStatus
from misybot.permissions import Operation
from misybot.store.catalog import find_location, find_product, get_supplier
from misybot.store.purchasing import order_lines_for_product
from misybot.store.stock import (
    USAGE_WINDOW_DAYS,
    StockPosition,
    overstock_threshold,
    stock_positions,
    stock_status,
)
from misybot.store.tenancy import Actor


@dataclass(frozen=True)
class InventoryQuery:
    """Which product (SKU or name), optionally one location, as of which day (default today)."""

    sku: str | None = None
    product: str | None = None
    location: str | None = None
    as_of: date | None = None


@dataclass(frozen=True)
class LocationStock:
    """Units at one location and their status against the location's own minimum."""

    location: str
    code: str
    quantity: int
    reorder_point: int | None
    status: StockStatus


@dataclass(frozen=True)
class LastReorder:
    """The product's most recent purchase order that was not cancelled."""

    po_number: str
    supplier: str
    status: PurchaseOrderStatus
    ordered_on: date
    expected_date: date | None
    received_date: date | None
    quantity_ordered: int
    quantity_received: int | None


@dataclass(frozen=True)
class InventoryStatus:
    """What the inventory monitor knows about one product."""

    company: str
    sku: str
    name: str
    unit: str
    total_quantity: int
    reorder_point: int
    reorder_quantity: int
    status: StockStatus
    locations: tuple[LocationStock, ...]
    avg_daily_usage: Decimal
    usage_window_days: int
    days_of_coverage: Decimal | None
    on_order: int
    suggested_order_quantity: int
    lead_time_days: int
    preferred_supplier: str | None
    unit_cost: Decimal
    stock_value: Decimal
    overstocked: bool
    last_reorder: LastReorder | None
    overdue_orders: tuple[LastReorder, ...]  # sent, past their expected date
    recommendations: tuple[str, ...]
    as_of: date
    query_ms: float


def check_inventory(session: Session, actor: Actor, query: InventoryQuery) -> InventoryStatus:
    """The stock status of one product of the actor's company."""
    started = time.perf_counter()
    actor.require(Operation.VIEW)
    as_of = as_of_or_today(query.as_of)
    product = find_product(session, actor.company_id, sku=query.sku, name=query.product)
    focus = find_location(session, actor.company_id, query.location) if query.location else None
    (position,) = stock_positions(session, actor.company_id, as_of, product_ids=[product.id])
    supplier = (
        get_supplier(session, actor.company_id, product.preferred_supplier_id)
        if product.preferred_supplier_id
        else None
    )
    locations = tuple(
        LocationStock(
            location=position.locations[location_id].name,
            code=position.locations[location_id].code,
            quantity=quantity,
            reorder_point=position.location_reorder_points.get(location_id),
            status=stock_status(quantity, position.location_reorder_points.get(location_id)),
        )
        for location_id, quantity in position.quantities.items()
        if focus is None or location_id == focus.id
    )
    if focus is not None and not locations:
        locations = (LocationStock(focus.name, focus.code, 0, None, StockStatus.OUT_OF_STOCK),)
    last, overdue = _orders(session, actor.company_id, product.id, as_of)
    return InventoryStatus(
        company=actor.company_slug,
        sku=product.sku,
        name=product.name,
        unit=product.unit,
        total_quantity=position.total,
        reorder_point=product.reorder_point,
        reorder_quantity=product.reorder_quantity,
        status=position.status,
        locations=locations,
        avg_daily_usage=position.avg_daily_usage,
        usage_window_days=USAGE_WINDOW_DAYS,
        days_of_coverage=position.days_of_coverage,
        on_order=position.on_order,
        suggested_order_quantity=position.suggested_order,
        lead_time_days=product.lead_time_days,
        preferred_supplier=supplier.name if supplier else None,
        unit_cost=product.unit_cost,
        stock_value=product.unit_cost * position.total,
        overstocked=position.total > overstock_threshold(product),
        last_reorder=last,
        overdue_orders=overdue,
        recommendations=recommendations(position, supplier, overdue),
        as_of=as_of,
        query_ms=elapsed_ms(started),
    )


def _orders(
    session: Session, company_id: int, product_id: int, as_of: date
) -> tuple[LastReorder | None, tuple[LastReorder, ...]]:
    """The product's last non-cancelled order, and its sent orders overdue at ``as_of``."""
    last, overdue = None, []
    for order, line, supplier in order_lines_for_product(session, company_id, product_id):
        if order.status == PurchaseOrderStatus.CANCELLED:
            continue
        summary = LastReorder(
            po_number=order.number,
            supplier=supplier.name,
            status=PurchaseOrderStatus(order.status),
            ordered_on=clock.local_date(order.ordered_at or order.created_at),
            expected_date=order.expected_date,
            received_date=order.received_date,
            quantity_ordered=line.quantity_ordered,
            quantity_received=line.quantity_received,
        )
        last = last or summary
        late = order.expected_date is not None and order.expected_date < as_of
        if summary.status is PurchaseOrderStatus.SENT and late:
            overdue.append(summary)
    overdue.sort(key=lambda o: (o.expected_date, o.po_number))
    return last, tuple(overdue)


def recommendations(
    position: StockPosition, supplier: Supplier | None, overdue: tuple[LastReorder, ...] = ()
) -> tuple[str, ...]:
    """Plain-language next steps for a product's position."""
    product = position.product
    unit, total = product.unit, position.total
    advice: list[str] = []
    coverage = position.days_of_coverage
    short_cover = coverage is not None and coverage < product.lead_time_days
    if position.status is not StockStatus.OK or short_cover:
        if position.status is StockStatus.OUT_OF_STOCK:
            why = "Out of stock"
        elif position.status is StockStatus.BELOW_REORDER_POINT:
            why = f"Below the reorder point ({total} <= {product.reorder_point})"
        else:
            why = f"Only {coverage} days of cover for a {product.lead_time_days}-day lead time"
        source = f" from {supplier.name}" if supplier else ""
        if position.suggested_order > 0:
            advice.append(
                f"{why}: reorder {position.suggested_order} {unit}{source} "
                f"(lead time {product.lead_time_days} days)."
            )
        else:
            advice.append(f"{why}, but {position.on_order} {unit} already on order; no new order.")
    if overdue:
        oldest = overdue[0]
        late = (position.as_of - oldest.expected_date).days
        more = f" (and {len(overdue) - 1} more overdue)" if len(overdue) > 1 else ""
        advice.append(
            f"{oldest.po_number} from {oldest.supplier} is {late} days late{more}; chase it."
        )
    advice.extend(_transfers(position))
    if total > overstock_threshold(product):
        advice.append(
            f"Overstocked: {total} {unit} is above the maximum of "
            f"{overstock_threshold(product)}; hold further orders."
        )
    if position.usage == 0 and total > 0:
        advice.append(
            f"No sales or usage in {position.window_days} days: consider moving or reducing stock."
        )
    if not advice:
        advice.append(f"Stock is healthy: about {coverage} days of cover.")
    return tuple(advice)


def _transfers(position: StockPosition) -> list[str]:
    """Move surplus from a location above its minimum to one that is out or below its minimum."""
    minimums = position.location_reorder_points
    needs = {
        loc: (minimums.get(loc) or 0) - qty
        for loc, qty in position.quantities.items()
        if stock_status(qty, minimums.get(loc)) is not StockStatus.OK
    }
    surplus = {
        loc: qty - (minimums.get(loc) or 0)
        for loc, qty in position.quantities.items()
        if loc not in needs and qty - (minimums.get(loc) or 0) > 0
    }
    advice = []
    for target, need in sorted(needs.items(), key=lambda item: -item[1]):
        if need <= 0 or not surplus:
            continue
        source = max(surplus, key=lambda loc: surplus[loc])
        amount = min(need, surplus[source])
        if amount <= 0:
            continue
        surplus[source] -= amount
        names = position.locations
        advice.append(
            f"Move {amount} {position.product.unit} from {names[source].name} "
            f"to {names[target].name}."
        )
    return advice
