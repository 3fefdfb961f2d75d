"""Build both wheels and check what they ship, then import them from a clean folder.

- `sendgate-client` ships exactly client/src/sendgate (sendgate.client, sendgate.v1 with
  its .pyi stubs) and the namespace's only py.typed;
- `sendgate` ships exactly server/src/sendgate with its Lua scripts;
- neither ships `sendgate/__init__.py` (PEP 420: it would hide the other half), and
  neither ships a file its source tree no longer has (a stale `build/` tree does that).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DISTS = {"sendgate_client": ROOT / "client", "sendgate": ROOT / "server"}


def source_files(project: Path) -> set[str]:
    """What the wheel should hold: every file of the package tree, minus caches."""
    src = project / "src"
    return {
        p.relative_to(src).as_posix()
        for p in (src / "sendgate").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def check(wheel: Path, project: Path) -> list[str]:
    names = {n for n in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in n}
    want = source_files(project)
    problems = []
    if extra := sorted(names - want):
        problems.append(f"ships files its source no longer has: {extra}")
    if missing := sorted(want - names):
        problems.append(f"misses {missing}")
    if "sendgate/__init__.py" in names:
        problems.append("ships sendgate/__init__.py (the namespace must stay PEP 420)")
    return problems


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for name, project in DISTS.items():
            shutil.rmtree(project / "build", ignore_errors=True)  # never reuse an old tree
            subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp,
                 str(project)],
                check=True,
            )  # fmt: skip
            shutil.rmtree(project / "build", ignore_errors=True)
            wheel = next(Path(tmp).glob(f"{name}-*.whl"))
            if problems := check(wheel, project):
                print(f"bad wheel {wheel.name}: " + "; ".join(problems))
                return 1
            typed = [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("py.typed")]
            if typed != (["sendgate/py.typed"] if name == "sendgate_client" else []):
                print(f"bad wheel {wheel.name}: py.typed files {typed}")
                return 1
            print(f"wheel ok: {wheel.name} ({len(zipfile.ZipFile(wheel).namelist())} files)")
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(Path(tmp) / "site" / name)
        roots = [str(Path(tmp) / "site" / n) for n in DISTS]
        code = (
            "import sendgate, sendgate.client, sendgate.v1.sendgate_pb2, sendgate.cli,"
            " sendgate.store.library as lib, sendgate.config as cfg;"
            "assert 'register_function' in lib.build(cfg.Settings()).source;"
            "print(*sorted(sendgate.__path__), sendgate.client.__file__, sendgate.cli.__file__)"
        )
        out = subprocess.run(
            [sys.executable, "-I", "-c", f"import sys; sys.path[:0] = {roots!r}; {code}"],
            capture_output=True, text=True, check=False, cwd=tmp,
        )  # fmt: skip
        if out.returncode != 0 or not all(r in out.stdout for r in roots):
            print(f"the wheels do not import as one namespace: {out.stdout}{out.stderr}")
            return 1
    print("wheels import together as the sendgate namespace")
    return 0


if __name__ == "__main__":
    sys.exit(main())
