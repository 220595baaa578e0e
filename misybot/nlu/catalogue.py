"""Entities from a company's live catalogue: its products (name, aliases, SKU), suppliers and
locations, found in a message however they are typed, and mapped to the catalogue's canonical
value (the SKU, the supplier's and the location's name).

The model learns the shape of a command; the names come from here, read from the database for
the sender's company and rebuilt when its catalogue changes (an import, a new product), with no
retraining. One company's names never become another's entities.

A name is found, best first: exactly (case, punctuation and plural forgiven: "Oat-Milk" is
"oat milk", "croissant" is "croissants"); with a small typo ("expresso roast beans", "granloa");
or by words only one of the company's products or suppliers has, in any order ("the kombucha",
"mazury", "12oz cups" for "paper cups 12oz"). Longer matches win; a word that is also command
vocabulary ("stock", "order") or a unit ("bottles") never names a product on its own.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import combinations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from misybot.db.models import Location, Product, Supplier
from misybot.store.fuzzy import normalise

_WORD = re.compile(r"[0-9A-Za-z]+")
_CODE = re.compile(r"[0-9A-Za-z]+(?:[-.][0-9A-Za-z]+)*")  # a SKU as typed: "esp-1kg"
MIN_TYPO_CHARS = 5  # shorter words are taken as typed
MAX_CORRECTIONS = 50_000  # typo'd words remembered per catalogue
MAX_WINDOW = 5  # longest name, in words, looked for
MAX_PART_WORDS = 6  # names longer than this are found by their runs of words only
# Words that say what kind of business name it is, or that commands use: never a name alone.
_GENERIC_WORDS = (
    "co ltd inc llc gmbh sa sp group supply supplies supplier suppliers import imports export "
    "partners partner trader traders trading industrial components parts wholesale distribution "
    "distributors and sons company corp holdings international the of a an for with in at "
    "stock stocks order orders report reports alert alerts location locations inventory check "
    "show list many much how what where which left need more new all any our we have got some "
    "each pack box bag can jar tin tub case kg g l ml oz pcs unit units item items product "
    "products thing things small large big extra house whole dark light red white black green "
    "blue yellow paper plastic metal wood steel glass carton bottle block sack piece roll crate "
    "pallet litre liter dozen tray bundle boxes pouch pouches batch batches"
)
GENERIC = frozenset(normalise(_GENERIC_WORDS).split())  # compared with normalised words


@dataclass(frozen=True)
class Term:
    """A way a catalogue entry may be written, in normalised words."""

    words: tuple[str, ...]  # partial terms: in sorted order (found in any order)
    entity: str  # product, sku, supplier or location
    value: str  # the canonical value the entity gets
    sku: str | None = None  # a product's SKU
    partial: bool = False  # a word of the name, not the whole name


@dataclass(frozen=True)
class Found:
    """An entity found in a text: its span, its canonical value, how it was found."""

    start: int
    end: int
    entity: str
    value: str
    sku: str | None
    how: str  # "exact", "fuzzy", "reordered", "partial"; "unknown": a name not in it


@dataclass(frozen=True)
class _Word:
    start: int
    end: int
    raw: str
    norm: str


class Catalogue:
    """A company's names, ready to be found in messages."""

    def __init__(self, terms: Iterable[Term]) -> None:
        self.exact: dict[tuple[str, ...], Term] = {}
        self.partial: dict[tuple[str, ...], Term] = {}  # by sorted words
        self.reordered: dict[tuple[str, ...], Term] = {}  # a whole name, by sorted words
        self.skus: dict[str, Term] = {}
        for term in terms:
            if term.entity == "sku":
                self.skus[term.value.upper()] = term
            elif term.partial:
                self.partial.setdefault(term.words, term)
            else:
                self.exact.setdefault(term.words, term)
                self.reordered.setdefault(tuple(sorted(term.words)), term)
        # The words of its names, by first letter and length: where a typo'd word is corrected.
        self.words = {word for words in self.exact for word in words}
        self._spellings: dict[tuple[str, int], list[str]] = defaultdict(list)
        for word in self.words:
            if len(word) >= MIN_TYPO_CHARS and word not in GENERIC:
                self._spellings[word[0], len(word)].append(word)
        self._corrections: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.exact) + len(self.skus)

    def find(self, text: str, known: frozenset[str] = frozenset()) -> list[Found]:
        """The catalogue's entries in ``text``, in order, none overlapping. ``known`` words (the
        commands' own) are never read as a typo of a name."""
        found: list[Found] = []
        codes = []
        for code in _CODE.finditer(text):  # SKUs first, as typed in any case
            term = self.skus.get(code.group().upper())
            if term is not None:
                found.append(Found(code.start(), code.end(), "sku", term.value, None, "exact"))
                codes.append((code.start(), code.end()))
        words = [
            _Word(m.start(), m.end(), m.group(), self.correct(normalise(m.group()), known))
            for m in _WORD.finditer(text)
            if not any(start <= m.start() < end for start, end in codes)
        ]
        typos = [w.norm != normalise(w.raw) for w in words]
        taken = [False] * len(words)
        for finder, how in ((self.exact, "exact"), (self.reordered, "reordered")):
            for length in range(MAX_WINDOW, 0, -1):
                for i in range(len(words) - length + 1):
                    if any(taken[i : i + length]):
                        continue
                    window = tuple(w.norm for w in words[i : i + length])
                    term = finder.get(window if finder is self.exact else tuple(sorted(window)))
                    if term is None:
                        continue
                    for k in range(i, i + length):
                        taken[k] = True
                    kind = "fuzzy" if any(typos[i : i + length]) else how
                    found.append(_found(words[i], words[i + length - 1], term, kind))
        for length in range(MAX_WINDOW, 0, -1):
            for i in range(len(words) - length + 1):
                if any(taken[i : i + length]):
                    continue
                term = self.partial.get(tuple(sorted(w.norm for w in words[i : i + length])))
                if term is not None:
                    for k in range(i, i + length):
                        taken[k] = True
                    found.append(_found(words[i], words[i + length - 1], term, "partial"))
        return sorted(found, key=lambda f: f.start)

    def correct(self, word: str, known: frozenset[str] = frozenset()) -> str:
        """``word``, or the one word of the names it is a typo of (a letter wrong, missing,
        extra or swapped; two in a long word)."""
        if word in self.words or word in GENERIC or word in known or len(word) < MIN_TYPO_CHARS:
            return word
        if word in self._corrections:
            return self._corrections[word]
        typos = 1 if len(word) < 9 else 2
        best, best_distance, tied = word, typos + 1, False
        for length in range(len(word) - typos, len(word) + typos + 1):
            for candidate in self._spellings.get((word[0], length), ()):
                distance = typo_distance(word, candidate, typos)
                if distance < best_distance:
                    best, best_distance, tied = candidate, distance, False
                elif distance == best_distance:
                    tied = True
        corrected = word if tied else best  # two names this close: neither is meant
        if len(self._corrections) < MAX_CORRECTIONS:
            self._corrections[word] = corrected
        return corrected


def _found(first: _Word, last: _Word, term: Term, how: str) -> Found:
    return Found(first.start, last.end, term.entity, term.value, term.sku, how)


def typo_distance(a: str, b: str, limit: int) -> int:
    """Letters inserted, deleted, replaced or swapped with a neighbour to make ``a`` into ``b``
    (optimal string alignment), or ``limit + 1`` once it is over ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before, row = None, list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (x != y))
            if before is not None and i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, row = row, current
    return row[-1]


def widen_to_unknown_names(
    found: list[Found], text: str, vocabulary: frozenset[str], most: int = 2
) -> list[Found]:
    """A one-word product match right after words the assistant does not know ("coconut" in
    "coconut milk") or right after another one-word product match ("almond croissants": the
    company has almonds and croissants) is part of a longer name the company may not have:
    widened to it, with the name as typed and no SKU ("unknown"), so the answer says there is no
    such product and offers the close ones, instead of answering for another one.
    ``vocabulary`` is the commands' own words (learnt from the training data, normalised)."""
    words = list(_WORD.finditer(text))

    def one_word(match: Found) -> bool:
        span = text[match.start : match.end]
        return match.entity == "product" and (
            match.how == "unknown" or len(_WORD.findall(span)) == 1
        )

    widened: list[Found] = []
    for match in found:
        if not one_word(match):
            widened.append(match)
            continue
        start = match.start
        if widened and one_word(widened[-1]) and not text[widened[-1].end : start].strip():
            start = widened.pop().start
        else:
            for word in reversed([w for w in words if w.end() <= start][-most:]):
                norm = normalise(word.group())
                if (
                    text[word.end() : start].strip()
                    or not word.group().isalpha()
                    or len(norm) < 3
                    or norm in vocabulary
                    or norm in GENERIC
                    or (widened and word.start() < widened[-1].end)
                ):
                    break
                start = word.start()
        if start == match.start:
            widened.append(match)
        else:
            name = text[start : match.end]
            widened.append(Found(start, match.end, "product", name, None, "unknown"))
    return widened


def catalogue_terms(
    products: Iterable[tuple[str, str, list[str] | None]],
    suppliers: Iterable[str],
    locations: Iterable[tuple[str, str, str | None]],
) -> list[Term]:
    """Every way the catalogue's entries may be written: products ``(sku, name, aliases)``,
    suppliers by name, locations ``(name, code, city)``."""
    terms: list[Term] = []
    owners: dict[tuple[str, ...], set[str]] = defaultdict(set)  # distinctive words: whose

    def add(text: str, entity: str, value: str, sku: str | None = None) -> None:
        words = tuple(normalise(text).split())
        if not words:
            return
        terms.append(Term(words, entity, value, sku))
        # Its parts that may name it alone, in any order: some of its words, a distinctive one
        # among them ("12oz cups" for "paper cups 12oz").
        if len(words) <= MAX_PART_WORDS:
            parts = [p for n in range(1, len(words)) for p in combinations(words, n)]
        else:
            runs = range(1, len(words))
            parts = [words[i : i + n] for n in runs for i in range(len(words) - n + 1)]
        for part in parts:
            if any(w not in GENERIC and len(w) >= 4 and not w.isdigit() for w in part):
                owners[tuple(sorted(part))].add(f"{entity}:{value}")

    for sku, name, aliases in products:
        terms.append(Term((sku.lower(),), "sku", sku))
        for text in (name, *(aliases or ())):
            add(text, "product", name, sku)
    for name in suppliers:
        add(name, "supplier", name)
    for name, code, city in locations:
        add(name, "location", name)
        terms.append(Term((code.lower(),), "location", name))
        if city and city.lower() != name.lower():
            add(city, "location", name)
    skus = {t.value: t.sku for t in terms if t.entity == "product"}
    whole = {tuple(sorted(t.words)) for t in terms}
    for words, whose in owners.items():
        if len(whose) == 1 and words not in whole:
            entity, value = next(iter(whose)).split(":", 1)
            terms.append(Term(words, entity, value, skus.get(value), partial=True))
    return terms


def load_catalogue(session: Session, company_id: int) -> Catalogue:
    """The company's active products, suppliers and locations as a ``Catalogue``."""
    products = session.execute(
        select(Product.sku, Product.name, Product.aliases).where(
            Product.company_id == company_id, Product.active.is_(True)
        )
    ).all()
    suppliers = session.execute(
        select(Supplier.name).where(Supplier.company_id == company_id, Supplier.active.is_(True))
    ).scalars()
    locations = session.execute(
        select(Location.name, Location.code, Location.city).where(
            Location.company_id == company_id, Location.active.is_(True)
        )
    ).all()
    return Catalogue(catalogue_terms(products, suppliers, locations))


def catalogue_version(session: Session, company_id: int) -> tuple:
    """Changes whenever the company's catalogue does: a product added or edited (its
    ``updated_at``), a supplier or location added, renamed or (de)activated."""
    products = select(func.count(), func.max(Product.updated_at)).where(
        Product.company_id == company_id
    )
    versions = [tuple(session.execute(products).one())]
    for table in (Supplier, Location):
        versions.append(
            tuple(
                session.execute(
                    select(
                        func.count(),
                        func.sum(func.length(table.name)),
                        func.sum(case((table.active.is_(True), 1), else_=0)),
                    ).where(table.company_id == company_id)
                ).one()
            )
        )
    return tuple(versions)


class CatalogueCache:
    """One ``Catalogue`` per company, rebuilt when its version changes; the version is looked
    at most every ``check_every_s`` seconds (a new product is found within that long, plus the
    rebuild). A company's first catalogue is built on the spot; a changed one is rebuilt by
    ``rebuild`` (a background thread) while messages go on being read with the previous one, so
    a big import never stalls the messages of the moment."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        check_every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        rebuild: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.check_every_s = check_every_s
        self.clock = clock
        self.rebuild = rebuild or _in_background
        self._entries: dict[int, tuple[tuple, float, Catalogue]] = {}
        self._rebuilding: set[int] = set()
        self._lock = threading.Lock()

    def get(self, company_id: int) -> Catalogue:
        now = self.clock()
        with self._lock:
            entry = self._entries.get(company_id)
        if entry is not None and now - entry[1] < self.check_every_s:
            return entry[2]
        with self.sessions() as session:
            version = catalogue_version(session, company_id)
            if entry is None:
                catalogue = load_catalogue(session, company_id)
                with self._lock:
                    self._entries[company_id] = (version, now, catalogue)
                return catalogue
        with self._lock:
            self._entries[company_id] = (entry[0], now, entry[2])  # looked at: not again for now
            if version == entry[0] or company_id in self._rebuilding:
                return entry[2]
            self._rebuilding.add(company_id)

        def build() -> None:
            try:
                with self.sessions() as session:
                    catalogue = load_catalogue(session, company_id)
                with self._lock:
                    self._entries[company_id] = (version, self.clock(), catalogue)
            finally:
                with self._lock:
                    self._rebuilding.discard(company_id)

        self.rebuild(build)
        with self._lock:
            return self._entries[company_id][2]


def _in_background(job: Callable[[], None]) -> None:
    threading.Thread(target=job, name="catalogue-rebuild", daemon=True).start()
