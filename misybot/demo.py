"""Demo data: two companies with 90 days of simulated stock movements and purchasing history.

Deterministic: the same ``seed`` and ``now`` give the same rows, ids included (on an empty
database). The first company (``demo``) uses exactly the catalogue, suppliers and locations of
docs/dev/nlu-conventions.md so the NLU lookups match; the second (``northstar``) shares a few
SKUs and a supplier name with it, so tenant isolation is visible.
"""

from __future__ import annotations

import logging
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
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
from misybot.enums import (
    Channel,
    LocationKind,
    MovementKind,
    Persona,
    PurchaseOrderStatus,
    Role,
)
from misybot.store.tenancy import actor_for_user, system_actor

logger = logging.getLogger(__name__)

DEFAULT_SEED = 20261122
HISTORY_DAYS = 90
SAFETY_DAYS = 3
COVER_DAYS = 14  # a location's reorder quantity covers about two weeks of its demand
WEEKDAY_FACTOR = (1.0, 1.0, 1.0, 1.0, 1.05, 0.6, 0.25)


# ------------------------------------------------------------------------------ catalogue
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


# ---------------------------------------------------------------------------- simulation
@dataclass
class _Order:
    key: int
    supplier: str
    location: str
    ordered_day: date
    expected: date
    arrival: date | None  # None: never arrives within the history
    lines: dict[str, int]  # sku -> ordered
    received: dict[str, int] = field(default_factory=dict)
    status: PurchaseOrderStatus = PurchaseOrderStatus.SENT
    notes: str | None = None


@dataclass
class _Move:
    sku: str
    location: str
    kind: MovementKind
    quantity: int
    balance_after: int
    reason: str
    at: datetime
    user: str | None = None
    order_key: int | None = None
    transfer_location: str | None = None


@dataclass(frozen=True)
class SeedSummary:
    """What ``seed_demo`` did: whether it wrote anything, and the row counts afterwards."""

    created: bool
    companies: tuple[str, ...]
    counts: dict[str, int]
    today: date


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class _Simulation:
    """Day-by-day stock of one company: demand, reorders, deliveries, counts, transfers."""

    def __init__(
        self, spec: _CompanySpec, rng: random.Random, now: datetime, zone: tzinfo, days: int
    ) -> None:
        self.spec, self.rng, self.now, self.zone = spec, rng, now, zone
        self.today = now.astimezone(zone).date()
        self.first_day = self.today - timedelta(days=days - 1)
        self.suppliers = {s.name: s for s in spec.suppliers}
        self.items = {item.sku: item for item in spec.items}
        self.stocked = [
            (item.sku, loc.code)
            for item in spec.items
            for loc in spec.locations
            if loc.code not in item.skip_locations
        ]
        demand_factor = {loc.code: loc.demand for loc in spec.locations}
        self.demand = {(s, c): self.items[s].demand * demand_factor[c] for s, c in self.stocked}
        self.min_level: dict[tuple[str, str], int] = {}  # the location's reorder point
        self.trigger: dict[tuple[str, str], int] = {}  # position at which the planner orders
        self.batch: dict[tuple[str, str], int] = {}
        for sku, code in self.stocked:
            lead = self.suppliers[self.items[sku].supplier].lead_time
            daily = self.demand[(sku, code)]
            self.min_level[(sku, code)] = max(2, math.ceil(daily * (lead + SAFETY_DAYS)))
            # Ordering a lead time's demand above the minimum keeps on-hand stock above it
            # unless a delivery is late or short — which is what the alerts then show.
            self.trigger[(sku, code)] = self.min_level[(sku, code)] + math.ceil(daily * lead)
            self.batch[(sku, code)] = max(5, 5 * math.ceil(daily * COVER_DAYS / 5))
        self.on_hand: dict[tuple[str, str], int] = {}
        self.orders: list[_Order] = []
        self.moves: list[_Move] = []
        self.operators = [u.name for u in spec.users if u.role is not Role.VIEWER]

    # ---- time
    def _at(self, day: date, hour: int, minute: int = 0) -> datetime:
        """A local time on ``day`` as UTC; today's events are squeezed into the time so far."""
        local = datetime.combine(day, time(hour, minute), tzinfo=self.zone)
        if day == self.today:
            midnight = datetime.combine(day, time.min, tzinfo=self.zone)
            elapsed = self.now.astimezone(self.zone) - midnight
            local = midnight + elapsed * ((hour * 60 + minute) / (24 * 60))
        return local.astimezone(timezone.utc)

    def _day_fraction(self, day: date) -> float:
        if day != self.today:
            return 1.0
        local_now = self.now.astimezone(self.zone)
        return (local_now.hour * 60 + local_now.minute) / (24 * 60)

    # ---- events
    def _move(self, sku, code, kind, quantity, reason, at, **extra) -> None:
        if quantity == 0:
            return
        key = (sku, code)
        self.on_hand[key] = self.on_hand.get(key, 0) + quantity
        if self.on_hand[key] < 0:
            raise RuntimeError(f"simulation took {key} below zero")  # a bug in the simulation
        self.moves.append(_Move(sku, code, kind, quantity, self.on_hand[key], reason, at, **extra))

    def run(self) -> None:
        rng = self.rng
        for sku, code in self.stocked:
            opening = self.min_level[(sku, code)] + round(
                self.batch[(sku, code)] * rng.uniform(0.3, 1.0)
            )
            self._move(
                sku,
                code,
                MovementKind.ADJUSTMENT,
                opening,
                "opening balance",
                self._at(self.first_day, 7),
                user=self.operators[0],
            )
        day = self.first_day
        while day <= self.today:
            self._deliveries(day)
            if day.weekday() == 0 and day != self.first_day:
                self._transfers(day)
            self._write_offs(day)
            if (day - self.first_day).days % 14 == 7:
                self._cycle_count(day)
            self._demand(day)
            if day != self.today:
                self._reorders(day)
                self._story(day)
            day += timedelta(days=1)

    def _deliveries(self, day: date) -> None:
        for order in self.orders:
            if order.arrival != day or order.status is not PurchaseOrderStatus.SENT:
                continue
            spec = self.suppliers[order.supplier]
            full = self.rng.random() < spec.full_fill
            for sku, ordered in order.lines.items():
                fraction = 1.0 if full else self.rng.uniform(*spec.short_fill)
                received = max(1, math.floor(ordered * fraction))
                order.received[sku] = received
                self._move(
                    sku,
                    order.location,
                    MovementKind.RECEIPT,
                    received,
                    f"received {order_number(order.key)}",
                    self._at(day, 10),
                    user=self.rng.choice(self.operators),
                    order_key=order.key,
                )
            order.status = PurchaseOrderStatus.RECEIVED

    def _transfers(self, day: date) -> None:
        hub = self.spec.locations[0].code
        for sku, code in self.stocked:
            if code == hub or (sku, hub) not in self.min_level:
                continue
            short = self.min_level[(sku, code)] - self.on_hand.get((sku, code), 0)
            spare = self.on_hand.get((sku, hub), 0) - self.min_level[(sku, hub)] * 2
            amount = min(spare, short + self.batch[(sku, code)] // 2)
            if short > 0 and amount > 0:
                at, user = self._at(day, 12), self.rng.choice(self.operators)
                reason = f"replenish {self._name(code)} from {self._name(hub)}"
                self._move(
                    sku,
                    hub,
                    MovementKind.TRANSFER,
                    -amount,
                    reason,
                    at,
                    user=user,
                    transfer_location=code,
                )
                self._move(
                    sku,
                    code,
                    MovementKind.TRANSFER,
                    amount,
                    reason,
                    at,
                    user=user,
                    transfer_location=hub,
                )

    def _write_offs(self, day: date) -> None:
        for sku, code in self.stocked:
            if self.rng.random() < 0.002 and self.on_hand.get((sku, code), 0) > 0:
                amount = min(self.on_hand[(sku, code)], self.rng.randint(1, 3))
                reason = self.rng.choice(("damaged in handling", "water damage", "defective"))
                self._move(
                    sku,
                    code,
                    MovementKind.WRITE_OFF,
                    -amount,
                    reason,
                    self._at(day, 14),
                    user=self.rng.choice(self.operators),
                )

    def _cycle_count(self, day: date) -> None:
        for loc in self.spec.locations:
            here = [key for key in self.stocked if key[1] == loc.code]
            for key in self.rng.sample(here, min(4, len(here))):
                change = self.rng.choice((-2, -1, 1, 2))
                if self.on_hand.get(key, 0) + change >= 0:
                    self._move(
                        *key,
                        MovementKind.ADJUSTMENT,
                        change,
                        "cycle count",
                        self._at(day, 15),
                        user=self.rng.choice(self.operators),
                    )

    def _demand(self, day: date) -> None:
        factor = WEEKDAY_FACTOR[day.weekday()] * self._day_fraction(day)
        days_left = (self.today - day).days
        surge = {sku: f for sku, f, last in self.spec.surges if days_left < last}
        for sku, code in self.stocked:
            mean = self.demand[(sku, code)] * factor * surge.get(sku, 1.0)
            wanted = _poisson(self.rng, mean)
            sold = min(wanted, self.on_hand.get((sku, code), 0))
            if sold:
                item = self.items[sku]
                reason = (
                    "daily sales (POS)" if item.usage is MovementKind.SALE else "used in operations"
                )
                self._move(sku, code, item.usage, -sold, reason, self._at(day, 18))

    def _on_order(self, sku: str, code: str) -> int:
        return sum(
            o.lines.get(sku, 0)
            for o in self.orders
            if o.status is PurchaseOrderStatus.SENT and o.location == code
        )

    def _reorders(self, day: date) -> None:
        wanted: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
        for sku, code in self.stocked:
            position = self.on_hand.get((sku, code), 0) + self._on_order(sku, code)
            if position <= self.trigger[(sku, code)]:
                gap = self.trigger[(sku, code)] - position
                amount = 5 * math.ceil((self.batch[(sku, code)] + gap) / 5)
                # The stalled product goes on its own order so it holds nothing else back.
                alone = sku if sku == self.spec.stalled_sku else ""
                wanted[(self.items[sku].supplier, code, alone)][sku] = amount
        for (supplier, code, _alone), lines in sorted(wanted.items()):
            self._order(day, supplier, code, lines)

    def _order(self, day: date, supplier: str, code: str, lines: dict[str, int], notes=None):
        spec = self.suppliers[supplier]
        expected = day + timedelta(days=spec.lead_time)
        if self.rng.random() < spec.on_time:
            arrival = expected - timedelta(days=self.rng.choice((0, 0, 0, 1)))
        else:
            arrival = expected + timedelta(days=self.rng.randint(*spec.late_days))
        stalled = self.spec.stalled_sku
        if stalled in lines and (self.today - day).days <= 30:
            arrival = self.today + timedelta(days=5)
        order = _Order(
            len(self.orders) + 1, supplier, code, day, expected, arrival, lines, notes=notes
        )
        self.orders.append(order)
        return order

    def _story(self, day: date) -> None:
        if self.spec.bulk_deal and (self.today - day).days == self.spec.bulk_deal[2]:
            sku, units, _ago = self.spec.bulk_deal
            item = self.items[sku]
            order = self._order(
                day,
                item.supplier,
                self.spec.locations[0].code,
                {sku: units},
                notes="end-of-season deal",
            )
            order.arrival = day + timedelta(days=3)
        if self.spec.cancelled_po_supplier and (self.today - day).days == 40:
            candidates = [
                o
                for o in self.orders
                if o.supplier == self.spec.cancelled_po_supplier
                and o.status is PurchaseOrderStatus.SENT
                and o.ordered_day == day
            ]
            if not candidates:
                code = self.spec.locations[1].code
                sku = next(
                    i.sku for i in self.spec.items if i.supplier == self.spec.cancelled_po_supplier
                )
                candidates = [
                    self._order(
                        day, self.spec.cancelled_po_supplier, code, {sku: self.batch[(sku, code)]}
                    )
                ]
            candidates[0].status = PurchaseOrderStatus.CANCELLED
            candidates[0].notes = "cancelled: supplier could not confirm the price"

    def _name(self, code: str) -> str:
        return next(loc.name for loc in self.spec.locations if loc.code == code)


def order_number(key: int) -> str:
    return f"PO-{key:05d}"


# --------------------------------------------------------------------------------- seeding
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
