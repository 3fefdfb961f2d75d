"""The Lua scripts, shipped as package data and registered once per connection.

Each script is `lib.lua`, `biz.lua` and `decide.lua` followed by its own file, so
helpers are written once.
A script is called by SHA (`EVALSHA`); after `NOSCRIPT` (a Redis restart or
`SCRIPT FLUSH`) the store loads it again and retries: `NOSCRIPT` means the script
did not run, so the retry cannot count twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files


@dataclass(frozen=True, slots=True)
class LuaScript:
    name: str
    source: str
    sha: str


def _read(name: str) -> str:
    return (files("sendgate.store") / "lua" / name).read_text(encoding="utf-8")


@cache
def script(name: str) -> LuaScript:
    """The script `name` (file `lua/<name>.lua`), with the shared helpers prepended."""
    parts = ("lib.lua", "biz.lua", "decide.lua", f"{name}.lua")
    source = "\n".join(_read(part) for part in parts)
    return LuaScript(name, source, hashlib.sha1(source.encode()).hexdigest())


SCRIPT_NAMES = (
    "can_send",
    "send_local",
    "note_inbound",
    "usage",
    "upsert_account",
    "feedback",
    "opt_in",
    "set_allowance",
    "exception_request",
    "exception_review",
    "exception_list",
    "ban",
)
