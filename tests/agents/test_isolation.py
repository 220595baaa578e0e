"""Tenant isolation: another company's rows cannot be reached, by id or by name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from seeded import TODAY, actor_as, admin, company
from sqlalchemy import func, select

from misybot.agents.alerts import AlertAction, AlertFilter, acknowledge_alerts, list_alerts
from misybot.agents.alerts import resolve_alerts as resolve
from misybot.agents.digest import DigestRequest, daily_digest
from misybot.agents.inventory import InventoryQuery, check_inventory
from misybot.agents.reorder import ReorderRequest, reorder
from misybot.agents.reports import ReportRequest, generate_report, get_report
from misybot.agents.stock import StockUpdateMode, StockUpdateRequest, update_stock
from misybot.agents.suppliers import (
    SupplierPerformanceRequest,
    SupplierQuery,
    check_supplier,
    supplier_performance,
)
from misybot.db.models import Alert, Base, PurchaseOrder
from misybot.db.session import session_scope
from misybot.enums import ReportType
from misybot.errors import NotFound
from misybot.store.purchasing import get_purchase_order
from misybot.store.tenancy import resolve_actor


def northstar_rows(session) -> dict[str, int]:
    """Row counts of every table that holds northstar's business data."""
    owner = company(session, "northstar").id
    return {
        table.name: session.execute(
            select(func.count()).select_from(table).where(table.c.company_id == owner)
        ).scalar_one()
        for table in Base.metadata.sorted_tables
        if "company_id" in table.c
    }


def northstar_alert_id(session) -> int:
    return (
        session.execute(
            select(Alert.id).where(Alert.company_id == company(session, "northstar").id)
        )
        .scalars()
        .first()
    )


@pytest.mark.parametrize(
    "query",
    [InventoryQuery(sku="SOL-100"), InventoryQuery(product="solar panels"),
     InventoryQuery(product="power inverters"), InventoryQuery(sku="INV-300")],
)  # fmt: skip
def test_another_companys_products_are_not_found(session, query):
    with pytest.raises(NotFound) as caught:
        check_inventory(session, admin(session), query)
    offered = {s.value for s in caught.value.suggestions}
    assert not offered & {"SOL-100", "INV-300", "CBL-610", "MNT-220", "GLV-020", "HMR-161"}


def test_a_shared_sku_means_each_companys_own_product(session):
    ours = check_inventory(session, admin(session), InventoryQuery(sku="WID-220"))
    theirs = check_inventory(session, admin(session, "northstar"), InventoryQuery(sku="WID-220"))
    assert (ours.name, theirs.name) == ("blue widgets", "widget blue XL")
    assert {loc.location for loc in ours.locations} == {"Lisbon", "Porto", "Madrid"}
    assert {loc.location for loc in theirs.locations} == {"Lyon", "Marseille"}


def test_another_companys_alerts_cannot_be_listed_acknowledged_or_resolved(writable_db):
    with session_scope(writable_db) as s:
        before = northstar_rows(s)
        theirs = northstar_alert_id(s)
        marta = actor_as(s, "marta")
        assert theirs not in {a.id for a in list_alerts(s, marta, AlertFilter(limit=500)).alerts}
        for act in (acknowledge_alerts, resolve):
            with pytest.raises(NotFound):
                act(s, marta, AlertAction(alert_id=theirs))
        with pytest.raises(NotFound):
            list_alerts(s, marta, AlertFilter(sku="SOL-100"))
        everything = resolve(s, admin(s), AlertAction(filter=AlertFilter()))
        assert theirs not in {a.id for a in everything.changed}
    with session_scope(writable_db) as s:
        assert s.get(Alert, theirs).resolved_at is None
        assert northstar_rows(s) == before


def test_another_companys_reports_are_not_found(writable_db, tmp_path):
    with session_scope(writable_db) as s:
        theirs = generate_report(
            s, admin(s, "northstar"),
            ReportRequest(ReportType.SALES, TODAY - timedelta(days=6), TODAY), tmp_path,
        )  # fmt: skip
    assert theirs.csv_path.parent.name == "northstar"
    with session_scope(writable_db) as s, pytest.raises(NotFound):
        get_report(s, admin(s), theirs.report_id)


def test_another_companys_purchase_orders_are_not_found(session):
    theirs = session.execute(
        select(PurchaseOrder).where(
            PurchaseOrder.company_id == company(session, "northstar").id,
            PurchaseOrder.number == "PO-00001",
        )
    ).scalar_one()
    demo_id = company(session).id
    with pytest.raises(NotFound):
        get_purchase_order(session, demo_id, theirs.id)
    ours = get_purchase_order(session, demo_id, "PO-00001")  # the same number is ours
    assert ours.company_id == demo_id and ours.id != theirs.id


def test_writes_cannot_reach_another_companys_catalogue(writable_db):
    with session_scope(writable_db) as s:
        before = northstar_rows(s)
        marta = actor_as(s, "marta")
        attempts = [
            lambda: update_stock(s, marta, StockUpdateRequest(StockUpdateMode.ADD, 5, "received",
                                 sku="SOL-100", location="Lisbon")),
            lambda: update_stock(s, marta, StockUpdateRequest(StockUpdateMode.ADD, 5, "received",
                                 sku="WID-220", location="Lyon")),
            lambda: reorder(s, marta, ReorderRequest(product="solar panels")),
            lambda: reorder(s, marta, ReorderRequest(sku="WID-220", supplier="Rhone Fixings")),
            lambda: check_supplier(s, marta, SupplierQuery(supplier="Rhone Fixings")),
            lambda: resolve_actor(s, "demo", "camille.laurent@northstar.example"),
        ]  # fmt: skip
        for attempt in attempts:
            with pytest.raises(NotFound):
                attempt()
    with session_scope(writable_db) as s:
        assert northstar_rows(s) == before


def test_summaries_only_count_the_own_company(session):
    ours = supplier_performance(
        session, admin(session), SupplierPerformanceRequest(TODAY - timedelta(days=89), TODAY)
    )
    assert "Rhone Fixings" not in {s.supplier for s in ours.scores}
    digest = daily_digest(session, admin(session), DigestRequest(day=TODAY))
    assert northstar_alert_id(session) not in {a.id for a in digest.new_alerts}
