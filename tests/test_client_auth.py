"""The client's credentials against a real sidecar: bearer tokens over an insecure
loopback channel, over TLS, with mutual TLS; `unix:` targets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from sendgate.client import (
    AdminClient,
    AsyncAdminClient,
    AsyncSendGateClient,
    PermissionDenied,
    SendGateClient,
    Unauthenticated,
    Unavailable,
)
from sendgate.server import SendGateServer
from tests.conftest import ServerFactory, acct
from tests.test_tls import make_pki

TOKEN, ADMIN_TOKEN = "chat-token-1", "admin-token-1"
AUTH = {"sendgate_token": TOKEN, "admin_token": ADMIN_TOKEN}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("pki")
    make_pki(d)
    yield d


async def test_token_on_an_insecure_loopback_channel(server_factory: ServerFactory) -> None:
    server = await server_factory(auth=AUTH)
    target = f"127.0.0.1:{server.grpc_port}"
    async with AsyncSendGateClient(target, token=TOKEN, timeout=5) as sg:
        assert (await sg.get_usage(acct())).limit > 0
    async with AsyncSendGateClient(target, timeout=5) as sg:
        with pytest.raises(Unauthenticated):
            await sg.get_usage(acct())
    async with AsyncSendGateClient(target, token="wrong", timeout=5) as sg:
        with pytest.raises(PermissionDenied):
            await sg.get_usage(acct())
    async with AsyncAdminClient(target, token=ADMIN_TOKEN, timeout=5) as admin:
        assert (await admin.get_account(acct())).usage.limit > 0
    async with AsyncAdminClient(target, token=TOKEN, timeout=5) as admin:
        with pytest.raises(PermissionDenied):  # the chat token is not the admin token
            await admin.get_account(acct())


@pytest.mark.slow
async def test_token_over_tls(server_factory: ServerFactory, pki: Path) -> None:
    server = await server_factory(
        auth=AUTH, tls={"cert_file": str(pki / "server.pem"), "key_file": str(pki / "server.key")}
    )
    target = f"localhost:{server.grpc_port}"

    def sync_calls() -> None:
        ca = str(pki / "ca.pem")  # a path
        with SendGateClient(target, token=TOKEN, root_certificates=ca, timeout=5) as sg:
            assert sg.can_send(acct("s"), acct("r"), "m1").allowed
        anonymous = SendGateClient(target, root_certificates=ca, timeout=5)
        with anonymous as sg, pytest.raises(Unauthenticated):
            sg.get_usage(acct())
        with AdminClient(target, token=ADMIN_TOKEN, root_certificates=ca, timeout=5) as admin:
            assert not admin.get_account(acct()).banned

    await asyncio.to_thread(sync_calls)
    ca_bytes = (pki / "ca.pem").read_bytes()
    async with AsyncSendGateClient(
        target, token=TOKEN, root_certificates=ca_bytes, timeout=5
    ) as sg:
        assert (await sg.get_usage(acct())).limit > 0
    # A certificate for "localhost" reached by IP: server_name says whom to expect.
    ip = f"127.0.0.1:{server.grpc_port}"
    async with AsyncSendGateClient(
        ip, token=TOKEN, root_certificates=ca_bytes, server_name="localhost", timeout=5
    ) as sg:
        assert (await sg.get_usage(acct())).limit > 0


@pytest.mark.slow
async def test_mutual_tls_with_token(server_factory: ServerFactory, pki: Path) -> None:
    server: SendGateServer = await server_factory(
        auth=AUTH,
        tls={
            "cert_file": str(pki / "server.pem"),
            "key_file": str(pki / "server.key"),
            "client_ca_file": str(pki / "ca.pem"),
            "allowed_client_names": ["chat"],
        },
    )
    target = f"localhost:{server.grpc_port}"

    def client(name: str) -> AsyncSendGateClient:
        return AsyncSendGateClient(
            target,
            token=TOKEN,
            root_certificates=pki / "ca.pem",
            certificate_chain=pki / f"{name}.pem",
            private_key=pki / f"{name}.key",
            timeout=5,
        )

    async with client("chat") as sg:
        assert (await sg.get_usage(acct())).limit > 0
    async with client("stranger") as sg:
        with pytest.raises(PermissionDenied):
            await sg.get_usage(acct())
    async with AsyncSendGateClient(target, root_certificates=pki / "ca.pem", timeout=5) as sg:
        with pytest.raises(Unavailable):  # no client certificate: the handshake fails
            await sg.get_usage(acct())


def test_unix_target(tmp_path: Path) -> None:
    """`unix:` targets reach gRPC as they are. The sidecar itself cannot listen on one
    yet (grpc_address must be HOST:PORT), so this is a socket with nobody behind it."""
    target = f"unix:{tmp_path / 'sidecar.sock'}"
    with SendGateClient(target, timeout=2) as sg, pytest.raises(Unavailable) as info:
        sg.get_usage("a")
    assert "sidecar.sock" in info.value.message
    with SendGateClient(target, timeout=2, fail_open=True) as sg:
        assert sg.can_send("a", "b", "m1").sidecar_unavailable
