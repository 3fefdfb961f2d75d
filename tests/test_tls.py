"""Mutual TLS with an allow-list of client certificate names (certificates made with
the openssl command line for this test only)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest

from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import ServerFactory


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d: Path) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=d)  # fmt: skip
    for name, san in (("server", "DNS:localhost,IP:127.0.0.1"), ("chat", "DNS:chat"),
                      ("stranger", "DNS:stranger")):  # fmt: skip
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)  # fmt: skip
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                "-out", f"{name}.pem", cwd=d)  # fmt: skip


@pytest.mark.slow
async def test_mtls_allow_list(server_factory: ServerFactory, tmp_path: Path) -> None:
    make_pki(tmp_path)
    server = await server_factory(
        tls={
            "cert_file": str(tmp_path / "server.pem"),
            "key_file": str(tmp_path / "server.key"),
            "client_ca_file": str(tmp_path / "ca.pem"),
            "allowed_client_names": ["chat"],
        }
    )
    target = f"localhost:{server.grpc_port}"
    ca = (tmp_path / "ca.pem").read_bytes()

    def creds(name: str | None) -> grpc.ChannelCredentials:
        if name is None:
            return grpc.ssl_channel_credentials(root_certificates=ca)
        return grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=(tmp_path / f"{name}.key").read_bytes(),
            certificate_chain=(tmp_path / f"{name}.pem").read_bytes(),
        )

    async with grpc.aio.secure_channel(target, creds("chat")) as ch:
        resp = await pb_grpc.SendGateStub(ch).GetUsage(pb.GetUsageRequest(account="a"), timeout=5)
        assert resp.usage.limit > 0
    async with grpc.aio.secure_channel(target, creds("stranger")) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await pb_grpc.SendGateStub(ch).GetUsage(pb.GetUsageRequest(account="a"), timeout=5)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with grpc.aio.secure_channel(target, creds(None)) as ch:  # no client certificate
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await pb_grpc.SendGateStub(ch).GetUsage(pb.GetUsageRequest(account="a"), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # the handshake fails
