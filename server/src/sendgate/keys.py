"""Every Redis key sendgate writes, built by pure functions in one place.

All keys of one account share the hash tag `{<account>}` so that each Lua script
touches a single Redis Cluster slot. Scripts receive the account's base key
(`sg:{acct}:`) and append the suffixes below; they never build another account's key.

Suffixes under an account's base (written by the Lua scripts):
    a          hash: account record (kind, verification, exception allowance, ban)
    in         zset: who wrote to this account and when (conversation window)
    q:<YYYYMM> hash: this month's unreplied usage and per-recipient counted messages
    m          string: 4-byte message-id hashes -> original decision, two day buckets
               (idempotency; decide.lua); mr:<bucket> hash: a denial's retry_after
    bic        zset: users of a business's open business-initiated conversations (24 h)
    optin      hash: users opted in to a business
    st         hash: hourly conversations, blocks, spam reports (quality window)
    hq         hash: daily conversations opened at HIGH quality (30 days)
    u:<day>    HyperLogLog: users a business reached that day (8 days)
    fb:<day>   set: who reported the account that day (one report per reporter per day)
    bf         string: bulk-detection features and score, packed, frozen at 72 B (30 days)
    bx         string: the features added since, versioned, appended only (30 days)
    ids        set: keyed hashes of a banned account's identifiers
    rid        hash: keyed hash of each registration identifier -> registration ms
               (ban_evasion.registration_retention_days; erased by ForgetAccount)
    lnk        set: the banned accounts this account is linked to (the causes)
    lkd        set: the accounts this account's ban linked (what its unban lifts)
    rv:<day>   set: new recipients of the day while under review (2 days)
"""

from __future__ import annotations

PREFIX = "sg:"
# The enforcement event stream read by trust-and-safety tooling (bounded, XADD MAXLEN ~).
EVENTS_STREAM = "sendgate:events"

# Exception requests are not per account (reviewers look them up by id and state):
# they live under their own tag, in one slot: r:<id>, s:<state>, a:<account>, pending.
EXCEPTIONS_BASE = "sgx:{exceptions}:"
EXCEPTIONS_PENDING = EXCEPTIONS_BASE + "pending"

# Banned accounts by keyed hash of an identifier (`kind:hmac`), one slot per identifier.
IDENTIFIER_PREFIX = "sgi:"


# Registered accounts by keyed hash of an identifier: zset account -> registration ms,
# one slot per identifier, pruned to the retention on write (linked accounts).
REGISTRATION_PREFIX = "sgr:"


def registration_key(token: str) -> str:
    """The accounts that registered with the identifier of this `kind:hmac` token."""
    return f"{REGISTRATION_PREFIX}{{{token}}}"


def identifier_key(token: str) -> str:
    """The set of banned accounts that used the identifier with this `kind:hmac` token."""
    return f"{IDENTIFIER_PREFIX}{{{token}}}"


_ESCAPES = str.maketrans({"%": "%25", "{": "%7B", "}": "%7D"})


def escape(account: str) -> str:
    """Escape the characters that would break or move the hash tag."""
    return account.translate(_ESCAPES)


def account_base(account: str) -> str:
    """The key prefix shared by every key of `account` (one cluster slot)."""
    return f"{PREFIX}{{{escape(account)}}}:"


def account_key(account: str) -> str:
    """The account record; passed as KEYS[1] so cluster clients route by its slot."""
    return account_base(account) + "a"
