"""The HMAC key for ban-evasion identifiers: configured, or made for an embedded Redis.

Identifiers are only ever stored as HMAC(key, identifier), so without a key a ban
cannot keep them. With an external Redis the key must be configured (every sidecar
of a fleet needs the same one). An embedded Redis belongs to this process alone, so
a key of its own is safe: its hashes live exactly as long as its data.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger("sendgate.ban_key")

# Beside the embedded Redis's kept data (embedded_redis_dir), so the hashes it holds
# still match after a restart.
KEY_FILE = "sendgate-hmac.key"


def _kept_key(folder: Path) -> bytes:
    path = folder / KEY_FILE
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        key = b""
    if key:
        return key
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # a secret: owner only
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    return key


def resolve(configured: str, *, embedded: bool, data_dir: str) -> bytes:
    """The key to hash identifiers with; b"" when none (bans with identifiers fail)."""
    if configured or not embedded:
        return configured.encode()
    if data_dir:
        key = _kept_key(Path(data_dir))
        where = str(Path(data_dir) / KEY_FILE)
    else:
        key = secrets.token_hex(32).encode()
        where = "memory (it goes with the embedded redis's data)"
    log.warning(
        "ban_evasion.hmac_key not set: using a generated key for the embedded redis; "
        "set one before moving to an external redis",
        extra={"key_kept_in": where},
    )
    return key
