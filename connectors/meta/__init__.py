"""Meta's channels: WhatsApp Business Cloud API, Facebook Messenger and Instagram Direct."""

from connectors.meta.messenger import InstagramInput, MessengerInput
from connectors.meta.whatsapp_cloud import WhatsAppCloudInput

__all__ = ["InstagramInput", "MessengerInput", "WhatsAppCloudInput"]
