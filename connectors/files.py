"""``GET /files/<company>/<name>?expires=…&signature=…`` on the Rasa server: a company's report
file behind a signed, expiring link (``misybot.links``), for the providers that fetch media by
URL (Twilio, Meta) and the people who tap a link. A malformed, forged, altered or expired link
gets 403, a file that is gone 404, both with a short body that says nothing about what exists."""

from __future__ import annotations

import logging

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, file, text

from misybot.links import FILES_PATH, LinkRefused, open_report_file, verify

logger = logging.getLogger(__name__)

REFUSED = "This link is not valid (it may have expired). Ask the assistant for the report again."
GONE = "This file is no longer available."
HEADERS = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


def add_file_route(app: Sanic) -> None:
    async def report_file(request: Request, company: str, name: str) -> HTTPResponse:
        try:
            target = verify(
                company,
                name,
                request.args.get("expires", ""),
                request.args.get("signature", ""),
            )
        except LinkRefused as refused:
            logger.info("files.refused reason=%s", refused)
            return text(REFUSED, status=403, headers=HEADERS)
        found = open_report_file(target)
        if found is None:
            return text(GONE, status=404, headers=HEADERS)
        disposition = "inline" if found.media_type.startswith("image/") else "attachment"
        headers = {**HEADERS, "Content-Disposition": f'{disposition}; filename="{found.name}"'}
        return await file(found.path, mime_type=found.media_type, headers=headers)

    app.add_route(
        report_file, f"{FILES_PATH}/<company>/<name>", methods=["GET", "HEAD"], name="report_file"
    )
