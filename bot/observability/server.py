"""The bot's HTTP server on aiohttp, in the bot's own event loop.

``/metrics`` and ``/healthz`` for the running bot (a handler only renders what the last cycle
left: no venue or journal call), the status page and its API (`bot.observability.page`: journal
reads in worker threads), the login form (`bot.observability.auth`). aiohttp writes to a slow
client without holding the loop, so a request never delays a cycle.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.core.errors import ConfigError
from bot.observability.access import HttpAccess
from bot.observability.auth import add_login, guard
from bot.observability.metrics import BotMetrics
from bot.observability.page import StatusPage, add_page, login_form

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
"""On every response: only our own files run, nothing frames the page, no referrer leaves."""


async def _secure_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


class BadRequestLine(logging.Filter):
    """Log a request aiohttp could not parse (too long, malformed) as one warning line.

    aiohttp answers it 400 and logs the parser's traceback as an error: any client could fill
    the log with them. The line names the error's kind and status, not the client's bytes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the traceback of an `HttpProcessingError`; let every other record through."""
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = f"{record.getMessage()}: {type(error).__name__} (answered {error.code})"
            record.args = None
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


BAD_REQUEST_LINE = BadRequestLine()
"""On aiohttp's server logger while we serve (added once)."""


def _add_metrics(app: web.Application, metrics: BotMetrics) -> None:
    async def scrape(_request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_request: web.Request) -> web.Response:
        health = metrics.health()
        return web.Response(status=200 if health.ok else 503, text=health.reason + "\n")

    app.router.add_get("/metrics", scrape)
    app.router.add_get("/healthz", healthz)


def build_app(
    metrics: BotMetrics | None, token: str | None = None, page: StatusPage | None = None
) -> web.Application:
    """Return the app serving ``metrics`` and ``page`` (each if given).

    With a ``token`` every request must bear it, or the cookie the login form gives for it.
    """
    app = web.Application(middlewares=[] if token is None else [guard(token)])
    app.on_response_prepare.append(_secure_headers)
    if metrics is not None:
        _add_metrics(app, metrics)
    if page is not None:
        add_page(app, page)
        add_login(app, token, login_form())
    return app


@contextlib.asynccontextmanager
async def serving(app: web.Application, access: HttpAccess) -> AsyncIterator[HttpAccess]:
    """Serve ``app`` for the block; yield the access with the port actually bound."""
    server_logger.addFilter(BAD_REQUEST_LINE)
    runner = web.AppRunner(app, access_log=None)
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
