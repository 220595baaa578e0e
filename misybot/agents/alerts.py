"""Alert generator and alert handling: raise, list, acknowledge and resolve alerts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from misybot import clock
from misybot.db.models import Alert, Location, Product, PurchaseOrder, Supplier, User
from misybot.db.types import utc_now
from misybot.enums import AlertCategory, AlertSeverity, AlertStatus, PurchaseOrderStatus
from misybot.errors import Conflict, InvalidInput, NotFound
from misybot.permissions import Operation
from misybot.store.catalog import find_location, find_product
from misybot.store.stock import StockPosition, overstock_threshold, stock_positions
from misybot.store.tenancy import Actor

UNRESOLVED = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
VERY_LATE_DAYS = 7


@dataclass(frozen=True)
class AlertInfo:
    """One alert as the chat layer shows it."""

    id: int
    severity: AlertSeverity
    category: AlertCategory
    status: AlertStatus
    title: str
    message: str
    sku: str | None
    product: str | None
    location: str | None
    supplier: str | None
    po_number: str | None
    created_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class AlertScanRequest:
    """Scan at ``at`` (default now); alerts whose condition has cleared are resolved."""

    at: datetime | None = None
    resolve_cleared: bool = True


@dataclass(frozen=True)
class AlertScanResult:
    raised: tuple[AlertInfo, ...]
    cleared: tuple[AlertInfo, ...]
    unresolved_count: int
    as_of: date


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts: ``status`` None means not yet resolved (open or acknowledged)."""

    severity: AlertSeverity | None = None
    category: AlertCategory | None = None
    status: AlertStatus | None = None
    sku: str | None = None
    location: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class AlertList:
    alerts: tuple[AlertInfo, ...]
    total: int  # all matches, even beyond ``limit``
    filter: AlertFilter


@dataclass(frozen=True)
class AlertAction:
    """One alert by id, or every alert matching ``filter`` (an empty filter means all)."""

    alert_id: int | None = None
    filter: AlertFilter | None = None
    note: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class AlertChange:
    action: str  # "acknowledged" or "resolved"
    changed: tuple[AlertInfo, ...]
    unchanged: tuple[AlertInfo, ...] = field(default=())


@dataclass(frozen=True)
class _Condition:
    key: str
    category: AlertCategory
    severity: AlertSeverity
    title: str
    message: str
    product_id: int | None = None
    location_id: int | None = None
    supplier_id: int | None = None
    purchase_order_id: int | None = None


def scan_alerts(session: Session, actor: Actor, request: AlertScanRequest) -> AlertScanResult:
    """Raise alerts for stock and purchase-order conditions; at most one per open condition."""
    actor.require(Operation.SCAN_ALERTS)
    at = request.at or utc_now()
    as_of = clock.local_date(at)
    conditions = {
        c.key: c for c in _stock_conditions(stock_positions(session, actor.company_id, as_of))
    }
    conditions.update(
        (c.key, c) for c in _late_delivery_conditions(session, actor.company_id, as_of)
    )
    unresolved = {
        alert.condition_key: alert
        for alert in session.execute(
            select(Alert).where(
                Alert.company_id == actor.company_id,
                Alert.status.in_(UNRESOLVED),
                Alert.condition_key.is_not(None),
            )
        ).scalars()
    }
    raised = []
    for key, condition in sorted(conditions.items()):
        if key in unresolved:
            continue
        alert = Alert(
            company_id=actor.company_id,
            severity=condition.severity,
            category=condition.category,
            status=AlertStatus.OPEN,
            title=condition.title,
            message=condition.message,
            product_id=condition.product_id,
            location_id=condition.location_id,
            supplier_id=condition.supplier_id,
            purchase_order_id=condition.purchase_order_id,
            condition_key=key,
            created_at=at,
        )
        session.add(alert)
        raised.append(alert)
    cleared = []
    if request.resolve_cleared:
        for key, alert in unresolved.items():
            if key not in conditions:
                alert.status = AlertStatus.RESOLVED
                alert.resolved_at = at
                alert.resolution_note = "condition cleared"
                cleared.append(alert)
    session.flush()
    count = session.execute(
        select(func.count(Alert.id)).where(
            Alert.company_id == actor.company_id, Alert.status.in_(UNRESOLVED)
        )
    ).scalar_one()
    return AlertScanResult(
        raised=alert_infos(session, actor.company_id, raised),
        cleared=alert_infos(session, actor.company_id, cleared),
        unresolved_count=count,
        as_of=as_of,
    )


def _stock_conditions(positions: Iterable[StockPosition]) -> list[_Condition]:
    conditions = []
    for position in positions:
        product = position.product
        label = f"{product.sku} {product.name}"
        total, unit = position.total, product.unit
        cover = position.days_of_coverage
        if total <= 0:
            conditions.append(
                _Condition(
                    key=f"out_of_stock:product={product.id}",
                    category=AlertCategory.OUT_OF_STOCK,
                    severity=AlertSeverity.CRITICAL,
                    title=f"Out of stock: {label}",
                    message=f"No {label} left at any location "
                    f"({position.on_order} {unit} on order).",
                    product_id=product.id,
                )
            )
        elif total <= product.reorder_point:
            urgent = cover is not None and cover < product.lead_time_days
            conditions.append(
                _Condition(
                    key=f"low_stock:product={product.id}",
                    category=AlertCategory.LOW_STOCK,
                    severity=AlertSeverity.HIGH if urgent else AlertSeverity.MEDIUM,
                    title=f"Low stock: {label}",
                    message=f"{total} {unit} left, reorder point {product.reorder_point}"
                    + (f", about {cover} days of cover" if cover is not None else "")
                    + f" (lead time {product.lead_time_days} days).",
                    product_id=product.id,
                )
            )
        elif total > overstock_threshold(product):
            conditions.append(
                _Condition(
                    key=f"overstock:product={product.id}",
                    category=AlertCategory.OVERSTOCK,
                    severity=AlertSeverity.LOW,
                    title=f"Overstock: {label}",
                    message=f"{total} {unit} on hand, above the maximum of "
                    f"{overstock_threshold(product)}.",
                    product_id=product.id,
                )
            )
        if total > 0:
            for location_id, quantity in position.quantities.items():
                if quantity > 0:
                    continue
                where = position.locations[location_id].name
                conditions.append(
                    _Condition(
                        key=f"out_of_stock:product={product.id}:location={location_id}",
                        category=AlertCategory.OUT_OF_STOCK,
                        severity=AlertSeverity.HIGH,
                        title=f"Out of stock in {where}: {label}",
                        message=f"No {label} in {where}; {total} {unit} at other locations.",
                        product_id=product.id,
                        location_id=location_id,
                    )
                )
    return conditions


def _late_delivery_conditions(session: Session, company_id: int, as_of: date) -> list[_Condition]:
    rows = session.execute(
        select(PurchaseOrder, Supplier)
        .join(
            Supplier,
            (Supplier.id == PurchaseOrder.supplier_id)
            & (Supplier.company_id == PurchaseOrder.company_id),
        )
        .where(
            PurchaseOrder.company_id == company_id,
            PurchaseOrder.status == PurchaseOrderStatus.SENT,
            PurchaseOrder.expected_date < as_of,
        )
        .order_by(PurchaseOrder.id)
    ).all()
    conditions = []
    for order, supplier in rows:
        late = (as_of - order.expected_date).days
        product_ids = {line.product_id for line in order.lines}
        conditions.append(
            _Condition(
                key=f"late_delivery:po={order.id}",
                category=AlertCategory.LATE_DELIVERY,
                severity=AlertSeverity.HIGH if late >= VERY_LATE_DAYS else AlertSeverity.MEDIUM,
                title=f"Late delivery: {order.number} from {supplier.name}",
                message=f"{order.number} was expected on {order.expected_date.isoformat()} "
                f"and is {late} days late.",
                product_id=next(iter(product_ids)) if len(product_ids) == 1 else None,
                location_id=order.location_id,
                supplier_id=supplier.id,
                purchase_order_id=order.id,
            )
        )
    return conditions


def list_alerts(session: Session, actor: Actor, alert_filter: AlertFilter) -> AlertList:
    """The actor's company's alerts matching the filter, most severe and newest first."""
    actor.require(Operation.VIEW)
    if alert_filter.limit < 1:
        raise InvalidInput("limit", "must be at least 1")
    matches = _matching(session, actor, alert_filter)
    return AlertList(
        alerts=alert_infos(session, actor.company_id, matches[: alert_filter.limit]),
        total=len(matches),
        filter=alert_filter,
    )


def acknowledge_alerts(session: Session, actor: Actor, action: AlertAction) -> AlertChange:
    """Mark alerts as seen by the actor; an already resolved alert cannot be acknowledged."""
    actor.require(Operation.ACKNOWLEDGE_ALERT)
    at = action.at or utc_now()
    targets = _targets(session, actor, action, default_status=AlertStatus.OPEN)
    changed, unchanged = [], []
    for alert in targets:
        if alert.status == AlertStatus.RESOLVED and action.alert_id is not None:
            raise Conflict(f"alert #{alert.id} is already resolved")
        if alert.status != AlertStatus.OPEN:
            unchanged.append(alert)
            continue
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_by_id = actor.user_id
        alert.acknowledged_at = at
        changed.append(alert)
    session.flush()
    return AlertChange(
        action="acknowledged",
        changed=alert_infos(session, actor.company_id, changed),
        unchanged=alert_infos(session, actor.company_id, unchanged),
    )


def resolve_alerts(session: Session, actor: Actor, action: AlertAction) -> AlertChange:
    """Close alerts, recording who resolved them, when, and an optional note."""
    actor.require(Operation.RESOLVE_ALERT)
    at = action.at or utc_now()
    targets = _targets(session, actor, action, default_status=None)
    changed, unchanged = [], []
    for alert in targets:
        if alert.status == AlertStatus.RESOLVED:
            unchanged.append(alert)
            continue
        if alert.status == AlertStatus.OPEN:
            # Resolving implies having seen it: keep the audit trail complete.
            alert.acknowledged_by_id = actor.user_id
            alert.acknowledged_at = at
        alert.status = AlertStatus.RESOLVED
        alert.resolved_by_id = actor.user_id
        alert.resolved_at = at
        alert.resolution_note = (action.note or "").strip()[:255] or None
        changed.append(alert)
    session.flush()
    return AlertChange(
        action="resolved",
        changed=alert_infos(session, actor.company_id, changed),
        unchanged=alert_infos(session, actor.company_id, unchanged),
    )


def get_alert(session: Session, company_id: int, alert_id: int) -> Alert:
    """The company's alert with this id; ``NotFound`` for another company's."""
    alert = session.execute(
        select(Alert).where(Alert.company_id == company_id, Alert.id == alert_id)
    ).scalar_one_or_none()
    if alert is None:
        raise NotFound("alert", f"#{alert_id}")
    return alert


def _targets(
    session: Session, actor: Actor, action: AlertAction, default_status: AlertStatus | None
) -> list[Alert]:
    if action.alert_id is not None:
        if action.filter is not None:
            raise InvalidInput("alert_id", "give an alert id or a filter, not both")
        return [get_alert(session, actor.company_id, int(action.alert_id))]
    alert_filter = action.filter or AlertFilter()
    if alert_filter.status is None and default_status is not None:
        alert_filter = AlertFilter(
            severity=alert_filter.severity,
            category=alert_filter.category,
            status=default_status,
            sku=alert_filter.sku,
            location=alert_filter.location,
        )
    return _matching(session, actor, alert_filter)


def _matching(session: Session, actor: Actor, alert_filter: AlertFilter) -> list[Alert]:
    query = select(Alert).where(Alert.company_id == actor.company_id)
    if alert_filter.status is None:
        query = query.where(Alert.status.in_(UNRESOLVED))
    else:
        query = query.where(Alert.status == AlertStatus(alert_filter.status))
    if alert_filter.severity is not None:
        query = query.where(Alert.severity == AlertSeverity(alert_filter.severity))
    if alert_filter.category is not None:
        query = query.where(Alert.category == AlertCategory(alert_filter.category))
    if alert_filter.sku:
        product = find_product(session, actor.company_id, sku=alert_filter.sku)
        query = query.where(Alert.product_id == product.id)
    if alert_filter.location:
        location = find_location(session, actor.company_id, alert_filter.location)
        query = query.where(Alert.location_id == location.id)
    alerts = list(session.execute(query).scalars())
    alerts.sort(key=lambda a: (AlertSeverity(a.severity).rank, -a.created_at.timestamp(), -a.id))
    return alerts


def alert_infos(session: Session, company_id: int, alerts: list[Alert]) -> tuple[AlertInfo, ...]:
    """Alerts with the names of what they are about (one query per referenced table)."""
    if not alerts:
        return ()

    def names(model, columns, ids):
        ids = {i for i in ids if i is not None}
        if not ids:
            return {}
        rows = session.execute(
            select(model.id, *columns).where(model.company_id == company_id, model.id.in_(ids))
        )
        return {row[0]: row[1:] for row in rows}

    products = names(Product, (Product.sku, Product.name), (a.product_id for a in alerts))
    locations = names(Location, (Location.name,), (a.location_id for a in alerts))
    suppliers = names(Supplier, (Supplier.name,), (a.supplier_id for a in alerts))
    orders = names(PurchaseOrder, (PurchaseOrder.number,), (a.purchase_order_id for a in alerts))
    users = names(
        User,
        (User.name,),
        [a.acknowledged_by_id for a in alerts] + [a.resolved_by_id for a in alerts],
    )
    return tuple(
        AlertInfo(
            id=a.id,
            severity=AlertSeverity(a.severity),
            category=AlertCategory(a.category),
            status=AlertStatus(a.status),
            title=a.title,
            message=a.message,
            sku=products[a.product_id][0] if a.product_id in products else None,
            product=products[a.product_id][1] if a.product_id in products else None,
            location=locations[a.location_id][0] if a.location_id in locations else None,
            supplier=suppliers[a.supplier_id][0] if a.supplier_id in suppliers else None,
            po_number=orders[a.purchase_order_id][0] if a.purchase_order_id in orders else None,
            created_at=a.created_at,
            acknowledged_by=_who(users, a.acknowledged_by_id, a.acknowledged_at),
            acknowledged_at=a.acknowledged_at,
            resolved_by=_who(users, a.resolved_by_id, a.resolved_at),
            resolved_at=a.resolved_at,
        )
        for a in alerts
    )


def _who(users: dict, user_id: int | None, when: datetime | None) -> str | None:
    if user_id in users:
        return users[user_id][0]
    return "system" if when is not None else None
