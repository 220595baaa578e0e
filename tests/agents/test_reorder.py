"""Reorder: a draft purchase order, its suggested quantity, and one order per execution."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from seeded import TODAY, actor_as, company
from sqlalchemy import func, select

from misybot import clock
from misybot.agents.reorder import ReorderRequest, reorder
from misybot.db.models import (
    Location,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLevel,
    StockMovement,
    Supplier,
)
from misybot.db.session import session_scope
from misybot.enums import USAGE_KINDS, PurchaseOrderStatus
from misybot.errors import NotFound
from misybot.permissions import PermissionDenied


def used_last_30_days(session, product: Product) -> int:
    rows = session.execute(
        select(StockMovement.quantity, StockMovement.occurred_at).where(
            StockMovement.product_id == product.id, StockMovement.kind.in_(USAGE_KINDS)
        )
    ).all()
    return -sum(q for q, at in rows if 0 <= (TODAY - clock.local_date(at)).days < 30)


def test_draft_order_for_the_suggested_quantity_from_the_preferred_supplier(writable_db):
    with session_scope(writable_db) as s:
        demo = company(s)
        product = s.execute(
            select(Product).where(Product.company_id == demo.id, Product.sku == "DRL-680")
        ).scalar_one()
        on_hand = s.execute(
            select(func.sum(StockLevel.quantity)).where(StockLevel.product_id == product.id)
        ).scalar_one()
        on_order = s.execute(
            select(func.sum(PurchaseOrderLine.quantity_ordered))
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            .where(
                PurchaseOrderLine.product_id == product.id,
                PurchaseOrder.status.in_(["draft", "sent"]),
            )
        ).scalar_one()
        lead_time_demand = math.ceil(
            Decimal(used_last_30_days(s, product)) / 30 * product.lead_time_days
        )
        expected = product.reorder_point + product.reorder_quantity + lead_time_demand
        expected -= on_hand + on_order
        highest_number = max(
            int(n.split("-")[1])
            for n in s.execute(
                select(PurchaseOrder.number).where(PurchaseOrder.company_id == demo.id)
            ).scalars()
        )
        marta = actor_as(s, "marta")

        result = reorder(s, marta, ReorderRequest(sku="DRL-680", as_of=TODAY))

        order = s.get(PurchaseOrder, result.purchase_order_id)
        (line,) = order.lines
        supplier = s.get(Supplier, order.supplier_id).name

    assert expected > 0
    assert result.quantity == result.suggested_quantity == expected
    assert result.quantity_source == "suggested"
    assert (order.status, line.quantity_ordered, line.product_id) == (
        PurchaseOrderStatus.DRAFT,
        expected,
        product.id,
    )
    assert supplier == result.supplier == "Globex Industrial"
    assert order.number == result.po_number == f"PO-{highest_number + 1:05d}"
    assert order.expected_date == TODAY + timedelta(days=14) == result.expected_date
    assert result.total_cost == product.unit_cost * expected
    assert order.created_by_id == marta.user_id


def test_requested_quantity_named_supplier_and_location(writable_db):
    with session_scope(writable_db) as s:
        result = reorder(
            s,
            actor_as(s, "tiago"),
            ReorderRequest(
                product="hard hats", quantity=12, supplier="acme", location="Madrid", as_of=TODAY
            ),
        )
        order = s.get(PurchaseOrder, result.purchase_order_id)
        assert s.get(Location, order.location_id).name == "Madrid"
        assert s.get(Supplier, order.supplier_id).name == "Acme Supply"
    assert (result.sku, result.quantity, result.quantity_source) == ("HAT-070", 12, "requested")
    assert result.expected_date == TODAY + timedelta(days=7)  # Acme's promised lead time


def test_a_retried_execution_creates_one_order(writable_db):
    request = ReorderRequest(sku="WID-221", quantity=50, idempotency_key="exec-77", as_of=TODAY)
    with session_scope(writable_db) as s:
        count_before = s.execute(select(func.count(PurchaseOrder.id))).scalar_one()
        first = reorder(s, actor_as(s, "marta"), request)
    with session_scope(writable_db) as s:
        second = reorder(s, actor_as(s, "marta"), request)
        count_after = s.execute(select(func.count(PurchaseOrder.id))).scalar_one()
    assert count_after == count_before + 1
    assert second.replayed and not first.replayed
    assert (second.po_number, second.quantity) == (first.po_number, 50)


def test_viewers_cannot_reorder_and_unknown_suppliers_are_suggested(session):
    with pytest.raises(PermissionDenied):
        reorder(session, actor_as(session, "joao"), ReorderRequest(sku="WID-220"))
    with pytest.raises(NotFound) as caught:
        reorder(session, actor_as(session, "marta"), ReorderRequest(sku="WID-220",
                supplier="northwnd"))  # fmt: skip
    assert caught.value.suggestions[0].value == "Northwind Traders"
