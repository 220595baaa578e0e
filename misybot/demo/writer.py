"""Seeding: the demo companies and their simulated history written to the database, once.

Deterministic: the same ``seed`` and ``now`` give the same rows, ids included (on an empty
database)."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from misybot import clock
from misybot.agents.alerts import AlertAction, AlertScanRequest, acknowledge_alerts, scan_alerts
from misybot.db.models import (
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
from misybot.demo.catalogue import (
    COMPANIES,
    DEFAULT_SEED,
    HISTORY_DAYS,
    _CompanySpec,
)
from misybot.demo.simulation import (
    _Simulation,
    order_number,
)
from misybot.enums import (
    Channel,
    PurchaseOrderStatus,
    Role,
)
from misybot.store.tenancy import actor_for_user, system_actor

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedSummary:
    """What ``seed_demo`` did: whether it wrote anything, and the row counts afterwards."""

    created: bool
    companies: tuple[str, ...]
    counts: dict[str, int]
    today: date


def seed_demo(
    session: Session,
    now: datetime | None = None,
    seed: int = DEFAULT_SEED,
    days: int = HISTORY_DAYS,
    reset: bool = False,
) -> SeedSummary:
    """Create the demo companies (refuses to seed twice: returns ``created=False`` instead)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    zone = clock.local_zone()
    slugs = tuple(spec.slug for spec in COMPANIES)
    existing = session.execute(select(Company.id).where(Company.slug.in_(slugs))).scalars().all()
    if existing and not reset:
        return SeedSummary(False, slugs, row_counts(session), now.astimezone(zone).date())
    if existing:
        session.execute(delete(Company).where(Company.id.in_(existing)))
        session.flush()
    rng = random.Random(seed)
    for spec in COMPANIES:
        simulation = _Simulation(spec, rng, now, zone, days)
        simulation.run()
        _write_company(session, spec, simulation)
    session.flush()
    for spec in COMPANIES:
        _raise_alerts(session, spec.slug, now)
    logger.info("demo.seeded companies=%s seed=%d", ",".join(slugs), seed)
    return SeedSummary(True, slugs, row_counts(session), now.astimezone(zone).date())


def _write_company(session: Session, spec: _CompanySpec, sim: _Simulation) -> None:
    created = sim._at(sim.first_day, 6)
    company = Company(slug=spec.slug, name=spec.name, created_at=created)
    session.add(company)
    session.flush()
    users = {}
    for user_spec in spec.users:
        user = User(
            company_id=company.id,
            name=user_spec.name,
            role=user_spec.role,
            persona=user_spec.persona,
            preferred_channel=user_spec.channel,
            email=user_spec.email,
            phone=user_spec.phone,
            created_at=created,
        )
        session.add(user)
        users[user_spec.name] = user
    locations = {
        loc.code: Location(
            company_id=company.id,
            code=loc.code,
            name=loc.name,
            kind=loc.kind,
            city=loc.city,
            created_at=created,
        )
        for loc in spec.locations
    }
    suppliers = {
        s.name: Supplier(
            company_id=company.id,
            name=s.name,
            contact_name=s.contact,
            email=s.email,
            phone=s.phone,
            lead_time_days=s.lead_time,
            created_at=created,
        )
        for s in spec.suppliers
    }
    session.add_all([*locations.values(), *suppliers.values()])
    session.flush()
    for user_spec in spec.users:
        user = users[user_spec.name]
        identities = [(Channel.WHATSAPP, user_spec.phone), (Channel.EMAIL, user_spec.email)]
        if user_spec.slack:
            identities.append((Channel.SLACK, user_spec.slack))
        session.add_all(
            ChannelIdentity(user_id=user.id, channel=channel, address=address, created_at=created)
            for channel, address in identities
        )
    products = {}
    for item in spec.items:
        here = [code for sku, code in sim.stocked if sku == item.sku]
        products[item.sku] = Product(
            company_id=company.id,
            sku=item.sku,
            name=item.name,
            unit=item.unit,
            reorder_point=sum(sim.min_level[(item.sku, code)] for code in here),
            reorder_quantity=sum(sim.batch[(item.sku, code)] for code in here),
            lead_time_days=suppliers[item.supplier].lead_time_days,
            unit_cost=Decimal(item.cost),
            unit_price=Decimal(item.price) if item.price else None,
            max_stock=item.max_stock,
            preferred_supplier_id=suppliers[item.supplier].id,
            created_at=created,
            updated_at=created,
        )
    session.add_all(products.values())
    session.flush()
    orders = {}
    for order in sim.orders:
        ordered_at = sim._at(order.ordered_day, 16)
        row = PurchaseOrder(
            company_id=company.id,
            number=order_number(order.key),
            supplier_id=suppliers[order.supplier].id,
            location_id=locations[order.location].id,
            status=order.status,
            created_by_id=users[sim.operators[order.key % len(sim.operators)]].id,
            created_at=ordered_at,
            ordered_at=ordered_at,
            expected_date=order.expected,
            received_date=order.arrival if order.status is PurchaseOrderStatus.RECEIVED else None,
            notes=order.notes,
        )
        for sku, quantity in order.lines.items():
            row.lines.append(
                PurchaseOrderLine(
                    company_id=company.id,
                    product_id=products[sku].id,
                    quantity_ordered=quantity,
                    quantity_received=order.received.get(sku),
                    unit_cost=products[sku].unit_cost,
                )
            )
        orders[order.key] = row
    session.add_all(orders.values())
    session.flush()
    session.execute(
        insert(StockMovement),
        [
            {
                "company_id": company.id,
                "product_id": products[m.sku].id,
                "location_id": locations[m.location].id,
                "kind": m.kind,
                "quantity": m.quantity,
                "balance_after": m.balance_after,
                "reason": m.reason,
                "user_id": users[m.user].id if m.user else None,
                "occurred_at": m.at,
                "recorded_at": m.at,
                "purchase_order_id": orders[m.order_key].id if m.order_key else None,
                "transfer_location_id": (
                    locations[m.transfer_location].id if m.transfer_location else None
                ),
            }
            for m in sorted(sim.moves, key=lambda m: m.at)
        ],
    )
    session.execute(
        insert(StockLevel),
        [
            {
                "company_id": company.id,
                "product_id": products[sku].id,
                "location_id": locations[code].id,
                "quantity": sim.on_hand.get((sku, code), 0),
                "reorder_point": sim.min_level[(sku, code)],
                "updated_at": sim.now,
            }
            for sku, code in sim.stocked
        ],
    )


def _raise_alerts(session: Session, slug: str, now: datetime) -> None:
    company = session.execute(select(Company).where(Company.slug == slug)).scalar_one()
    result = scan_alerts(session, system_actor(company), AlertScanRequest(at=now))
    operator = (
        session.execute(
            select(User)
            .where(User.company_id == company.id, User.role == Role.OPERATOR)
            .order_by(User.id)
        )
        .scalars()
        .first()
    )
    if operator is not None and result.raised:
        # One alert already seen by an operator, so the demo shows every alert state.
        acknowledge_alerts(
            session,
            actor_for_user(company, operator),
            AlertAction(alert_id=result.raised[-1].id, at=now),
        )


def row_counts(session: Session) -> dict[str, int]:
    """Rows per table (all companies)."""
    return {
        table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
        for table in Base.metadata.sorted_tables
    }
