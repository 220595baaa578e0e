"""Addresses as each channel spells them, so one person's number or e-mail is one identity.

A WhatsApp or SMS number is kept in E.164 (``+351912345678``): typed with spaces, dashes, dots
or parentheses, with ``00`` for ``+``, or as a national number (with its trunk prefix, ``0…`` in
most of Europe) when a default country code is known; anything else is refused with the reason.
E-mail addresses are kept in lower case (as the e-mail connector reads a sender). Messenger and
Instagram ids are the page-scoped numbers Meta sends.
"""

from __future__ import annotations

import re

from misybot.enums import Channel
from misybot.errors import InvalidInput

MAX_ADDRESS_CHARS = 254
_SEPARATORS = re.compile(r"[\s\-.()/\u00a0]")
_DIGITS = re.compile(r"^[0-9]+$")
_EMAIL = re.compile(r"^[^@\s:<>,;\"]+@[^@\s:<>,;\"]+\.[^@\s:<>,;\"]+$")
_META_ID = re.compile(r"^[0-9]{1,32}$")
# Country codes whose national numbers are dialled with a trunk prefix other than "0" ("" for
# none: the national number is the subscriber number, as in Portugal, Spain, Italy).
_TRUNK_PREFIX = {
    "1": "1",  # NANP
    "7": "8",
    "30": "",
    "34": "",
    "39": "",
    "45": "",
    "47": "",
    "351": "",
    "352": "",
    "356": "",
    "357": "",
    "372": "",
    "376": "",
    "377": "",
    "378": "",
    "385": "0",
}


def normalise(channel: Channel, raw: str, country_code: str | None = None) -> str:
    """``raw`` as ``channel``'s identities spell it; ``InvalidInput`` saying why it is not one."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("address", "is empty")
    text = raw.strip()
    if len(text) > MAX_ADDRESS_CHARS:
        raise InvalidInput("address", f"is longer than {MAX_ADDRESS_CHARS} characters")
    if channel in (Channel.WHATSAPP, Channel.SMS):
        return phone_number(text, country_code)
    if channel == Channel.EMAIL:
        return email_address(text)
    if channel in (Channel.MESSENGER, Channel.INSTAGRAM):
        if not _META_ID.match(text):
            raise InvalidInput("address", f"a {channel.value} id is a number Meta sends")
        return text
    if any(ord(ch) < 32 for ch in text):
        raise InvalidInput("address", "contains control characters")
    return text


def email_address(raw: str) -> str:
    """``raw`` in lower case, if it is an e-mail address."""
    address = raw.strip().strip("<>").strip().lower()
    if len(address) > MAX_ADDRESS_CHARS or not _EMAIL.match(address):
        raise InvalidInput("email", f"{raw!r} is not an e-mail address")
    return address


def phone_number(raw: str, country_code: str | None = None) -> str:
    """``raw`` in E.164; a national number needs ``country_code`` (digits, no "+")."""
    compact = _SEPARATORS.sub("", raw.strip().removeprefix("whatsapp:"))
    if compact.startswith("+"):
        digits = compact[1:]
    elif compact.startswith("00"):
        digits = compact[2:]
    else:
        digits = _national(compact, raw, country_code)
    if not _DIGITS.match(digits):
        raise InvalidInput("phone", f"{raw!r} has characters a phone number cannot have")
    if digits.startswith("0"):
        raise InvalidInput("phone", f"{raw!r}: a country code never starts with 0")
    if not 8 <= len(digits) <= 15:
        raise InvalidInput("phone", f"{raw!r} is not a full international number (8-15 digits)")
    return f"+{digits}"


def _national(compact: str, raw: str, country_code: str | None) -> str:
    if not country_code:
        raise InvalidInput(
            "phone",
            f"{raw!r} has no country code: write it as +<country><number>, or give the "
            "default country code (--country-code, MISYBOT_DEFAULT_COUNTRY_CODE)",
        )
    if not _DIGITS.match(country_code) or not 1 <= len(country_code) <= 3:
        raise InvalidInput("country_code", f"{country_code!r} is not a country calling code")
    trunk = _TRUNK_PREFIX.get(country_code, "0")
    if trunk and compact.startswith(trunk):
        compact = compact[len(trunk) :]
    return country_code + compact
