"""Supplier check and supplier performance, recomputed from the purchase orders."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from seeded import TODAY, actor_as, company
from sqlalchemy import select

from misybot import clock
from misybot.agents.suppliers import (
    SupplierPerformanceRequest,
    SupplierQuery,
    check_supplier,
    supplier_performance,
)
from misybot.db.models import Product, PurchaseOrder, PurchaseOrderLine, Supplier
from misybot.enums import PurchaseOrderStatus
from misybot.errors import NotFound

START = TODAY - timedelta(days=59)


def _supplier(session, name):
    return session.execute(
        select(Supplier).where(Supplier.company_id == company(session).id, Supplier.name == name)
    ).scalar_one()


def test_check_by_short_name(session):
    result = check_supplier(session, actor_as(session, "lucia"),
                            SupplierQuery(supplier="acme", as_of=TODAY))  # fmt: skip
    (info,) = result.suppliers
    acme = _supplier(session, "Acme Supply")
    supplied = (
        session.execute(
            select(Product.sku)
            .where(Product.preferred_supplier_id == acme.id)
            .order_by(Product.sku)
        )
        .scalars()
        .all()
    )
    orders = (
        session.execute(select(PurchaseOrder).where(PurchaseOrder.supplier_id == acme.id))
        .scalars()
        .all()
    )
    lead_times = [
        (o.received_date - clock.local_date(o.ordered_at)).days
        for o in orders
        if o.status is PurchaseOrderStatus.RECEIVED and o.received_date >= TODAY - timedelta(90)
    ]
    assert (info.name, info.email, info.promised_lead_time_days) == (
        "Acme Supply", acme.email, 7,
    )  # fmt: skip
    assert [p.sku for p in info.products if p.preferred] == supplied
    assert info.open_orders == sum(1 for o in orders if o.status is PurchaseOrderStatus.SENT)
    assert info.last_delivery == max(o.received_date for o in orders if o.received_date)
    assert info.actual_lead_time_days == (Decimal(sum(lead_times)) / len(lead_times)).quantize(
        Decimal("0.1"), ROUND_HALF_UP
    )


def test_who_supplies_a_product(session):
    result = check_supplier(session, actor_as(session, "lucia"), SupplierQuery(sku="wid-220"))
    assert result.for_sku == "WID-220"
    assert result.suppliers[0].name == "Acme Supply"


def test_unknown_supplier_suggests_close_names(session):
    with pytest.raises(NotFound) as caught:
        check_supplier(session, actor_as(session, "lucia"), SupplierQuery(supplier="globx"))
    assert caught.value.suggestions[0].value == "Globex Industrial"


def test_performance_recomputed_from_orders(session):
    result = supplier_performance(
        session,
        actor_as(session, "lucia"),
        SupplierPerformanceRequest(start=START, end=TODAY, as_of=TODAY),
    )
    demo = company(session)
    names = dict(session.execute(select(Supplier.id, Supplier.name)).all())
    rows = session.execute(
        select(PurchaseOrder, PurchaseOrderLine)
        .join(PurchaseOrderLine, PurchaseOrderLine.purchase_order_id == PurchaseOrder.id)
        .where(
            PurchaseOrder.company_id == demo.id,
            PurchaseOrder.status.in_(["sent", "received"]),
            PurchaseOrder.expected_date.between(START, TODAY),
        )
    ).all()
    orders, ordered, received = {}, defaultdict(int), defaultdict(int)
    for order, line in rows:
        orders[order.id] = order
        if order.status is PurchaseOrderStatus.RECEIVED:
            ordered[order.supplier_id] += line.quantity_ordered
            received[order.supplier_id] += line.quantity_received
    expected = {}
    for supplier_id, name in names.items():
        mine = [o for o in orders.values() if o.supplier_id == supplier_id]
        if not mine:
            continue
        delivered = [o for o in mine if o.status is PurchaseOrderStatus.RECEIVED]
        overdue = [o for o in mine if o.status is PurchaseOrderStatus.SENT
                   and o.expected_date < TODAY]  # fmt: skip
        on_time = [o for o in delivered if o.received_date <= o.expected_date]
        delays = [max(0, (o.received_date - o.expected_date).days) for o in delivered]
        expected[name] = (
            len(mine),
            len(on_time),
            (Decimal(len(on_time)) / (len(delivered) + len(overdue))).quantize(
                Decimal("0.001"), ROUND_HALF_UP),
            (Decimal(sum(delays)) / len(delays)).quantize(Decimal("0.1"), ROUND_HALF_UP),
            (Decimal(received[supplier_id]) / ordered[supplier_id]).quantize(
                Decimal("0.001"), ROUND_HALF_UP),
        )  # fmt: skip

    got = {
        s.supplier: (s.orders, s.on_time, s.on_time_rate, s.avg_delay_days, s.fill_rate)
        for s in result.scores
    }
    assert got == expected
    assert [s.rank for s in result.scores] == [1, 2, 3, 4]
    rates = [s.on_time_rate for s in result.scores]
    assert rates == sorted(rates, reverse=True)
    assert got["Northwind Traders"][2] < got["Acme Supply"][2]  # the late one is late
    assert got["Globex Industrial"][4] < got["Acme Supply"][4]  # the short-shipper ships short
