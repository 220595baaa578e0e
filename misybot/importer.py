"""CSV import of products, stock levels and suppliers: all rows valid, or nothing is written.

Every row is checked before anything is written, and every problem is reported with its row
number (the header is row 1, as in a spreadsheet). Comma, semicolon and tab separated files are
accepted; a decimal comma ("12,50") is read as a decimal point.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from misybot.db.models import Location, Product, Supplier, User
from misybot.db.types import utc_now
from misybot.enums import MovementKind
from misybot.permissions import Operation
from misybot.skus import canonical_sku
from misybot.store.stock import apply_movement, quantity_at
from misybot.store.tenancy import Actor

logger = logging.getLogger(__name__)

KINDS = ("products", "stock", "suppliers", "users")
_SKU = re.compile(r"^[A-Z0-9]+(?:-[A-Z0-9]+)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()\-]{6,20}$")
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n"}
MAX_INT = 1_000_000


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ImportResult:
    """What an import did; ``written`` is False whenever ``errors`` is not empty."""

    kind: str
    rows: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: tuple[RowError, ...] = ()

    @property
    def written(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class _Columns:
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()


_COLUMNS = {
    "products": _Columns(
        ("sku", "name", "reorder_point", "reorder_quantity", "lead_time_days", "unit_cost"),
        ("unit", "unit_price", "max_stock", "preferred_supplier", "active", "aliases"),
    ),
    "stock": _Columns(("sku", "location", "quantity"), ("reason",)),
    "suppliers": _Columns(("name", "lead_time_days"), ("contact_name", "email", "phone", "active")),
    "users": _Columns(("name", "role"), ("email", "phone", "persona", "preferred_channel")),
}


@dataclass
class _Checker:
    """Collects the errors of one row while reading its cells."""

    row: int
    cells: dict[str, str]
    errors: list[RowError] = field(default_factory=list)

    def fail(self, column: str | None, message: str) -> None:
        self.errors.append(RowError(self.row, column, message))

    def text(self, column: str, max_length: int, required: bool = True) -> str | None:
        value = (self.cells.get(column) or "").strip()
        if not value:
            if required:
                self.fail(column, "is empty")
            return None
        if len(value) > max_length:
            self.fail(column, f"is longer than {max_length} characters")
            return None
        return value

    def names(self, column: str, max_names: int = 10, max_length: int = 120) -> list[str] | None:
        """Names separated by "|" (none: None)."""
        names = [n.strip() for n in (self.cells.get(column) or "").split("|") if n.strip()]
        if len(names) > max_names:
            self.fail(column, f"has more than {max_names} names")
            return None
        if any(len(name) > max_length for name in names):
            self.fail(column, f"has a name longer than {max_length} characters")
            return None
        return names or None

    def integer(
        self, column: str, minimum: int = 0, required: bool = True, maximum: int = MAX_INT
    ) -> int | None:
        value = (self.cells.get(column) or "").strip()
        if not value:
            if required:
                self.fail(column, "is empty")
            return None
        if not re.fullmatch(r"[+-]?\d+", value):
            self.fail(column, f"{value!r} is not a whole number")
            return None
        number = int(value)
        if not minimum <= number <= maximum:
            self.fail(column, f"{number} is not between {minimum} and {maximum}")
            return None
        return number

    def money(self, column: str, required: bool = True) -> Decimal | None:
        value = (self.cells.get(column) or "").strip().replace(" ", "")
        if not value:
            if required:
                self.fail(column, "is empty")
            return None
        if re.fullmatch(r"\d+,\d{1,2}", value):
            value = value.replace(",", ".")
        try:
            amount = Decimal(value)
        except InvalidOperation:
            self.fail(column, f"{value!r} is not an amount")
            return None
        if not amount.is_finite() or amount < 0:
            self.fail(column, f"{value!r} is not an amount of zero or more")
            return None
        if amount != amount.quantize(Decimal("0.01")):
            self.fail(column, f"{value!r} has more than two decimals")
            return None
        if amount >= Decimal("10000000000"):
            self.fail(column, f"{value!r} is too large")
            return None
        return amount

    def flag(self, column: str, default: bool = True) -> bool:
        value = (self.cells.get(column) or "").strip().lower()
        if not value:
            return default
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        self.fail(column, f"{value!r} is not yes/no")
        return default


def import_csv(session: Session, actor: Actor, kind: str, source: Path | str) -> ImportResult:
    """Validate a whole CSV file, then write it in one go; with any error nothing is written.

    ``source`` is a path or the CSV text itself. The caller's ``session_scope()`` commits.
    """
    actor.require(Operation.MANAGE_USERS if kind == "users" else Operation.IMPORT_DATA)
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {', '.join(KINDS)}")
    try:
        text = source.read_text(encoding="utf-8-sig") if isinstance(source, Path) else source
    except UnicodeDecodeError:
        return ImportResult(kind, 0, errors=(RowError(1, None, "the file is not UTF-8 text"),))
    rows, errors = _read(text.removeprefix("\ufeff"), _COLUMNS[kind])
    if errors:
        return ImportResult(kind, len(rows), errors=tuple(errors))
    plan, errors = {
        "products": _check_products,
        "stock": _check_stock,
        "suppliers": _check_suppliers,
        "users": _check_users,
    }[kind](session, actor, rows)
    if errors:
        return ImportResult(kind, len(rows), errors=tuple(sorted(errors, key=lambda e: e.row)))
    with session.begin_nested():
        created, updated, unchanged = plan()
    logger.info(
        "import.done company=%s kind=%s rows=%d created=%d updated=%d",
        actor.company_slug,
        kind,
        len(rows),
        created,
        updated,
    )
    return ImportResult(kind, len(rows), created=created, updated=updated, unchanged=unchanged)


def _read(text: str, columns: _Columns) -> tuple[list[_Checker], list[RowError]]:
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        return [], [RowError(1, None, "the file is empty; expected a header row")]
    first = lines[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip().lower().replace(" ", "_") for name in next(reader)]
    errors = []
    missing = [name for name in columns.required if name not in header]
    if missing:
        errors.append(RowError(1, None, f"missing column(s): {', '.join(missing)}"))
    unknown = [n for n in header if n and n not in columns.required + columns.optional]
    if unknown:
        expected = ", ".join(columns.required + columns.optional)
        errors.append(
            RowError(1, None, f"unknown column(s): {', '.join(unknown)} (expected: {expected})")
        )
    duplicated = sorted({n for n in header if header.count(n) > 1})
    if duplicated:
        errors.append(RowError(1, None, f"repeated column(s): {', '.join(duplicated)}"))
    rows = []
    for number, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        cells = {name: record[i] if i < len(record) else "" for i, name in enumerate(header)}
        checker = _Checker(number, cells)
        if len(record) != len(header):
            checker.fail(None, f"has {len(record)} fields, the header has {len(header)}")
        rows.append(checker)
    if not rows and not errors:
        errors.append(RowError(2, None, "no data rows after the header"))
    return rows, errors


def _first_seen(rows: list[_Checker], key: Callable[[_Checker], object | None]) -> None:
    """Report a row whose key (SKU, name…) already appeared in an earlier row."""
    seen: dict[object, int] = {}
    for row in rows:
        value = key(row)
        if value is None:
            continue
        if value in seen:
            row.fail(None, f"repeats row {seen[value]}")
        else:
            seen[value] = row.row


def _column_of(field_name: str) -> str:
    return "preferred_supplier" if field_name == "preferred_supplier_id" else field_name


def _check_products(session: Session, actor: Actor, rows: list[_Checker]):
    company_id = actor.company_id
    existing = {
        p.sku: p
        for p in session.execute(select(Product).where(Product.company_id == company_id)).scalars()
    }
    suppliers = {
        s.name.lower(): s
        for s in session.execute(
            select(Supplier).where(Supplier.company_id == company_id)
        ).scalars()
    }
    present = set(rows[0].cells)  # an absent optional column leaves existing values alone
    values = []
    for row in rows:
        raw_sku = row.text("sku", 32)
        sku = canonical_sku(raw_sku) if raw_sku else None
        if sku and not _SKU.match(sku):
            row.fail("sku", f"{raw_sku!r} is not a SKU (letters, digits and hyphens)")
            sku = None
        fields = {
            "name": row.text("name", 200),
            "unit": row.text("unit", 16, required=False) or "each",
            "reorder_point": row.integer("reorder_point"),
            "reorder_quantity": row.integer("reorder_quantity", minimum=1),
            "lead_time_days": row.integer("lead_time_days", maximum=365),
            "unit_cost": row.money("unit_cost"),
            "unit_price": row.money("unit_price", required=False),
            "max_stock": row.integer("max_stock", minimum=1, required=False),
            "active": row.flag("active"),
            "aliases": row.names("aliases"),
        }
        if (
            fields["max_stock"] is not None
            and fields["reorder_point"] is not None
            and fields["max_stock"] <= fields["reorder_point"]
        ):
            row.fail("max_stock", "must be above reorder_point")
        supplier_name = row.text("preferred_supplier", 200, required=False)
        supplier = suppliers.get(supplier_name.lower()) if supplier_name else None
        if supplier_name and supplier is None:
            known = ", ".join(s.name for s in suppliers.values()) or "none yet"
            row.fail("preferred_supplier", f"unknown supplier {supplier_name!r} (known: {known})")
        fields["preferred_supplier_id"] = supplier.id if supplier else None
        values.append((row, sku, fields))
    _first_seen(rows, lambda r: canonical_sku(r.cells.get("sku") or "") or None)
    errors = [e for row in rows for e in row.errors]

    def write() -> tuple[int, int, int]:
        created = updated = unchanged = 0
        for _row, sku, fields in values:
            product = existing.get(sku)
            if product is None:
                session.add(Product(company_id=company_id, sku=sku, **fields))
                created += 1
                continue
            changed = {
                k: v
                for k, v in fields.items()
                if _column_of(k) in present and getattr(product, k) != v
            }
            for key, value in changed.items():
                setattr(product, key, value)
            updated += bool(changed)
            unchanged += not changed
        session.flush()
        return created, updated, unchanged

    return write, errors


def _check_stock(session: Session, actor: Actor, rows: list[_Checker]):
    company_id = actor.company_id
    products = {
        p.sku: p
        for p in session.execute(select(Product).where(Product.company_id == company_id)).scalars()
    }
    locations: dict[str, Location] = {}
    for location in session.execute(
        select(Location).where(Location.company_id == company_id)
    ).scalars():
        locations[location.name.lower()] = location
        locations[location.code.lower()] = location
    values = []
    for row in rows:
        raw_sku = row.text("sku", 32)
        product = products.get(canonical_sku(raw_sku)) if raw_sku else None
        if raw_sku and product is None:
            row.fail("sku", f"unknown SKU {raw_sku!r} (import products first)")
        where = row.text("location", 120)
        location = locations.get(where.lower()) if where else None
        if where and location is None:
            known = ", ".join(sorted({loc.name for loc in locations.values()})) or "none yet"
            row.fail("location", f"unknown location {where!r} (known: {known})")
        quantity = row.integer("quantity")
        reason = row.text("reason", 255, required=False) or "stock import"
        values.append((product, location, quantity, reason))
    _first_seen(
        rows,
        lambda r: (
            canonical_sku(r.cells.get("sku") or ""),
            (r.cells.get("location") or "").strip().lower(),
        ),
    )
    errors = [e for row in rows for e in row.errors]

    def write() -> tuple[int, int, int]:
        updated = unchanged = 0
        now = utc_now()
        for product, location, quantity, reason in values:
            change = quantity - quantity_at(session, company_id, product.id, location.id)
            if change == 0:
                unchanged += 1
                continue
            apply_movement(
                session,
                company_id,
                product=product,
                location=location,
                quantity=change,
                kind=MovementKind.ADJUSTMENT,
                reason=reason,
                occurred_at=now,
                user_id=actor.user_id,
            )
            updated += 1
        return 0, updated, unchanged

    return write, errors


def _check_suppliers(session: Session, actor: Actor, rows: list[_Checker]):
    company_id = actor.company_id
    existing = {
        s.name.lower(): s
        for s in session.execute(
            select(Supplier).where(Supplier.company_id == company_id)
        ).scalars()
    }
    present = set(rows[0].cells)
    values = []
    for row in rows:
        email = row.text("email", 254, required=False)
        if email and not _EMAIL.match(email):
            row.fail("email", f"{email!r} is not an e-mail address")
        phone = row.text("phone", 32, required=False)
        if phone and not _PHONE.match(phone):
            row.fail("phone", f"{phone!r} is not a phone number")
        values.append(
            {
                "name": row.text("name", 200),
                "contact_name": row.text("contact_name", 120, required=False),
                "email": email,
                "phone": phone,
                "lead_time_days": row.integer("lead_time_days", maximum=365),
                "active": row.flag("active"),
            }
        )
    _first_seen(rows, lambda r: (r.cells.get("name") or "").strip().lower() or None)
    errors = [e for row in rows for e in row.errors]

    def write() -> tuple[int, int, int]:
        created = updated = unchanged = 0
        for fields in values:
            supplier = existing.get(fields["name"].lower())
            if supplier is None:
                session.add(Supplier(company_id=company_id, **fields))
                created += 1
                continue
            changed = {
                k: v for k, v in fields.items() if k in present and getattr(supplier, k) != v
            }
            for key, value in changed.items():
                setattr(supplier, key, value)
            updated += bool(changed)
            unchanged += not changed
        session.flush()
        return created, updated, unchanged

    return write, errors


def _check_users(session: Session, actor: Actor, rows: list[_Checker]):
    """New users of the company (an e-mail or phone already there is a row error): profiles
    only — each person's channels are linked afterwards (``misybot users link|invite``)."""
    from misybot.errors import InvalidInput
    from misybot.people.team import add_user, profile
    from misybot.settings import get_settings

    existing = {
        value
        for email, phone in session.execute(
            select(User.email, User.phone).where(User.company_id == actor.company_id)
        )
        for value in (email, phone)
        if value
    }
    planned = []
    seen: dict[str, int] = {}
    for row in rows:
        given = {
            name: (row.cells.get(name) or "").strip() or None
            for name in ("name", "role", "email", "phone", "persona", "preferred_channel")
        }
        fields = {}
        for name, value in given.items():  # each field alone: every problem of the row
            if value is None:
                if name in ("name", "role"):
                    row.fail(name, "is empty")
                continue
            try:
                fields.update(profile(get_settings().default_country_code, **{name: value}))
            except InvalidInput as error:
                row.fail(name, error.message)
        for key in ("email", "phone"):
            value = fields.get(key)
            if value in existing:
                row.fail(key, f"{value} is already a user's of this company")
            elif value in seen:
                row.fail(key, f"{value} repeats row {seen[value]}")
            elif value:
                seen[value] = row.row
        planned.append(fields)
    errors = [e for row in rows for e in row.errors]

    def write() -> tuple[int, int, int]:
        for fields in planned:
            add_user(session, actor, via="import", **fields)
        return len(planned), 0, 0

    return write, errors
