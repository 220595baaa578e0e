"""Links to a company's report files that a phone can open: unguessable, signed, expiring,
company-scoped (``<MISYBOT_PUBLIC_URL>/files/<token>/<name>``).

A token names a company, a report and which of its files (the CSV or the chart) and when it
expires, with an HMAC over all of that under a key derived from the installation's signing key.
Nothing in it is secret but the signature: changing any part, or using it after it expired,
gets the same refusal; a good token still opens only a file that exists under that company's
reports folder and belongs to that report."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from misybot.db.models import Company, Report
from misybot.db.types import utc_now
from misybot.settings import Settings, get_settings

FILES_PATH = "/files"
# A CSV is served as text/plain: the document type WhatsApp's Cloud API takes (it refuses
# text/csv); its name (and Content-Disposition) still say .csv, which is what spreadsheets read.
KINDS = {"csv": "text/plain; charset=utf-8", "png": "image/png"}
_TOKEN = re.compile(r"^(\d{1,10})\.(\d{1,12})\.(csv|png)\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")
MAX_TOKEN_CHARS = 100


class LinkRefused(Exception):
    """A link that is forged, altered or expired (the caller sees one answer for all)."""


@dataclass(frozen=True)
class LinkTarget:
    company_id: int
    report_id: int
    kind: str  # "csv" | "png"


@dataclass(frozen=True)
class ReportFile:
    path: Path
    media_type: str
    size: int
    name: str


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.signing_key, b"misybot report links v1", hashlib.sha256).digest()


def _signature(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(target: LinkTarget, expires_at: datetime, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    payload = f"{target.company_id}.{target.report_id}.{target.kind}.{int(expires_at.timestamp())}"
    return f"{payload}.{_signature(_key(settings), payload)}"


def verify(token: str, now: datetime | None = None, settings: Settings | None = None) -> LinkTarget:
    """The file a token names; ``LinkRefused`` when it is malformed, forged or expired."""
    settings = settings or get_settings()
    match = _TOKEN.match(token or "") if len(token or "") <= MAX_TOKEN_CHARS else None
    if match is None:
        raise LinkRefused("malformed")
    company, report, kind, expires, signature = match.groups()
    payload = f"{company}.{report}.{kind}.{expires}"
    if not hmac.compare_digest(signature, _signature(_key(settings), payload)):
        raise LinkRefused("bad signature")
    if int(expires) < (now or utc_now()).timestamp():
        raise LinkRefused("expired")
    return LinkTarget(int(company), int(report), kind)


def report_links(
    report_id: int,
    company_id: int,
    has_chart: bool,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """``{"csv": url, "png": url}`` for a report (no chart link when it has none), valid for
    ``MISYBOT_LINK_HOURS``."""
    settings = settings or get_settings()
    expires = (now or utc_now()) + timedelta(hours=settings.link_hours)
    kinds = ("csv", "png") if has_chart else ("csv",)
    base = f"{settings.public_url}{FILES_PATH}"
    links = {}
    for kind in kinds:
        token = sign(LinkTarget(company_id, report_id, kind), expires, settings)
        links[kind] = f"{base}/{token}/report-{report_id}.{kind}"
    return links


def open_report_file(
    db: Session | Connection, target: LinkTarget, settings: Settings | None = None
) -> ReportFile | None:
    """The file a verified link names, when it still exists inside its company's reports folder
    (None otherwise: erased, deleted, or a path that points elsewhere)."""
    settings = settings or get_settings()
    row = db.execute(
        Report.__table__.select()
        .with_only_columns(Report.file_path, Report.chart_path, Company.slug)
        .join_from(Report, Company, Company.id == Report.company_id)
        .where(Report.id == target.report_id, Report.company_id == target.company_id)
    ).first()
    if row is None:
        return None
    file_path, chart_path, slug = row
    stored = file_path if target.kind == "csv" else chart_path
    if not stored:
        return None
    folder = (settings.reports_dir / slug).resolve()
    path = Path(stored)
    path = (path if path.is_absolute() else Path.cwd() / path).resolve()
    if not path.is_relative_to(folder) or path.suffix != f".{target.kind}" or not path.is_file():
        return None
    return ReportFile(path, KINDS[target.kind], path.stat().st_size, path.name)


def parse_link(url: str, settings: Settings | None = None) -> str | None:
    """The token of one of our report links (None: not one of ours)."""
    settings = settings or get_settings()
    prefix = f"{settings.public_url}{FILES_PATH}/"
    if not url.startswith(prefix):
        return None
    return url[len(prefix) :].split("/", 1)[0].split("?", 1)[0]
