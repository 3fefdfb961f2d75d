"""Who is the reviewer: password sign-in, a trusted proxy's header, sessions and CSRF.

Passwords are kept as scrypt hashes (`scrypt$N$r$p$salt$hash`, base64 without padding);
a session is a signed cookie holding the reviewer's name and a CSRF token that every
POST form carries back. Nothing here talks to the sidecar.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

# Names go into gRPC metadata and event attributes: keep them plain ASCII.
REVIEWER_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
# A console without credentials still names whoever acts from it.
LOOPBACK_REVIEWER = "local"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SESSION_USER, _SESSION_CSRF = "reviewer", "csrf"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A scrypt hash of `password` for the `reviewers` table."""
    salt = salt or secrets.token_bytes(16)
    n, r, p = _SCRYPT_N, _SCRYPT_R, _SCRYPT_P
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def parse_hash(text: str) -> tuple[int, int, int, bytes, bytes]:
    """Split a stored hash, or raise ValueError saying what is wrong with it."""
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("password hash must look like scrypt$N$r$p$salt$hash")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise ValueError("password hash has a malformed number or base64 part") from None
    if n < 2**10 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 16 or not digest:
        raise ValueError("password hash has out-of-range scrypt parameters")
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    n, r, p, salt, digest = parse_hash(stored)
    given = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=2**26
    )
    return hmac.compare_digest(given, digest)


# A fixed hash to check against for unknown names, so timing does not tell names apart.
_DUMMY = hash_password("not a reviewer", salt=b"sendgate-console")


class Authenticator:
    """Checks sign-ins against the configured reviewers."""

    def __init__(self, reviewers: dict[str, str]) -> None:
        self._reviewers = dict(reviewers)

    def check(self, name: str, password: str) -> bool:
        stored = self._reviewers.get(name)
        ok = verify_password(password, stored or _DUMMY)
        return ok and stored is not None


@dataclass(frozen=True)
class ProxyTrust:
    """Take the reviewer's name from `header`, sent by one of `peers` only."""

    header: str
    peers: frozenset[str]

    @classmethod
    def of(cls, header: str, peers: Iterable[str]) -> ProxyTrust | None:
        if not header:
            return None
        return cls(header.lower(), frozenset(str(ipaddress.ip_address(p)) for p in peers))

    def reviewer(self, peer: str | None, headers: Any) -> str | None:
        if peer is None:
            return None
        try:
            if str(ipaddress.ip_address(peer)) not in self.peers:
                return None
        except ValueError:
            return None
        name = str(headers.get(self.header, "")).strip()
        return name if REVIEWER_NAME.fullmatch(name) else None


def session_reviewer(session: MutableMapping[str, Any]) -> str | None:
    name = session.get(_SESSION_USER)
    return name if isinstance(name, str) and REVIEWER_NAME.fullmatch(name) else None


def sign_in(session: MutableMapping[str, Any], name: str) -> None:
    """Start a fresh session for `name` (a new CSRF token: none from before sign-in lives on)."""
    session.clear()
    session[_SESSION_USER] = name
    session[_SESSION_CSRF] = secrets.token_urlsafe(32)


def sign_out(session: MutableMapping[str, Any]) -> None:
    session.clear()


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, made on first use (the sign-in form needs one too)."""
    token = session.get(_SESSION_CSRF)
    if not isinstance(token, str) or len(token) < 32:
        token = session[_SESSION_CSRF] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session: MutableMapping[str, Any], given: object) -> bool:
    token = session.get(_SESSION_CSRF)
    if not isinstance(token, str) or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(token.encode(), given.encode())
