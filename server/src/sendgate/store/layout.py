"""Argument and reply layouts of every sendgate Redis Function: the one source of truth.

The library generator (`sendgate.store.library`) turns each `Fn` into the Lua lines
that check the argument count and bind `k_<key>` / `a_<arg>` locals, and turns each
reply layout into the Lua table constructor the scripts return (`{@DECISION@}`), so
Lua never spells a position. Python builds arguments with `Fn.pack` and reads replies
by the indices below, so neither side can drift from the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Arg = str | int | bytes


@dataclass(frozen=True, slots=True)
class Fn:
    """One Redis Function: its keys, its fixed arguments, an optional variadic tail."""

    name: str
    keys: tuple[str, ...]
    args: tuple[str, ...]
    # Name of a variadic tail (ban's tokens, a sender group's messages); Lua reads it
    # from `args` after the fixed ones.
    rest: str = ""
    # Flags for redis.register_function (`no-writes` lets FCALL_RO run it on replicas).
    flags: tuple[str, ...] = ()
    # Positions per item of the variadic tail (a sender group: per-message fields).
    item: tuple[str, ...] = ()

    def pack(self, **values: Arg) -> list[Arg]:
        """The fixed arguments in layout order; a missing or unknown name is an error."""
        if set(values) != set(self.args):
            raise TypeError(f"{self.name}: expected {self.args}, got {tuple(values)}")
        return [values[a] for a in self.args]


# Per message of a decision (can_send, send_local, and each item of a sender group).
MESSAGE = ("now", "recipient", "message", "via", "dry_run")

FUNCTIONS: dict[str, Fn] = {
    f.name: f
    for f in (
        # Decide and count on the sender's slot (Redis Cluster; the recipient is noted
        # separately with note_inbound).
        Fn("can_send", ("sender",), MESSAGE),
        # Decide and note the recipient in one call (standalone Redis only).
        Fn("send_local", ("sender", "recipient"), (*MESSAGE, "sender_id")),
        # One sender's messages in request order; keys: the sender, then (local only)
        # each message's recipient in order. Items are MESSAGE tuples.
        Fn("send_group", ("sender",), ("local", "sender_id"), rest="messages", item=MESSAGE),
        Fn("note_inbound", ("account",), ("now", "writer")),
        Fn("usage", ("account",), ("now", "evaluate")),
        Fn(
            "upsert_account",
            ("account",),
            ("now", "kind", "business_verified", "identity_verified", "registered_at"),
        ),
        Fn("feedback", ("account",), ("now", "reporter", "kind")),
        Fn("opt_in", ("account",), ("now", "user", "opted_in")),
        Fn("set_allowance", ("account",), ("extra", "expires", "reason")),
        Fn(
            "exception_request",
            ("pending",),
            ("now", "account_part", "account", "reason", "note", "request_id"),
        ),
        Fn(
            "exception_review",
            ("pending",),
            ("now", "request_id", "approve", "extra", "expires"),
        ),
        Fn(
            "exception_list",
            ("pending",),
            ("now", "state", "limit", "account_part"),
            flags=("no-writes",),
        ),
        Fn("ban", ("account",), ("now", "banned", "reason"), rest="tokens"),
        # Linked accounts and review (SPEC §1.3): the identifier index of one
        # registration token (its own slot), then the account's side.
        Fn("register", ("index",), ("now", "account", "count")),
        Fn("register_account", ("account",), ("now", "review"), rest="tokens"),
        Fn("link_sources", ("account",), ("now",), flags=("no-writes",)),
        Fn("link", ("account",), ("now", "cause")),
        Fn("unlink", ("account",), ("now", "cause")),
        Fn("clear_review", ("account",), ("now",)),
        Fn("review_state", ("account",), ("now",), flags=("no-writes",)),
        Fn("forget", ("account",), ("now",)),
    )
}

# The Usage part of every reply that reports one (Python: parse.usage).
USAGE = (
    "used", "limit", "resets_at", "username_used", "username_limit", "kind",
    "tier_limit", "unique_users_24h", "quality", "status", "flags",
    "new_conversations_today", "new_conversations_limit",
)  # fmt: skip

# A decision: then the events (count, then each event). Python: parse.decision.
DECISION = (
    "decision", "reason", "counted", "used", "limit", "resets_at", "username_used",
    "username_limit", "warning", "retry_after", "duplicate", "kind", "tier_limit",
    "unique_users_24h", "quality", "status", "flags", "new_conversations_today",
    "new_conversations_limit",
)  # fmt: skip

REPLIES: dict[str, tuple[str, ...]] = {"DECISION": DECISION, "USAGE": USAGE}


def index(layout: Sequence[str]) -> dict[str, int]:
    """Field name -> 0-based position in a reply."""
    return {name: i for i, name in enumerate(layout)}


def lua_binding(fn: Fn) -> str:
    """The Lua lines that open a function body: count check and named locals."""
    n = len(fn.args)
    check = (
        f"if #args < {n} then fail('{fn.name} takes at least {n} arguments') end"
        if fn.rest
        else f"if #args ~= {n} then fail('{fn.name} takes {n} arguments') end"
    )
    lines = [
        check,
        f"if #keys < {len(fn.keys)} then fail('{fn.name} takes {len(fn.keys)} keys') end",
    ]
    if fn.keys:
        names = ", ".join(f"k_{k}" for k in fn.keys)
        vals = ", ".join(f"keys[{i + 1}]" for i in range(len(fn.keys)))
        lines.append(f"local {names} = {vals}")
    if fn.args:
        names = ", ".join(f"a_{a}" for a in fn.args)
        vals = ", ".join(f"args[{i + 1}]" for i in range(n))
        lines.append(f"local {names} = {vals}")
    if fn.rest:
        # The tail starts after the fixed arguments; items have a fixed width.
        lines.append(f"local {fn.rest}_from = {n + 1}")
        if fn.item:
            width = len(fn.item)
            lines.append(f"local {fn.rest}_width = {width}")
            lines.append(
                f"if (#args - {n}) % {width} ~= 0 then "
                f"fail('{fn.name}: {fn.rest} come in groups of {width}') end"
            )
            for i, field in enumerate(fn.item):
                lines.append(f"local i_{field} = {i}")
    return "\n".join(lines)
