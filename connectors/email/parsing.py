"""Inbound e-mail as the assistant should read it: pure functions, no I/O.

What a person typed is the new text at the top of the plain part (or the HTML part as text):
quoted replies ("On … wrote:", ``>`` lines, Outlook's "Original Message") and the signature after
``-- `` are cut off; an empty body falls back to the subject. Mail from robots (auto-replies,
bounces, mailing lists) is recognised so the bot never answers another robot.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser

from connectors.core.sanitize import MAX_ADDRESS_CHARS, clean_token

MAX_PROVIDER_ID = 128  # the inbox's provider_message_id column
MAX_BODY_SCAN_CHARS = 100_000  # what is searched for quotes (the reader keeps far less)
MAX_SUBJECT_CHARS = 998  # RFC 5322's longest line
_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv|antw)\s*(\[\d+\])?\s*:\s*)+", re.I)
_WROTE = r"(wrote|écrit|schrieb|escribió|escreveu)\s*:\s*$"
_ON_WROTE = re.compile(r"^\s*(on|le|am|el|em|op)\s.+" + _WROTE, re.I)
_WROTE_END = re.compile(_WROTE, re.I)
_ON_START = re.compile(r"^\s*(on|le|am|el|em|op)\s", re.I)
_ORIGINAL = re.compile(r"^\s*-{2,}\s*(original message|forwarded message)\s*-{2,}\s*$", re.I)
_OUTLOOK_HEADER = re.compile(r"^\s*\*?from:\*?\s.+", re.I)
_SENT_FROM = re.compile(r"^\s*sent from my \w+", re.I)
_ROBOT_LOCALPARTS = {"mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply"}
_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}


@dataclass(frozen=True)
class ParsedEmail:
    """One inbound e-mail, reduced to what the channel needs."""

    message_id: str  # as in the header, with angle brackets ("<…>"); a content hash if absent
    sender: str  # the normalised From address
    sender_name: str | None
    subject: str
    text: str  # what the user wrote, quotes and signature removed
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    date: str | None = None
    to: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()  # file names (not processed)
    automated: str | None = None  # why this is robot mail to ignore; None for a person's mail
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def provider_id(self) -> str:
        """The inbox's deduplication key: the Message-ID (hashed when longer than the column)."""
        if len(self.message_id) <= MAX_PROVIDER_ID:
            return self.message_id
        return "sha256:" + hashlib.sha256(self.message_id.encode()).hexdigest()


def normalise_address(value: str | None) -> str:
    """``"Ana <Ana.Ribeiro@Example.COM>"`` → ``"ana.ribeiro@example.com"`` ("" when none)."""
    _, address = parseaddr(value or "")
    address = clean_token(address.strip().strip("<>").strip(), MAX_ADDRESS_CHARS) or ""
    # ":" only appears in quoted local parts; refusing it keeps e-mail conversation ids apart
    # from every other channel's ("rest:…", "whatsapp:…").
    return address.lower() if "@" in address and ":" not in address else ""


def reply_subject(subject: str) -> str:
    """``"Re: …"`` once, whatever prefixes (``RE:``, ``Fwd:``, ``AW:``) the subject had."""
    core = _REPLY_PREFIX.sub("", subject or "").strip()
    return f"Re: {core}" if core else "Re: your message"


def subject_text(subject: str) -> str:
    """The subject without reply/forward prefixes (what a person asked when the body is empty)."""
    return _REPLY_PREFIX.sub("", subject or "").strip()


def automated_reason(
    message: EmailMessage, own_addresses: frozenset[str] = frozenset()
) -> str | None:
    """Why ``message`` comes from a robot (RFC 3834 and common practice), or None."""
    auto_submitted = (message.get("Auto-Submitted") or "").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    precedence = (message.get("Precedence") or "").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    for header in ("List-Id", "List-Unsubscribe", "X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if message.get(header) is not None:
            return header
    if (message.get("X-Auto-Response-Suppress") or "").strip().lower() in {"all", "oof"}:
        return "X-Auto-Response-Suppress"
    if message.get_content_type() == "multipart/report":
        return "delivery report"
    if (message.get("Return-Path") or "").strip() == "<>":
        return "null return path (bounce)"
    sender = normalise_address(message.get("From"))
    if not sender:
        return "no From address"
    if sender.split("@", 1)[0] in _ROBOT_LOCALPARTS:
        return f"robot sender {sender}"
    if sender in own_addresses:
        return "sent by this assistant"
    return None


def parse_email(raw: bytes, own_addresses: frozenset[str] = frozenset()) -> ParsedEmail:
    """Parse an RFC 5322 message (``automated`` says when it must not be answered)."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    return parse_message(message, raw, own_addresses)


def parse_message(
    message: EmailMessage, raw: bytes = b"", own_addresses: frozenset[str] = frozenset()
) -> ParsedEmail:
    subject = _header(message, "Subject")[:MAX_SUBJECT_CHARS]
    body = _body_text(message)[:MAX_BODY_SCAN_CHARS]
    text = strip_quoted(body) or subject_text(subject)
    message_id = _header(message, "Message-ID") or _synthetic_id(message, raw)
    name, _ = parseaddr(_header(message, "From"))
    date = _header(message, "Date") or None
    if date:
        with contextlib.suppress(TypeError, ValueError):
            date = parsedate_to_datetime(date).isoformat()
    return ParsedEmail(
        message_id=message_id,
        sender=normalise_address(_header(message, "From")),
        sender_name=name.strip() or None,
        subject=subject,
        text=text,
        in_reply_to=_header(message, "In-Reply-To") or None,
        references=tuple(_header(message, "References").split()),
        date=date,
        to=tuple(a.lower() for _, a in getaddresses([_header(message, "To")]) if a),
        attachments=tuple(
            part.get_filename() or part.get_content_type() for part in message.iter_attachments()
        )
        if message.is_multipart()
        else (),
        automated=automated_reason(message, own_addresses),
        headers={
            name: _header(message, name)
            for name in ("Auto-Submitted", "Precedence", "List-Id", "X-Autoreply")
            if message.get(name) is not None
        },
    )


def _header(message: EmailMessage, name: str) -> str:
    value = message.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _synthetic_id(message: EmailMessage, raw: bytes) -> str:
    """A stable stand-in for a missing Message-ID: the same bytes always give the same id."""
    digest = hashlib.sha256(raw or message.as_bytes()).hexdigest()[:40]
    return f"<{digest}@no-message-id>"


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):  # an unknown or lying charset
        content = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        return html_to_text(content)
    return content


def strip_quoted(text: str) -> str:
    """The new text of a reply: cut at the quote header or signature, ``>`` lines dropped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        bare = line.rstrip()
        if bare in ("--", "-- ", "__") or _ORIGINAL.match(bare) or _SENT_FROM.match(bare):
            break
        if _ON_WROTE.match(bare):
            break
        # "On Mon, 2 Mar 2026 at 10:00, Ana <ana@…>" with "wrote:" wrapped onto the next line.
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if _ON_START.match(bare) and _WROTE_END.match(following) and len(bare) < 200:
            break
        if _OUTLOOK_HEADER.match(bare) and _looks_like_outlook_quote(lines[index + 1 : index + 5]):
            break
        if bare.lstrip().startswith(">"):
            continue
        kept.append(bare)
    return "\n".join(kept).strip()


def _looks_like_outlook_quote(next_lines: list[str]) -> bool:
    names = {line.split(":", 1)[0].strip("* ").lower() for line in next_lines if ":" in line}
    return bool(names & {"sent", "date", "to", "subject"})


class _TextExtractor(HTMLParser):
    """HTML → text: block elements become line breaks; quotes, scripts and styles vanish."""

    _BLOCKS = {"p", "div", "li", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"}
    _SKIPPED = {"script", "style", "head", "title", "blockquote"}
    _VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0  # > 0 while inside a skipped element (nested tags counted)

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self._VOID:
            self.handle_startendtag(tag, attrs)
            return
        classes = dict(attrs).get("class") or ""
        if self._skip_depth:
            self._skip_depth += 1
        elif tag in self._SKIPPED or "gmail_quote" in classes or "moz-cite-prefix" in classes:
            self._skip_depth = 1
        elif tag in self._BLOCKS:
            self.parts.append("\n- " if tag == "li" else "\n")

    def handle_startendtag(self, tag: str, attrs) -> None:
        if not self._skip_depth and tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._VOID:
            return
        if self._skip_depth:
            self._skip_depth -= 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text of an HTML mail body (quoted blocks left out)."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = [" ".join(line.split()) for line in "".join(extractor.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
