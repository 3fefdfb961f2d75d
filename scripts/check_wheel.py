"""Build the wheel and check what it ships: only the `sendgate` package, with its Lua
scripts, generated stubs and py.typed; then import it from a clean folder."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = (
    "sendgate/py.typed",
    "sendgate/store/lua/lib.lua",
    "sendgate/store/lua/can_send.lua",
    "sendgate/v1/sendgate_pb2.py",
    "sendgate/v1/sendgate_pb2.pyi",
    "sendgate/v1/sendgate_pb2_grpc.py",
)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp, str(ROOT)],
            check=True,
        )
        wheel = next(Path(tmp).glob("sendgate-*.whl"))
        names = zipfile.ZipFile(wheel).namelist()
        tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
        missing = [r for r in REQUIRED if r not in names]
        if tops != {"sendgate"} or missing:
            print(f"bad wheel {wheel.name}: top-level {sorted(tops)}, missing {missing}")
            return 1
        site = Path(tmp) / "site"
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(site)
        code = (
            "import sendgate, sendgate.v1.sendgate_pb2, sendgate.store.scripts as s;"
            "assert s.script('can_send').source;print(sendgate.__file__)"
        )
        out = subprocess.run(
            [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
            capture_output=True, text=True, check=True, cwd=tmp,
        )  # fmt: skip
        if not out.stdout.startswith(str(site)):
            print(f"imported the wrong sendgate: {out.stdout}")
            return 1
    print(f"wheel ok: {wheel.name} ({len(names)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
