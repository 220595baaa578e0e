"""A local stand-in for api.twilio.com and a signed-webhook builder, for tests and the bench."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web

from connectors.core.signatures import hub_signature, twilio_signature
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


_sids = itertools.count(1)


def inbound_form(
    sender: str, body: str = "", *, account_sid: str, to: str = "whatsapp:+14155238886", **extra
) -> dict[str, str]:
    """The form fields of a Twilio WhatsApp inbound webhook (a fresh ``MessageSid``)."""
    fields = {
        "SmsMessageSid": "",
        "NumMedia": "0",
        "ProfileName": "Test User",
        "WaId": sender.removeprefix("whatsapp:+"),
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "MessageSid": f"SM{time.time_ns():x}{next(_sids):06d}",
        "AccountSid": account_sid,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    fields.update({name: str(value) for name, value in extra.items()})
    fields["SmsMessageSid"] = fields["MessageSid"]
    return fields


def signed_request(auth_token: str, url: str, fields: dict[str, str]) -> tuple[bytes, dict]:
    """The body and headers Twilio would POST to ``url`` for ``fields``."""
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(auth_token, url, fields),
    }
    return urlencode(fields).encode(), headers


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


def whatsapp_webhook(
    phone_number_id: str,
    *,
    messages: list[dict] = (),
    statuses: list[dict] = (),
    contacts: list[dict] = (),
    changes: int = 1,
) -> dict:
    """A ``whatsapp_business_account`` webhook shaped like Meta's documented examples."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    if contacts:
        value["contacts"] = list(contacts)
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "102290129340398", "changes": [{"value": value, "field": "messages"}] * changes}
        ],
    }


def whatsapp_message(wa_id: str, kind: str = "text", **content) -> dict:
    """One ``messages[]`` item (a fresh wamid); ``content`` is the object under ``kind``."""
    if kind == "text" and "body" not in content:
        content["body"] = ""
    return {
        "from": wa_id,
        "id": f"wamid.HBgL{time.time_ns():x}{next(_sids):06d}",
        "timestamp": str(int(time.time())),
        "type": kind,
        kind: content,
    }


def messaging_webhook(object_name: str, account_id: str, events: list[dict]) -> dict:
    """A ``page`` / ``instagram`` webhook with ``events`` under one entry's ``messaging``."""
    now = int(time.time() * 1000)
    return {"object": object_name, "entry": [{"id": account_id, "time": now, "messaging": events}]}


def messaging_event(sender: str, account_id: str, **event) -> dict:
    """One ``messaging[]`` item from ``sender`` to ``account_id``; a text ``message`` gets a mid."""
    item = {
        "sender": {"id": sender},
        "recipient": {"id": account_id},
        "timestamp": int(time.time() * 1000) + next(_sids),
    }
    if isinstance(event.get("message"), dict):
        event["message"] = {"mid": f"m_{time.time_ns():x}{next(_sids):06d}", **event["message"]}
    item.update(event)
    return item


def signed_meta_request(app_secret: str, payload: dict | bytes) -> tuple[bytes, dict]:
    """The body and headers Meta would POST for ``payload`` (non-ASCII kept as UTF-8)."""
    body = (
        payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    )
    return body, {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": hub_signature(app_secret, body),
    }


class RasaProcess:
    """``rasa run`` as a real subprocess with the Twilio channel pointed at a stand-in."""

    def __init__(
        self,
        *,
        root,
        workdir,
        model,
        action_url: str,
        twilio_url: str = "",
        account_sid: str = "",
        auth_token: str = "",
        public_url: str | None = None,
        env: dict[str, str] | None = None,
        rest: bool = False,
        port: int | None = None,
        credentials: str | None = None,
        health_channel: str = "whatsapp_twilio",
    ) -> None:
        import socket
        from pathlib import Path

        self.root = Path(root)
        self.workdir = Path(workdir)
        self.model = model
        if port is None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.public_url = public_url or self.url
        self.env = env or {}
        self.process = None
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.health_channel = health_channel
        credentials = credentials or (
            "connectors.twilio_whatsapp.TwilioWhatsAppInput:\n"
            f'  account_sid: "{account_sid}"\n'
            f'  auth_token: "{auth_token}"\n'
            '  whatsapp_number: "+14155238886"\n'
            f'  public_url: "{self.public_url}"\n'
            f'  api_url: "{twilio_url}"\n'
            "  send_backoff_s: 0.05\n"
        )
        if rest:
            credentials += "connectors.local.LocalInput:\n"
        (self.workdir / "credentials.yml").write_text(credentials)
        (self.workdir / "endpoints.yml").write_text(
            f'action_endpoint:\n  url: "{action_url}"\n  enable_selective_domain: true\n'
        )

    @property
    def webhook_url(self) -> str:
        return f"{self.public_url}/webhooks/whatsapp_twilio/webhook"

    @property
    def api_token(self) -> str:
        """The HTTP API's token (the test run's generated one, unless the env sets another)."""
        from misybot.settings import Settings

        return Settings.from_environ({**os.environ, **self.env}).api_token

    def start(self, timeout: float = 120.0) -> RasaProcess:
        import os
        import subprocess
        import sys
        import urllib.request

        env = {
            **os.environ,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            # The tests' action server waits up to 30 s for an agent before "working on it".
            "MISYBOT_CHANNEL_TURN_BUDGET_S": "120",
        }
        env.update(self.env)
        self.log = open(self.workdir / f"rasa-{time.time_ns()}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connectors.serve",  # ``rasa run``, the HTTP API behind the installation's token
                "--model",
                str(self.model),
                "--endpoints",
                str(self.workdir / "endpoints.yml"),
                "--credentials",
                str(self.workdir / "credentials.yml"),
                "--interface",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--quiet",
                "--enable-api",
            ],
            cwd=self.root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        health = f"{self.url}/webhooks/{self.health_channel}/"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rasa run exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(health, timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"rasa run did not serve within {timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run (what a crash or an OOM kill does)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except Exception:
                self.process.kill()
                self.process.wait(timeout=20)
        if getattr(self, "log", None):
            self.log.close()


def action_endpoint(url: str):
    """The action endpoint of ``endpoints.yml`` (its options included), pointed at ``url`` — for
    tests, benches and the transcript that load the agent in-process."""
    from pathlib import Path

    from rasa.core.utils import read_endpoints_from_path

    root = Path(__file__).resolve().parents[1]
    configured = read_endpoints_from_path(root / "endpoints.yml").action
    configured.url = url
    return configured


@contextlib.contextmanager
def action_server(env: dict[str, str] | None = None):
    """A rasa_sdk action server serving ``actions/`` (with ``env``, e.g. its database) for tests,
    benches and the transcript; yields its webhook URL and stops it afterwards."""
    from pathlib import Path

    from misybot.testing import free_port, wait_for_http

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=Path(__file__).resolve().parents[1],
        env={"SANIC_HOST": "127.0.0.1", **(os.environ if env is None else env)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", process)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        process.terminate()
        process.wait(timeout=20)


def every_channel_credentials(
    *,
    graph_url: str,
    twilio_url: str,
    smtp_port: int,
    secrets: dict[str, str],
    public_url: str,
    bot_email: str,
    meta_ids: tuple[str, str, str],
) -> str:
    """``credentials.yml`` with every channel configured, pointed at local stand-ins:
    ``secrets`` holds account_sid, auth_token, app_secret, mailgun_signing_key and
    whatsapp/messenger/instagram_token; ``meta_ids`` the phone number, Page and Instagram ids."""
    phone_number_id, page_id, instagram_id = meta_ids
    meta = (
        f'  app_secret: "{secrets["app_secret"]}"\n  verify_token: "verify"\n'
        f'  api_url: "{graph_url}"\n  api_version: "v23.0"\n  send_backoff_s: 0.05\n'
    )
    return (
        "connectors.local.LocalInput:\n"
        "connectors.twilio_whatsapp.TwilioWhatsAppInput:\n"
        f'  account_sid: "{secrets["account_sid"]}"\n  auth_token: "{secrets["auth_token"]}"\n'
        f'  whatsapp_number: "+14155238886"\n  public_url: "{public_url}"\n'
        f'  api_url: "{twilio_url}"\n  send_backoff_s: 0.05\n'
        f"connectors.meta.WhatsAppCloudInput:\n{meta}"
        f'  access_token: "{secrets["whatsapp_token"]}"\n  phone_number_id: "{phone_number_id}"\n'
        f"connectors.meta.MessengerInput:\n{meta}"
        f'  access_token: "{secrets["messenger_token"]}"\n  page_id: "{page_id}"\n'
        f"connectors.meta.InstagramInput:\n{meta}"
        f'  access_token: "{secrets["instagram_token"]}"\n'
        f'  instagram_account_id: "{instagram_id}"\n'
        "connectors.email.EmailInput:\n"
        f'  address: "{bot_email}"\n  smtp_host: "127.0.0.1"\n  smtp_port: {smtp_port}\n'
        '  smtp_security: "none"\n  smtp_password: "smtp-secret"\n'
        f'  mailgun_signing_key: "{secrets["mailgun_signing_key"]}"\n  send_backoff_s: 0.2\n'
    )
