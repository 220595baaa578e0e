"""Alert generator and alert handling."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
from seeded import NOW, TODAY, actor_as, company
from sqlalchemy import select

from misybot.agents.alerts import (
    AlertAction,
    AlertFilter,
    AlertScanRequest,
    acknowledge_alerts,
    list_alerts,
    resolve_alerts,
    scan_alerts,
)
from misybot.db.models import Alert, Company, Location, Product, User
from misybot.db.session import session_scope
from misybot.enums import (
    AlertCategory,
    AlertSeverity,
    AlertStatus,
    MovementKind,
    PurchaseOrderStatus,
    Role,
)
from misybot.errors import Conflict
from misybot.permissions import PermissionDenied
from misybot.store.tenancy import actor_for_user
from testkit.database import Builder

C, S = AlertCategory, AlertSeverity
NOON = datetime.combine(TODAY, time(12), timezone.utc)


def day(n: int) -> datetime:
    return NOON - timedelta(days=n)


@pytest.fixture
def alerting(writable_db):
    """A company whose every alert condition is known by construction."""
    with session_scope(writable_db) as s:
        b = Builder(s, "alerting")
        lisbon, porto = b.location("Lisbon"), b.location("Porto")
        supplier = b.supplier("Acme Supply", lead_time_days=7)
        empty = b.product("EMP-001", "empty thing", reorder_point=10, reorder_quantity=20,
                          supplier=supplier)  # fmt: skip
        b.move(empty, lisbon, 5, day(20))
        b.move(empty, lisbon, -5, day(3))
        low = b.product("LOW-001", "low thing", reorder_point=50, reorder_quantity=40,
                        supplier=supplier)  # fmt: skip
        b.move(low, lisbon, 90, day(40))
        b.move(low, porto, 10, day(40))
        b.move(low, porto, -10, day(2), kind=MovementKind.WRITE_OFF)  # not usage
        for n in range(25):
            b.move(low, lisbon, -2, day(n))  # 60 used in 30 days: 2/day, 15 days of cover
        b.move(low, lisbon, -10, day(28))
        full = b.product("OVR-001", "overstocked thing", reorder_point=10, reorder_quantity=10)
        b.move(full, lisbon, 100, day(10))
        fine = b.product("OK-0001", "fine thing", reorder_point=10, reorder_quantity=10)
        b.move(fine, lisbon, 20, day(10))
        very_late = b.order(supplier, lisbon, {fine: 10}, ordered_at=day(20),
                            expected=TODAY - timedelta(days=10))  # fmt: skip
        late = b.order(supplier, porto, {low: 10, fine: 5}, ordered_at=day(9),
                       expected=TODAY - timedelta(days=2))  # fmt: skip
        b.order(supplier, porto, {low: 10}, ordered_at=day(6), expected=TODAY + timedelta(days=1))
        b.order(supplier, porto, {low: 10}, ordered_at=day(30), expected=TODAY - timedelta(days=20),
                status=PurchaseOrderStatus.RECEIVED, received=TODAY - timedelta(days=15),
                received_quantities={low: 10})  # fmt: skip
        ids = {
            "company": b.id,
            "porto": porto.id,
            "very_late": very_late.number,
            "late": late.number,
            "operator": b.user("Olga Operator", Role.OPERATOR).id,
        }
    return writable_db, ids


def _scan(factory, ids, at=NOON):
    with session_scope(factory) as s:
        return scan_alerts(s, _actor(s, ids), AlertScanRequest(at=at))


def _actor(session, ids):
    return actor_for_user(session.get(Company, ids["company"]), session.get(User, ids["operator"]))


def test_scan_raises_one_alert_per_condition(alerting):
    factory, ids = alerting
    result = _scan(factory, ids)

    raised = {(a.category, a.severity, a.sku, a.location, a.po_number) for a in result.raised}
    assert raised == {
        (C.OUT_OF_STOCK, S.CRITICAL, "EMP-001", None, None),
        (C.LOW_STOCK, S.MEDIUM, "LOW-001", None, None),
        (C.OUT_OF_STOCK, S.HIGH, "LOW-001", "Porto", None),
        (C.OVERSTOCK, S.LOW, "OVR-001", None, None),
        (C.LATE_DELIVERY, S.HIGH, "OK-0001", "Lisbon", ids["very_late"]),
        (C.LATE_DELIVERY, S.MEDIUM, None, "Porto", ids["late"]),
    }
    assert all(a.status is AlertStatus.OPEN and a.created_at == NOON for a in result.raised)
    low = next(a for a in result.raised if a.category is C.LOW_STOCK)
    assert "30 each left, reorder point 50, about 15.0 days of cover" in low.message
    assert result.unresolved_count == 6

    again = _scan(factory, ids, NOON + timedelta(hours=1))
    assert again.raised == () and again.cleared == () and again.unresolved_count == 6


def test_scan_resolves_alerts_whose_condition_cleared(alerting):
    factory, ids = alerting
    _scan(factory, ids)
    with session_scope(factory) as s:
        b = Builder(s, "alerting")
        empty = s.execute(select(Product).where(Product.sku == "EMP-001")).scalar_one()
        b.move(empty, s.get(Location, ids["porto"]), 25, NOON, kind=MovementKind.RECEIPT)

    later = NOON + timedelta(hours=2)
    result = _scan(factory, ids, later)

    assert [(a.category, a.sku) for a in result.cleared] == [(C.OUT_OF_STOCK, "EMP-001")]
    cleared = result.cleared[0]
    assert cleared.status is AlertStatus.RESOLVED and cleared.resolved_at == later
    assert cleared.resolved_by == "system"
    # Stock arrived in Porto only: the product as a whole is back, Lisbon is still empty.
    assert [(a.category, a.sku, a.location) for a in result.raised] == [
        (C.OUT_OF_STOCK, "EMP-001", "Lisbon")
    ]


def test_list_filters_and_orders_most_severe_first(session):
    actor = actor_as(session, "lucia")
    demo = company(session)
    unresolved = (
        session.execute(
            select(Alert).where(Alert.company_id == demo.id, Alert.status != AlertStatus.RESOLVED)
        )
        .scalars()
        .all()
    )

    listed = list_alerts(session, actor, AlertFilter())
    assert {a.id for a in listed.alerts} == {a.id for a in unresolved}
    assert listed.total == len(unresolved)
    ranks = [a.severity.rank for a in listed.alerts]
    assert ranks == sorted(ranks)

    critical = list_alerts(session, actor, AlertFilter(severity=S.CRITICAL))
    assert [a.sku for a in critical.alerts] == ["DRL-680"]

    madrid = session.execute(
        select(Location.id).where(Location.company_id == demo.id, Location.name == "Madrid")
    ).scalar_one()
    late_in_madrid = {
        a.id for a in unresolved if a.category is C.LATE_DELIVERY and a.location_id == madrid
    }
    filtered = list_alerts(session, actor, AlertFilter(category=C.LATE_DELIVERY, location="madrid"))
    assert {a.id for a in filtered.alerts} == late_in_madrid

    limited = list_alerts(session, actor, AlertFilter(limit=2))
    assert len(limited.alerts) == 2 and limited.total == len(unresolved)


def test_acknowledge_and_resolve_record_who_and_when(writable_db):
    at = NOW + timedelta(minutes=5)
    with session_scope(writable_db) as s:
        tiago = actor_as(s, "tiago")
        target = next(a for a in list_alerts(s, tiago, AlertFilter()).alerts
                      if a.status is AlertStatus.OPEN)  # fmt: skip
        acked = acknowledge_alerts(s, tiago, AlertAction(alert_id=target.id, at=at))
        again = acknowledge_alerts(s, tiago, AlertAction(alert_id=target.id, at=at))
        resolved = resolve_alerts(s, tiago, AlertAction(alert_id=target.id, note="called them",
                                                        at=at))  # fmt: skip
        row = s.get(Alert, target.id)
    assert [a.id for a in acked.changed] == [target.id] and again.changed == ()
    assert [a.id for a in again.unchanged] == [target.id]
    assert acked.changed[0].acknowledged_by == "Tiago Ferreira"
    assert resolved.changed[0].resolved_by == "Tiago Ferreira"
    assert (row.status, row.acknowledged_by_id, row.acknowledged_at) == (
        AlertStatus.RESOLVED, tiago.user_id, at,
    )  # fmt: skip
    assert (row.resolved_by_id, row.resolved_at, row.resolution_note) == (
        tiago.user_id, at, "called them",
    )  # fmt: skip

    with pytest.raises(Conflict), session_scope(writable_db) as s:
        acknowledge_alerts(s, actor_as(s, "tiago"), AlertAction(alert_id=target.id))


def test_resolve_everything_matching_a_filter(writable_db):
    with session_scope(writable_db) as s:
        demo = company(s)
        late = set(
            s.execute(
                select(Alert.id).where(
                    Alert.company_id == demo.id,
                    Alert.category == C.LATE_DELIVERY,
                    Alert.status != AlertStatus.RESOLVED,
                )
            ).scalars()
        )
        result = resolve_alerts(
            s, actor_as(s, "marta"), AlertAction(filter=AlertFilter(category=C.LATE_DELIVERY))
        )
        remaining = list_alerts(s, actor_as(s, "marta"), AlertFilter(category=C.LATE_DELIVERY))
        others = list_alerts(s, actor_as(s, "marta"), AlertFilter())
    assert late and {a.id for a in result.changed} == late
    assert remaining.total == 0
    assert others.total > 0


def test_viewers_can_list_but_not_acknowledge(session):
    viewer = actor_as(session, "joao")
    assert list_alerts(session, viewer, AlertFilter()).total > 0
    with pytest.raises(PermissionDenied):
        acknowledge_alerts(session, viewer, AlertAction(filter=AlertFilter()))
    with pytest.raises(PermissionDenied):
        scan_alerts(session, viewer, AlertScanRequest(at=NOW))
