"""What the assistant tells a person without being asked: the results of their recurring runs,
new alerts and the daily digest they subscribed to — pushed once each, on a channel that can
carry it now, outside their quiet hours, and never dropped (held until they write)."""
