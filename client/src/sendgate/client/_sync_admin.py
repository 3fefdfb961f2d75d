"""The blocking SendGateAdmin client (trust-and-safety tools)."""

from __future__ import annotations

from collections.abc import Sequence

from sendgate.client import _admin_calls as calls
from sendgate.client._admin_results import (
    Account,
    EventPage,
    LimitException,
    LinkedAccount,
    TierEvaluation,
)
from sendgate.client._core import USE_CLIENT_DEFAULT, Timeout
from sendgate.client._enums import AccountKind, ExceptionState
from sendgate.client._sync_base import SyncTransport
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc


class AdminClient(SyncTransport):
    """Blocking client of the SendGateAdmin service; the same options as
    `SendGateClient` (its `token` is the admin token). Admin calls never fail open."""

    _stub_class = pb_grpc.SendGateAdminStub

    def upsert_account(
        self,
        account: str,
        kind: AccountKind | str = AccountKind.PERSONAL,
        *,
        business_verified: bool = False,
        identity_verified: bool = False,
        registered_at: int = 0,
        at_unix_ms: int = 0,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> Account:
        """Create or update an account's kind, verifications and registration time."""
        call = calls.upsert_account(
            account, kind, business_verified, identity_verified, registered_at, at_unix_ms
        )
        return self._run(call, timeout)

    def get_account(
        self, account: str, *, at_unix_ms: int = 0, timeout: Timeout = USE_CLIENT_DEFAULT
    ) -> Account:
        """Everything the sidecar knows about an account."""
        return self._run(calls.get_account(account, at_unix_ms), timeout)

    def review_exception(
        self,
        request_id: str,
        approve: bool,
        *,
        extra_allowance: int = 0,
        expires_at: int = 0,
        at_unix_ms: int = 0,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> LimitException:
        """Approve (with an allowance and a future `expires_at`, Unix ms) or reject."""
        call = calls.review_exception(request_id, approve, extra_allowance, expires_at, at_unix_ms)
        return self._run(call, timeout)

    def list_exceptions(
        self,
        state: ExceptionState | str | None = None,
        *,
        at_unix_ms: int = 0,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> list[LimitException]:
        """Exception requests in `state` (None: every state)."""
        return self._run(calls.list_exceptions(state, at_unix_ms), timeout)

    def ban_account(
        self,
        account: str,
        reason: str,
        identifiers: Sequence[str] = (),
        *,
        at_unix_ms: int = 0,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> None:
        """Ban an account; its `kind:value` identifiers are kept (hashed) against evasion."""
        return self._run(calls.ban_account(account, reason, identifiers, at_unix_ms), timeout)

    def unban_account(
        self, account: str, *, at_unix_ms: int = 0, timeout: Timeout = USE_CLIENT_DEFAULT
    ) -> None:
        """Lift a ban."""
        return self._run(calls.unban_account(account, at_unix_ms), timeout)

    def list_linked_accounts(
        self, account: str, *, at_unix_ms: int = 0, timeout: Timeout = USE_CLIENT_DEFAULT
    ) -> list[LinkedAccount]:
        """Accounts sharing identifiers with `account`: kinds, strong or weak, banned."""
        return self._run(calls.list_linked_accounts(account, at_unix_ms), timeout)

    def forget_account(
        self, account: str, *, at_unix_ms: int = 0, timeout: Timeout = USE_CLIENT_DEFAULT
    ) -> int:
        """Erase the account's registration identifiers; returns how many."""
        return self._run(calls.forget_account(account, at_unix_ms), timeout)

    def clear_review(
        self, account: str, *, at_unix_ms: int = 0, timeout: Timeout = USE_CLIENT_DEFAULT
    ) -> bool:
        """End the account's review; True when it was under review."""
        return self._run(calls.clear_review(account, at_unix_ms), timeout)

    def evaluate_tier(
        self, account: str, *, at_unix_ms: int = 0, timeout: Timeout = USE_CLIENT_DEFAULT
    ) -> TierEvaluation:
        """Re-evaluate a business account's tier now."""
        return self._run(calls.evaluate_tier(account, at_unix_ms), timeout)

    def list_events(
        self,
        after_id: str = "",
        *,
        limit: int = 0,
        kinds: Sequence[str] = (),
        at_unix_ms: int = 0,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> EventPage:
        """Enforcement events after `after_id` ("" = the oldest kept), oldest first;
        `limit` 0 = the server's default page; `kinds` empty = all."""
        return self._run(calls.list_events(after_id, limit, kinds, at_unix_ms), timeout)
