"""Outbound e-mail: one reply per turn, text + HTML from the reply's markdown, threaded, with the
report files attached. Pure apart from reading the attached files."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path

from connectors.core.formatting import markdown_to_html, markdown_to_plain

MAX_REFERENCES = 20  # enough for any client to thread; keeps the header short
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
_REPORT_FILE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.(?:csv|png))\b")

HTML_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"></head>
<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; font-size: 14px;
 line-height: 1.45; color: #1f2933;">
{body}
</body></html>
"""


@dataclass(frozen=True)
class Thread:
    """What a reply needs to land in the user's thread."""

    subject: str  # already "Re: …"
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


def references_for(parent_id: str | None, parent_references: Sequence[str]) -> tuple[str, ...]:
    """RFC 5322 §3.6.4: the parent's References (or In-Reply-To) followed by the parent's id."""
    chain = [ref for ref in parent_references if ref]
    if parent_id and parent_id not in chain:
        chain.append(parent_id)
    if len(chain) > MAX_REFERENCES:  # keep the thread root and the most recent ones
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    return tuple(chain)


def report_files(text: str, reports_dir: Path) -> list[Path]:
    """Report files a reply mentions that exist under ``reports_dir`` (a CSV brings its chart).

    Only files inside the reports folder are ever attached, whatever the text says."""
    root = reports_dir.resolve()
    found: list[Path] = []
    for match in _REPORT_FILE.finditer(text):
        path = Path(match.group(1))
        resolved = (path if path.is_absolute() else Path.cwd() / path).resolve()
        candidates = [resolved]
        if resolved.suffix == ".csv":
            candidates.append(resolved.with_suffix(".png"))
        for candidate in candidates:
            if candidate.is_relative_to(root) and candidate.is_file() and candidate not in found:
                found.append(candidate)
    return found


def mention_attachments(text: str, files: Iterable[Path], reports_dir: Path) -> str:
    """The reply with attached files' paths replaced by "<name> (attached)"."""
    root = reports_dir.resolve()
    attached = set(files)
    names = {path.name for path in attached}

    def replace(match: re.Match) -> str:
        path = Path(match.group(1))
        resolved = (path if path.is_absolute() else Path.cwd() / path).resolve()
        if resolved in attached and resolved.is_relative_to(root):
            return f"{resolved.name} (attached)"
        if len(path.parts) == 1 and path.name in names:  # a reply that names the file only
            return f"{path.name} (attached)"
        return match.group(0)

    return _REPORT_FILE.sub(replace, text)


def compose_reply(
    *,
    from_address: str,
    from_name: str | None,
    to: str,
    thread: Thread,
    markdown: str,
    attachments: Sequence[Path] = (),
    message_id: str | None = None,
) -> EmailMessage:
    """A multipart/alternative reply (plus attachments: multipart/mixed), ready for SMTP."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = formataddr((from_name or "", from_address)) if from_name else from_address
    message["To"] = to
    message["Subject"] = thread.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id or make_msgid(domain=from_address.rpartition("@")[2])
    if thread.in_reply_to:
        message["In-Reply-To"] = thread.in_reply_to
    if thread.references:
        message["References"] = " ".join(thread.references)
    # RFC 3834: we are a responder. Well-behaved robots (vacation replies) stay silent, so two
    # robots never answer each other; Outlook is asked not to send its automatic replies.
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(markdown_to_plain(markdown, bullet="-").strip() + "\n")
    message.add_alternative(HTML_PAGE.format(body=markdown_to_html(markdown)), subtype="html")
    for path in attachments:
        data = path.read_bytes()
        if len(data) > MAX_ATTACHMENT_BYTES:
            continue
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)
    return message
