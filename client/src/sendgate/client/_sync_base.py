"""The blocking clients' shared transport: open the channel, send a `Call`."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

import grpc

from sendgate.client import _channel
from sendgate.client._core import USE_CLIENT_DEFAULT, Call, Timeout, fails_open, resolve_timeout
from sendgate.client._errors import map_rpc_error

T = TypeVar("T")


class SyncTransport:
    """A blocking gRPC channel and a stub on it; see `ConnectOptions` for the options."""

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
            self._channel: grpc.Channel = channel
        elif plan.credentials is None:
            self._channel = grpc.insecure_channel(plan.target, options=plan.options)
        else:
            self._channel = grpc.secure_channel(plan.target, plan.credentials, plan.options)
        self._stub = self._stub_class(self._channel)

    def _run(self, call: Call[T], timeout: Timeout = USE_CLIENT_DEFAULT) -> T:
        deadline = resolve_timeout(timeout, self._settings.timeout)
        try:
            resp = getattr(self._stub, call.method)(
                call.request, timeout=deadline, metadata=self._settings.metadata or None
            )
        except grpc.RpcError as exc:
            err = map_rpc_error(exc)
            if call.fallback is not None and fails_open(call, err, self._settings):
                return call.fallback()
            raise err from exc
        return call.parse(resp)

    def close(self) -> None:
        """Close the channel (an injected channel stays open: its owner closes it)."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
