"""Ban-evasion identifiers: parsed, classified strong or weak, and keyed-hashed.

An identifier is `kind:value` (`device:…`, `payment:…`, `network:…`, `phone_prefix:…`).
Only HMAC-SHA256(key, identifier) is ever stored, logged or sent anywhere; the kind
stays readable because it is not secret and decides strong versus weak.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sendgate.domain import Decision
from sendgate.errors import InvalidArgument

MAX_IDENTIFIERS = 50
MAX_IDENTIFIER_LENGTH = 256


@dataclass(frozen=True, slots=True)
class HashedIdentifier:
    kind: str
    digest: str  # hex HMAC of the whole identifier

    @property
    def token(self) -> str:
        """How it is stored: `kind:hmac`."""
        return f"{self.kind}:{self.digest}"


def parse(identifiers: Sequence[str], field: str = "identifiers") -> list[tuple[str, str]]:
    """(kind, identifier) pairs, or InvalidArgument naming the entry."""
    if len(identifiers) > MAX_IDENTIFIERS:
        raise InvalidArgument(field, f"more than {MAX_IDENTIFIERS} identifiers")
    out = []
    for i, ident in enumerate(identifiers):
        kind, sep, value = ident.partition(":")
        if not sep or not kind or not value or len(ident) > MAX_IDENTIFIER_LENGTH:
            raise InvalidArgument(f"{field}[{i}]", "must be kind:value (at most 256 characters)")
        if not kind.replace("_", "").isalnum():
            raise InvalidArgument(f"{field}[{i}]", "the kind must be letters, digits or _")
        out.append((kind.lower(), ident))
    return out


def hash_all(key: bytes, pairs: Iterable[tuple[str, str]]) -> list[HashedIdentifier]:
    return [
        HashedIdentifier(kind, hmac.new(key, ident.encode(), hashlib.sha256).hexdigest())
        for kind, ident in pairs
    ]


def decide(matched_kinds: Iterable[str], strong_kinds: frozenset[str]) -> Decision:
    """DENY on a strong match, REVIEW on a weak one, ALLOW without a match."""
    kinds = set(matched_kinds)
    if kinds & strong_kinds:
        return Decision.DENY
    if kinds:
        return Decision.REVIEW
    return Decision.ALLOW


def velocity_hits(crowd: Mapping[str, int], threshold: int) -> list[tuple[str, int]]:
    """(kind, count) of the velocity kinds whose count of other registrations within
    the window reached the threshold (threshold 0: velocity is off), by kind."""
    if threshold <= 0:
        return []
    return [(kind, n) for kind, n in sorted(crowd.items()) if n >= threshold]
