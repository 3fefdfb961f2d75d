"""What a reviewer does: every action is a POST carrying the form's CSRF token.

Each handler names the reviewer on the admin call, says what happened in a flash
message, and sends the browser back where it came from (303, so a reload never
repeats the action).
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sendgate.console import auth, timefmt
from sendgate.console.backend import BackendError
from sendgate.console.web import (
    back,
    checked_form,
    console,
    failed_sign_in_pause,
    flash,
    now_ms,
    render,
    require_reviewer,
    safe_next,
)

MAX_NOTE = 500


def _account_url(account: str) -> str:
    return f"/account?id={quote(account, safe='')}"


async def login_page(request: Request) -> Response:
    if not console(request).settings.reviewers:
        return RedirectResponse("/", status_code=303)
    return render(request, "login.html", next=safe_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    c = console(request)
    form = await checked_form(request)
    target = safe_next(form.get("next"))
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    if not c.settings.reviewers:
        return RedirectResponse("/", status_code=303)
    if not (name and password and c.authenticator.check(name, password)):
        await failed_sign_in_pause()
        return render(request, "login.html", status=401, next=target, error=True, name=name)
    auth.sign_in(request.session, name)
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    await checked_form(request)
    auth.sign_out(request.session)
    has_password = bool(console(request).settings.reviewers)
    return RedirectResponse("/login" if has_password else "/", status_code=303)


async def review(request: Request) -> Response:
    who = require_reviewer(request)
    form = await checked_form(request)
    request_id = str(form.get("request_id", ""))
    decision = form.get("decision")
    note = str(form.get("note", "")).strip()[:MAX_NOTE]
    account = str(form.get("account", ""))
    default = _account_url(account) if account else "/"
    approve = decision == "approve"
    allowance, expires_at = 0, 0
    try:
        if decision not in ("approve", "reject"):
            raise ValueError("choose approve or reject")
        if approve:
            allowance = int(str(form.get("allowance", "")).strip() or "0")
            if allowance <= 0:
                raise ValueError("an approval needs a positive extra allowance")
            expires_at = timefmt.parse_expiry(str(form.get("expires", "")), now_ms())
            if expires_at <= now_ms():
                raise ValueError("an approval needs an expiry in the future")
        done = await console(request).backend.review(
            request_id, approve, allowance, expires_at, note, who
        )
    except (ValueError, BackendError) as err:
        flash(request, "error", f"Not reviewed: {err}")
        return back(request, form, default)
    if approve:
        text = (
            f"Approved {done.account}: +{done.extra_allowance} until "
            f"{timefmt.show(done.expires_at)}."
        )
    else:
        text = f"Rejected the request of {done.account}."
    flash(request, "ok", text)
    return back(request, form, default)


async def ban(request: Request) -> Response:
    who = require_reviewer(request)
    form = await checked_form(request)
    account = str(form.get("account", ""))
    reason = str(form.get("reason", "")).strip()
    identifiers = [
        line.strip() for line in str(form.get("identifiers", "")).splitlines() if line.strip()
    ]
    if not reason:
        flash(request, "error", "Not banned: give a reason.")
        return back(request, form, _account_url(account))
    try:
        await console(request).backend.ban(account, reason, identifiers, who)
    except BackendError as err:
        flash(request, "error", f"Not banned: {err}")
    else:
        flash(request, "ok", f"Banned {account}.")
    return back(request, form, _account_url(account))


async def unban(request: Request) -> Response:
    who = require_reviewer(request)
    form = await checked_form(request)
    account = str(form.get("account", ""))
    try:
        await console(request).backend.unban(account, who)
    except BackendError as err:
        flash(request, "error", f"Not unbanned: {err}")
    else:
        flash(request, "ok", f"Unbanned {account}.")
    return back(request, form, _account_url(account))


async def clear_review(request: Request) -> Response:
    who = require_reviewer(request)
    form = await checked_form(request)
    account = str(form.get("account", ""))
    try:
        cleared = await console(request).backend.clear_review(account, who)
    except BackendError as err:
        flash(request, "error", f"Review not cleared: {err}")
    else:
        if cleared:
            flash(request, "ok", f"Cleared the review of {account}.")
        else:
            flash(request, "ok", f"{account} was not under review: nothing to clear.")
    return back(request, form, _account_url(account))


async def forget(request: Request) -> Response:
    """Erase the registration identifiers (an erasure request); a ban's stay with the ban."""
    who = require_reviewer(request)
    form = await checked_form(request)
    account = str(form.get("account", ""))
    if form.get("confirm") != "yes":
        flash(request, "error", "Not forgotten: tick the box to confirm the erasure.")
        return back(request, form, _account_url(account))
    try:
        n = await console(request).backend.forget(account, who)
    except BackendError as err:
        flash(request, "error", f"Not forgotten: {err}")
    else:
        noun = "identifier" if n == 1 else "identifiers"
        flash(request, "ok", f"Erased {n} registration {noun} of {account}.")
    return back(request, form, _account_url(account))


async def record(request: Request) -> Response:
    """Correct the account record: kind, verifications, registration date (UpsertAccount)."""
    who = require_reviewer(request)
    form = await checked_form(request)
    account = str(form.get("account", ""))
    kind = str(form.get("kind", ""))
    try:
        if kind not in ("PERSONAL", "BUSINESS"):
            raise ValueError("choose personal or business")
        registered_at = timefmt.parse_past(str(form.get("registered", "")), now_ms())
        await console(request).backend.upsert(
            account, kind, form.get("business_verified") == "yes",
            form.get("identity_verified") == "yes", registered_at, who,
        )  # fmt: skip
    except (ValueError, BackendError) as err:
        flash(request, "error", f"Record not saved: {err}")
    else:
        flash(request, "ok", f"Saved the record of {account}.")
    return back(request, form, _account_url(account))


async def evaluate_tier(request: Request) -> Response:
    """Re-evaluate a business's tier now and say why it moved or stayed (EvaluateTier)."""
    who = require_reviewer(request)
    form = await checked_form(request)
    account = str(form.get("account", ""))
    try:
        tier = await console(request).backend.evaluate_tier(account, who)
    except BackendError as err:
        flash(request, "error", f"Tier not evaluated: {err}")
    else:
        limit = f"{tier.tier_limit} users / 24 h" if tier.tier_limit else "unlimited"
        verb = "Moved to" if tier.changed else "Stays at"
        why = f": {'; '.join(tier.reasons)}" if tier.reasons else ""
        flash(request, "ok", f"{verb} tier {tier.tier_index + 1} ({limit}){why}.")
    return back(request, form, _account_url(account))
