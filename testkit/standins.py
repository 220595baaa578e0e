"""Local stand-ins for the providers' APIs, speaking their protocols on 127.0.0.1: Twilio's
Messages.json and the Graph API's messaging endpoints."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web

from connectors.core.turns import wake_soon


@dataclass
class SentMessage:
    """One Messages.json request the stand-in accepted (or refused)."""

    account_sid: str
    auth: tuple[str, str]
    fields: dict[str, list[str]]
    status: int
    at: float = field(default_factory=time.monotonic)

    def one(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


class LocalServer:
    """An aiohttp app on 127.0.0.1 (a free port) served from a thread of its own."""

    label = "local server"

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0
        # Waiters for what arrives for a recipient, woken by ``_arriving`` (a bench has many).
        self._arrivals = threading.Lock()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self):
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        if not ready.wait(10):
            raise TimeoutError(f"{self.label} did not start")
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    @contextlib.contextmanager
    def _arriving(self, recipient: str):
        """Record what arrives for ``recipient`` inside this block; its waiters wake after it."""
        with self._arrivals:
            yield
            waiters = self._waiters.pop(recipient, [])
        for waiter in waiters:
            wake_soon(waiter)

    async def _wait_until(self, recipient: str, arrived, count: int, timeout: float) -> list:
        """``arrived()`` once it holds ``count`` items for ``recipient``, or at ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            with self._arrivals:
                found = arrived()
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    return found
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.setdefault(recipient, []).append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except asyncio.TimeoutError:
                pass
            finally:
                with self._arrivals:
                    waiting = self._waiters.get(recipient, [])
                    if waiter in waiting:
                        waiting.remove(waiter)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()


class TwilioStandIn(LocalServer):
    """Speaks the Messages.json protocol on 127.0.0.1 (basic auth, form fields) in a thread.

    ``hold`` maps a ``To`` address to a number of requests to leave unanswered for ``hold_s``;
    ``fail`` maps a ``To`` to a list of HTTP statuses to answer first (e.g. ``[503, 429]``).
    """

    label = "Twilio stand-in"

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sent: list[SentMessage] = []
        self._accepted: dict[str, list[SentMessage]] = {}  # by To: a bench polls many at once
        self.hold: dict[str, int] = {}
        self.hold_s = 60.0
        self.fail: dict[str, list[int]] = {}
        self._ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)

    async def _create(self, request: web.Request) -> web.Response:
        auth = _basic_auth(request.headers.get("Authorization", ""))
        form = await request.post()
        fields: dict[str, list[str]] = {}
        for name, value in form.items():
            fields.setdefault(name, []).append(str(value))
        to = (fields.get("To") or [""])[0]
        if auth != (self.account_sid, self.auth_token):
            return self._record(request, auth, fields, 401, {"code": 20003, "message": "Auth"})
        if self.fail.get(to):
            status = self.fail[to].pop(0)
            return self._record(request, auth, fields, status, {"code": status, "message": "x"})
        if self.hold.get(to):
            self.hold[to] -= 1
            # The sender is killed while waiting here; a reply nobody reads was never delivered.
            deadline = time.monotonic() + self.hold_s
            while time.monotonic() < deadline:
                if request.transport is None or request.transport.is_closing():
                    return self._record(request, auth, fields, 499, {"message": "abandoned"})
                await asyncio.sleep(0.05)
        body = (fields.get("Body") or [""])[0]
        if len(body) > 1600:
            return self._record(request, auth, fields, 400, {"code": 21617, "message": "long"})
        sid = f"SM{next(self._ids):032x}"
        return self._record(request, auth, fields, 201, {"sid": sid, "status": "queued"})

    def _record(self, request, auth, fields, status: int, answer: dict) -> web.Response:
        account = request.match_info["account"]
        sent = SentMessage(account, auth, fields, status)
        to = sent.one("To") or ""
        with self._arriving(to):
            self.sent.append(sent)
            if status == 201:
                self._accepted.setdefault(to, []).append(sent)
        return web.json_response(answer, status=status)

    def delivered_to(self, to: str) -> list[SentMessage]:
        """Accepted messages (201) to ``to``, in arrival order."""
        return list(self._accepted.get(to, ()))

    async def wait_for(self, to: str, count: int, timeout: float = 30.0) -> list[SentMessage]:
        """Wait until ``count`` messages to ``to`` were accepted (returns what arrived)."""
        return await self._wait_until(to, lambda: self.delivered_to(to), count, timeout)


def _basic_auth(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


@dataclass
class GraphRequest:
    """One request the Graph stand-in answered: which node, which token, the JSON, our status."""

    node: str
    token: str | None
    payload: dict
    status: int
    answer: dict
    at: float = field(default_factory=time.monotonic)

    @property
    def recipient(self) -> str | None:
        """WhatsApp's ``to`` or the Send API's ``recipient.id``."""
        return self.payload.get("to") or (self.payload.get("recipient") or {}).get("id")

    @property
    def is_message(self) -> bool:
        """A message (not a read receipt, typing indicator or sender action)."""
        return "sender_action" not in self.payload and self.payload.get("status") != "read"


class GraphStandIn(LocalServer):
    """Speaks the Graph API's messaging endpoints on 127.0.0.1 for the three Meta channels.

    ``POST /<version>/<phone_number_id>/messages`` (WhatsApp token) and
    ``POST /<version>/me/messages`` (Messenger or Instagram token) check the bearer token and
    Meta's documented limits and answer like Graph (message ids, or ``{"error": {...}}`` with
    status 400/401). ``GET /<version>/<media>`` describes uploaded ``media``; its URL serves the
    bytes to the WhatsApp token only.
    ``fail`` maps a recipient to HTTP statuses to answer first (e.g. ``[503, 429]``).
    """

    label = "Graph stand-in"

    def __init__(
        self,
        *,
        version: str,
        phone_number_id: str,
        whatsapp_token: str,
        messenger_token: str,
        instagram_token: str,
    ) -> None:
        super().__init__()
        self.version = version
        self.phone_number_id = phone_number_id
        self.tokens = {
            "whatsapp": whatsapp_token,
            "messenger": messenger_token,
            "instagram": instagram_token,
        }
        self.requests: list[GraphRequest] = []
        self.fail: dict[str, list[int]] = {}
        self.media: dict[str, tuple[bytes, str]] = {}
        self._ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{version}/{node}/messages", self._messages)
        app.router.add_get("/download/{media_id}", self._download)  # before the pattern below
        app.router.add_get("/{version}/{media_id}", self._describe_media)

    def _product(self, node: str, token: str | None) -> str | None:
        if node == self.phone_number_id:
            return "whatsapp" if token == self.tokens["whatsapp"] else None
        for product in ("messenger", "instagram"):
            if token == self.tokens[product]:
                return product
        return None

    async def _messages(self, request: web.Request) -> web.Response:
        token = _bearer(request.headers.get("Authorization", ""))
        node = request.match_info["node"]
        try:
            payload = await request.json()
        except ValueError:
            payload = {}
        product = self._product(node, token)
        if request.match_info["version"] != self.version:
            return self._answer(node, token, payload, 400, _graph_error(2500, "Unknown path"))
        if product is None:
            error = _graph_error(190, "Invalid OAuth access token", "OAuthException")
            return self._answer(node, token, payload, 401, error)
        recipient = payload.get("to") or (payload.get("recipient") or {}).get("id")
        if self.fail.get(recipient):
            status = self.fail[recipient].pop(0)
            return self._answer(node, token, payload, status, _graph_error(2, "Temporary"))
        check = _check_whatsapp if product == "whatsapp" else _check_send_api
        problem = check(payload, product)
        if problem:
            return self._answer(node, token, payload, 400, _graph_error(100, problem))
        number = next(self._ids)
        if product == "whatsapp" and payload.get("status") == "read":
            answer = {"success": True}
        elif product == "whatsapp":
            answer = {
                "messaging_product": "whatsapp",
                "contacts": [{"input": recipient, "wa_id": recipient}],
                "messages": [{"id": f"wamid.STANDIN{number:012d}"}],
            }
        elif "sender_action" in payload:
            answer = {"recipient_id": recipient}
        else:
            answer = {"recipient_id": recipient, "message_id": f"m_standin{number:012d}"}
        return self._answer(node, token, payload, 200, answer)

    def _answer(self, node, token, payload, status: int, answer: dict) -> web.Response:
        request = GraphRequest(node, token, payload, status, answer)
        with self._arriving(request.recipient or ""):
            self.requests.append(request)
        return web.json_response(answer, status=status)

    async def _describe_media(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        if _bearer(request.headers.get("Authorization", "")) != self.tokens["whatsapp"]:
            return web.json_response(_graph_error(190, "Invalid OAuth access token"), status=401)
        if media_id not in self.media:
            return web.json_response(_graph_error(100, "Unsupported get request"), status=400)
        data, mime_type = self.media[media_id]
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/download/{media_id}?ext=1",
                "mime_type": mime_type,
                "sha256": hashlib.sha256(data).hexdigest(),
                "file_size": len(data),
                "id": media_id,
            }
        )

    async def _download(self, request: web.Request) -> web.Response:
        if _bearer(request.headers.get("Authorization", "")) != self.tokens["whatsapp"]:
            return web.Response(status=401)
        data, mime_type = self.media[request.match_info["media_id"]]
        return web.Response(body=data, content_type=mime_type)

    def messages_to(self, recipient: str) -> list[GraphRequest]:
        """Accepted messages to ``recipient``, in arrival order (receipts and actions left out)."""
        return [
            r
            for r in list(self.requests)
            if r.status == 200 and r.is_message and r.recipient == recipient
        ]

    async def wait_for(
        self, recipient: str, count: int, timeout: float = 30.0
    ) -> list[GraphRequest]:
        """Wait until ``count`` messages to ``recipient`` were accepted (returns what arrived)."""
        return await self._wait_until(
            recipient, lambda: self.messages_to(recipient), count, timeout
        )


def _bearer(header: str) -> str | None:
    return header[len("Bearer ") :] if header.startswith("Bearer ") else None


def _graph_error(code: int, message: str, kind: str = "OAuthException") -> dict:
    return {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "standin"}}


def _check_whatsapp(payload: dict, product: str) -> str | None:
    """What the Cloud API would refuse in ``payload`` (None: acceptable)."""
    if payload.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    if payload.get("status") == "read":
        return None if payload.get("message_id") else "message_id is required"
    kind = payload.get("type")
    content = payload.get(kind) if isinstance(payload.get(kind), dict) else None
    if not payload.get("to") or content is None:
        return "to and a message object of its type are required"
    if kind == "text" and not 0 < len(content.get("body", "")) <= 4096:
        return "text.body must be 1-4096 characters"
    if kind == "interactive":
        action = content.get("action", {})
        if len(content.get("body", {}).get("text", "")) > 1024:
            return "interactive body over 1024 characters"
        buttons = action.get("buttons")
        rows = [row for section in action.get("sections", []) for row in section.get("rows", [])]
        if content.get("type") == "button" and not (
            0 < len(buttons or []) <= 3 and all(len(b["reply"]["title"]) <= 20 for b in buttons)
        ):
            return "reply buttons: 1-3, titles up to 20 characters"
        if content.get("type") == "list" and not (
            0 < len(rows) <= 10 and all(len(r["title"]) <= 24 for r in rows)
        ):
            return "list: 1-10 rows, titles up to 24 characters"
    if kind in ("image", "document") and not content.get("link", "").startswith("http"):
        return "media link required"
    if kind == "template" and not (content.get("name") and content.get("language")):
        return "template name and language required"
    return None


def _check_send_api(payload: dict, product: str) -> str | None:
    """What the Messenger/Instagram Send API would refuse in ``payload``."""
    if not (payload.get("recipient") or {}).get("id"):
        return "recipient.id is required"
    if "sender_action" in payload:
        ok = payload["sender_action"] in ("typing_on", "typing_off", "mark_seen")
        return None if ok else "unknown sender_action"
    kind = payload.get("messaging_type")
    if product == "messenger" and kind not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
        return "messaging_type is required"
    if kind == "MESSAGE_TAG" and not payload.get("tag"):
        return "tag is required with MESSAGE_TAG"
    message = payload.get("message") or {}
    text = message.get("text")
    if text is not None:
        too_long = len(text) > 2000 if product == "messenger" else len(text.encode()) >= 1000
        if not text or too_long:
            return f"text too long for {product}"
    replies = message.get("quick_replies")
    if replies is not None and not (
        0 < len(replies) <= 13 and all(0 < len(r.get("title", "")) <= 20 for r in replies)
    ):
        return "quick_replies: 1-13, titles up to 20 characters"
    if text is None and "attachment" not in message:
        return "message needs text or an attachment"
    return None
