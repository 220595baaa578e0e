"""A real worker process with the test agents: ``python worker_process.py <url> <lease_s>``."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agents_for_tests import registry  # noqa: E402

from misybot.db.engine import create_db_engine  # noqa: E402
from misybot.orchestrator.worker import Worker  # noqa: E402
from misybot.settings import get_settings  # noqa: E402

if __name__ == "__main__":
    url, lease_s = sys.argv[1], float(sys.argv[2])
    settings = dataclasses.replace(get_settings(), lease_s=lease_s)
    worker = Worker(create_db_engine(url), settings=settings, registry=registry(), deliver=False)
    asyncio.run(worker.run())
