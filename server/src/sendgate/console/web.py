"""What every route shares: the console's state, who the reviewer is, CSRF, rendering."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from sendgate.console import auth, timefmt
from sendgate.console.backend import AdminBackend
from sendgate.console.settings import ConsoleSettings
from sendgate.console.tail import EventTail

# A failed sign-in costs the guesser this long (the scrypt check costs more still).
FAILED_SIGN_IN_DELAY_S = 0.5


@dataclass
class Console:
    """Per-process state, on `app.state.console`."""

    settings: ConsoleSettings
    backend: AdminBackend
    tail: EventTail
    authenticator: auth.Authenticator
    proxy: auth.ProxyTrust | None
    templates: Jinja2Templates


def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sendgate.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = timefmt.show
    env.filters["ago"] = lambda ms: timefmt.ago(ms, now_ms())
    env.filters["attribute"] = timefmt.attribute
    return Jinja2Templates(env=env)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def console(request: Request) -> Console:
    state: Console = request.app.state.console
    return state


def reviewer(request: Request) -> str | None:
    """The signed-in reviewer, the proxy's reviewer, or `local` on an open console."""
    c = console(request)
    if c.proxy is not None:
        peer = request.client.host if request.client else None
        name = c.proxy.reviewer(peer, request.headers)
        if name:
            return name
    if c.settings.reviewers:
        return auth.session_reviewer(request.session)
    if not c.settings.has_credentials:
        return auth.LOOPBACK_REVIEWER
    return None


def require_reviewer(request: Request) -> str:
    name = reviewer(request)
    if name is None:
        page = request.method == "GET" and not request.url.path.endswith(".json")
        if page and console(request).settings.reviewers:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise HTTPException(303, headers={"Location": f"/login?next={quote(target, safe='')}"})
        raise HTTPException(401, "sign in first")
    return name


def safe_next(target: object, default: str = "/") -> str:
    """Only a path on this console: never another site (`//host`, `https://…`)."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return default
    return target


async def checked_form(request: Request) -> FormData:
    """The POST's form, once its CSRF token and origin are checked (403 otherwise)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "cross-origin form refused")
    form = await request.form()
    if not auth.csrf_ok(request.session, form.get("csrf")):
        raise HTTPException(403, "missing or stale form token: reload the page and try again")
    return form


def flash(request: Request, level: str, text: str) -> None:
    messages: list[list[str]] = request.session.setdefault("flash", [])
    messages.append([level, text])
    request.session["flash"] = messages[-5:]


def back(request: Request, form: FormData, default: str) -> RedirectResponse:
    return RedirectResponse(safe_next(form.get("next"), default), status_code=303)


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    c = console(request)
    context.setdefault("reviewer", reviewer(request))
    context.update(
        csrf=auth.csrf_token(request.session),
        flashes=request.session.pop("flash", []),
        open_console=not c.settings.has_credentials,
        password_sign_in=bool(c.settings.reviewers),
        target=c.settings.target,
        path=request.url.path,
    )
    response = c.templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


async def failed_sign_in_pause() -> None:
    await asyncio.sleep(FAILED_SIGN_IN_DELAY_S)
