"""The blocking SendGate client."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Unpack

from sendgate.client import _calls
from sendgate.client._calls import Sendable, SendOptions
from sendgate.client._core import USE_CLIENT_DEFAULT, Timeout, resolve_timeout
from sendgate.client._enums import ExceptionReason, FeedbackKind, Quality
from sendgate.client._results import CanSendResult, ExceptionTicket, RegistrationResult, Usage
from sendgate.client._sync_base import SyncTransport
from sendgate.client._sync_stream import can_send_stream
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc


class SendGateClient(SyncTransport):
    """Blocking client of the SendGate service (what a chat server calls).

    `SendGateClient(target="127.0.0.1:50051", *, fail_open=False, token=…, …)`; see
    `ConnectOptions` for TLS, tokens and the default `timeout`. Every call takes
    `timeout=` (seconds; None: no deadline). With `fail_open=True`, the CanSend calls
    answer ALLOW marked `sidecar_unavailable` when the sidecar is down or late.
    """

    _stub_class = pb_grpc.SendGateStub

    def can_send(
        self,
        sender: str,
        recipient: str,
        message_id: str,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        **opts: Unpack[SendOptions],
    ) -> CanSendResult:
        """May `sender` send this message to `recipient`? Counts it when it may.
        `message_id` is the idempotency key: a replay answers `duplicate`."""
        return self._run(_calls.can_send((sender, recipient, message_id), opts), timeout)

    def can_send_batch(
        self,
        messages: Iterable[Sendable],
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        **opts: Unpack[SendOptions],
    ) -> list[CanSendResult]:
        """Many decisions in one call, answered in order."""
        return self._run(_calls.can_send_batch(messages, opts), timeout)

    def can_send_stream(
        self,
        messages: Iterable[Sendable],
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        **opts: Unpack[SendOptions],
    ) -> Iterator[CanSendResult]:
        """Decide messages over one long-lived stream, one answer per message, in order.
        `timeout` bounds each answer (from its message being sent), not the stream."""
        per_message = resolve_timeout(timeout, self._settings.timeout)
        return can_send_stream(self._stub, messages, per_message, self._settings, opts)

    def record_reply(
        self,
        replier: str,
        replied_to: str,
        *,
        at_unix_ms: int = 0,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> int:
        """`replier` answered `replied_to`; returns how many messages stopped counting."""
        return self._run(_calls.record_reply(replier, replied_to, at_unix_ms), timeout)

    def record_feedback(
        self,
        reporter: str,
        subject: str,
        kind: FeedbackKind | str,
        *,
        at_unix_ms: int = 0,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> Quality:
        """`reporter` blocked or reported `subject`; returns the subject's quality."""
        return self._run(_calls.record_feedback(reporter, subject, kind, at_unix_ms), timeout)

    def record_opt_in(
        self,
        business: str,
        user: str,
        opted_in: bool = True,
        *,
        at_unix_ms: int = 0,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> None:
        """`user` opted in to (or, with `opted_in=False`, out of) `business`."""
        return self._run(_calls.record_opt_in(business, user, opted_in, at_unix_ms), timeout)

    def get_usage(
        self, account: str, *, at_unix_ms: int = 0, timeout: Timeout = USE_CLIENT_DEFAULT
    ) -> Usage:
        """The account's monthly usage."""
        return self._run(_calls.get_usage(account, at_unix_ms), timeout)

    def request_exception(
        self,
        account: str,
        reason: ExceptionReason | str,
        note: str = "",
        *,
        at_unix_ms: int = 0,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> ExceptionTicket:
        """File a message-limit exception request for a reviewer."""
        return self._run(_calls.request_exception(account, reason, note, at_unix_ms), timeout)

    def check_registration(
        self,
        account: str,
        identifiers: Sequence[str],
        *,
        at_unix_ms: int = 0,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> RegistrationResult:
        """Check a registering account's `kind:value` identifiers against bans."""
        call = _calls.check_registration(account, identifiers, at_unix_ms)
        return self._run(call, timeout)
