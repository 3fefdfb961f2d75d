"""The asyncio clients' shared transport: open the grpc.aio channel, send a `Call`."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

import grpc

from sendgate.client import _channel
from sendgate.client._core import USE_CLIENT_DEFAULT, Call, Timeout, fails_open, resolve_timeout
from sendgate.client._errors import map_rpc_error

T = TypeVar("T")


class AsyncTransport:
    """A grpc.aio channel and a stub on it; see `ConnectOptions` for the options.
    Create it inside the event loop that will use it."""

    _stub_class: Any

    def __init__(
        self,
        target: str | None = None,
        *,
        fail_open: bool = False,
        **connect: Unpack[_channel.ConnectOptions],
    ) -> None:
        plan, channel, self._settings = _channel.setup(target, connect, fail_open)
        self._owns_channel = plan is not None
        if plan is None:
            self._channel: grpc.aio.Channel = channel
        elif plan.credentials is None:
            self._channel = grpc.aio.insecure_channel(plan.target, options=plan.options)
        else:
            self._channel = grpc.aio.secure_channel(plan.target, plan.credentials, plan.options)
        self._stub = self._stub_class(self._channel)

    async def _run(self, call: Call[T], timeout: Timeout = USE_CLIENT_DEFAULT) -> T:
        deadline = resolve_timeout(timeout, self._settings.timeout)
        try:
            resp = await getattr(self._stub, call.method)(
                call.request, timeout=deadline, metadata=self._settings.metadata or None
            )
        except grpc.RpcError as exc:
            err = map_rpc_error(exc)
            if call.fallback is not None and fails_open(call, err, self._settings):
                return call.fallback()
            raise err from exc
        return call.parse(resp)

    async def close(self) -> None:
        """Close the channel (an injected channel stays open: its owner closes it)."""
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
