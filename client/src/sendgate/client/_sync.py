"""The blocking client."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import TypeVar, Unpack

import grpc

from sendgate.client import _core
from sendgate.client._errors import map_rpc_error
from sendgate.client._results import CanSendResult, Usage
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

T = TypeVar("T")


class SendGateClient:
    """Blocking client for the SendGate service. Every call takes `timeout` (seconds)."""

    def __init__(
        self, target: str = _core.DEFAULT_TARGET, *, timeout: float = _core.DEFAULT_TIMEOUT_S
    ) -> None:
        self._channel = grpc.insecure_channel(target)
        self._stub = pb_grpc.SendGateStub(self._channel)
        self._timeout = timeout

    def _run(self, call: _core.Call[T], timeout: float | None) -> T:
        try:
            resp = getattr(self._stub, call.method)(call.request, timeout=timeout or self._timeout)
        except grpc.RpcError as exc:
            raise map_rpc_error(exc) from exc
        return call.parse(resp)

    def can_send(
        self,
        sender: str,
        recipient: str,
        message_id: str,
        *,
        timeout: float | None = None,
        **opts: Unpack[_core.SendOptions],
    ) -> CanSendResult:
        return self._run(_core.can_send(sender, recipient, message_id, opts), timeout)

    def can_send_batch(
        self,
        messages: Iterable[_core.SendTuple | pb.CanSendRequest],
        *,
        timeout: float | None = None,
        **opts: Unpack[_core.SendOptions],
    ) -> list[CanSendResult]:
        return self._run(_core.can_send_batch(messages, opts), timeout)

    def record_reply(
        self, replier: str, replied_to: str, *, at_unix_ms: int = 0, timeout: float | None = None
    ) -> int:
        return self._run(_core.record_reply(replier, replied_to, at_unix_ms), timeout)

    def get_usage(
        self, account: str, *, at_unix_ms: int = 0, timeout: float | None = None
    ) -> Usage:
        return self._run(_core.get_usage(account, at_unix_ms), timeout)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> SendGateClient:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
