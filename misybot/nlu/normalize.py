"""Turn entity text into values the agents can use: date ranges, numbers, canonical SKUs.

Date phrases are recognised with spaCy's rule-based ``Matcher`` over the entity's tokens, so
"last 7 days", "past two wks" and "since mon" share one set of patterns. Nothing here imports Rasa.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

import spacy
from spacy.matcher import Matcher
from spacy.util import filter_spans

from misybot.skus import canonical_sku

_UNIT_DAYS = {"day", "days", "d", "dys"}
_UNIT_WEEKS = {"week", "weeks", "wk", "wks", "w"}
_UNIT_MONTHS = {"month", "months", "mo", "mos", "mth", "mths", "mnth", "mnths"}
_UNIT_QUARTERS = {"quarter", "quarters", "qtr", "qtrs", "q"}
_UNIT_YEARS = {"year", "years", "yr", "yrs"}
_ALL_UNITS = sorted(_UNIT_DAYS | _UNIT_WEEKS | _UNIT_MONTHS | _UNIT_QUARTERS | _UNIT_YEARS)
_PAST = ["last", "past", "previous", "prev", "prior", "lst"]
_THIS = ["this", "current", "curr", "thsi"]

_WEEKDAYS = {
    name: index
    for index, names in enumerate(
        [
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        ]
    )
    for name in names
}
_MONTHS = {
    name: index + 1
    for index, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for name in names
}

_SMALL_NUMBERS = {
    word: value
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_MULTIPLIERS = {"hundred": 100, "thousand": 1000, "k": 1000, "million": 1_000_000, "m": 1_000_000}
_COUNT_NOUNS = {"dozen": 12, "dozens": 12, "gross": 144, "couple": 2, "pair": 2, "half": 0.5}
_NUMERIC = re.compile(r"^(?P<number>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?|\.\d+)(?P<suffix>[km])?$")


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of calendar days, as meant by the phrase that produced it."""

    start: date
    end: date
    phrase: str

    def as_entity_fields(self) -> dict[str, str]:
        return {"start_date": self.start.isoformat(), "end_date": self.end.isoformat()}


class EntityNormalizer:
    """Normalises ``date_range``, ``quantity`` and ``sku`` entity text.

    Build it once and reuse it: it compiles the matcher patterns in the constructor.
    """

    def __init__(self, language: str = "en") -> None:
        self._nlp = spacy.blank(language)
        # English tokenizer exceptions split "wed" into "we" + "d": entity text is never a
        # contraction, so only punctuation rules apply here.
        self._nlp.tokenizer.rules = {}
        self._matcher = Matcher(self._nlp.vocab)
        self._add_date_patterns()

    # ----------------------------------------------------------------- dates
    def _add_date_patterns(self) -> None:
        add = self._matcher.add
        lower_in = _lower_in
        weekdays, months = sorted(_WEEKDAYS), sorted(_MONTHS)
        add("TODAY", [[lower_in(["today", "tdy", "tday", "2day", "todays"])]])
        add("YESTERDAY", [[lower_in(["yesterday", "yday", "yest", "ystd", "yesterdays"])]])
        add("THIS_UNIT", [[lower_in(_THIS), lower_in(_ALL_UNITS)]])
        add("LAST_UNIT", [[lower_in(_PAST), lower_in(_ALL_UNITS)]])
        add(
            "LAST_N_UNITS",
            [
                [lower_in(_PAST), {"LIKE_NUM": True}, lower_in(_ALL_UNITS)],
                [lower_in(_PAST), {"LIKE_NUM": True}, {"LIKE_NUM": True}, lower_in(_ALL_UNITS)],
            ],
        )
        add("N_UNITS_AGO", [[{"LIKE_NUM": True}, lower_in(_ALL_UNITS), {"LOWER": "ago"}]])
        add("FORTNIGHT", [[lower_in(_PAST + _THIS), {"LOWER": "fortnight"}]])
        add(
            "TO_DATE",
            [
                [lower_in(["ytd", "mtd", "wtd", "qtd"])],
                [
                    lower_in(["year", "month", "week", "quarter"]),
                    {"LOWER": "to"},
                    {"LOWER": "date"},
                ],
            ],
        )
        add(
            "SINCE_WEEKDAY",
            [[{"LOWER": "since"}, {"OP": "?", "LOWER": "last"}, lower_in(weekdays)]],
        )
        add("LAST_WEEKDAY", [[lower_in(["last", "on"]), lower_in(weekdays)], [lower_in(weekdays)]])
        add("SINCE_MONTH", [[{"LOWER": "since"}, lower_in(months)]])
        add("MONTH", [[lower_in(months)], [lower_in(months), {"LIKE_NUM": True}]])
        add("QUARTER", [[{"LOWER": {"REGEX": "^q[1-4]$"}}]])
        add("PREVIOUS_YEAR", [[{"LOWER": "last"}, {"LOWER": "year"}]])

    def date_range(self, text: str, now: datetime | date) -> DateRange | None:
        """The range a phrase such as "last week" or "since Monday" means at ``now``.

        Weeks start on Monday; "last N days" counts today as one of the N. ``None`` when the
        phrase is not a date range this understands.
        """
        today = now.date() if isinstance(now, datetime) else now
        doc = self._nlp(text.strip())
        labels = {
            (start, end): self._nlp.vocab.strings[match_id]
            for match_id, start, end in self._matcher(doc)
        }
        if not labels:
            return None
        span = max(filter_spans([doc[start:end] for start, end in labels]), key=len)
        label = labels[(span.start, span.end)]
        words = [token.lower_ for token in span]
        bounds = self._resolve(label, words, today)
        if bounds is None:
            return None
        start, end = bounds
        return DateRange(start=start, end=min(end, today) if start <= today else end, phrase=text)

    def _resolve(self, label: str, words: list[str], today: date) -> tuple[date, date] | None:
        if label == "TODAY":
            return today, today
        if label == "YESTERDAY":
            day = today - timedelta(days=1)
            return day, day
        if label in ("THIS_UNIT", "TO_DATE"):
            unit = {"ytd": "year", "mtd": "month", "wtd": "week", "qtd": "quarter"}.get(
                words[0], words[-1] if label == "THIS_UNIT" else words[0]
            )
            return _period_containing(_unit_kind(unit), today)[0], today
        if label in ("LAST_UNIT", "PREVIOUS_YEAR"):
            kind = _unit_kind(words[-1])
            if kind is None:
                return None
            current_start, _ = _period_containing(kind, today)
            return _period_containing(kind, current_start - timedelta(days=1))
        if label == "FORTNIGHT":
            return today - timedelta(days=13), today
        if label in ("LAST_N_UNITS", "N_UNITS_AGO"):
            number_words = words[1:-1] if label == "LAST_N_UNITS" else words[:-2]
            count = parse_number(" ".join(number_words))
            unit = words[-1] if label == "LAST_N_UNITS" else words[-2]
            kind = _unit_kind(unit)
            if count is None or kind is None or count <= 0 or count != int(count):
                return None
            start = _shift(today, kind, -int(count))
            if label == "N_UNITS_AGO":
                return start, start if kind == "day" else _shift(start, kind, 1) - timedelta(days=1)
            return start + timedelta(days=1), today
        if label in ("SINCE_WEEKDAY", "LAST_WEEKDAY"):
            weekday = _WEEKDAYS[words[-1]]
            back = (today.weekday() - weekday) % 7
            if label == "LAST_WEEKDAY" and back == 0 and words[0] == "last":
                back = 7
            day = today - timedelta(days=back)
            return (day, today) if label == "SINCE_WEEKDAY" else (day, day)
        if label in ("SINCE_MONTH", "MONTH"):
            month = _MONTHS[words[1] if label == "SINCE_MONTH" else words[0]]
            year = today.year if month <= today.month else today.year - 1
            if label == "MONTH" and len(words) == 2:
                explicit = parse_number(words[1])
                if explicit is not None and 1900 < explicit < 3000:
                    year = int(explicit)
            start = date(year, month, 1)
            if label == "SINCE_MONTH":
                return start, today
            return start, _shift(start, "month", 1) - timedelta(days=1)
        if label == "QUARTER":
            quarter = int(words[0][1])
            year = today.year if (quarter - 1) * 3 + 1 <= today.month else today.year - 1
            start = date(year, (quarter - 1) * 3 + 1, 1)
            return start, _shift(start, "quarter", 1) - timedelta(days=1)
        return None

    # ------------------------------------------------------------ quantities
    def quantity(self, text: str) -> int | float | None:
        """The number in "200", "1.2k", "1,500", "a dozen", "two hundred", "fifty"; else None."""
        return parse_number(text)

    # ----------------------------------------------------------------- SKUs
    @staticmethod
    def sku(text: str) -> str:
        """Canonical SKU, spelled as the store spells it (``misybot.skus.canonical_sku``)."""
        return canonical_sku(text)


def parse_number(text: str) -> int | float | None:
    """Parse digits (with k/m suffixes and thousands commas) or English number words."""
    cleaned = text.strip().lower().replace("-", " ")
    cleaned = re.sub(r"\s+(units?|pcs|pieces?|ea|each|x)$", "", cleaned)
    match = _NUMERIC.match(cleaned.replace(" ", ""))
    if match:
        try:
            value = Decimal(match["number"].replace(",", ""))
        except InvalidOperation:
            return None
        value *= _MULTIPLIERS.get(match["suffix"] or "", 1)
        return _plain(value)
    words = [w for w in cleaned.split() if w not in ("a", "an", "and")]
    if not words:
        return None
    total, current, seen_number = Decimal(0), Decimal(0), False
    for word in words:
        if word in _SMALL_NUMBERS:
            current += _SMALL_NUMBERS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif re.fullmatch(r"\d+(\.\d+)?", word):
            current += Decimal(word)
        elif word in _COUNT_NOUNS:
            current = (current or 1) * Decimal(str(_COUNT_NOUNS[word]))
            if word == "half":
                continue
        elif word in _MULTIPLIERS and (seen_number or word in ("hundred", "thousand", "million")):
            current = (current or 1) * _MULTIPLIERS[word]
            if _MULTIPLIERS[word] >= 1000:
                total, current = total + current, Decimal(0)
        else:
            return None
        seen_number = True
    return _plain(total + current) if seen_number else None


def _plain(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _lower_in(words: list[str]) -> dict:
    return {"LOWER": {"IN": list(words)}}


def _unit_kind(word: str) -> str | None:
    for kind, names in (
        ("day", _UNIT_DAYS),
        ("week", _UNIT_WEEKS),
        ("month", _UNIT_MONTHS),
        ("quarter", _UNIT_QUARTERS),
        ("year", _UNIT_YEARS),
    ):
        if word in names:
            return kind
    return None


def _period_containing(kind: str | None, day: date) -> tuple[date, date]:
    if kind == "day" or kind is None:
        return day, day
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if kind == "month":
        start = day.replace(day=1)
    elif kind == "quarter":
        start = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    else:
        start = day.replace(month=1, day=1)
    return start, _shift(start, kind, 1) - timedelta(days=1)


def _shift(day: date, kind: str, count: int) -> date:
    """``day`` moved by ``count`` days/weeks/months/quarters/years (month ends clamped)."""
    if kind == "day":
        return day + timedelta(days=count)
    if kind == "week":
        return day + timedelta(weeks=count)
    months = count * {"month": 1, "quarter": 3, "year": 12}[kind]
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last_day = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last_day))
