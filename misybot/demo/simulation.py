"""Ninety days of one company's stock, day by day: demand, reorders, deliveries, counts,
transfers. Deterministic for a seed; writes nothing (``misybot.demo.writer`` does)."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from misybot.demo.catalogue import (
    COVER_DAYS,
    SAFETY_DAYS,
    WEEKDAY_FACTOR,
    _CompanySpec,
)
from misybot.enums import (
    MovementKind,
    PurchaseOrderStatus,
    Role,
)


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
