"""``make shell``'s terminal: Rasa's own console (what ``rasa shell`` shows) talking to a local
server's REST channel (``connectors.local``) as one user."""

from __future__ import annotations

import argparse
import asyncio

from rasa.core.channels.console import record_messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="the Rasa server, e.g. http://127.0.0.1:5005")
    parser.add_argument("--sender", required=True, help="who is talking (a user's e-mail)")
    args = parser.parse_args()
    asyncio.run(record_messages(server_url=args.url, sender_id=args.sender))


if __name__ == "__main__":
    main()
