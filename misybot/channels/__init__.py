"""Provider channels without Rasa: the normalised inbound message, the durable inbox, limits."""
