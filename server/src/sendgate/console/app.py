"""The console's ASGI application: routes, sessions, security headers, error pages."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sendgate.console import actions, auth, pages
from sendgate.console.backend import AdminBackend, BackendError
from sendgate.console.settings import ConsoleSettings
from sendgate.console.tail import EventTail
from sendgate.console.web import Console, render, templates

# Pages load only this console's own CSS and JS: no inline script, no CDN, no framing.
_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
_LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (301, 302, 303, 307) and exc.headers:
        return Response(status_code=exc.status_code, headers=exc.headers)
    if request.url.path.endswith(".json"):
        return PlainTextResponse(exc.detail, status_code=exc.status_code)
    return render(request, "error.html", status=exc.status_code, message=exc.detail)


async def _backend_error(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", status=502, message=str(exc))


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


def create_app(
    settings: ConsoleSettings,
    backend_factory: Callable[[ConsoleSettings], AdminBackend] = AdminBackend,
) -> Starlette:
    """The console; its admin channel opens when the app starts (inside its event loop)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        backend = backend_factory(settings)
        app.state.console = Console(
            settings=settings,
            backend=backend,
            tail=EventTail(
                backend,
                kept=settings.events_kept,
                lookback_ms=settings.events_lookback_hours * 3_600_000,
                refresh_s=settings.events_refresh_s,
            ),
            authenticator=auth.Authenticator(settings.reviewers),
            proxy=auth.ProxyTrust.of(settings.proxy_header, settings.trusted_proxies),
            templates=templates(),
        )
        try:
            yield
        finally:
            await backend.close()

    secret = settings.session_secret.get_secret_value() or secrets.token_urlsafe(32)
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=secret,
            session_cookie="sendgate_console",
            max_age=int(settings.session_hours * 3600),
            same_site="strict",
            https_only=settings.secure_cookies,
        ),
    ]
    if not settings.has_credentials:
        # An open console answers only to loopback names: a web page elsewhere cannot
        # reach it by pointing its own DNS name at 127.0.0.1 (DNS rebinding).
        middleware.insert(1, Middleware(TrustedHostMiddleware, allowed_hosts=_LOOPBACK_HOSTS))
    routes = [
        Route("/", pages.queue_page),
        Route("/account", pages.account_page),
        Route("/events", pages.events_page),
        Route("/events.json", pages.events_json),
        Route("/login", actions.login_page, methods=["GET"]),
        Route("/login", actions.login, methods=["POST"]),
        Route("/logout", actions.logout, methods=["POST"]),
        Route("/exception/review", actions.review, methods=["POST"]),
        Route("/account/ban", actions.ban, methods=["POST"]),
        Route("/account/unban", actions.unban, methods=["POST"]),
        Route("/account/clear-review", actions.clear_review, methods=["POST"]),
        Route("/account/forget", actions.forget, methods=["POST"]),
        Route("/account/record", actions.record, methods=["POST"]),
        Route("/account/evaluate-tier", actions.evaluate_tier, methods=["POST"]),
        Route("/healthz", _health),
        Mount("/static", StaticFiles(packages=[("sendgate.console", "static")]), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, BackendError: _backend_error},
    )
