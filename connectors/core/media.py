"""Whether one of our report links (``misybot.links``) goes to a provider as media or as a link
in a text: by what the provider's channel takes (a PNG as an image; the CSV as a document where
documents of that type are taken) and its size limits, read from the file the link names.

| channel            | image (PNG) | CSV                                                |
|--------------------|-------------|----------------------------------------------------|
| WhatsApp (Twilio)  | ≤ 5 MB      | link (its WhatsApp documents: PDF and Office only) |
| WhatsApp Cloud API | ≤ 5 MB      | document ≤ 100 MB (served as text/plain)           |
| Messenger          | ≤ 8 MB      | file ≤ 25 MB                                       |
| Instagram          | ≤ 8 MB      | link (no files)                                    |

Anything larger goes as a link.
"""

from __future__ import annotations

from dataclasses import dataclass

from misybot.links import LinkRefused, ReportFile, open_report_file, parse_link, verify

MB = 1024 * 1024
IMAGE, DOCUMENT, LINK = "image", "document", "link"


@dataclass(frozen=True)
class MediaLimits:
    image_bytes: int
    document_bytes: int | None  # None: the channel takes no documents of ours


TWILIO_WHATSAPP = MediaLimits(image_bytes=5 * MB, document_bytes=None)
WHATSAPP_CLOUD = MediaLimits(image_bytes=5 * MB, document_bytes=100 * MB)
MESSENGER = MediaLimits(image_bytes=8 * MB, document_bytes=25 * MB)
INSTAGRAM = MediaLimits(image_bytes=8 * MB, document_bytes=None)


async def report_file(url: str) -> ReportFile | None:
    """The file one of our valid links names (None: not ours, refused, or gone); it is on
    this server's disk, so its type and size decide how it is sent."""
    parts = parse_link(url)
    if parts is None:
        return None
    try:
        target = verify(*parts)
    except LinkRefused:
        return None
    return open_report_file(target)


async def how_to_send(url: str, limits: MediaLimits) -> tuple[str, ReportFile | None]:
    """``(image | document | link, the file)`` for one of our links; a URL that is not ours is
    sent as the caller always did (``image`` for pictures, ``document`` otherwise)."""
    found = await report_file(url)
    if found is None:
        picture = url.lower().split("?")[0].endswith((".png", ".jpg", ".jpeg", ".gif", ".webp"))
        return (IMAGE if picture else DOCUMENT), None
    if found.media_type.startswith("image/"):
        return (IMAGE if found.size <= limits.image_bytes else LINK), found
    if limits.document_bytes is not None and found.size <= limits.document_bytes:
        return DOCUMENT, found
    return LINK, found


def link_text(url: str, found: ReportFile | None) -> str:
    """A link as text, named: "📎 report-12.csv: https://…"."""
    name = found.name if found is not None else url.split("?")[0].rsplit("/", 1)[-1]
    return f"📎 {name}: {url}"
