"""The Lua scripts, shipped as package data and registered once per connection.

Each script is `lib.lua` and `biz.lua` followed by its own file, so helpers are written once.
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
    source = "\n".join((_read("lib.lua"), _read("biz.lua"), _read(f"{name}.lua")))
    return LuaScript(name, source, hashlib.sha1(source.encode()).hexdigest())


SCRIPT_NAMES = (
    "can_send",
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
