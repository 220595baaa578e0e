"""Links to a company's report files that a phone can open: unguessable, signed, expiring,
company-scoped — ``<MISYBOT_PUBLIC_URL>/files/<company>/<file>?expires=<unix>&signature=<…>``,
the way storage services presign a URL.

The signature is an HMAC, under a key derived from the installation's signing key, over the
company's slug, the file's name and the expiry: changing any of them, or using the link after
it expired, gets the same refusal. A good link opens only that file, inside that company's
reports folder; serving it needs no database (the Rasa server serves it, whichever replica)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePath
from urllib.parse import parse_qs, urlsplit

from misybot.db.types import utc_now
from misybot.settings import Settings, get_settings

FILES_PATH = "/files"
# A CSV is served as text/plain: the document type WhatsApp's Cloud API takes (it refuses
# text/csv); its name (and Content-Disposition) still say .csv, which is what spreadsheets read.
MEDIA_TYPES = {".csv": "text/plain; charset=utf-8", ".png": "image/png"}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}\.(csv|png)$")
_SIGNATURE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_EXPIRES = re.compile(r"^\d{1,12}$")


class LinkRefused(Exception):
    """A link that is malformed, forged, altered or expired (callers show one answer for all)."""


@dataclass(frozen=True)
class LinkTarget:
    company: str  # the company's slug: its reports folder
    name: str  # the file's name in it


@dataclass(frozen=True)
class ReportFile:
    path: Path
    media_type: str
    size: int
    name: str


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.signing_key, b"misybot report links v2", hashlib.sha256).digest()


def _signature(target: LinkTarget, expires: int, settings: Settings) -> str:
    payload = f"{target.company}/{target.name}\n{expires}".encode()
    digest = hmac.new(_key(settings), payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def link(target: LinkTarget, expires_at: datetime, settings: Settings | None = None) -> str:
    """The URL of ``target``, valid until ``expires_at``."""
    settings = settings or get_settings()
    expires = int(expires_at.timestamp())
    signature = _signature(target, expires, settings)
    return (
        f"{settings.public_url}{FILES_PATH}/{target.company}/{target.name}"
        f"?expires={expires}&signature={signature}"
    )


def verify(
    company: str,
    name: str,
    expires: str,
    signature: str,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> LinkTarget:
    """The file a link names; ``LinkRefused`` when any part is malformed, forged or expired."""
    settings = settings or get_settings()
    if not (
        _SLUG.match(company or "")
        and _NAME.match(name or "")
        and _EXPIRES.match(expires or "")
        and _SIGNATURE.match(signature or "")
    ):
        raise LinkRefused("malformed")
    target = LinkTarget(company, name)
    if not hmac.compare_digest(signature, _signature(target, int(expires), settings)):
        raise LinkRefused("bad signature")
    if int(expires) < (now or utc_now()).timestamp():
        raise LinkRefused("expired")
    return target


def report_links(
    company: str,
    csv_path: str,
    chart_path: str | None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """``{"csv": url, "png": url}`` for a report's files (no chart link when it has none),
    valid for ``MISYBOT_LINK_HOURS``."""
    settings = settings or get_settings()
    expires = (now or utc_now()) + timedelta(hours=settings.link_hours)
    paths = {"csv": csv_path, "png": chart_path}
    return {
        kind: link(LinkTarget(company, PurePath(path).name), expires, settings)
        for kind, path in paths.items()
        if path and path != "none"
    }


def open_report_file(target: LinkTarget, settings: Settings | None = None) -> ReportFile | None:
    """The file a verified link names, when it still exists inside its company's reports
    folder (None otherwise: erased, deleted)."""
    settings = settings or get_settings()
    folder = (settings.reports_dir / target.company).resolve()
    path = (folder / target.name).resolve()
    if path.parent != folder or not path.is_file():
        return None
    return ReportFile(path, MEDIA_TYPES[path.suffix], path.stat().st_size, path.name)


def parse_link(url: str, settings: Settings | None = None) -> tuple[str, str, str, str] | None:
    """``(company, name, expires, signature)`` of one of our links (None: not one of ours)."""
    settings = settings or get_settings()
    prefix = f"{settings.public_url}{FILES_PATH}/"
    if not url.startswith(prefix):
        return None
    parts = urlsplit(url)
    segments = parts.path.rsplit("/", 2)[-2:]
    query = parse_qs(parts.query)
    if len(segments) != 2:
        return None
    return (
        segments[0],
        segments[1],
        (query.get("expires") or [""])[0],
        (query.get("signature") or [""])[0],
    )
