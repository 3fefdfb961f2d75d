"""The traffic mix every sendgate load uses: strangers, conversations, replayed ids.

Pure functions of (tag, worker, i), so each client worker walks its own accounts and a
phase's `tag` keeps its accounts and message ids apart from every other phase's (a
repeated (sender, message_id) would be answered as a cheap duplicate).

Per sender, a block of ten calls: five messages to new strangers (counted), a message
to one contact, the contact's reply (free, refunds), a message inside the now open
conversation (free), another reply, and a replay of that reply's message_id.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sendgate.v1 import sendgate_pb2 as pb

T0 = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)
# Simulated time per call of one worker. Slow enough that an ordinary sender does not
# look like a bulk sender (5 strangers per 500 blocks = per ~83 simulated minutes).
STEP_MS = 1_000
SENDERS_PER_WORKER = 500
BLOCK = 10


def sender(tag: str, worker: int, i: int) -> str:
    return f"{tag}s{worker}-{(i // BLOCK) % SENDERS_PER_WORKER}"


def request(tag: str, worker: int, i: int) -> pb.CanSendRequest:
    """The i-th request of one worker."""
    s = sender(tag, worker, i)
    contact = f"{tag}c{worker}-{(i // BLOCK) % SENDERS_PER_WORKER}"
    at = T0 + i * STEP_MS
    k = i % BLOCK
    if k < 5:
        frm, to, mid = s, f"{tag}n{worker}-{i}", f"m{i}"
    elif k in (5, 7):
        frm, to, mid = s, contact, f"m{i}"
    elif k in (6, 8):  # the contact answers: a reply, free
        frm, to, mid = contact, s, f"m{i}"
    else:  # k == 9: the contact's client retries the previous message
        frm, to, mid = contact, s, f"m{i - 1}"
    return pb.CanSendRequest(sender=frm, recipient=to, message_id=mid, at_unix_ms=at)


def outcome(resp: pb.CanSendResponse) -> str:
    """A short label for the decision mix in the results."""
    if resp.degraded:
        return "degraded"  # decided without Redis (fail_open): nothing was recorded
    if resp.duplicate:
        return "duplicate"
    if resp.decision == pb.ALLOW:
        return "allow_counted" if resp.counted else "allow_free"
    return "deny_" + pb.Reason.Name(resp.reason).lower()
