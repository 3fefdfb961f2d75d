"""The SendGateAdmin service's calls: request messages and result parsing (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

from sendgate.client._admin_results import (
    Account,
    EventPage,
    LimitException,
    LinkedAccount,
    TierEvaluation,
)
from sendgate.client._core import Call
from sendgate.client._enums import AccountKind, ExceptionState, to_pb
from sendgate.v1 import sendgate_pb2 as pb


def upsert_account(
    account: str,
    kind: AccountKind | str,
    business_verified: bool,
    identity_verified: bool,
    registered_at: int,
    at_unix_ms: int,
) -> Call[Account]:
    req = pb.UpsertAccountRequest(
        account=account,
        kind=to_pb(AccountKind, pb.AccountKind, kind, "kind"),  # type: ignore[arg-type]
        business_verified=business_verified,
        identity_verified=identity_verified,
        registered_at=registered_at,
        at_unix_ms=at_unix_ms,
    )
    return Call("UpsertAccount", req, lambda r: Account.from_pb(r.account))


def get_account(account: str, at_unix_ms: int) -> Call[Account]:
    req = pb.GetAccountRequest(account=account, at_unix_ms=at_unix_ms)
    return Call("GetAccount", req, lambda r: Account.from_pb(r.account))


def review_exception(
    request_id: str, approve: bool, extra_allowance: int, expires_at: int, at_unix_ms: int
) -> Call[LimitException]:
    req = pb.ReviewExceptionRequest(
        request_id=request_id,
        approve=approve,
        extra_allowance=extra_allowance,
        expires_at=expires_at,
        at_unix_ms=at_unix_ms,
    )
    return Call("ReviewException", req, lambda r: LimitException.from_pb(r.exception))


def list_exceptions(
    state: ExceptionState | str | None, at_unix_ms: int
) -> Call[list[LimitException]]:
    number = 0 if state is None else to_pb(ExceptionState, pb.ExceptionState, state, "state")
    req = pb.ListExceptionsRequest(state=number, at_unix_ms=at_unix_ms)  # type: ignore[arg-type]
    return Call("ListExceptions", req, lambda r: [LimitException.from_pb(x) for x in r.exceptions])


def ban_account(
    account: str, reason: str, identifiers: Sequence[str], at_unix_ms: int
) -> Call[None]:
    if isinstance(identifiers, str):  # a lone string would be split into characters
        raise TypeError("identifiers: a sequence of `kind:value` strings, not one string")
    req = pb.BanAccountRequest(
        account=account, reason=reason, identifiers=list(identifiers), at_unix_ms=at_unix_ms
    )
    return Call("BanAccount", req, lambda r: None)


def unban_account(account: str, at_unix_ms: int) -> Call[None]:
    req = pb.UnbanAccountRequest(account=account, at_unix_ms=at_unix_ms)
    return Call("UnbanAccount", req, lambda r: None)


def list_linked_accounts(account: str, at_unix_ms: int) -> Call[list[LinkedAccount]]:
    req = pb.ListLinkedAccountsRequest(account=account, at_unix_ms=at_unix_ms)
    return Call("ListLinkedAccounts", req, lambda r: [LinkedAccount.from_pb(x) for x in r.links])


def forget_account(account: str, at_unix_ms: int) -> Call[int]:
    req = pb.ForgetAccountRequest(account=account, at_unix_ms=at_unix_ms)
    return Call("ForgetAccount", req, lambda r: int(r.forgotten))


def clear_review(account: str, at_unix_ms: int) -> Call[bool]:
    req = pb.ClearReviewRequest(account=account, at_unix_ms=at_unix_ms)
    return Call("ClearReview", req, lambda r: bool(r.cleared))


def evaluate_tier(account: str, at_unix_ms: int) -> Call[TierEvaluation]:
    req = pb.EvaluateTierRequest(account=account, at_unix_ms=at_unix_ms)
    return Call("EvaluateTier", req, TierEvaluation.from_pb)


def list_events(
    after_id: str, limit: int, kinds: Sequence[str], at_unix_ms: int
) -> Call[EventPage]:
    if isinstance(kinds, str):
        raise TypeError("kinds: a sequence of event kinds, not one string")
    req = pb.ListEventsRequest(
        after_id=after_id, limit=limit, kinds=list(kinds), at_unix_ms=at_unix_ms
    )
    return Call("ListEvents", req, EventPage.from_pb)
