"""What the database itself guarantees, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from misybot.db.models import (
    Alert,
    ChannelIdentity,
    Company,
    ConversationMessage,
    Location,
    Product,
    PurchaseOrder,
    StockLevel,
    StockMovement,
    User,
)
from misybot.db.session import session_scope
from misybot.enums import (
    AlertCategory,
    AlertSeverity,
    AlertStatus,
    Channel,
    MovementKind,
    PurchaseOrderStatus,
    Role,
)
from testkit.database import Builder

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


def refused(session_factory, *rows) -> None:
    """Adding ``rows`` in one unit of work must fail in the database."""
    with pytest.raises(IntegrityError), session_scope(session_factory) as session:
        session.add_all(rows)
        session.flush()


@pytest.fixture
def tenants(session_factory):
    """Two companies with the same SKU, each with one location."""
    with session_scope(session_factory) as session:
        alpha, beta = Builder(session, "alpha"), Builder(session, "beta")
        return {
            "a": alpha.id,
            "b": beta.id,
            "a_loc": alpha.location("Lisbon").id,
            "b_loc": beta.location("Lyon").id,
            "a_prod": alpha.product("WID-220", "blue widgets").id,
            "b_prod": beta.product("WID-220", "widget blue XL").id,
        }


def product_row(company_id: int, sku: str) -> Product:
    return Product(
        company_id=company_id, sku=sku, name="x", reorder_point=1, reorder_quantity=1,
        lead_time_days=1, unit_cost=Decimal("1"),
    )  # fmt: skip


def test_same_sku_in_two_companies_but_unique_within_one(session_factory, tenants):
    with session_scope(session_factory) as session:
        skus = session.execute(select(Product.company_id, Product.sku)).all()
    assert sorted(skus) == sorted([(tenants["a"], "WID-220"), (tenants["b"], "WID-220")])

    refused(session_factory, product_row(tenants["a"], "WID-220"))


def test_rows_cannot_mix_companies(session_factory, tenants):
    refused(
        session_factory,
        StockMovement(
            company_id=tenants["a"],
            product_id=tenants["a_prod"],
            location_id=tenants["b_loc"],  # company B's location
            kind=MovementKind.RECEIPT,
            quantity=5,
            balance_after=5,
            reason="test",
            occurred_at=T0,
        ),
    )
    refused(
        session_factory,
        StockLevel(
            company_id=tenants["b"], product_id=tenants["a_prod"], location_id=tenants["b_loc"]
        ),
    )


def test_stock_is_never_negative_in_the_database(session_factory, tenants):
    refused(
        session_factory,
        StockLevel(
            company_id=tenants["a"], product_id=tenants["a_prod"], location_id=tenants["a_loc"],
            quantity=-1,
        ),
    )  # fmt: skip


def test_a_channel_address_belongs_to_one_user(session_factory):
    with session_scope(session_factory) as session:
        builder = Builder(session, "alpha")
        first = builder.user("Ana Silva", Role.ADMIN).id
        second = builder.user("Rui Lopes", Role.VIEWER).id
        session.add(ChannelIdentity(user_id=first, channel=Channel.WHATSAPP, address="+3519100"))
        session.add(ChannelIdentity(user_id=second, channel=Channel.SMS, address="+3519100"))

    refused(
        session_factory,
        ChannelIdentity(user_id=second, channel=Channel.WHATSAPP, address="+3519100"),
    )


def test_one_unresolved_alert_per_condition(session_factory, tenants):
    def alert(status=AlertStatus.OPEN):
        return Alert(
            company_id=tenants["a"],
            severity=AlertSeverity.HIGH,
            category=AlertCategory.LOW_STOCK,
            status=status,
            title="Low stock",
            message="low",
            product_id=tenants["a_prod"],
            condition_key=f"low_stock:product={tenants['a_prod']}",
        )

    with session_scope(session_factory) as session:
        session.add_all([alert(AlertStatus.RESOLVED), alert(AlertStatus.RESOLVED)])
        session.add(alert(AlertStatus.ACKNOWLEDGED))

    refused(session_factory, alert())


def test_idempotency_keys_are_unique_per_company(session_factory, tenants):
    with session_scope(session_factory) as session:
        for key in ("a", "b"):
            builder = Builder(session, session.get(Company, tenants[key]).slug)
            order = builder.order(
                builder.supplier("Acme Supply"),
                session.get(Location, tenants[f"{key}_loc"]),
                {},
                ordered_at=T0,
                expected=T0.date(),
            )
            order.idempotency_key = "exec-1"  # the same key in two companies is fine
        supplier_id = order.supplier_id

    refused(
        session_factory,
        PurchaseOrder(
            company_id=tenants["b"], number="PO-99999", supplier_id=supplier_id,
            location_id=tenants["b_loc"], status=PurchaseOrderStatus.DRAFT,
            idempotency_key="exec-1",
        ),
    )  # fmt: skip


def test_provider_message_ids_are_unique_per_channel(session_factory):
    def message(channel, provider_id):
        return ConversationMessage(
            channel=channel, sender_address="+3519100", provider_message_id=provider_id, body="hi"
        )

    with session_scope(session_factory) as session:
        session.add(message(Channel.WHATSAPP, "SM123"))
        session.add(message(Channel.SMS, "SM123"))
        session.add(message(Channel.WHATSAPP, None))
        session.add(message(Channel.WHATSAPP, None))

    refused(session_factory, message(Channel.WHATSAPP, "SM123"))


def test_money_and_timestamps_round_trip_exactly(session_factory):
    moment = datetime(2026, 3, 2, 23, 59, 59, 123456, tzinfo=timezone(timedelta(hours=1)))
    with session_scope(session_factory) as session:
        product = Builder(session, "alpha").product(
            "PMP-720", "water pumps", unit_cost="12345678.91", unit_price="0.10"
        )
        product.created_at = moment
        product_id = product.id

    with session_scope(session_factory) as session:
        product = session.get(Product, product_id)
        assert product.unit_cost == Decimal("12345678.91")
        assert str(product.unit_price) == "0.10"
        assert product.created_at == moment
        assert product.created_at.tzinfo is not None
        assert session.execute(select(func.sum(Product.unit_cost))).scalar_one() == Decimal(
            "12345678.91"
        )


def test_enum_columns_refuse_unknown_values(session_factory):
    with session_scope(session_factory) as session:
        company_id = Builder(session, "alpha").id

    with pytest.raises(IntegrityError), session_scope(session_factory) as session:
        session.execute(
            text(
                "INSERT INTO users (company_id, name, role, persona, preferred_channel, active, "
                "created_at) VALUES (:company, 'X', 'guest', 'hub', 'whatsapp', true, :now)"
            ),
            {"company": company_id, "now": T0.replace(tzinfo=None)},
        )


def test_deleting_a_company_removes_its_rows_and_only_its_rows(session_factory, tenants):
    with session_scope(session_factory) as session:
        for key in ("a", "b"):
            builder = Builder(session, session.get(Company, tenants[key]).slug)
            product = session.get(Product, tenants[f"{key}_prod"])
            builder.move(product, session.get(Location, tenants[f"{key}_loc"]), 10, T0)
            builder.user("Someone Else", Role.OPERATOR)

    with session_scope(session_factory) as session:
        session.delete(session.get(Company, tenants["a"]))

    with session_scope(session_factory) as session:
        for model in (Product, Location, StockLevel, StockMovement, User):
            owners = set(session.execute(select(model.company_id)).scalars())
            assert owners == {tenants["b"]}, model.__tablename__
