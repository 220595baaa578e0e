"""The Twilio channel's settings: secrets from the environment, the rest from credentials.yml."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.core.settings import ChannelTuning, provider_secrets
from connectors.twilio.payload import CHANNEL_NAME

logger = logging.getLogger(__name__)


TWILIO_API_URL = "https://api.twilio.com"


@dataclass
class TwilioConfig:
    """What the connector needs to verify webhooks and send replies."""

    account_sid: str
    auth_token: str
    whatsapp_number: str | None = None
    messaging_service_sid: str | None = None
    public_url: str | None = None
    api_url: str = TWILIO_API_URL
    template_content_sid: str | None = None
    tuning: ChannelTuning = field(default_factory=ChannelTuning)

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> TwilioConfig:
        credentials = dict(credentials or {})
        env = provider_secrets()
        config = cls(
            account_sid=env.twilio_account_sid or credentials.get("account_sid") or "",
            auth_token=env.twilio_auth_token or credentials.get("auth_token") or "",
            whatsapp_number=credentials.get("whatsapp_number") or None,
            messaging_service_sid=credentials.get("messaging_service_sid") or None,
            public_url=(env.public_url or credentials.get("public_url") or "").rstrip("/") or None,
            api_url=(env.twilio_api_url or credentials.get("api_url") or TWILIO_API_URL).rstrip(
                "/"
            ),
            template_content_sid=credentials.get("template_content_sid") or None,
            # Twilio queues messages above a sender's throughput itself (10/s text); 30 calls a
            # second only keeps us within what one account may make at once.
            tuning=ChannelTuning.resolve(credentials, sends_per_second=30.0),
        )
        if missing := config.missing():
            # Rasa still starts (the REST channel keeps working); the webhook answers 503.
            logger.warning("twilio.not_configured missing=%s", ",".join(missing))
        return config

    def missing(self) -> list[str]:
        """The settings still needed before the channel can verify and answer anything."""
        needed = {
            "account_sid (TWILIO_ACCOUNT_SID)": self.account_sid,
            "auth_token (TWILIO_AUTH_TOKEN)": self.auth_token,
            "whatsapp_number or messaging_service_sid": self.whatsapp_number
            or self.messaging_service_sid,
        }
        return [name for name, value in needed.items() if not value]

    @property
    def messages_url(self) -> str:
        return f"{self.api_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def status_callback_url(self) -> str | None:
        if not self.public_url:
            return None
        return f"{self.public_url}/webhooks/{CHANNEL_NAME}/status"
