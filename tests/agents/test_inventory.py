"""Inventory monitor: one product's numbers, checked against the raw rows."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

import pytest
from seeded import TODAY, actor_as, company
from sqlalchemy import select

from misybot import clock
from misybot.agents.inventory import InventoryQuery, check_inventory
from misybot.db.models import (
    Location,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLevel,
    StockMovement,
)
from misybot.db.session import session_scope
from misybot.enums import MovementKind, PurchaseOrderStatus, Role, StockStatus
from misybot.errors import NotFound
from testkit.database import Builder


def expected_status(total: int, reorder_point: int | None) -> StockStatus:
    if total <= 0:
        return StockStatus.OUT_OF_STOCK
    if reorder_point is not None and total <= reorder_point:
        return StockStatus.BELOW_REORDER_POINT
    return StockStatus.OK


@pytest.mark.parametrize("sku", ["WID-220", "GLV-010", "DRL-680", "HSE-250"])
def test_numbers_match_the_movements_and_orders(session, sku):
    viewer = actor_as(session, "lucia")
    result = check_inventory(session, viewer, InventoryQuery(sku=sku.lower(), as_of=TODAY))

    demo = company(session)
    product = session.execute(
        select(Product).where(Product.company_id == demo.id, Product.sku == sku)
    ).scalar_one()
    movements = session.execute(
        select(StockMovement.location_id, StockMovement.kind, StockMovement.quantity,
               StockMovement.occurred_at)
        .where(StockMovement.company_id == demo.id, StockMovement.product_id == product.id)
    ).all()  # fmt: skip
    names = dict(session.execute(select(Location.id, Location.name)).all())
    per_location: dict[str, int] = {}
    for location_id, _kind, quantity, _at in movements:
        per_location[names[location_id]] = per_location.get(names[location_id], 0) + quantity
    total = sum(per_location.values())
    window = {TODAY - timedelta(days=n) for n in range(30)}
    used = -sum(
        q
        for _l, kind, q, at in movements
        if kind in (MovementKind.SALE, MovementKind.CONSUMPTION) and clock.local_date(at) in window
    )
    lines = session.execute(
        select(PurchaseOrder, PurchaseOrderLine)
        .join(PurchaseOrderLine, PurchaseOrderLine.purchase_order_id == PurchaseOrder.id)
        .where(PurchaseOrderLine.product_id == product.id)
    ).all()
    on_order = sum(
        line.quantity_ordered
        for order, line in lines
        if order.status in (PurchaseOrderStatus.SENT, PurchaseOrderStatus.DRAFT)
    )
    latest = max(
        (order for order, _ in lines if order.status is not PurchaseOrderStatus.CANCELLED),
        key=lambda o: (o.created_at, o.id),
    )
    minimums = {
        names[level.location_id]: level.reorder_point
        for level in session.execute(
            select(StockLevel).where(StockLevel.product_id == product.id)
        ).scalars()
    }

    assert result.sku == sku and result.name == product.name
    assert result.total_quantity == total
    assert {loc.location: loc.quantity for loc in result.locations} == per_location
    for loc in result.locations:
        assert loc.reorder_point == minimums[loc.location]
        assert loc.status is expected_status(loc.quantity, minimums[loc.location])
    assert result.status is expected_status(total, product.reorder_point)
    assert result.avg_daily_usage == (Decimal(used) / 30).quantize(Decimal("0.01"), ROUND_HALF_UP)
    if used:
        coverage = (Decimal(total) * 30 / used).quantize(Decimal("0.1"), ROUND_HALF_UP)
        assert result.days_of_coverage == coverage
    assert result.on_order == on_order
    suggested = product.reorder_point + product.reorder_quantity
    suggested += math.ceil(Decimal(used) / 30 * product.lead_time_days) - total - on_order
    assert result.suggested_order_quantity == max(0, suggested)
    assert result.last_reorder.po_number == latest.number
    assert result.stock_value == product.unit_cost * total
    assert result.query_ms > 0


def test_out_of_stock_product_says_so_and_chases_the_late_order(session):
    result = check_inventory(session, actor_as(session, "lucia"), InventoryQuery(sku="DRL-680",
                             as_of=TODAY))  # fmt: skip
    assert result.status is StockStatus.OUT_OF_STOCK
    assert all(loc.status is StockStatus.OUT_OF_STOCK for loc in result.locations)
    overdue = session.execute(
        select(PurchaseOrder.number, PurchaseOrder.expected_date)
        .join(PurchaseOrderLine, PurchaseOrderLine.purchase_order_id == PurchaseOrder.id)
        .join(Product, Product.id == PurchaseOrderLine.product_id)
        .where(
            Product.sku == "DRL-680",
            Product.company_id == company(session).id,
            PurchaseOrder.status == PurchaseOrderStatus.SENT,
            PurchaseOrder.expected_date < TODAY,
        )
        .order_by(PurchaseOrder.expected_date, PurchaseOrder.number)
    ).all()
    oldest, expected = overdue[0]
    assert [o.po_number for o in result.overdue_orders] == [n for n, _ in overdue]
    late = (TODAY - expected).days
    assert any(f"{oldest} from Globex Industrial is {late} days late" in r
               for r in result.recommendations)  # fmt: skip


@pytest.mark.parametrize(
    ("query", "sku"),
    [
        (InventoryQuery(sku="wid 220"), "WID-220"),
        (InventoryQuery(sku="#WID220"), "WID-220"),
        (InventoryQuery(sku="ac-4410"), "AC4410"),
        (InventoryQuery(product="Blue Widgets"), "WID-220"),
        (InventoryQuery(product="blue widgts"), "WID-220"),
        (InventoryQuery(product="gloves"), "GLV-010"),
        (InventoryQuery(product="claw hammer"), "HMR-160"),
        (InventoryQuery(product="usb c cable"), "USB-310"),
    ],
)
def test_finds_a_product_by_sku_spelling_or_name(session, query, sku):
    assert check_inventory(session, actor_as(session, "joao"), query).sku == sku


@pytest.mark.parametrize(
    ("query", "expected_first", "also"),
    [
        (InventoryQuery(sku="WID-22"), "WID-220", {"WID-221"}),
        (InventoryQuery(product="widgets"), None, {"WID-220", "WID-221", "WID-230"}),
        (InventoryQuery(product="drils"), None, {"DRL-680", "BIT-120"}),
    ],
)
def test_unknown_product_offers_did_you_mean(session, query, expected_first, also):
    with pytest.raises(NotFound) as caught:
        check_inventory(session, actor_as(session, "joao"), query)
    values = [s.value for s in caught.value.suggestions]
    assert caught.value.kind == "product"
    assert also <= set(values) and len(values) <= 5
    if expected_first:
        assert values[0] == expected_first
    assert "did you mean" in str(caught.value)


def test_location_narrows_the_breakdown(session):
    result = check_inventory(
        session, actor_as(session, "tiago"), InventoryQuery(sku="WID-220", location="porto")
    )
    assert [loc.location for loc in result.locations] == ["Porto"]
    with pytest.raises(NotFound) as caught:
        check_inventory(session, actor_as(session, "tiago"),
                        InventoryQuery(sku="WID-220", location="Paris"))  # fmt: skip
    assert {s.value for s in caught.value.suggestions} == {"Lisbon", "Porto", "Madrid"}


def test_hand_made_numbers(writable_db):
    """50 on hand, 300 used in the last 30 days, 40 on a late order: every figure known."""
    day = lambda n: datetime.combine(TODAY - timedelta(days=n), time(12), timezone.utc)  # noqa: E731
    with session_scope(writable_db) as s:
        b = Builder(s, "handmade")
        lisbon, porto = b.location("Lisbon"), b.location("Porto")
        acme = b.supplier("Acme Supply", lead_time_days=7)
        item = b.product("TST-001", "test widgets", reorder_point=60, reorder_quantity=100,
                         lead_time_days=7, unit_cost="2.50", supplier=acme)  # fmt: skip
        b.move(item, lisbon, 330, day(40))
        b.move(item, lisbon, -5, day(35))  # outside the 30-day window
        for n in range(30):
            b.move(item, lisbon, -10, day(n))
        b.move(item, porto, 25, day(20), kind=MovementKind.TRANSFER)
        for location, minimum in ((lisbon, 40), (porto, 20)):
            s.execute(
                StockLevel.__table__.update()
                .where(StockLevel.location_id == location.id)
                .values(reorder_point=minimum)
            )
        b.order(acme, lisbon, {item: 40}, ordered_at=day(9), expected=TODAY - timedelta(days=2))
        actor = b.actor(b.user("Op Erator", Role.OPERATOR))

        result = check_inventory(s, actor, InventoryQuery(sku="TST-001", as_of=TODAY))

    assert result.total_quantity == 50
    assert [(loc.location, loc.quantity, loc.status) for loc in result.locations] == [
        ("Lisbon", 25, StockStatus.BELOW_REORDER_POINT),
        ("Porto", 25, StockStatus.OK),
    ]
    assert result.status is StockStatus.BELOW_REORDER_POINT
    assert result.avg_daily_usage == Decimal("10.00")
    assert result.days_of_coverage == Decimal("5.0")
    assert result.on_order == 40
    assert result.suggested_order_quantity == 60 + 100 + 70 - 50 - 40
    assert result.stock_value == Decimal("125.00")
    assert result.recommendations == (
        "Below the reorder point (50 <= 60): reorder 140 each from Acme Supply (lead time 7 days).",
        "PO-00001 from Acme Supply is 2 days late; chase it.",
        "Move 5 each from Porto to Lisbon.",
    )
