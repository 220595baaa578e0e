"""The demo data: the catalogue the NLU knows, a consistent 90-day history, deterministic."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from misybot import clock
from misybot.agents.alerts import AlertScanRequest, scan_alerts
from misybot.agents.digest import DigestRequest, daily_digest
from misybot.agents.inventory import InventoryQuery, check_inventory
from misybot.agents.metrics import MetricsRequest, compute_metrics
from misybot.agents.reorder import ReorderRequest, reorder
from misybot.agents.reports import ReportRequest, generate_report
from misybot.agents.stock import StockUpdateMode, StockUpdateRequest, update_stock
from misybot.db.models import (
    Alert,
    Base,
    ChannelIdentity,
    Company,
    Location,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLevel,
    StockMovement,
    Supplier,
    User,
)
from misybot.db.session import make_session_factory, session_scope
from misybot.demo import seed_demo
from misybot.enums import (
    AlertCategory,
    AlertStatus,
    MovementKind,
    Persona,
    PurchaseOrderStatus,
    ReportType,
)
from misybot.errors import InvalidInput
from misybot.store.tenancy import actor_for_user
from testkit.database import migrated_sqlite, postgres_schema

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 11, 15, 0, tzinfo=timezone.utc)
TODAY = clock.local_date(NOW)


def _documented_catalogue() -> dict[str, str]:
    """SKU -> name from the "Demo catalogue" section of the NLU conventions."""
    text = (ROOT / "docs/dev/nlu-conventions.md").read_text()
    section = text.split("## Demo catalogue", 1)[1]
    return dict(re.findall(r"([A-Z]{2,3}-?\d{3,4}) ([a-z][a-z\- ]*?)(?= ·|\n|$)", section))


def _lookup_names() -> set[str]:
    text = (ROOT / "data/nlu/lookups/product.yml").read_text()
    return set(re.findall(r"^\s+- (.+)$", text, re.MULTILINE))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(request, tmp_path_factory):
    """A database seeded at NOW (one per backend for the module)."""
    if request.param == "sqlite":
        engine = migrated_sqlite(tmp_path_factory.mktemp("seed") / "demo.db")
        with session_scope(make_session_factory(engine)) as session:
            seed_demo(session, now=NOW)
        yield make_session_factory(engine)
        engine.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    with postgres_schema(url) as engine:
        with session_scope(make_session_factory(engine)) as session:
            seed_demo(session, now=NOW)
        yield make_session_factory(engine)


def _demo(session) -> Company:
    return session.execute(select(Company).where(Company.slug == "demo")).scalar_one()


def test_demo_company_has_exactly_the_documented_catalogue(seeded):
    documented = _documented_catalogue()
    assert len(documented) == 40
    with session_scope(seeded) as session:
        demo = _demo(session)
        products = dict(
            session.execute(
                select(Product.sku, Product.name).where(Product.company_id == demo.id)
            ).all()
        )
        locations = session.execute(
            select(Location.name).where(Location.company_id == demo.id)
        ).scalars()
        suppliers = session.execute(
            select(Supplier.name).where(Supplier.company_id == demo.id)
        ).scalars()
        assert products == documented
        assert set(products.values()) == _lookup_names()
        assert set(locations) == {"Lisbon", "Porto", "Madrid"}
        assert set(suppliers) == {
            "Acme Supply",
            "Northwind Traders",
            "Globex Industrial",
            "Iberia Components",
        }
        companies = session.execute(select(Company.slug).order_by(Company.id)).scalars().all()
        assert companies == ["demo", "northstar"]


def test_demo_users_cover_every_persona_and_an_admin_reachable_on_whatsapp(seeded):
    with session_scope(seeded) as session:
        users = (
            session.execute(select(User).where(User.company_id == _demo(session).id))
            .scalars()
            .all()
        )
        identities = defaultdict(set)
        for identity in session.execute(select(ChannelIdentity)).scalars():
            identities[identity.user_id].add((identity.channel.value, identity.address))
    assert len(users) >= 6
    assert {u.role.value for u in users} == {"viewer", "operator", "admin"}
    non_admins = [u for u in users if u.role.value != "admin"]
    # Every persona, and a user with no preference (the default voice).
    assert {u.persona for u in non_admins} == {*Persona, None}
    for user in users:
        assert ("whatsapp", user.phone) in identities[user.id]
        assert ("email", user.email) in identities[user.id]


def test_stock_levels_are_the_sum_of_their_movements(seeded):
    with session_scope(seeded) as session:
        moves = (
            session.execute(
                select(StockMovement).order_by(StockMovement.occurred_at, StockMovement.id)
            )
            .scalars()
            .all()
        )
        levels = {
            (level.product_id, level.location_id): level.quantity
            for level in session.execute(select(StockLevel)).scalars()
        }
    running: dict[tuple[int, int], int] = defaultdict(int)
    for move in moves:
        key = (move.product_id, move.location_id)
        running[key] += move.quantity
        assert running[key] == move.balance_after >= 0, move.id
    assert dict(running) == {key: qty for key, qty in levels.items() if key in running}
    assert all(qty == 0 for key, qty in levels.items() if key not in running)


def test_history_covers_ninety_days_with_every_kind_of_movement(seeded):
    with session_scope(seeded) as session:
        demo = _demo(session)
        rows = session.execute(
            select(StockMovement.kind, StockMovement.occurred_at, StockMovement.quantity,
                   StockMovement.transfer_location_id)
            .where(StockMovement.company_id == demo.id)
        ).all()  # fmt: skip
    days = {clock.local_date(at) for _kind, at, _q, _t in rows}
    assert min(days) == TODAY - timedelta(days=89)
    assert max(at for _k, at, _q, _t in rows) <= NOW
    assert {kind for kind, *_ in rows} == set(MovementKind)
    assert sum(q for kind, _at, q, _t in rows if kind is MovementKind.TRANSFER) == 0
    assert all(t is not None for kind, _at, _q, t in rows if kind is MovementKind.TRANSFER)


def test_purchase_history_has_late_short_open_and_cancelled_orders(seeded):
    with session_scope(seeded) as session:
        demo = _demo(session)
        orders = (
            session.execute(select(PurchaseOrder).where(PurchaseOrder.company_id == demo.id))
            .scalars()
            .all()
        )
        lines = (
            session.execute(
                select(PurchaseOrderLine).where(PurchaseOrderLine.company_id == demo.id)
            )
            .scalars()
            .all()
        )
        receipts = defaultdict(int)
        for po_id, product_id, quantity in session.execute(
            select(StockMovement.purchase_order_id, StockMovement.product_id,
                   StockMovement.quantity)
            .where(StockMovement.company_id == demo.id, StockMovement.kind == "receipt")
        ):  # fmt: skip
            receipts[(po_id, product_id)] += quantity
        supplier_names = dict(session.execute(select(Supplier.id, Supplier.name)).all())
    received = [o for o in orders if o.status is PurchaseOrderStatus.RECEIVED]
    late = [o for o in received if o.received_date > o.expected_date]
    short = [line for line in lines if (line.quantity_received or 0) < line.quantity_ordered
             and line.quantity_received is not None]  # fmt: skip
    assert late and short
    assert any(o.status is PurchaseOrderStatus.SENT and o.expected_date < TODAY for o in orders)
    assert any(o.status is PurchaseOrderStatus.CANCELLED for o in orders)
    assert {supplier_names[o.supplier_id] for o in late} >= {"Northwind Traders"}
    for line in lines:  # every received line arrived as a receipt movement, exactly
        assert receipts.get((line.purchase_order_id, line.product_id), 0) == (
            line.quantity_received or 0
        )


def test_open_alerts_match_the_conditions_in_the_data(seeded):
    with session_scope(seeded) as session:
        demo = _demo(session)
        alerts = session.execute(select(Alert).where(Alert.company_id == demo.id)).scalars().all()
        overdue = set(
            session.execute(
                select(PurchaseOrder.id).where(
                    PurchaseOrder.company_id == demo.id,
                    PurchaseOrder.status == PurchaseOrderStatus.SENT,
                    PurchaseOrder.expected_date < TODAY,
                )
            ).scalars()
        )
        totals = defaultdict(int)
        for product_id, quantity in session.execute(
            select(StockLevel.product_id, StockLevel.quantity).where(
                StockLevel.company_id == demo.id
            )
        ):
            totals[product_id] += quantity
    late_alerts = {a.purchase_order_id for a in alerts if a.category is AlertCategory.LATE_DELIVERY}
    empty = {pid for pid, total in totals.items() if total == 0}
    out_alerts = {
        a.product_id
        for a in alerts
        if a.category is AlertCategory.OUT_OF_STOCK and a.location_id is None
    }
    assert late_alerts == overdue
    assert out_alerts == empty and empty
    statuses = {a.status for a in alerts}
    assert AlertStatus.OPEN in statuses and AlertStatus.ACKNOWLEDGED in statuses
    acknowledged = [a for a in alerts if a.status is AlertStatus.ACKNOWLEDGED]
    assert all(a.acknowledged_by_id and a.acknowledged_at == NOW for a in acknowledged)


def _dump(engine) -> dict[str, list[tuple]]:
    with engine.connect() as connection:
        return {
            table.name: [tuple(row) for row in connection.execute(
                select(table).order_by(*table.primary_key.columns))]
            for table in Base.metadata.sorted_tables
        }  # fmt: skip


def test_seeding_is_deterministic_and_refuses_to_run_twice(tmp_path):
    first, second = migrated_sqlite(tmp_path / "a.db"), migrated_sqlite(tmp_path / "b.db")
    for engine in (first, second):
        with session_scope(make_session_factory(engine)) as session:
            summary = seed_demo(session, now=NOW)
        assert summary.created
    assert _dump(first) == _dump(second)
    assert summary.counts["stock_movements"] == len(_dump(first)["stock_movements"])

    with session_scope(make_session_factory(first)) as session:
        again = seed_demo(session, now=NOW + timedelta(days=3))
    assert not again.created
    assert _dump(first) == _dump(second)

    with session_scope(make_session_factory(first)) as session:
        reset = seed_demo(session, now=NOW, reset=True)
    assert reset.created and reset.counts == summary.counts


def test_agents_behave_the_same_on_this_backend(seeded, tmp_path):
    """Every agent once against the seeded data, rolled back afterwards (savepoints included)."""
    session = seeded()
    try:
        demo = _demo(session)
        actor = actor_for_user(
            demo,
            session.execute(select(User).where(User.email.startswith("marta"))).scalar_one(),
        )
        wid = session.execute(
            select(Product).where(Product.company_id == demo.id, Product.sku == "WID-220")
        ).scalar_one()
        on_hand = sum(
            session.execute(
                select(StockLevel.quantity).where(StockLevel.product_id == wid.id)
            ).scalars()
        )
        status = check_inventory(session, actor, InventoryQuery(product="blue widgts", as_of=TODAY))
        assert (status.sku, status.total_quantity) == ("WID-220", on_hand)

        add = StockUpdateRequest(StockUpdateMode.ADD, 7, "received", sku="WID-220",
                                 location="Porto", idempotency_key="exec-pg-1")  # fmt: skip
        first, again = update_stock(session, actor, add), update_stock(session, actor, add)
        assert (first.movement_id, again.replayed) == (again.movement_id, True)
        with pytest.raises(InvalidInput):
            update_stock(
                session,
                actor,
                StockUpdateRequest(
                    StockUpdateMode.REMOVE, 10**5, "sold", sku="WID-220", location="Porto"
                ),
            )
        order = ReorderRequest(sku="WID-220", idempotency_key="exec-pg-2", as_of=TODAY)
        po, po_again = reorder(session, actor, order), reorder(session, actor, order)
        assert po_again.po_number == po.po_number and po_again.replayed

        assert scan_alerts(session, actor, AlertScanRequest(at=NOW)).raised == ()
        start = TODAY - timedelta(days=29)
        metrics = compute_metrics(session, actor, MetricsRequest(start, TODAY))
        assert metrics.units_sold > 0 and metrics.open_alerts > 0
        report = generate_report(
            session, actor, ReportRequest(ReportType.FINANCIAL, start, TODAY, TODAY), tmp_path
        )
        assert report.csv_path.is_file() and report.chart_path.is_file()
        digest = daily_digest(session, actor, DigestRequest(TODAY))
        assert digest.top_risks[0].sku == "DRL-680"
    finally:
        session.rollback()
        session.close()
