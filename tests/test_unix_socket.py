"""The sidecar listening on a unix socket (an emptyDir shared by the pod's containers)."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sendgate.client import AsyncSendGateClient
from sendgate.config import load_settings, unix_path
from sendgate.errors import ConfigError, StartupError
from sendgate.listen import probe
from tests.conftest import T0, ServerFactory, acct


@pytest.fixture
def folder() -> Iterator[Path]:
    # Short: a unix socket path is limited to about 100 bytes.
    with tempfile.TemporaryDirectory(prefix="sg-", dir="/tmp") as tmp:
        yield Path(tmp)


def test_unix_path_forms() -> None:
    assert unix_path("unix:///run/sendgate/sg.sock") == "/run/sendgate/sg.sock"
    assert unix_path("unix:/run/sg.sock") == "/run/sg.sock"


def test_relative_unix_address_is_refused() -> None:
    with pytest.raises(ConfigError, match="grpc_address"):
        load_settings(None, grpc_address="unix:sg.sock")


async def test_serves_and_answers_over_a_unix_socket(
    server_factory: ServerFactory, folder: Path
) -> None:
    address = f"unix://{folder}/sg.sock"
    server = await server_factory(grpc_address=address)
    assert server.grpc_target == address
    assert (folder / "sg.sock").is_socket()
    async with AsyncSendGateClient(address) as sg:  # a unix peer counts as loopback
        s = acct("unix-s")
        r = await sg.can_send(s, acct("r"), "m1", at_unix_ms=T0)
        assert r.allowed and r.counted and r.usage.used == 1
    # Taken while it serves: a second sidecar on the same path is refused by name.
    with pytest.raises(StartupError, match="already in use"):
        probe(address, "grpc_address")


def test_stale_socket_file_is_replaced(folder: Path) -> None:
    path = folder / "sg.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()  # bound, never listening: what a killed sidecar leaves behind
    probe(f"unix://{path}", "grpc_address")
    assert not path.exists()


def test_missing_folder_and_non_socket_are_named(folder: Path) -> None:
    with pytest.raises(StartupError, match="no folder"):
        probe(f"unix://{folder}/nope/sg.sock", "grpc_address")
    regular = folder / "file"
    regular.write_text("")
    with pytest.raises(StartupError, match="is not a socket"):
        probe(f"unix://{regular}", "grpc_address")
    assert os.path.exists(regular)
