"""The asyncio client (grpc.aio)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from types import TracebackType
from typing import TypeVar, Unpack

import grpc

from sendgate.client import _core
from sendgate.client._errors import map_rpc_error
from sendgate.client._results import CanSendResult, Usage
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

T = TypeVar("T")


class AsyncSendGateClient:
    """Asyncio client for the SendGate service. Every call takes `timeout` (seconds)."""

    def __init__(
        self, target: str = _core.DEFAULT_TARGET, *, timeout: float = _core.DEFAULT_TIMEOUT_S
    ) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = pb_grpc.SendGateStub(self._channel)
        self._timeout = timeout

    async def _run(self, call: _core.Call[T], timeout: float | None) -> T:
        try:
            rpc = getattr(self._stub, call.method)
            resp = await rpc(call.request, timeout=timeout or self._timeout)
        except grpc.RpcError as exc:
            raise map_rpc_error(exc) from exc
        return call.parse(resp)

    async def can_send(
        self,
        sender: str,
        recipient: str,
        message_id: str,
        *,
        timeout: float | None = None,
        **opts: Unpack[_core.SendOptions],
    ) -> CanSendResult:
        return await self._run(_core.can_send(sender, recipient, message_id, opts), timeout)

    async def can_send_batch(
        self,
        messages: Iterable[_core.SendTuple | pb.CanSendRequest],
        *,
        timeout: float | None = None,
        **opts: Unpack[_core.SendOptions],
    ) -> list[CanSendResult]:
        return await self._run(_core.can_send_batch(messages, opts), timeout)

    async def can_send_stream(
        self,
        messages: AsyncIterable[_core.SendTuple | pb.CanSendRequest],
        *,
        timeout: float | None = None,
        **opts: Unpack[_core.SendOptions],
    ) -> AsyncIterator[CanSendResult]:
        """Decide a stream of messages over one CanSendStream call, answers in order."""

        async def requests() -> AsyncIterator[pb.CanSendRequest]:
            async for m in messages:
                yield m if isinstance(m, pb.CanSendRequest) else _core.send_pb(*m, opts)

        call = self._stub.CanSendStream(requests(), timeout=timeout)
        try:
            async for resp in call:
                yield CanSendResult.from_pb(resp)
        except grpc.RpcError as exc:
            raise map_rpc_error(exc) from exc

    async def record_reply(
        self, replier: str, replied_to: str, *, at_unix_ms: int = 0, timeout: float | None = None
    ) -> int:
        return await self._run(_core.record_reply(replier, replied_to, at_unix_ms), timeout)

    async def get_usage(
        self, account: str, *, at_unix_ms: int = 0, timeout: float | None = None
    ) -> Usage:
        return await self._run(_core.get_usage(account, at_unix_ms), timeout)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncSendGateClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
