"""Daily digest of the seeded "today"."""

from __future__ import annotations

from collections import Counter

from seeded import TODAY, actor_as, company
from sqlalchemy import select

from misybot import clock
from misybot.agents.digest import DigestRequest, daily_digest
from misybot.db.models import Alert, PurchaseOrder, StockMovement
from misybot.enums import PurchaseOrderStatus, StockStatus


def test_digest_of_today(session):
    digest = daily_digest(session, actor_as(session, "marta"), DigestRequest(day=TODAY))

    demo = company(session)
    today = [
        m
        for m in session.execute(
            select(StockMovement).where(StockMovement.company_id == demo.id)
        ).scalars()
        if clock.local_date(m.occurred_at) == TODAY
    ]
    counts = Counter(m.kind for m in today)
    new_alerts = (
        session.execute(select(Alert.id).where(Alert.company_id == demo.id).order_by(Alert.id))
        .scalars()
        .all()
    )  # every seeded alert was raised "now", i.e. today
    orders = (
        session.execute(select(PurchaseOrder).where(PurchaseOrder.company_id == demo.id))
        .scalars()
        .all()
    )
    due = sorted(
        (o for o in orders if o.status is PurchaseOrderStatus.SENT and o.expected_date <= TODAY),
        key=lambda o: (o.expected_date, o.id),
    )

    assert today, "the seed records activity on its last day"
    assert {m.kind: m.count for m in digest.movements} == dict(counts)
    assert digest.movement_count == len(today)
    assert digest.units_in == sum(m.quantity for m in today if m.quantity > 0)
    assert digest.units_out == -sum(m.quantity for m in today if m.quantity < 0)
    assert [a.id for a in digest.new_alerts] == new_alerts
    assert [o.po_number for o in digest.orders_due] == [o.number for o in due]
    assert [o.days_late for o in digest.orders_due] == [(TODAY - o.expected_date).days for o in due]
    assert digest.orders_received == sum(
        1 for o in orders if o.status is PurchaseOrderStatus.RECEIVED and o.received_date == TODAY
    )
    assert digest.top_risks[0].sku == "DRL-680"
    assert digest.top_risks[0].status is StockStatus.OUT_OF_STOCK
    assert len(digest.top_risks) <= 5


def test_a_quiet_day_is_empty(session):
    digest = daily_digest(session, actor_as(session, "marta"), DigestRequest(day=TODAY.replace(
        year=TODAY.year - 1)))  # fmt: skip
    assert digest.movements == () and digest.new_alerts == () and digest.movement_count == 0
