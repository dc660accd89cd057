"""The bot's HTTP endpoints on aiohttp, in the bot's own event loop: ``/metrics``, ``/healthz``.

A handler only renders what the last cycle left (no venue or journal call), and aiohttp writes
to a slow client without holding the loop, so a scrape never delays a cycle.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.core.errors import ConfigError
from bot.observability.access import HttpAccess
from bot.observability.metrics import BotMetrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(metrics: BotMetrics, token: str | None = None) -> web.Application:
    """Return the app serving ``metrics``; with a ``token`` every request must bear it."""

    @web.middleware
    async def bearer(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "")
        if token is not None and not hmac.compare_digest(
            given.encode(), f"Bearer {token}".encode()
        ):
            return web.Response(
                status=401,
                text="unauthorized: send Authorization: Bearer <token>\n",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await handler(request)

    async def scrape(_request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_request: web.Request) -> web.Response:
        health = metrics.health()
        return web.Response(status=200 if health.ok else 503, text=health.reason + "\n")

    app = web.Application(middlewares=[bearer])
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/healthz", healthz)
    return app


@contextlib.asynccontextmanager
async def serving(metrics: BotMetrics, access: HttpAccess) -> AsyncIterator[HttpAccess]:
    """Serve ``metrics`` for the block; yield the access with the port actually bound."""
    runner = web.AppRunner(build_app(metrics, access.token), access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, access.host, access.port).start()
        except OSError as error:
            raise ConfigError(
                f"cannot serve --http on {access.shown}: {error.strerror or error}; "
                "pick another address or port"
            ) from None
        yield HttpAccess(access.host, int(runner.addresses[0][1]), access.token)
    finally:
        await runner.cleanup()
