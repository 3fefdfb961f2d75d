"""Regenerate the committed gRPC stubs in client/src/sendgate/v1 from proto/.

Usage: python scripts/gen_proto.py [--check]

--check regenerates into a temporary folder and fails when the committed files
differ, so CI catches a stale checkout. The .pyi files come from mypy-protobuf
(`protoc-gen-mypy`, `protoc-gen-mypy_grpc`, installed beside this interpreter), so
the messages, stubs and servicers are typed.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTO = "sendgate/v1/sendgate.proto"
OUT = ROOT / "client" / "src"
GENERATED = (
    "sendgate_pb2.py",
    "sendgate_pb2.pyi",
    "sendgate_pb2_grpc.py",
    "sendgate_pb2_grpc.pyi",
)
HEADER = "# DO NOT EDIT: generated from proto/sendgate/v1/sendgate.proto by scripts/gen_proto.py\n"


def _plugin(name: str) -> str:
    """A mypy-protobuf plugin from this interpreter's environment, else from PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: pip install mypy-protobuf")
    return found


def generate(out: Path) -> None:
    """Run protoc (from grpcio-tools) into `out`, then stamp the DO NOT EDIT header."""
    (out / "sendgate" / "v1").mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out={out}",
        PROTO,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for name in GENERATED:
        path = out / "sendgate" / "v1" / name
        text = path.read_text()
        if not text.startswith(HEADER):
            path.write_text(HEADER + text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when stubs are stale")
    ns = parser.parse_args()
    if not ns.check:
        generate(OUT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        stale = [
            name
            for name in GENERATED
            if not filecmp.cmp(
                Path(tmp) / "sendgate" / "v1" / name, OUT / "sendgate" / "v1" / name, shallow=False
            )
        ]
    if stale:
        print(
            f"stale generated stubs: {', '.join(stale)}; run python scripts/gen_proto.py",
            file=sys.stderr,
        )
        return 1
    print("generated stubs are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
