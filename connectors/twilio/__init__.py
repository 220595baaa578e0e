"""WhatsApp through Twilio: signed, deduplicated, rate-limited webhooks that are never lost.

``credentials.yml``::

    connectors.twilio.TwilioWhatsAppInput:
      account_sid: "AC…"            # or TWILIO_ACCOUNT_SID
      auth_token: "…"               # or TWILIO_AUTH_TOKEN (keep it out of the repo)
      whatsapp_number: "+14155238886"   # or messaging_service_sid: "MG…"
      public_url: "https://bot.example.com"   # or MISYBOT_PUBLIC_URL; what Twilio calls
      # api_url: "https://api.twilio.com"     # or MISYBOT_TWILIO_API_URL
      # template_content_sid: "HX…"           # approved template outside the 24-hour window

Twilio is pointed at ``<public_url>/webhooks/whatsapp_twilio/webhook``; delivery status callbacks
arrive at ``…/whatsapp_twilio/status``."""

from connectors.twilio.channel import TwilioWhatsAppInput, TwilioWhatsAppOutput
from connectors.twilio.config import TwilioConfig
from connectors.twilio.payload import CHANNEL_NAME, PayloadError, parse_form, parse_inbound

__all__ = [
    "CHANNEL_NAME",
    "PayloadError",
    "TwilioConfig",
    "TwilioWhatsAppInput",
    "TwilioWhatsAppOutput",
    "parse_form",
    "parse_inbound",
]
