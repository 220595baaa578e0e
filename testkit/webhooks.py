"""Signed provider requests to a running stack (``testkit.stack``), as each provider sends them:
Twilio's form with its signature, Meta's JSON with its HMAC, Mailgun's signed form."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import aiohttp

from connectors.core.signatures import hub_signature, twilio_signature
from connectors.email.mailgun import mailgun_signature
from connectors.twilio import parse_form
from testkit.payloads import (
    inbound_form,
    messaging_event,
    messaging_webhook,
    whatsapp_message,
    whatsapp_webhook,
)
from testkit.stack import Provider


class Webhooks:
    """What the providers of ``provider`` post to the stack at ``url``; each returns the status."""

    def __init__(self, url: str, provider: Provider) -> None:
        self.url = url.rstrip("/")
        self.provider = provider

    async def post(self, path: str, body: bytes, headers: dict) -> int:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}{path}", data=body, headers=headers) as response,
        ):
            await response.read()
            return response.status

    async def twilio(self, fields: dict) -> int:
        path = "/webhooks/whatsapp_twilio/webhook"
        body = urlencode(fields).encode()
        signature = twilio_signature(
            self.provider.secrets["auth_token"],
            f"{self.provider.public_url}{path}",
            parse_form(body),
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
        return await self.post(path, body, headers)

    async def meta(self, channel: str, payload: dict | bytes) -> int:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": hub_signature(self.provider.secrets["app_secret"], body),
        }
        return await self.post(f"/webhooks/{channel}/webhook", body, headers)

    def mailgun_form(self, fields: dict, token: str | None = None) -> dict:
        timestamp = str(int(time.time()))
        token = token or f"tok{time.time_ns()}"
        key = self.provider.secrets["mailgun_signing_key"]
        signature = mailgun_signature(key, timestamp, token)
        return {**fields, "timestamp": timestamp, "token": token, "signature": signature}

    async def mailgun(self, form: dict) -> int:
        body = urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return await self.post("/webhooks/email/mailgun", body, headers)

    # One text message from a sender, on each channel.
    async def twilio_text(self, sender: str, text: str) -> int:
        account = self.provider.secrets["account_sid"]
        sid = f"SM{time.time_ns():x}"
        return await self.twilio(inbound_form(sender, text, account_sid=account, MessageSid=sid))

    async def cloud_text(self, wa_id: str, text: str) -> int:
        message = whatsapp_message(wa_id, body=text)
        return await self.meta(
            "whatsapp_cloud", whatsapp_webhook(self.provider.meta_ids[0], messages=[message])
        )

    async def messenger_text(self, psid: str, text: str) -> int:
        page = self.provider.meta_ids[1]
        event = messaging_event(psid, page, message={"text": text})
        return await self.meta("messenger", messaging_webhook("page", page, [event]))

    async def email_text(self, sender: str, text: str, subject: str = "question") -> int:
        fields = {
            "from": sender,
            "subject": subject,
            "body-plain": text,
            "Message-Id": f"<{time.time_ns():x}@mail.example>",
        }
        return await self.mailgun(self.mailgun_form(fields))
