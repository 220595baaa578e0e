"""The demo companies as data: their catalogue, suppliers, locations and users.

The first company (``demo``) uses exactly the catalogue, suppliers and locations of
docs/dev/nlu-conventions.md so the NLU lookups match; the second (``northstar``) shares a few
SKUs and a supplier name with it, so tenant isolation is visible."""

from __future__ import annotations

from dataclasses import dataclass

from misybot.enums import (
    Channel,
    LocationKind,
    MovementKind,
    Persona,
    Role,
)

DEFAULT_SEED = 20261122


HISTORY_DAYS = 90


SAFETY_DAYS = 3


COVER_DAYS = 14  # a location's reorder quantity covers about two weeks of its demand


WEEKDAY_FACTOR = (1.0, 1.0, 1.0, 1.0, 1.05, 0.6, 0.25)


@dataclass(frozen=True)
class _Item:
    sku: str
    name: str
    unit: str
    cost: str
    price: str | None
    demand: float  # units per weekday at a location with demand factor 1.0
    supplier: str
    usage: MovementKind = MovementKind.SALE
    skip_locations: tuple[str, ...] = ()
    max_stock: int | None = None


@dataclass(frozen=True)
class _SupplierSpec:
    name: str
    contact: str
    email: str
    phone: str
    lead_time: int
    on_time: float  # probability a delivery arrives by the expected date
    late_days: tuple[int, int]
    full_fill: float  # probability a delivery is complete
    short_fill: tuple[float, float]  # fraction delivered otherwise


@dataclass(frozen=True)
class _LocationSpec:
    code: str
    name: str
    kind: LocationKind
    city: str
    demand: float


@dataclass(frozen=True)
class _UserSpec:
    name: str
    role: Role
    persona: Persona | None  # None: no preference, the default voice
    channel: Channel
    email: str
    phone: str
    slack: str | None = None


@dataclass(frozen=True)
class _CompanySpec:
    slug: str
    name: str
    locations: tuple[_LocationSpec, ...]
    suppliers: tuple[_SupplierSpec, ...]
    items: tuple[_Item, ...]
    users: tuple[_UserSpec, ...]
    stalled_sku: str | None = None  # its supplier stops delivering it in the last 30 days
    surges: tuple[tuple[str, float, int], ...] = ()  # (sku, demand factor, last N days)
    bulk_deal: tuple[str, int, int] | None = None  # (sku, units, days before today)
    cancelled_po_supplier: str | None = None


ACME, NORTHWIND, GLOBEX, IBERIA = (
    "Acme Supply",
    "Northwind Traders",
    "Globex Industrial",
    "Iberia Components",
)


DEMO_SUPPLIERS = (
    _SupplierSpec(ACME, "Rita Moreira", "orders@acme-supply.example", "+351213000101", 7,
                  0.92, (1, 3), 0.97, (0.9, 0.95)),
    _SupplierSpec(NORTHWIND, "Daniel Okafor", "sales@northwind-traders.example", "+34910000202",
                  10, 0.55, (2, 9), 0.9, (0.8, 0.9)),
    _SupplierSpec(GLOBEX, "Helena Brandt", "supply@globex-industrial.example", "+4930000303",
                  14, 0.8, (1, 4), 0.55, (0.6, 0.9)),
    _SupplierSpec(IBERIA, "Pablo Ruiz", "pedidos@iberia-components.example", "+34930000404", 5,
                  0.75, (1, 5), 0.85, (0.75, 0.9)),
)  # fmt: skip


C = MovementKind.CONSUMPTION


DEMO_ITEMS = (
    _Item("WID-220", "blue widgets", "each", "4.20", "7.90", 14, ACME),
    _Item("WID-221", "red widgets", "each", "4.20", "7.90", 9, ACME),
    _Item("WID-230", "green widgets", "each", "4.35", "8.20", 6, ACME),
    _Item("WID-305", "widget brackets", "each", "1.10", "2.40", 10, ACME),
    _Item("BLT-108", "steel bolts", "box", "6.50", "11.90", 8, ACME),
    _Item("NUT-108", "hex nuts", "box", "4.80", "8.90", 8, ACME),
    _Item("WSH-108", "flat washers", "box", "3.20", "6.50", 6, ACME),
    _Item("SCR-450", "wood screws", "box", "5.60", "10.50", 9, ACME),
    _Item("CTY-550", "cable ties", "pack", "2.10", "4.50", 7, ACME),
    _Item("BIT-120", "drill bits", "set", "9.80", "18.90", 2, ACME),
    _Item("GLV-010", "nitrile gloves", "box", "6.90", "12.50", 10, NORTHWIND),
    _Item("TAP-048", "packing tape", "roll", "1.40", None, 12, NORTHWIND, C),
    _Item("BOX-300", "shipping boxes", "each", "0.85", None, 25, NORTHWIND, C),
    _Item(
        "PAL-120", "wooden pallets", "each", "8.50", None, 3, NORTHWIND, C, skip_locations=("OPO",)
    ),
    _Item("LBL-400", "thermal labels", "roll", "3.10", None, 5, NORTHWIND, C),
    _Item("MSK-100", "dust masks", "box", "7.50", "13.90", 5, NORTHWIND),
    _Item("GOG-080", "safety goggles", "each", "3.90", "8.50", 3, NORTHWIND),
    _Item("HAT-070", "hard hats", "each", "6.20", "14.90", 2, NORTHWIND),
    _Item("VST-090", "hi-vis vests", "each", "2.80", "6.90", 4, NORTHWIND),
    _Item("CRT-440", "plastic crates", "each", "5.40", "11.00", 3, NORTHWIND),
    _Item("AC4410", "ac filters", "each", "12.50", "24.90", 5, GLOBEX),
    _Item("FLT-900", "oil filters", "each", "6.80", "13.50", 6, GLOBEX),
    _Item("GRS-050", "grease cartridges", "each", "3.60", "7.20", 4, GLOBEX),
    _Item("PMP-720", "water pumps", "each", "89.00", "159.00", 0.6, GLOBEX),
    _Item("VLV-115", "ball valves", "each", "7.40", "14.80", 3, GLOBEX),
    _Item("HSE-250", "garden hoses", "each", "11.20", "22.90", 2, GLOBEX, max_stock=200),
    _Item("DRL-680", "cordless drills", "each", "54.00", "99.00", 0.9, GLOBEX),
    _Item("SAW-330", "hand saws", "each", "8.90", "17.50", 1.2, GLOBEX),
    _Item("HMR-160", "claw hammers", "each", "7.10", "14.50", 1.5, GLOBEX),
    _Item("SHF-800", "metal shelving", "unit", "38.00", "72.00", 0.5, GLOBEX),
    _Item("TRK-150", "hand trucks", "each", "46.00", "89.00", 0.3, GLOBEX, skip_locations=("OPO",)),
    _Item("LDR-240", "step ladders", "each", "29.00", "55.00", 0.7, GLOBEX),
    _Item("HDM-200", "hdmi cables", "each", "2.60", "7.90", 6, IBERIA),
    _Item("USB-310", "usb-c cables", "each", "2.90", "8.50", 8, IBERIA),
    _Item("BAT-100", "aa batteries", "pack", "3.40", "6.90", 12, IBERIA),
    _Item("PNT-501", "white paint", "can", "14.50", "27.90", 2, IBERIA),
    _Item("BRS-220", "paint brushes", "each", "1.90", "4.50", 3, IBERIA),
    _Item("LED-045", "led bulbs", "each", "2.20", "5.90", 7, IBERIA),
    _Item("SWT-610", "light switches", "each", "3.10", "7.50", 2, IBERIA),
    _Item("SKT-612", "power sockets", "each", "3.60", "8.20", 2, IBERIA),
)


DEMO = _CompanySpec(
    slug="demo",
    name="Misy Demo Trading",
    locations=(
        _LocationSpec("LIS", "Lisbon", LocationKind.WAREHOUSE, "Lisbon", 1.0),
        _LocationSpec("OPO", "Porto", LocationKind.STORE, "Porto", 0.6),
        _LocationSpec("MAD", "Madrid", LocationKind.WAREHOUSE, "Madrid", 0.45),
    ),
    suppliers=DEMO_SUPPLIERS,
    items=DEMO_ITEMS,
    users=(
        _UserSpec(
            "Ana Ribeiro",
            Role.ADMIN,
            Persona.NAVIGATOR,
            Channel.WHATSAPP,
            "ana.ribeiro@misy-demo.example",
            "+351910000001",
        ),
        _UserSpec(
            "Marta Costa",
            Role.OPERATOR,
            Persona.STREAMLINER,
            Channel.WHATSAPP,
            "marta.costa@misy-demo.example",
            "+351910000002",
        ),
        _UserSpec(
            "Lucia Gomez",
            Role.VIEWER,
            Persona.NAVIGATOR,
            Channel.EMAIL,
            "lucia.gomez@misy-demo.example",
            "+34600000003",
        ),
        _UserSpec(
            "Tiago Ferreira",
            Role.OPERATOR,
            Persona.HUB,
            Channel.WHATSAPP,
            "tiago.ferreira@misy-demo.example",
            "+351910000004",
        ),
        _UserSpec(
            "Joao Pereira",
            Role.VIEWER,
            Persona.SPRING,
            Channel.WHATSAPP,
            "joao.pereira@misy-demo.example",
            "+351910000005",
        ),
        _UserSpec(
            "Priya Nair",
            Role.OPERATOR,
            Persona.PROCESSOR,
            Channel.SLACK,
            "priya.nair@misy-demo.example",
            "+351910000006",
            slack="U0DEMO0006",
        ),
        _UserSpec(  # a viewer: the simulation's operators (and so its data) stay as they were
            "Rui Santos",
            Role.VIEWER,
            None,
            Channel.WHATSAPP,
            "rui.santos@misy-demo.example",
            "+351910000007",
        ),
    ),  # fmt: skip
    stalled_sku="DRL-680",
    surges=(("DRL-680", 3.0, 30), ("GLV-010", 3.0, 14), ("PNT-501", 2.5, 10), ("WID-220", 1.8, 10)),
    bulk_deal=("HSE-250", 300, 24),
    cancelled_po_supplier=IBERIA,
)


NORTHSTAR = _CompanySpec(
    slug="northstar",
    name="Northstar Hardware",
    locations=(
        _LocationSpec("LYS", "Lyon", LocationKind.WAREHOUSE, "Lyon", 1.0),
        _LocationSpec("MRS", "Marseille", LocationKind.STORE, "Marseille", 0.7),
    ),
    suppliers=(
        _SupplierSpec(
            ACME,
            "Louis Martin",
            "fr-orders@acme-supply.example",
            "+33400000111",
            6,
            0.85,
            (1, 4),
            0.95,
            (0.85, 0.95),
        ),
        _SupplierSpec(
            "Rhone Fixings",
            "Claire Dubois",
            "contact@rhone-fixings.example",
            "+33400000222",
            8,
            0.7,
            (2, 6),
            0.9,
            (0.8, 0.9),
        ),
    ),
    items=(
        _Item("WID-220", "widget blue XL", "each", "5.10", "9.40", 6, ACME),
        _Item("BLT-108", "anchor bolts", "box", "7.20", "13.50", 4, ACME),
        _Item("SOL-100", "solar panels", "each", "120.00", "210.00", 0.4, "Rhone Fixings"),
        _Item("INV-300", "power inverters", "each", "85.00", "149.00", 0.3, "Rhone Fixings"),
        _Item("CBL-610", "solar cables", "roll", "18.00", "32.00", 1.5, "Rhone Fixings"),
        _Item("MNT-220", "roof mounts", "each", "22.00", "41.00", 0.8, "Rhone Fixings"),
        _Item("GLV-020", "work gloves", "pair", "2.40", "5.50", 5, ACME),
        _Item("HMR-161", "rubber mallets", "each", "6.10", "12.90", 0.9, ACME),
    ),
    users=(
        _UserSpec(
            "Camille Laurent",
            Role.ADMIN,
            Persona.NAVIGATOR,
            Channel.WHATSAPP,
            "camille.laurent@northstar.example",
            "+33600000001",
        ),
        _UserSpec(
            "Hugo Bernard",
            Role.OPERATOR,
            Persona.STREAMLINER,
            Channel.WHATSAPP,
            "hugo.bernard@northstar.example",
            "+33600000002",
        ),
    ),  # fmt: skip
)


COMPANIES = (DEMO, NORTHSTAR)


def demo_user(persona: str | None = None) -> _UserSpec:
    """The demo company's user who reads replies in ``persona`` ("default": the one without a
    preference); the admin, Ana, when no persona is asked for."""
    if persona is None:
        return DEMO.users[0]
    wanted = None if persona == "default" else Persona(persona)
    return next(user for user in DEMO.users if user.persona == wanted)
