"""``GET /health`` on a Sanic app (the Rasa server; any Sanic app of ours): 200 when the database
answers, a worker is alive and the inbox keeps up, 503 otherwise, with JSON saying which part
failed. For a load balancer or process manager: no auth, and it shows verdicts and counts only
(``misybot.health.HealthReport.public``). The check runs in a thread, never in the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

from misybot.health import HealthProbe, HealthReport, HealthThresholds

logger = logging.getLogger(__name__)


def default_probe() -> HealthProbe:
    """A probe on the configured database (``MISYBOT_DATABASE_URL``) with the configured limits."""
    from misybot.db.engine import get_engine
    from misybot.settings import get_settings

    return HealthProbe(get_engine(), HealthThresholds.from_settings(get_settings()))


def add_health_route(
    app: Sanic,
    probe: HealthProbe | Callable[[], HealthProbe] = default_probe,
    path: str = "/health",
) -> None:
    """Answer ``GET path`` on ``app`` with the installation's health. ``probe`` is a probe or
    what builds one (on the first call, so that adding the route opens no database)."""
    built: list[HealthProbe] = [probe] if isinstance(probe, HealthProbe) else []
    last: list[tuple[str, ...] | None] = [None]

    async def health(_request: Request) -> HTTPResponse:
        if not built:
            built.append(await asyncio.to_thread(probe))
        report = await asyncio.to_thread(built[0].check)
        _log_change(report, last)
        return json(
            report.public(),
            status=200 if report.healthy else 503,
            headers={"Cache-Control": "no-store"},
        )

    name = "misybot_health_" + (path.strip("/").replace("/", "_") or "root")
    app.add_route(health, path, methods=["GET"], name=name)


def _log_change(report: HealthReport, last: list[tuple[str, ...] | None]) -> None:
    """Log when the verdict changes, not at every call of a load balancer."""
    if report.failing == last[0]:
        return
    last[0] = report.failing
    if report.healthy:
        logger.info("health.ok")
    else:
        logger.warning(
            "health.failing parts=%s database=%s workers_alive=%s backlog=%s",
            ",".join(report.failing),
            report.database.problem or "ok",
            report.workers.alive,
            report.backlog.waiting,
        )
