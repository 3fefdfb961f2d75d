"""The client's pure parts: enums against the proto, sync/async parity, the retry
policy, and option validation (no I/O)."""

from __future__ import annotations

import inspect
import json
from enum import StrEnum

import pytest

import sendgate.client as sc
from sendgate.client import _channel, _core, _enums
from sendgate.v1 import sendgate_pb2 as pb

PROTO_NAMES = {"LimitWarning": "Warning"}


@pytest.mark.parametrize(
    "enum",
    [e for e in vars(_enums).values() if isinstance(e, type) and issubclass(e, StrEnum)
     and e is not StrEnum],
)  # fmt: skip
def test_each_enum_matches_its_proto_enum(enum: type[StrEnum]) -> None:
    proto = getattr(pb, PROTO_NAMES.get(enum.__name__, enum.__name__))
    assert [m.value for m in enum] == list(proto.keys())
    assert _enums.from_pb(enum, proto, 999) is next(iter(enum))  # from a newer sidecar


@pytest.mark.parametrize(
    ("sync", "async_"),
    [(sc.SendGateClient, sc.AsyncSendGateClient), (sc.AdminClient, sc.AsyncAdminClient)],
)
def test_sync_and_async_clients_have_the_same_methods(sync: type, async_: type) -> None:
    def methods(cls: type) -> dict[str, list[inspect.Parameter]]:
        return {
            name: list(inspect.signature(fn).parameters.values())
            for name, fn in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")
        }

    assert methods(sync).keys() == methods(async_).keys()
    for name, params in methods(sync).items():
        other = methods(async_)[name]
        assert [(p.name, p.kind, p.default) for p in params] == [
            (p.name, p.kind, p.default) for p in other
        ], name


def test_every_rpc_has_a_client_method() -> None:
    def snake(name: str) -> str:
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")

    for service, cls in (("SendGate", sc.SendGateClient), ("SendGateAdmin", sc.AdminClient)):
        for method in pb.DESCRIPTOR.services_by_name[service].methods:
            if method.name in ("ListLinkedAccounts", "ForgetAccount", "ClearReview"):
                continue  # not in the proto yet; fails here once it is
            assert hasattr(cls, snake(method.name)), method.name


def test_retries_only_idempotent_methods() -> None:
    config = json.loads(_channel.SERVICE_CONFIG)
    [method_config] = config["methodConfig"]
    retried = {(n["service"], n["method"]) for n in method_config["name"]}
    assert retried == {
        ("sendgate.v1.SendGate", "CanSend"),
        ("sendgate.v1.SendGate", "CanSendBatch"),
        ("sendgate.v1.SendGate", "GetUsage"),
        ("sendgate.v1.SendGateAdmin", "GetAccount"),
        ("sendgate.v1.SendGateAdmin", "ListExceptions"),
        ("sendgate.v1.SendGateAdmin", "ListEvents"),
    }
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    plan, _, _ = _channel.setup("127.0.0.1:1", {}, fail_open=False)
    assert plan is not None
    assert ("grpc.service_config", _channel.SERVICE_CONFIG) in plan.options


def test_timeouts() -> None:
    assert _core.resolve_timeout(_core.USE_CLIENT_DEFAULT, 1.5) == 1.5
    assert _core.resolve_timeout(None, 1.5) is None
    assert _core.resolve_timeout(0.25, 1.5) == 0.25
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="positive"):
            _core.resolve_timeout(bad, 1.0)
    with pytest.raises(TypeError):
        _core.resolve_timeout("1", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        sc.SendGateClient(timeout=0)


def test_stream_clock() -> None:
    now = [100.0]
    clock = _core.StreamClock(2.0, now=lambda: now[0])
    assert clock.wait_s() is None
    clock.sent()
    now[0] = 101.0
    clock.sent()
    assert clock.wait_s() == 1.0  # the oldest is due at 102
    clock.answered()
    assert clock.wait_s() == 2.0 and clock.pending == 1
    assert _core.StreamClock(None).wait_s() is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"certificate_chain": b"x"}, "go together"),
        ({"credentials": object(), "root_certificates": b"x"}, "not both"),
        ({"server_name": "x"}, "only with TLS"),
        ({"root_certificates": "/nonexistent/ca.pem"}, "file not found"),
        ({"token": "two words"}, "token"),
        ({"token": "x\r\nevil: 1"}, "token"),
        ({"token": ""}, "token"),
        ({"channel": object(), "tls": True}, "channel"),
    ],
)
def test_bad_connect_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sc.SendGateClient(**kwargs)  # type: ignore[arg-type]


def test_bad_enum_names_the_field() -> None:
    with sc.SendGateClient() as sg:
        with pytest.raises(ValueError, match="via: 'FAX' is not one of"):
            sg.can_send("a", "b", "m", via="FAX")
        with pytest.raises(TypeError, match="identifiers"):
            sg.check_registration("a", "device:1")


def test_reviewer_is_sent_as_metadata_and_checked() -> None:
    assert _channel.reviewer_metadata("rita") == (("x-sendgate-reviewer", "rita"),)
    assert _channel.reviewer_metadata(None) == ()
    for bad in ("", "a\nb", "x" * 129, "rïta"):
        with pytest.raises(ValueError, match="reviewer"):
            _channel.reviewer_metadata(bad)
