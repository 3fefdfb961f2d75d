"""What a multiplexed call can fail with.

    BackendError (sendgate.errors)
    └── MuxError                 a multiplexed Redis call failed
        ├── ReplyError           Redis answered `-PREFIX message`; the connection stays up
        ├── NotSent              the command never left this process: it did not run,
        │                        sending it again is safe
        └── OutcomeUnknown       the command was written, then the connection was lost
                                 before its reply: it may or may not have run; resend
                                 only what is idempotent (same message_id)

Timeouts are the caller's (`asyncio.timeout`), so they surface as `TimeoutError`.
"""

from __future__ import annotations

from sendgate.errors import BackendError

__all__ = ["MuxError", "NotSent", "OutcomeUnknown", "ReplyError"]


class MuxError(BackendError):
    """A multiplexed Redis call failed; `kind` is the store's error kind."""


class ReplyError(MuxError):
    """An error reply. `prefix` is its first word: NOSCRIPT, MOVED, ASK, TRYAGAIN,
    CLUSTERDOWN, BUSY, OOM, NOAUTH, WRONGPASS, ERR, …

    Built by hiredis (its `replyError` class), so it takes the reply text alone.
    """

    def __init__(self, text: str) -> None:
        self.prefix = text.split(" ", 1)[0]
        self.text = text
        # Inside a script (Redis < 7) an OOM arrives wrapped in an ERR reply.
        oom = self.prefix == "OOM" or "OOM command not allowed" in text
        super().__init__("oom" if oom else "response", text)


class NotSent(MuxError):
    """Never written to Redis (connect failed, backoff, lost before the flush)."""

    def __init__(self, message: str) -> None:
        super().__init__("connection", f"not sent: {message}")


class OutcomeUnknown(MuxError):
    """Written to Redis, but the connection was lost before the reply."""

    def __init__(self, message: str) -> None:
        super().__init__("connection", f"outcome unknown: {message}")
