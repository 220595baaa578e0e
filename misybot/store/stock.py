"""Stock positions (on hand, usage, on order) and the one write path for stock changes."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from misybot.clock import days_bounds
from misybot.db.models import (
    Location,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLevel,
    StockMovement,
)
from misybot.enums import USAGE_KINDS, MovementKind, PurchaseOrderStatus, StockStatus
from misybot.errors import InvalidInput

USAGE_WINDOW_DAYS = 30
OPEN_PO_STATUSES = (PurchaseOrderStatus.DRAFT, PurchaseOrderStatus.SENT)


def stock_status(quantity: int, reorder_point: int | None) -> StockStatus:
    """Out of stock at zero, below the reorder point at or under it, else OK."""
    if quantity <= 0:
        return StockStatus.OUT_OF_STOCK
    if reorder_point is not None and quantity <= reorder_point:
        return StockStatus.BELOW_REORDER_POINT
    return StockStatus.OK


def overstock_threshold(product: Product) -> int:
    """Above this total the product is overstocked."""
    if product.max_stock is not None:
        return product.max_stock
    return product.reorder_point + 3 * product.reorder_quantity


def suggested_order_quantity(
    *,
    reorder_point: int,
    reorder_quantity: int,
    avg_daily_usage: Decimal,
    lead_time_days: int,
    on_hand: int,
    on_order: int,
) -> int:
    """Units to order so that, after the lead-time demand, stock is back at RP + RQ.

    ``reorder point + reorder quantity + ceil(daily usage x lead time) - on hand - on order``,
    never below zero.
    """
    lead_time_demand = math.ceil(avg_daily_usage * lead_time_days)
    return max(0, reorder_point + reorder_quantity + lead_time_demand - on_hand - on_order)


@dataclass(frozen=True)
class StockPosition:
    """A product's stock now, its recent usage and what is on order."""

    product: Product
    quantities: dict[int, int]  # location id -> units
    location_reorder_points: dict[int, int | None]
    usage: int  # units sold or consumed in the window
    window_days: int
    on_order: int
    as_of: date
    locations: dict[int, Location] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.quantities.values())

    @property
    def status(self) -> StockStatus:
        return stock_status(self.total, self.product.reorder_point)

    @property
    def avg_daily_usage(self) -> Decimal:
        return (Decimal(self.usage) / self.window_days).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )

    @property
    def days_of_coverage(self) -> Decimal | None:
        """Days the total lasts at the window's average usage (None when nothing is used)."""
        if self.usage <= 0:
            return None
        return (Decimal(self.total) * self.window_days / self.usage).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )

    @property
    def suggested_order(self) -> int:
        return suggested_order_quantity(
            reorder_point=self.product.reorder_point,
            reorder_quantity=self.product.reorder_quantity,
            avg_daily_usage=Decimal(self.usage) / self.window_days,
            lead_time_days=self.product.lead_time_days,
            on_hand=self.total,
            on_order=self.on_order,
        )


def usage_window(as_of: date, window_days: int = USAGE_WINDOW_DAYS) -> tuple[date, date]:
    """The ``window_days`` local days ending with ``as_of`` (inclusive)."""
    return as_of - timedelta(days=window_days - 1), as_of


def stock_positions(
    session: Session,
    company_id: int,
    as_of: date,
    product_ids: Iterable[int] | None = None,
    window_days: int = USAGE_WINDOW_DAYS,
) -> list[StockPosition]:
    """Positions of the company's active products (or of ``product_ids``), ordered by SKU."""
    products_query = select(Product).where(Product.company_id == company_id)
    ids = None if product_ids is None else list(product_ids)
    if ids is not None:
        products_query = products_query.where(Product.id.in_(ids))
    else:
        products_query = products_query.where(Product.active.is_(True))
    products = session.execute(products_query.order_by(Product.sku)).scalars().all()
    if not products:
        return []
    wanted = [p.id for p in products]

    levels = session.execute(
        select(
            StockLevel.product_id,
            StockLevel.location_id,
            StockLevel.quantity,
            StockLevel.reorder_point,
        ).where(StockLevel.company_id == company_id, StockLevel.product_id.in_(wanted))
    ).all()
    quantities: dict[int, dict[int, int]] = defaultdict(dict)
    minimums: dict[int, dict[int, int | None]] = defaultdict(dict)
    for product_id, location_id, quantity, minimum in levels:
        quantities[product_id][location_id] = quantity
        minimums[product_id][location_id] = minimum

    usage = usage_by_product(session, company_id, *usage_window(as_of, window_days), wanted)
    on_order = on_order_by_product(session, company_id, wanted)
    locations = {
        loc.id: loc
        for loc in session.execute(
            select(Location).where(Location.company_id == company_id)
        ).scalars()
    }
    return [
        StockPosition(
            product=product,
            quantities=dict(sorted(quantities[product.id].items())),
            location_reorder_points=minimums[product.id],
            usage=usage.get(product.id, 0),
            window_days=window_days,
            on_order=on_order.get(product.id, 0),
            as_of=as_of,
            locations=locations,
        )
        for product in products
    ]


def usage_by_product(
    session: Session,
    company_id: int,
    start: date,
    end: date,
    product_ids: list[int] | None = None,
) -> dict[int, int]:
    """Units sold or consumed per product over the local days ``start`` … ``end``."""
    since, until = days_bounds(start, end)
    query = (
        select(StockMovement.product_id, func.sum(-StockMovement.quantity))
        .where(
            StockMovement.company_id == company_id,
            StockMovement.kind.in_(USAGE_KINDS),
            StockMovement.occurred_at >= since,
            StockMovement.occurred_at < until,
        )
        .group_by(StockMovement.product_id)
    )
    if product_ids is not None:
        query = query.where(StockMovement.product_id.in_(product_ids))
    return {product_id: int(total or 0) for product_id, total in session.execute(query)}


def on_order_by_product(
    session: Session, company_id: int, product_ids: list[int] | None = None
) -> dict[int, int]:
    """Units on draft or sent purchase orders per product."""
    query = (
        select(PurchaseOrderLine.product_id, func.sum(PurchaseOrderLine.quantity_ordered))
        .join(
            PurchaseOrder,
            (PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            & (PurchaseOrder.company_id == PurchaseOrderLine.company_id),
        )
        .where(
            PurchaseOrderLine.company_id == company_id,
            PurchaseOrder.status.in_(OPEN_PO_STATUSES),
        )
        .group_by(PurchaseOrderLine.product_id)
    )
    if product_ids is not None:
        query = query.where(PurchaseOrderLine.product_id.in_(product_ids))
    return {product_id: int(total or 0) for product_id, total in session.execute(query)}


def quantity_at(session: Session, company_id: int, product_id: int, location_id: int) -> int:
    """Units of a product at one location now (0 when it was never stocked there)."""
    quantity = session.execute(
        select(StockLevel.quantity).where(
            StockLevel.company_id == company_id,
            StockLevel.product_id == product_id,
            StockLevel.location_id == location_id,
        )
    ).scalar_one_or_none()
    return quantity or 0


def apply_movement(
    session: Session,
    company_id: int,
    *,
    product: Product,
    location: Location,
    quantity: int,
    kind: MovementKind,
    reason: str,
    occurred_at: datetime,
    user_id: int | None = None,
    idempotency_key: str | None = None,
    purchase_order_id: int | None = None,
    transfer_location_id: int | None = None,
) -> StockMovement:
    """Change a stock level by ``quantity`` (signed) and record the movement; never below zero."""
    if product.company_id != company_id or location.company_id != company_id:
        raise InvalidInput("product", "product and location must belong to the company")
    if quantity == 0:
        raise InvalidInput("quantity", "a movement must change the quantity")
    level = session.execute(
        select(StockLevel)
        .where(
            StockLevel.company_id == company_id,
            StockLevel.product_id == product.id,
            StockLevel.location_id == location.id,
        )
        .with_for_update()
    ).scalar_one_or_none()
    if level is None:
        level = StockLevel(
            company_id=company_id, product_id=product.id, location_id=location.id, quantity=0
        )
        session.add(level)
    new_quantity = level.quantity + quantity
    if new_quantity < 0:
        raise InvalidInput(
            "quantity",
            f"only {level.quantity} {product.unit} of {product.sku} at {location.name}; "
            f"cannot take out {-quantity}",
        )
    level.quantity = new_quantity
    movement = StockMovement(
        company_id=company_id,
        product_id=product.id,
        location_id=location.id,
        kind=kind,
        quantity=quantity,
        balance_after=new_quantity,
        reason=reason,
        user_id=user_id,
        occurred_at=occurred_at,
        idempotency_key=idempotency_key,
        purchase_order_id=purchase_order_id,
        transfer_location_id=transfer_location_id,
    )
    session.add(movement)
    session.flush()
    return movement


def quantities_by_product(session: Session, company_id: int) -> dict[int, int]:
    """Units on hand now per product, all locations together."""
    rows = session.execute(
        select(StockLevel.product_id, func.sum(StockLevel.quantity))
        .where(StockLevel.company_id == company_id)
        .group_by(StockLevel.product_id)
    )
    return {product_id: int(total or 0) for product_id, total in rows}


def movement_totals(
    session: Session, company_id: int, since: datetime, until: datetime | None = None
) -> dict[tuple[int, MovementKind], int]:
    """Signed units per (product, movement kind) that occurred in ``[since, until)``."""
    query = (
        select(StockMovement.product_id, StockMovement.kind, func.sum(StockMovement.quantity))
        .where(StockMovement.company_id == company_id, StockMovement.occurred_at >= since)
        .group_by(StockMovement.product_id, StockMovement.kind)
    )
    if until is not None:
        query = query.where(StockMovement.occurred_at < until)
    return {
        (product_id, MovementKind(kind)): int(total or 0)
        for product_id, kind, total in session.execute(query)
    }


def quantities_at(session: Session, company_id: int, moment: datetime) -> dict[int, int]:
    """Units on hand per product at ``moment``: today's levels minus what moved since."""
    now = quantities_by_product(session, company_id)
    for (product_id, _kind), change in movement_totals(session, company_id, moment).items():
        now[product_id] = now.get(product_id, 0) - change
    return now
