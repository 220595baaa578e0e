"""Reorder: a draft purchase order for a suggested quantity from the preferred or named supplier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from misybot import clock
from misybot.agents.common import as_of_or_today, whole_quantity
from misybot.db.models import Location, Product, PurchaseOrder, PurchaseOrderLine, Supplier
from misybot.enums import PurchaseOrderStatus, StockStatus
from misybot.errors import InvalidInput
from misybot.permissions import Operation
from misybot.store.catalog import (
    find_location,
    find_product,
    find_supplier,
    get_location,
    get_product,
    get_supplier,
)
from misybot.store.purchasing import next_po_number
from misybot.store.stock import (
    StockPosition,
    stock_positions,
    stock_status,
    suggested_order_quantity,
)
from misybot.store.tenancy import Actor


@dataclass(frozen=True)
class ReorderRequest:
    """Which product; optionally how many, from whom, delivered where.

    Without a quantity the suggested one is used. A retried request with the same
    ``idempotency_key`` (the execution id) returns the order created the first time.
    """

    sku: str | None = None
    product: str | None = None
    quantity: int | None = None
    supplier: str | None = None
    location: str | None = None
    idempotency_key: str | None = None
    as_of: date | None = None


@dataclass(frozen=True)
class ReorderResult:
    """The draft purchase order and the numbers behind its quantity."""

    purchase_order_id: int
    po_number: str
    status: PurchaseOrderStatus
    sku: str
    name: str
    unit: str
    supplier: str
    location: str
    quantity: int
    quantity_source: str  # "requested", "suggested" or "reorder_quantity"
    suggested_quantity: int
    unit_cost: Decimal
    total_cost: Decimal
    lead_time_days: int
    expected_date: date
    on_hand: int
    on_order_before: int
    avg_daily_usage: Decimal
    notes: tuple[str, ...]
    replayed: bool = False


def reorder(session: Session, actor: Actor, request: ReorderRequest) -> ReorderResult:
    """Create a draft purchase order for one product of the actor's company."""
    actor.require(Operation.REORDER)
    if request.idempotency_key:
        existing = _order_with_key(session, actor.company_id, request.idempotency_key)
        if existing is not None:
            return _replay(session, actor, existing, request)
    as_of = as_of_or_today(request.as_of)
    product = find_product(session, actor.company_id, sku=request.sku, name=request.product)
    supplier = _supplier(session, actor, product, request.supplier)
    (position,) = stock_positions(session, actor.company_id, as_of, product_ids=[product.id])
    location = _delivery_location(session, actor, position, request.location)
    lead_time = supplier.lead_time_days if request.supplier else product.lead_time_days
    suggested = suggested_order_quantity(
        reorder_point=product.reorder_point,
        reorder_quantity=product.reorder_quantity,
        avg_daily_usage=Decimal(position.usage) / position.window_days,
        lead_time_days=lead_time,
        on_hand=position.total,
        on_order=position.on_order,
    )
    notes: list[str] = []
    if request.quantity is not None:
        quantity, source = whole_quantity(request.quantity), "requested"
    elif suggested > 0:
        quantity, source = suggested, "suggested"
    else:
        quantity, source = product.reorder_quantity, "reorder_quantity"
        notes.append(
            f"Stock and open orders already cover the target; ordering the standard "
            f"{product.reorder_quantity} {product.unit}."
        )
    if position.on_order:
        notes.append(f"{position.on_order} {product.unit} already on open orders.")
    if not supplier.active:
        notes.append(f"{supplier.name} is marked inactive; check before sending.")
    expected = as_of + timedelta(days=lead_time)
    order = PurchaseOrder(
        company_id=actor.company_id,
        number=next_po_number(session, actor.company_id),
        supplier_id=supplier.id,
        location_id=location.id,
        status=PurchaseOrderStatus.DRAFT,
        created_by_id=actor.user_id,
        expected_date=expected,
        idempotency_key=request.idempotency_key,
        notes="; ".join(notes) or None,
    )
    order.lines.append(
        PurchaseOrderLine(
            company_id=actor.company_id,
            product_id=product.id,
            quantity_ordered=quantity,
            unit_cost=product.unit_cost,
        )
    )
    try:
        with session.begin_nested():
            session.add(order)
            session.flush()
    except IntegrityError:
        # Same execution retried concurrently: return the order the other attempt created.
        existing = request.idempotency_key and _order_with_key(
            session, actor.company_id, request.idempotency_key
        )
        if not existing:
            raise
        return _replay(session, actor, existing, request)
    return ReorderResult(
        purchase_order_id=order.id,
        po_number=order.number,
        status=PurchaseOrderStatus.DRAFT,
        sku=product.sku,
        name=product.name,
        unit=product.unit,
        supplier=supplier.name,
        location=location.name,
        quantity=quantity,
        quantity_source=source,
        suggested_quantity=suggested,
        unit_cost=product.unit_cost,
        total_cost=product.unit_cost * quantity,
        lead_time_days=lead_time,
        expected_date=expected,
        on_hand=position.total,
        on_order_before=position.on_order,
        avg_daily_usage=position.avg_daily_usage,
        notes=tuple(notes),
    )


_URGENCY = {StockStatus.OUT_OF_STOCK: 0, StockStatus.BELOW_REORDER_POINT: 1, StockStatus.OK: 2}


def _supplier(session: Session, actor: Actor, product: Product, name: str | None) -> Supplier:
    if name:
        return find_supplier(session, actor.company_id, name)
    if product.preferred_supplier_id is None:
        raise InvalidInput("supplier", f"{product.sku} has no preferred supplier; name one")
    return get_supplier(session, actor.company_id, product.preferred_supplier_id)


def _delivery_location(
    session: Session, actor: Actor, position: StockPosition, text: str | None
) -> Location:
    """The named location, else the one where the product is shortest against its minimum."""
    if text:
        return find_location(session, actor.company_id, text)
    if position.quantities:
        minimums = position.location_reorder_points

        def shortage(location_id: int) -> tuple[int, int, int]:
            quantity, minimum = position.quantities[location_id], minimums.get(location_id) or 0
            urgency = _URGENCY[stock_status(quantity, minimum)]
            return urgency, quantity - minimum, location_id

        return position.locations[min(position.quantities, key=shortage)]
    location = session.execute(
        select(Location)
        .where(Location.company_id == actor.company_id, Location.active.is_(True))
        .order_by(Location.id)
        .limit(1)
    ).scalar_one_or_none()
    if location is None:
        raise InvalidInput("location", "the company has no location to deliver to")
    return location


def _order_with_key(session: Session, company_id: int, key: str) -> PurchaseOrder | None:
    return session.execute(
        select(PurchaseOrder).where(
            PurchaseOrder.company_id == company_id, PurchaseOrder.idempotency_key == key
        )
    ).scalar_one_or_none()


def _replay(
    session: Session, actor: Actor, order: PurchaseOrder, request: ReorderRequest
) -> ReorderResult:
    line = order.lines[0]
    product = get_product(session, actor.company_id, line.product_id)
    supplier = get_supplier(session, actor.company_id, order.supplier_id)
    location = get_location(session, actor.company_id, order.location_id)
    as_of = as_of_or_today(request.as_of)
    (position,) = stock_positions(session, actor.company_id, as_of, product_ids=[product.id])
    return ReorderResult(
        purchase_order_id=order.id,
        po_number=order.number,
        status=PurchaseOrderStatus(order.status),
        sku=product.sku,
        name=product.name,
        unit=product.unit,
        supplier=supplier.name,
        location=location.name,
        quantity=line.quantity_ordered,
        quantity_source="replayed",
        suggested_quantity=position.suggested_order,
        unit_cost=line.unit_cost,
        total_cost=line.unit_cost * line.quantity_ordered,
        lead_time_days=(order.expected_date - clock.local_date(order.created_at)).days,
        expected_date=order.expected_date,
        on_hand=position.total,
        on_order_before=position.on_order - line.quantity_ordered,
        avg_daily_usage=position.avg_daily_usage,
        notes=tuple(order.notes.split("; ")) if order.notes else (),
        replayed=True,
    )
