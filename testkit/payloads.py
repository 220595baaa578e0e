"""What the providers post, really signed: Twilio forms, WhatsApp Cloud / Messenger / Instagram
webhooks shaped like Meta's documented examples, and a ``credentials.yml`` with every channel."""

from __future__ import annotations

import itertools
import json
import time
from urllib.parse import urlencode

from connectors.core.signatures import hub_signature, twilio_signature

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
        "connectors.twilio.TwilioWhatsAppInput:\n"
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
