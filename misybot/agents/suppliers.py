"""Supplier check (contact, lead times, what they supply) and supplier performance (scorecard)."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from misybot import clock
from misybot.agents.common import as_of_or_today, check_range, elapsed_ms
from misybot.db.models import Product, PurchaseOrder, PurchaseOrderLine, Supplier
from misybot.enums import PurchaseOrderStatus
from misybot.errors import InvalidInput
from misybot.permissions import Operation
from misybot.store.catalog import find_product, find_supplier
from misybot.store.purchasing import order_quantities
from misybot.store.tenancy import Actor

ACTUAL_LEAD_TIME_DAYS = 90  # actual lead time is measured over deliveries in this window
RATE = Decimal("0.001")


@dataclass(frozen=True)
class SupplierQuery:
    """A supplier by name ("acme"), or the suppliers of a product (SKU or name)."""

    supplier: str | None = None
    sku: str | None = None
    product: str | None = None
    as_of: date | None = None


@dataclass(frozen=True)
class SuppliedProduct:
    sku: str
    name: str
    preferred: bool  # False: not preferred, but ordered from this supplier before


@dataclass(frozen=True)
class SupplierInfo:
    name: str
    contact_name: str | None
    email: str | None
    phone: str | None
    active: bool
    promised_lead_time_days: int
    actual_lead_time_days: Decimal | None  # mean order-to-receipt days, last 90 days
    products: tuple[SuppliedProduct, ...]
    open_orders: int
    late_orders: int
    last_delivery: date | None


@dataclass(frozen=True)
class SupplierCheck:
    suppliers: tuple[SupplierInfo, ...]
    for_sku: str | None  # set when the question was "who supplies <product>"
    as_of: date


def check_supplier(session: Session, actor: Actor, query: SupplierQuery) -> SupplierCheck:
    """Contact, lead times and products of one supplier, or of a product's suppliers."""
    actor.require(Operation.VIEW)
    as_of = as_of_or_today(query.as_of)
    if query.supplier:
        supplier = find_supplier(session, actor.company_id, query.supplier)
        return SupplierCheck((_info(session, actor.company_id, supplier, as_of),), None, as_of)
    if not (query.sku or query.product):
        raise InvalidInput("supplier", "say which supplier or which product")
    product = find_product(session, actor.company_id, sku=query.sku, name=query.product)
    ordered_from = (
        session.execute(
            select(PurchaseOrder.supplier_id)
            .join(
                PurchaseOrderLine,
                (PurchaseOrderLine.purchase_order_id == PurchaseOrder.id)
                & (PurchaseOrderLine.company_id == PurchaseOrder.company_id),
            )
            .where(
                PurchaseOrder.company_id == actor.company_id,
                PurchaseOrderLine.product_id == product.id,
            )
            .distinct()
        )
        .scalars()
        .all()
    )
    ids = [product.preferred_supplier_id] if product.preferred_supplier_id else []
    ids += sorted(set(ordered_from) - set(ids))
    suppliers = {
        s.id: s
        for s in session.execute(
            select(Supplier).where(Supplier.company_id == actor.company_id, Supplier.id.in_(ids))
        ).scalars()
    }
    return SupplierCheck(
        tuple(_info(session, actor.company_id, suppliers[i], as_of) for i in ids),
        product.sku,
        as_of,
    )


def _info(session: Session, company_id: int, supplier: Supplier, as_of: date) -> SupplierInfo:
    preferred = session.execute(
        select(Product.sku, Product.name)
        .where(Product.company_id == company_id, Product.preferred_supplier_id == supplier.id)
        .order_by(Product.sku)
    ).all()
    also_ordered = session.execute(
        select(Product.sku, Product.name)
        .join(
            PurchaseOrderLine,
            (PurchaseOrderLine.product_id == Product.id)
            & (PurchaseOrderLine.company_id == Product.company_id),
        )
        .join(
            PurchaseOrder,
            (PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            & (PurchaseOrder.company_id == PurchaseOrderLine.company_id),
        )
        .where(PurchaseOrder.company_id == company_id, PurchaseOrder.supplier_id == supplier.id)
        .distinct()
        .order_by(Product.sku)
    ).all()
    preferred_skus = {sku for sku, _name in preferred}
    products = [SuppliedProduct(sku, name, True) for sku, name in preferred] + [
        SuppliedProduct(sku, name, False) for sku, name in also_ordered if sku not in preferred_skus
    ]
    orders = (
        session.execute(
            select(PurchaseOrder).where(
                PurchaseOrder.company_id == company_id, PurchaseOrder.supplier_id == supplier.id
            )
        )
        .scalars()
        .all()
    )
    since = as_of - timedelta(days=ACTUAL_LEAD_TIME_DAYS)
    lead_times = [
        (o.received_date - clock.local_date(o.ordered_at)).days
        for o in orders
        if o.status == PurchaseOrderStatus.RECEIVED
        and o.ordered_at is not None
        and o.received_date is not None
        and o.received_date >= since
    ]
    open_orders = [o for o in orders if o.status == PurchaseOrderStatus.SENT]
    received = [o.received_date for o in orders if o.received_date is not None]
    return SupplierInfo(
        name=supplier.name,
        contact_name=supplier.contact_name,
        email=supplier.email,
        phone=supplier.phone,
        active=supplier.active,
        promised_lead_time_days=supplier.lead_time_days,
        actual_lead_time_days=_mean(lead_times, Decimal("0.1")),
        products=tuple(products),
        open_orders=len(open_orders),
        late_orders=sum(1 for o in open_orders if o.expected_date and o.expected_date < as_of),
        last_delivery=max(received, default=None),
    )


@dataclass(frozen=True)
class SupplierPerformanceRequest:
    """Orders due between ``start`` and ``end``; ``supplier`` narrows to one."""

    start: date
    end: date
    supplier: str | None = None
    as_of: date | None = None


@dataclass(frozen=True)
class SupplierScore:
    """One supplier's delivery record for orders due in the range.

    ``on_time_rate`` is over orders whose outcome is known: delivered, or overdue at ``as_of``;
    ``avg_delay_days`` is over delivered orders (early counts as 0); ``fill_rate`` is units
    received / units ordered on delivered orders.
    """

    rank: int
    supplier: str
    orders: int
    delivered: int
    on_time: int
    overdue: int
    pending: int
    on_time_rate: Decimal | None
    avg_delay_days: Decimal | None
    max_delay_days: int | None
    fill_rate: Decimal | None
    units_ordered: int
    units_received: int


@dataclass(frozen=True)
class SupplierPerformance:
    start: date
    end: date
    as_of: date
    scores: tuple[SupplierScore, ...]  # best first
    overall_on_time_rate: Decimal | None
    overall_fill_rate: Decimal | None
    query_ms: float


def supplier_performance(
    session: Session, actor: Actor, request: SupplierPerformanceRequest
) -> SupplierPerformance:
    """On-time rate, delays and fill rate per supplier, ranked, for orders due in the range."""
    started = time.perf_counter()
    actor.require(Operation.VIEW)
    check_range(request.start, request.end)
    as_of = as_of_or_today(request.as_of)
    query = select(Supplier).where(Supplier.company_id == actor.company_id)
    if request.supplier:
        only = find_supplier(session, actor.company_id, request.supplier)
        query = query.where(Supplier.id == only.id)
    suppliers = session.execute(query.order_by(Supplier.name)).scalars().all()
    orders = (
        session.execute(
            select(PurchaseOrder).where(
                PurchaseOrder.company_id == actor.company_id,
                PurchaseOrder.status.in_((PurchaseOrderStatus.SENT, PurchaseOrderStatus.RECEIVED)),
                PurchaseOrder.expected_date >= request.start,
                PurchaseOrder.expected_date <= request.end,
            )
        )
        .scalars()
        .all()
    )
    quantities = order_quantities(session, actor.company_id, [o.id for o in orders])
    by_supplier: dict[int, list[PurchaseOrder]] = defaultdict(list)
    for order in orders:
        by_supplier[order.supplier_id].append(order)

    tallies = sorted(
        (_Tally(s.name, by_supplier[s.id], quantities, as_of) for s in suppliers),
        key=_Tally.rank_key,
    )
    total = _Tally("all", [], {}, as_of)
    for tally in tallies:
        total.add(tally)
    return SupplierPerformance(
        start=request.start,
        end=request.end,
        as_of=as_of,
        scores=tuple(tally.score(rank) for rank, tally in enumerate(tallies, start=1)),
        overall_on_time_rate=total.on_time_rate,
        overall_fill_rate=total.fill_rate,
        query_ms=elapsed_ms(started),
    )


class _Tally:
    """Counts for one supplier, turned into rates once all its orders are in."""

    def __init__(self, name: str, orders, quantities, as_of: date) -> None:
        self.name = name
        self.orders = self.delivered = self.on_time = self.overdue = self.pending = 0
        self.delays: list[int] = []
        self.units_ordered = self.units_received = 0
        self.delivered_ordered = self.delivered_received = 0
        for order in orders:
            ordered, received = quantities.get(order.id, (0, 0))
            self.orders += 1
            self.units_ordered += ordered
            self.units_received += received
            if order.status == PurchaseOrderStatus.RECEIVED and order.received_date:
                self.delivered += 1
                delay = max(0, (order.received_date - order.expected_date).days)
                self.delays.append(delay)
                self.on_time += delay == 0
                self.delivered_ordered += ordered
                self.delivered_received += received
            elif order.expected_date < as_of:
                self.overdue += 1
            else:
                self.pending += 1

    def add(self, other: _Tally) -> None:
        for name in (
            "orders",
            "delivered",
            "on_time",
            "overdue",
            "pending",
            "units_ordered",
            "units_received",
            "delivered_ordered",
            "delivered_received",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.delays.extend(other.delays)

    @property
    def on_time_rate(self) -> Decimal | None:
        return _ratio(self.on_time, self.delivered + self.overdue)

    @property
    def fill_rate(self) -> Decimal | None:
        return _ratio(self.delivered_received, self.delivered_ordered)

    def rank_key(self) -> tuple:
        """Best first: on-time rate, then fill rate, then shorter delays; no data last."""
        on_time, fill = self.on_time_rate, self.fill_rate
        delay = _mean(self.delays, Decimal("0.1"))
        return (
            on_time is None,
            -(on_time or 0),
            -(fill or 0),
            delay if delay is not None else Decimal(0),
            self.name,
        )

    def score(self, rank: int) -> SupplierScore:
        return SupplierScore(
            rank=rank,
            supplier=self.name,
            orders=self.orders,
            delivered=self.delivered,
            on_time=self.on_time,
            overdue=self.overdue,
            pending=self.pending,
            on_time_rate=self.on_time_rate,
            avg_delay_days=_mean(self.delays, Decimal("0.1")),
            max_delay_days=max(self.delays, default=None),
            fill_rate=self.fill_rate,
            units_ordered=self.units_ordered,
            units_received=self.units_received,
        )


def _ratio(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATE, rounding=ROUND_HALF_UP)


def _mean(values: list[int], step: Decimal) -> Decimal | None:
    if not values:
        return None
    return (Decimal(sum(values)) / len(values)).quantize(step, rounding=ROUND_HALF_UP)
