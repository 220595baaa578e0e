"""A local server speaking Rasa's ``trigger_intent`` API (what a worker pushes to): it records
each call and answers like Rasa, with a tracker whose last events are the intent and a reply."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from testkit.processes import free_port


class RasaApiStandIn:
    """``failures``: answer that many calls 503 first; ``silent``: answer 200 without a reply
    (what Rasa does when the action failed)."""

    def __init__(self, failures: int = 0, silent: int = 0) -> None:
        self.calls: list[dict] = []
        self.failures = failures
        self.silent = silent
        self.url = ""

    async def trigger(self, request: web.Request) -> web.Response:
        if self.failures:
            self.failures -= 1
            return web.json_response({"message": "busy"}, status=503)
        body = await request.json()
        events = [{"event": "user", "text": f"EXTERNAL: {body.get('name')}"}]
        if self.silent:
            self.silent -= 1
        else:
            self.calls.append(
                {"sender": request.match_info["sender"], "query": dict(request.query), "body": body}
            )
            events.append({"event": "bot", "text": "a reply"})
        return web.json_response({"tracker": {"events": events}, "messages": []})


@contextlib.asynccontextmanager
async def rasa_api(failures: int = 0, silent: int = 0) -> AsyncIterator[RasaApiStandIn]:
    rasa = RasaApiStandIn(failures, silent)
    app = web.Application()
    app.router.add_post("/conversations/{sender}/trigger_intent", rasa.trigger)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    rasa.url = f"http://127.0.0.1:{port}"
    try:
        yield rasa
    finally:
        await runner.cleanup()
