"""Inbound WhatsApp Cloud media, fetched when something needs it: media id → short-lived URL →
bytes, both requests with the access token (Meta's media URLs refuse anonymous downloads)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from connectors.core.settings import provider_secrets

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v23.0"
MAX_MEDIA_BYTES = 100 * 1024 * 1024  # the Cloud API's largest document


class MediaUnavailable(Exception):
    """The media could not be fetched (expired id, wrong token, too large, network)."""


@dataclass(frozen=True)
class MediaContent:
    """Downloaded media with the MIME type WhatsApp reported."""

    data: bytes
    mime_type: str | None
    sha256: str | None = None


def media_object_url(media: str, graph_url: str | None = None, version: str | None = None) -> str:
    """The Graph URL of a media object; ``media`` is its id or already that URL."""
    if media.startswith(("http://", "https://")):
        return media
    settings = provider_secrets()
    base = (graph_url or settings.graph_api_url or DEFAULT_GRAPH_URL).rstrip("/")
    return f"{base}/{version or settings.graph_api_version or DEFAULT_GRAPH_VERSION}/{media}"


async def fetch_whatsapp_media(
    media: str,
    *,
    access_token: str | None = None,
    graph_url: str | None = None,
    version: str | None = None,
    timeout_s: float = 30.0,
) -> MediaContent:
    """The bytes of WhatsApp Cloud media ``media`` (an id, or the URL stored with the message)."""
    token = access_token or provider_secrets().whatsapp_cloud_access_token
    if not token:
        raise MediaUnavailable("no WhatsApp Cloud access token (WHATSAPP_CLOUD_ACCESS_TOKEN)")
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            async with session.get(media_object_url(media, graph_url, version)) as answer:
                described = await answer.json(content_type=None) if answer.status == 200 else {}
                if answer.status != 200 or not described.get("url"):
                    raise MediaUnavailable(f"media lookup answered {answer.status}")
            async with session.get(described["url"]) as download:
                if download.status != 200:
                    raise MediaUnavailable(f"media download answered {download.status}")
                if (download.content_length or 0) > MAX_MEDIA_BYTES:
                    raise MediaUnavailable("media larger than 100 MB")
                data = await download.content.read(MAX_MEDIA_BYTES + 1)
                if len(data) > MAX_MEDIA_BYTES:
                    raise MediaUnavailable("media larger than 100 MB")
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        raise MediaUnavailable(f"{type(error).__name__}: {error}") from error
    return MediaContent(data, described.get("mime_type"), described.get("sha256"))
