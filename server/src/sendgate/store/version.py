"""Which servers can run sendgate: Redis >= 7.0 or Valkey >= 7.2 (pure; no I/O).

Decisions are Redis Functions (FUNCTION LOAD / FCALL), which Redis added in 7.0;
Valkey forked from Redis 7.2. A Valkey server reports `valkey_version` beside a
compatible `redis_version`, so Valkey is recognised by the former.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sendgate.errors import StartupError

MIN_REDIS = (7, 0)
MIN_VALKEY = (7, 2)


def parse_version(text: str) -> tuple[int, ...]:
    """'7.0.15' -> (7, 0, 15); a non-numeric part ends the version ('7.2.4-rc1' -> 7.2.4)."""
    out: list[int] = []
    for part in text.strip().split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(int(digits))
        if len(digits) != len(part):
            break
    if not out:
        raise ValueError(f"not a version: {text!r}")
    return tuple(out)


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def server_version(info: Mapping[str, Any]) -> tuple[str, tuple[int, ...]]:
    """('valkey' | 'redis', version) from INFO server."""
    if "valkey_version" in info:
        return "valkey", parse_version(_text(info["valkey_version"]))
    return "redis", parse_version(_text(info.get("redis_version", "0")))


def check_server(info: Mapping[str, Any], where: str = "the server") -> None:
    """Raise StartupError naming the version when the server cannot run Functions."""
    kind, version = server_version(info)
    need = MIN_VALKEY if kind == "valkey" else MIN_REDIS
    if version < need:
        shown = ".".join(str(v) for v in version)
        raise StartupError(
            f"{where} is {kind} {shown}: sendgate needs Redis >= 7.0 or Valkey >= 7.2 "
            "(decisions are Redis Functions)"
        )
