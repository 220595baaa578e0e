"""Databases for tests and benches: a migrated SQLite file, a PostgreSQL schema of its own, the demo
data, identities to link, and small hand-made datasets (``Builder``) with known numbers."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from misybot.db.engine import create_db_engine
from misybot.db.migrate import upgrade
from misybot.db.models import (
    Base,
    Company,
    Location,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    User,
)
from misybot.enums import Channel, LocationKind, MovementKind, Persona, PurchaseOrderStatus, Role
from misybot.store.purchasing import next_po_number
from misybot.store.stock import apply_movement
from misybot.store.tenancy import Actor, actor_for_user

DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def migrated_sqlite(path: Path) -> Engine:
    """An engine on a new SQLite file at ``path``, migrated to the newest revision."""
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def postgres_unavailable(url: str = DEFAULT_POSTGRES_URL) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used (None when it can)."""
    engine = create_db_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        reason = str(error.orig if getattr(error, "orig", None) else error).strip()
        return f"PostgreSQL at {make_url(url).render_as_string()} unreachable: {reason}"
    finally:
        engine.dispose()
    return None


@contextmanager
def postgres_schema(url: str = DEFAULT_POSTGRES_URL, migrate: bool = True) -> Iterator[Engine]:
    """An engine whose ``search_path`` is a fresh schema (dropped afterwards), migrated."""
    schema = f"misybot_test_{secrets.token_hex(6)}"
    admin = create_db_engine(url)
    quoted = admin.dialect.identifier_preparer.quote(schema)  # DDL cannot bind identifiers
    with admin.begin() as connection:
        connection.execute(text("CREATE SCHEMA " + quoted))
    engine = create_db_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        if migrate:
            upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text("DROP SCHEMA " + quoted + " CASCADE"))
        admin.dispose()


_FORGET_ADVISORY_LOCKS = text(
    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND pid <> pg_backend_pid()"
)


def empty_tables(engine: Engine) -> None:
    """Delete every row of every table, keeping the schema (and restarting id sequences).

    On PostgreSQL also end the sessions still holding advisory locks (``misybot.db.locks``): a
    test whose event loop stopped while a runtime held a sender's lock leaves its connection
    behind, and the next test's runtime would wait for that sender for ever."""
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(_FORGET_ADVISORY_LOCKS)
            quote = engine.dialect.identifier_preparer.quote
            names = ", ".join(quote(table.name) for table in tables)
            connection.execute(text("TRUNCATE " + names + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


class Builder:
    """Small hand-made datasets with known numbers for one company (created if new)."""

    def __init__(self, session: Session, slug: str = "acme", name: str | None = None) -> None:
        self.session = session
        company = session.execute(select(Company).where(Company.slug == slug)).scalar_one_or_none()
        if company is None:
            company = Company(slug=slug, name=name or slug.title())
            session.add(company)
            session.flush()
        self.company = company
        self.id = company.id

    def location(self, name: str, code: str | None = None) -> Location:
        location = Location(
            company_id=self.id,
            name=name,
            code=code or name[:3].upper(),
            kind=LocationKind.WAREHOUSE,
            city=name,
        )
        self.session.add(location)
        self.session.flush()
        return location

    def supplier(self, name: str, lead_time_days: int = 7, **fields) -> Supplier:
        supplier = Supplier(company_id=self.id, name=name, lead_time_days=lead_time_days, **fields)
        self.session.add(supplier)
        self.session.flush()
        return supplier

    def user(self, name: str, role: Role, email: str | None = None, **fields) -> User:
        user = User(
            company_id=self.id,
            name=name,
            role=role,
            persona=fields.pop("persona", Persona.NAVIGATOR),
            preferred_channel=fields.pop("preferred_channel", Channel.WHATSAPP),
            email=email or f"{name.split()[0].lower()}@{self.company.slug}.example",
            **fields,
        )
        self.session.add(user)
        self.session.flush()
        return user

    def actor(self, user: User | None = None, role: Role = Role.ADMIN) -> Actor:
        if user is None:
            return Actor(company_id=self.id, company_slug=self.company.slug, role=role)
        return actor_for_user(self.company, user)

    def product(
        self,
        sku: str,
        name: str,
        *,
        reorder_point: int = 10,
        reorder_quantity: int = 20,
        lead_time_days: int = 7,
        unit_cost: str = "1.00",
        unit_price: str | None = None,
        supplier: Supplier | None = None,
        **fields,
    ) -> Product:
        product = Product(
            company_id=self.id,
            sku=sku,
            name=name,
            reorder_point=reorder_point,
            reorder_quantity=reorder_quantity,
            lead_time_days=lead_time_days,
            unit_cost=Decimal(unit_cost),
            unit_price=Decimal(unit_price) if unit_price else None,
            preferred_supplier_id=supplier.id if supplier else None,
            **fields,
        )
        self.session.add(product)
        self.session.flush()
        return product

    def move(
        self,
        product: Product,
        location: Location,
        quantity: int,
        at: datetime,
        kind: MovementKind | None = None,
        reason: str = "test",
    ):
        """Record a movement (receipt when positive, sale when negative unless told)."""
        kind = kind or (MovementKind.RECEIPT if quantity > 0 else MovementKind.SALE)
        return apply_movement(
            self.session,
            self.id,
            product=product,
            location=location,
            quantity=quantity,
            kind=kind,
            reason=reason,
            occurred_at=at,
        )

    def order(
        self,
        supplier: Supplier,
        location: Location,
        lines: dict[Product, int],
        *,
        status: PurchaseOrderStatus = PurchaseOrderStatus.SENT,
        ordered_at: datetime,
        expected: date,
        received: date | None = None,
        received_quantities: dict[Product, int] | None = None,
        number: str | None = None,
    ) -> PurchaseOrder:
        order = PurchaseOrder(
            company_id=self.id,
            number=number or next_po_number(self.session, self.id),
            supplier_id=supplier.id,
            location_id=location.id,
            status=status,
            created_at=ordered_at,
            ordered_at=ordered_at,
            expected_date=expected,
            received_date=received,
        )
        for product, quantity in lines.items():
            order.lines.append(
                PurchaseOrderLine(
                    company_id=self.id,
                    product_id=product.id,
                    quantity_ordered=quantity,
                    quantity_received=(received_quantities or {}).get(product),
                    unit_cost=product.unit_cost,
                )
            )
        self.session.add(order)
        self.session.flush()
        return order


@contextmanager
def demo_database(kind: str, folder: Path) -> Iterator[tuple[str, str | None]]:
    """A throw-away database with the demo data: ``(its URL, its PostgreSQL schema or None)``.
    ``kind`` "postgres"/"postgresql": a fresh schema of ``DEFAULT_POSTGRES_URL``, dropped
    afterwards; anything else a SQLite file in ``folder``."""
    if kind in ("postgres", "postgresql"):
        with postgres_schema(DEFAULT_POSTGRES_URL) as engine:
            with engine.connect() as connection:
                schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
            url = f"{DEFAULT_POSTGRES_URL}?options=-csearch_path%3D{schema}"
            seed_demo(url)
            yield url, schema
    else:
        url = f"sqlite:///{folder / 'misybot.db'}"
        seed_demo(url)
        yield url, None


def seed_demo(url: str) -> None:
    """The demo companies and users in the (migrated or new) database at ``url``."""
    misybot = Path(sys.executable).with_name("misybot")
    environment = {**os.environ, "MISYBOT_DATABASE_URL": url}
    subprocess.run([str(misybot), "demo", "seed"], env=environment, check=True, capture_output=True)


def seeded_database_url(folder: Path) -> str:
    """A Rasa server's own SQLite database (inbox, outbox, mailbox positions) with the demo
    users in it, as in production where one database holds both: the channel runtime links each
    message to its sender's user when it stores it. Its own file, because sharing the action
    server's would make each wait on the other's writes."""
    url = f"sqlite:///{folder / 'inbox.db'}"
    seed_demo(url)
    return url


def link_identities(urls: list[str], email: str, identities) -> None:
    """Link ``(channel, address)`` identities to the user with ``email`` in each database (the
    action server's and a Rasa server's hold the same users in tests, one database in
    production)."""
    from misybot.db.engine import create_db_engine
    from misybot.db.models import ChannelIdentity, User
    from misybot.db.session import make_session_factory, session_scope

    for url in urls:
        # Other processes write to these too: take SQLite's write lock up front so this
        # read-then-write waits its turn instead of failing at once.
        engine = create_db_engine(url)
        immediate = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        with session_scope(make_session_factory(immediate)) as session:
            user = session.execute(select(User).where(User.email == email)).scalar_one()
            for channel, address in identities:
                session.add(ChannelIdentity(user_id=user.id, channel=channel, address=address))
        engine.dispose()


def stored_text(engine: Engine) -> str:
    """Every text, JSON and binary value of every table, one per line: what a scan for a
    person's traces (an erasure's test) searches."""
    from sqlalchemy import JSON, LargeBinary, String, Text

    values = []
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [
                c for c in table.columns if isinstance(c.type, String | Text | JSON | LargeBinary)
            ]
            if not columns:
                continue
            for row in connection.execute(select(*columns)):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    values.append(value if isinstance(value, str) else json.dumps(value))
    return "\n".join(values)


def inbox_rows(engine: Engine, channel: Channel, address: str) -> list:
    """The inbox rows (``ConversationMessage``) of one sender, oldest first, detached."""
    from misybot.db.models import ConversationMessage
    from misybot.db.session import make_session_factory, session_scope

    with session_scope(make_session_factory(engine)) as session:
        rows = list(
            session.execute(
                select(ConversationMessage)
                .where(
                    ConversationMessage.channel == channel,
                    ConversationMessage.sender_address == address,
                )
                .order_by(ConversationMessage.id)
            ).scalars()
        )
        session.expunge_all()
        return rows


def wrote(session: Session, user_id: int, channel: Channel, transport: str, at: datetime) -> None:
    """A processed message of ``user_id``'s on ``channel`` by ``transport`` at ``at``."""
    from misybot.db.models import ConversationMessage

    session.add(
        ConversationMessage(
            user_id=user_id,
            channel=channel,
            sender_address="x",
            body="hi",
            payload={"transport": transport},
            received_at=at,
            status="processed",
        )
    )
