"""``make shell``'s terminal: Rasa's own console (what ``rasa shell`` shows) talking to a local
server's REST channel (``connectors.local``) as one user."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.serve import quiet_library_warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="the Rasa server, e.g. http://127.0.0.1:5005")
    parser.add_argument("--sender", required=True, help="who is talking (a user's e-mail)")
    args = parser.parse_args()
    quiet_library_warnings()
    from rasa.core.channels.console import record_messages

    asyncio.run(record_messages(server_url=args.url, sender_id=args.sender))


if __name__ == "__main__":
    main()
