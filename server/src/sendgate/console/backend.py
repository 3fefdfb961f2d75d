"""The console's only door to sendgate: the sidecar's SendGateAdmin API over gRPC.

Every call carries the admin token (`authorization: Bearer …`, never sent to a browser)
and the acting reviewer's name (`x-sendgate-reviewer`). An RPC the sidecar answers
UNIMPLEMENTED (an older sidecar than this console) raises NotAvailable, so the pages
can say so instead of failing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc

from sendgate.console.models import (
    AccountInfo,
    EventInfo,
    ExceptionInfo,
    LinkInfo,
    TierInfo,
    UsageInfo,
)
from sendgate.console.settings import ConsoleSettings
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

REVIEWER_METADATA = "x-sendgate-reviewer"
# Until ReviewExceptionRequest has a `note` field, the reviewer's note rides as metadata.
NOTE_METADATA = "x-sendgate-review-note"

_MESSAGES = {
    grpc.StatusCode.UNAVAILABLE: "the sidecar's admin API cannot be reached",
    grpc.StatusCode.UNAUTHENTICATED: "the sidecar wants an admin token (SENDGATE_ADMIN_TOKEN)",
    grpc.StatusCode.PERMISSION_DENIED: "the sidecar refused the console's admin token",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the sidecar did not answer in time",
}


class BackendError(Exception):
    """An admin call failed; `str()` is fit to show a reviewer."""

    def __init__(self, message: str, code: str = "UNKNOWN") -> None:
        super().__init__(message)
        self.code = code


class NotAvailable(BackendError):
    """The sidecar does not offer this RPC (yet)."""


def _enum_name(enum: Any, value: int) -> str:
    """The value's name; "" for the zero value (`…_UNSPECIFIED`: not set)."""
    if value == 0:
        return ""
    try:
        return str(enum.Name(value))
    except ValueError:
        return str(value)


def _usage(u: pb.Usage) -> UsageInfo:
    return UsageInfo(
        used=u.used, limit=u.limit, remaining=u.remaining, resets_at=u.resets_at,
        username_used=u.username_used, username_limit=u.username_limit,
        tier_limit=u.tier_limit, unique_users_24h=u.unique_users_24h,
        quality=_enum_name(pb.Quality, u.quality), status=_enum_name(pb.AccountStatus, u.status),
        flags=tuple(_enum_name(pb.Flag, f) for f in u.flags),
        new_conversations_today=u.new_conversations_today,
        new_conversations_limit=(
            u.new_conversations_limit if u.HasField("new_conversations_limit") else None
        ),
    )  # fmt: skip


def _exception(x: pb.ExceptionRequest) -> ExceptionInfo:
    return ExceptionInfo(
        request_id=x.request_id, account=x.account,
        reason=_enum_name(pb.ExceptionReason, x.reason), note=x.note,
        state=_enum_name(pb.ExceptionState, x.state), extra_allowance=x.extra_allowance,
        expires_at=x.expires_at, requested_at=x.requested_at, reviewed_at=x.reviewed_at,
    )  # fmt: skip


def _account(a: pb.Account) -> AccountInfo:
    return AccountInfo(
        account=a.account, kind=_enum_name(pb.AccountKind, a.kind),
        business_verified=a.business_verified, identity_verified=a.identity_verified,
        registered_at=a.registered_at, usage=_usage(a.usage), banned=a.banned,
        ban_reason=a.ban_reason, exceptions=tuple(_exception(x) for x in a.exceptions),
        bulk_score=a.bulk_score, features=tuple(sorted(a.features.items())),
        tier_index=a.tier_index, under_review=a.under_review,
        review_daily_limit=a.review_daily_limit, linked_to_banned=tuple(a.linked_to_banned),
    )  # fmt: skip


def _event(e: Any) -> EventInfo:
    return EventInfo(e.id, e.kind, e.account, e.at_unix_ms, dict(e.attributes))


def _credentials(s: ConsoleSettings) -> grpc.ChannelCredentials:
    def read(path: str) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return grpc.ssl_channel_credentials(
        root_certificates=read(s.tls_ca_file),
        private_key=read(s.tls_key_file),
        certificate_chain=read(s.tls_cert_file),
    )


class AdminBackend:
    """Typed admin calls on one channel; open it inside the event loop that uses it."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self._timeout = settings.timeout_s
        self._token = settings.admin_token.get_secret_value()
        if settings.tls or settings.tls_ca_file:
            options = (
                [("grpc.ssl_target_name_override", settings.tls_server_name)]
                if settings.tls_server_name
                else []
            )
            self._channel = grpc.aio.secure_channel(
                settings.target, _credentials(settings), options=options
            )
        else:
            self._channel = grpc.aio.insecure_channel(settings.target)
        self._stub = pb_grpc.SendGateAdminStub(self._channel)
        self.target = settings.target

    async def close(self) -> None:
        await self._channel.close()

    async def _call(
        self, rpc: str, request: Any, reviewer: str, extra: Sequence[tuple[str, str]] = ()
    ) -> Any:
        method = getattr(self._stub, rpc)
        metadata = [(REVIEWER_METADATA, reviewer), *extra]
        if self._token:
            metadata.append(("authorization", f"Bearer {self._token}"))
        try:
            return await method(request, metadata=metadata, timeout=self._timeout)
        except grpc.aio.AioRpcError as err:
            code = err.code()
            if code is grpc.StatusCode.UNIMPLEMENTED:
                raise NotAvailable(f"the sidecar does not offer {rpc} yet", code.name) from None
            message = _MESSAGES.get(code) or err.details() or code.name
            raise BackendError(message, code.name) from None

    async def account(self, account: str, reviewer: str) -> AccountInfo:
        reply = await self._call("GetAccount", pb.GetAccountRequest(account=account), reviewer)
        return _account(reply.account)

    async def exceptions(self, state: str | None, reviewer: str) -> list[ExceptionInfo]:
        value = pb.ExceptionState.Value(state) if state else 0
        reply = await self._call("ListExceptions", pb.ListExceptionsRequest(state=value), reviewer)  # type: ignore[arg-type]
        return [_exception(x) for x in reply.exceptions]

    async def review(
        self, request_id: str, approve: bool, allowance: int, expires_at: int, note: str,
        reviewer: str,
    ) -> ExceptionInfo:  # fmt: skip
        request = pb.ReviewExceptionRequest(
            request_id=request_id, approve=approve,
            extra_allowance=allowance if approve else 0, expires_at=expires_at if approve else 0,
        )  # fmt: skip
        extra: list[tuple[str, str]] = []
        if note and "note" in pb.ReviewExceptionRequest.DESCRIPTOR.fields_by_name:
            request.note = note  # type: ignore[attr-defined]
        elif note:
            extra.append((NOTE_METADATA, quote(note, safe="")))
        reply = await self._call("ReviewException", request, reviewer, extra)
        return _exception(reply.exception)

    async def upsert(
        self, account: str, kind: str, business_verified: bool, identity_verified: bool,
        registered_at: int, reviewer: str,
    ) -> AccountInfo:  # fmt: skip
        """Create or correct the account record; registered_at 0 keeps the one stored."""
        request = pb.UpsertAccountRequest(
            account=account, kind=pb.AccountKind.Value(kind),
            business_verified=business_verified, identity_verified=identity_verified,
            registered_at=registered_at,
        )  # fmt: skip
        reply: pb.UpsertAccountResponse = await self._call("UpsertAccount", request, reviewer)
        return _account(reply.account)

    async def evaluate_tier(self, account: str, reviewer: str) -> TierInfo:
        request = pb.EvaluateTierRequest(account=account)
        reply: pb.EvaluateTierResponse = await self._call("EvaluateTier", request, reviewer)
        return TierInfo(reply.tier_index, reply.tier_limit, reply.changed, tuple(reply.reasons))

    async def ban(
        self, account: str, reason: str, identifiers: Sequence[str], reviewer: str
    ) -> None:
        request = pb.BanAccountRequest(account=account, reason=reason, identifiers=identifiers)
        await self._call("BanAccount", request, reviewer)

    async def unban(self, account: str, reviewer: str) -> None:
        await self._call("UnbanAccount", pb.UnbanAccountRequest(account=account), reviewer)

    async def clear_review(self, account: str, reviewer: str) -> bool:
        """Whether the account was under review (and no longer is)."""
        request = pb.ClearReviewRequest(account=account)
        reply: pb.ClearReviewResponse = await self._call("ClearReview", request, reviewer)
        return reply.cleared

    async def forget(self, account: str, reviewer: str) -> int:
        """Erase the account's registration identifiers; how many were erased."""
        request = pb.ForgetAccountRequest(account=account)
        reply: pb.ForgetAccountResponse = await self._call("ForgetAccount", request, reviewer)
        return reply.forgotten

    async def linked(self, account: str, reviewer: str) -> list[LinkInfo]:
        """Accounts sharing identifiers with `account`: their kinds only, never values."""
        request = pb.ListLinkedAccountsRequest(account=account)
        reply: pb.ListLinkedAccountsResponse = await self._call(
            "ListLinkedAccounts", request, reviewer
        )
        return [LinkInfo(x.account, tuple(x.shared_kinds), x.strong, x.banned) for x in reply.links]

    async def events(
        self, after_id: str, limit: int, kinds: Sequence[str], reviewer: str
    ) -> tuple[list[EventInfo], str]:
        request = pb.ListEventsRequest(after_id=after_id, limit=limit, kinds=kinds)
        reply = await self._call("ListEvents", request, reviewer)
        return [_event(e) for e in reply.events], str(reply.next_id)
