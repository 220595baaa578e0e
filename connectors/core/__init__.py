"""What every provider channel shares: signatures, formatting, sending and the inbox runtime."""
