"""Purchase orders: numbering, the last reorder of a product, open orders."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from misybot.db.models import PurchaseOrder, PurchaseOrderLine, Supplier
from misybot.errors import NotFound

_NUMBER = re.compile(r"^PO-(\d+)$")


def next_po_number(session: Session, company_id: int) -> str:
    """The company's next purchase-order number, ``PO-00001`` onwards."""
    numbers = session.execute(
        select(PurchaseOrder.number).where(PurchaseOrder.company_id == company_id)
    ).scalars()
    highest = max((int(m.group(1)) for n in numbers if (m := _NUMBER.match(n))), default=0)
    return f"PO-{highest + 1:05d}"


def get_purchase_order(session: Session, company_id: int, reference: str | int) -> PurchaseOrder:
    """The company's purchase order by id or number; ``NotFound`` for another company's."""
    query = select(PurchaseOrder).where(PurchaseOrder.company_id == company_id)
    text = str(reference).strip()
    if text.isdigit():
        query = query.where(PurchaseOrder.id == int(text))
    else:
        query = query.where(PurchaseOrder.number == text.upper())
    order = session.execute(query).scalar_one_or_none()
    if order is None:
        raise NotFound("purchase order", text)
    return order


def order_lines_for_product(
    session: Session, company_id: int, product_id: int, limit: int | None = None
) -> list[tuple[PurchaseOrder, PurchaseOrderLine, Supplier]]:
    """The product's purchase-order lines, newest order first."""
    query = (
        select(PurchaseOrder, PurchaseOrderLine, Supplier)
        .join(
            PurchaseOrderLine,
            (PurchaseOrderLine.purchase_order_id == PurchaseOrder.id)
            & (PurchaseOrderLine.company_id == PurchaseOrder.company_id),
        )
        .join(
            Supplier,
            (Supplier.id == PurchaseOrder.supplier_id)
            & (Supplier.company_id == PurchaseOrder.company_id),
        )
        .where(PurchaseOrder.company_id == company_id, PurchaseOrderLine.product_id == product_id)
        .order_by(PurchaseOrder.created_at.desc(), PurchaseOrder.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [tuple(row) for row in session.execute(query)]


def order_quantities(
    session: Session, company_id: int, order_ids: list[int]
) -> dict[int, tuple[int, int]]:
    """Units ordered and received (0 when not yet received) per purchase order."""
    if not order_ids:
        return {}
    totals: dict[int, tuple[int, int]] = {}
    for order_id, ordered, received in session.execute(
        select(
            PurchaseOrderLine.purchase_order_id,
            PurchaseOrderLine.quantity_ordered,
            PurchaseOrderLine.quantity_received,
        ).where(
            PurchaseOrderLine.company_id == company_id,
            PurchaseOrderLine.purchase_order_id.in_(order_ids),
        )
    ):
        before = totals.get(order_id, (0, 0))
        totals[order_id] = (before[0] + ordered, before[1] + (received or 0))
    return totals
