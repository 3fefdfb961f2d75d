"""Who acts on the admin service: the `x-sendgate-reviewer` header of the call.

The console sends the signed-in reviewer's name, `sendgate admin` its `--reviewer`
(default $USER). rpc_wrap sets it for the length of each admin call; the admin event
sink stamps it on every event the call appends, so the stream says who did what.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar

HEADER = "x-sendgate-reviewer"
MAX_LENGTH = 128

# grpc.aio runs each call in its own task, so a value set by one call is its own.
current: ContextVar[str] = ContextVar("sendgate_reviewer", default="")


def from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The reviewer named by the call's metadata; "" when absent or not printable text."""
    for key, value in metadata or ():
        if key == HEADER:
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            if 0 < len(text) <= MAX_LENGTH and text.isprintable() and text.isascii():
                return text
            return ""
    return ""
