"""Who may read what the bot serves: a bearer token, or the cookie the login form gives for it.

With a token (`bot.observability.access`) every request except the login form and the static
files must bear ``Authorization: Bearer <token>`` (the scheme in any case) or the session
cookie. The cookie holds an HMAC of the token, never the token itself; it is HttpOnly (no script
reads it), SameSite=Strict (no other site's page sends it) and Secure when the request came
over TLS (directly, or through a proxy that says ``X-Forwarded-Proto: https``). Every
comparison takes constant time (`hmac.compare_digest`). A browser asking for the page without
either goes to the login form; any other request gets 401. Without a token (a loopback bind)
everything is open.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.settings.secrets import remember

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COOKIE = "hedgebot_session"
LOGIN = "/login"
STATIC = "/static/"
MESSAGE_SLOT = "<!-- message -->"
"""Where the login form says that the token was wrong."""


def session_value(token: str) -> str:
    """Return the cookie value that stands for ``token`` (remembered as a secret: masked)."""
    value = hmac.new(token.encode(), b"hedgebot status page session", hashlib.sha256).hexdigest()
    remember(value)
    return value


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(header: str) -> str:
    """Return the token of an ``Authorization: Bearer <token>`` header (scheme in any case)."""
    scheme, _, credentials = header.strip().partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


def authorized(request: web.Request, token: str, session: str) -> bool:
    """Return whether ``request`` bears the token or the session cookie."""
    bearer = _same(bearer_token(request.headers.get("Authorization", "")), token)
    return bearer or _same(request.cookies.get(COOKIE, ""), session)


def guard(token: str) -> Middleware:
    """Return the middleware that lets only requests bearing ``token`` (or its cookie) through."""
    session = session_value(token)

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        public = request.path == LOGIN or request.path.startswith(STATIC)
        if public or authorized(request, token, session):
            return await handler(request)
        if request.method == "GET" and request.path == "/":
            raise web.HTTPSeeOther(LOGIN)
        return web.Response(
            status=401,
            text="unauthorized: send Authorization: Bearer <token>\n",
            headers={"WWW-Authenticate": "Bearer"},
        )

    return check


def _secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def add_login(app: web.Application, token: str | None, form: str) -> None:
    """Serve the login ``form`` on `LOGIN`: a right token posted there sets the cookie.

    Without a token there is nothing to log in to: the form sends the browser to the page.
    """

    async def show(_request: web.Request) -> web.StreamResponse:
        if token is None:
            raise web.HTTPSeeOther("/")
        return web.Response(text=form, content_type="text/html")

    async def submit(request: web.Request) -> web.StreamResponse:
        if token is None:
            raise web.HTTPSeeOther("/")
        posted = await request.post()
        given = posted.get("token")
        if not isinstance(given, str) or not _same(given, token):
            wrong = form.replace(MESSAGE_SLOT, '<p class="error">wrong token</p>')
            return web.Response(status=401, text=wrong, content_type="text/html")
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(
            COOKIE,
            session_value(token),
            path="/",
            httponly=True,
            samesite="Strict",
            secure=_secure(request),
        )
        return response

    app.router.add_get(LOGIN, show)
    app.router.add_post(LOGIN, submit)
