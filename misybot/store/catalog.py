"""Finding a company's products, locations and suppliers by what a person typed."""

from __future__ import annotations

from difflib import SequenceMatcher

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from misybot.db.models import Location, Product, Supplier
from misybot.errors import InvalidInput, NotFound, Suggestion
from misybot.skus import canonical_sku, sku_key
from misybot.store.fuzzy import SUGGEST_SCORE, match_name, normalise, similarity

MAX_SUGGESTIONS = 5


def product_suggestion(product: Product) -> Suggestion:
    return Suggestion(value=product.sku, label=f"{product.sku} ({product.name})")


def find_product(
    session: Session, company_id: int, sku: str | None = None, name: str | None = None
) -> Product:
    """The company's product with this SKU, or else this name (typos forgiven).

    A SKU must match exactly (ignoring case and separators: one wrong digit is another product);
    a name may be partial ("gloves") or misspelt ("blue widgts") when only one product fits.
    ``NotFound`` carries up to five "did you mean" candidates.
    """
    if not (sku and sku.strip()) and not (name and name.strip()):
        raise InvalidInput("product", "say which product (a SKU or a name)")
    if sku and sku.strip():
        found = session.execute(
            select(Product).where(
                Product.company_id == company_id, Product.sku == canonical_sku(sku)
            )
        ).scalar_one_or_none()
        if found is not None:
            return found
    products = (
        session.execute(
            select(Product).where(Product.company_id == company_id).order_by(Product.sku)
        )
        .scalars()
        .all()
    )
    if sku and sku.strip():
        wanted = sku_key(sku)
        for product in products:
            if sku_key(product.sku) == wanted:
                return product
    if name and name.strip():
        match = match_name(name, [((p.name, p.sku), p) for p in products])
        if match.best is not None:
            return match.best
    raise NotFound(
        "product",
        (sku or name or "").strip(),
        tuple(product_suggestion(p) for p in _product_candidates(products, sku, name)),
    )


def get_product(session: Session, company_id: int, product_id: int) -> Product:
    """The company's product with this id; ``NotFound`` for another company's id."""
    product = session.execute(
        select(Product).where(Product.company_id == company_id, Product.id == product_id)
    ).scalar_one_or_none()
    if product is None:
        raise NotFound("product", str(product_id))
    return product


def _product_candidates(products: list[Product], sku: str | None, name: str | None):
    scores: dict[int, float] = {}
    for product in products:
        score = 0.0
        if sku and sku.strip():
            score = max(score, _sku_similarity(sku, product.sku))
            score = max(score, similarity(normalise(sku), normalise(product.name)))
        if name and name.strip():
            score = max(score, similarity(normalise(name), normalise(product.name)))
            score = max(score, _sku_similarity(name, product.sku))
        if score >= SUGGEST_SCORE:
            scores[product.id] = score
    ranked = sorted((p for p in products if p.id in scores), key=lambda p: (-scores[p.id], p.sku))
    return ranked[:MAX_SUGGESTIONS]


def _sku_similarity(typed: str, sku: str) -> float:
    return SequenceMatcher(None, sku_key(typed), sku_key(sku)).ratio()


def list_locations(session: Session, company_id: int) -> list[Location]:
    """The company's active locations, by name."""
    return list(
        session.execute(
            select(Location)
            .where(Location.company_id == company_id, Location.active.is_(True))
            .order_by(Location.id)
        ).scalars()
    )


def find_location(session: Session, company_id: int, text: str) -> Location:
    """The company's location named, coded or in the city ``text`` ("lisbon", "LIS")."""
    locations = list_locations(session, company_id)
    match = match_name(text, [((loc.name, loc.code, loc.city or ""), loc) for loc in locations])
    if match.best is not None:
        return match.best
    # A company has few locations: name the closest first, then all the others.
    ranked = [s.item for s in match.ranked]
    candidates = ranked + [loc for loc in locations if loc not in ranked]
    raise NotFound(
        "location",
        text,
        tuple(Suggestion(value=loc.name, label=loc.name) for loc in candidates[:MAX_SUGGESTIONS]),
    )


def get_location(session: Session, company_id: int, location_id: int) -> Location:
    """The company's location with this id; ``NotFound`` for another company's id."""
    location = session.execute(
        select(Location).where(Location.company_id == company_id, Location.id == location_id)
    ).scalar_one_or_none()
    if location is None:
        raise NotFound("location", str(location_id))
    return location


def list_suppliers(session: Session, company_id: int) -> list[Supplier]:
    """The company's suppliers, by name."""
    return list(
        session.execute(
            select(Supplier).where(Supplier.company_id == company_id).order_by(Supplier.name)
        ).scalars()
    )


def find_supplier(session: Session, company_id: int, text: str) -> Supplier:
    """The company's supplier called ``text``; short forms ("acme") and typos are forgiven."""
    if not text or not text.strip():
        raise InvalidInput("supplier", "say which supplier")
    exact = session.execute(
        select(Supplier).where(
            Supplier.company_id == company_id, func.lower(Supplier.name) == text.strip().lower()
        )
    ).scalar_one_or_none()
    if exact is not None:
        return exact
    suppliers = list_suppliers(session, company_id)
    match = match_name(text, [((s.name,), s) for s in suppliers])
    if match.best is not None:
        return match.best
    candidates = [s.item for s in match.ranked] or suppliers
    raise NotFound(
        "supplier",
        text,
        tuple(Suggestion(value=s.name, label=s.name) for s in candidates[:MAX_SUGGESTIONS]),
    )


def get_supplier(session: Session, company_id: int, supplier_id: int) -> Supplier:
    """The company's supplier with this id; ``NotFound`` for another company's id."""
    supplier = session.execute(
        select(Supplier).where(Supplier.company_id == company_id, Supplier.id == supplier_id)
    ).scalar_one_or_none()
    if supplier is None:
        raise NotFound("supplier", str(supplier_id))
    return supplier
