"""The console's own settings: where the sidecar is, who may sign in, where to listen.

Read from a TOML file (every key at the top level; an unknown key is an error naming
the key and the file), then `SENDGATE_CONSOLE_<KEY>` environment variables, then
command-line flags. The admin token also comes from `SENDGATE_ADMIN_TOKEN`, the name
the rest of sendgate's tools read. Kept apart from the sidecar's Settings, whose
file forbids unknown keys.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from sendgate.console.auth import REVIEWER_NAME, parse_hash

ENV_PREFIX = "SENDGATE_CONSOLE_"
TOKEN_ENV = "SENDGATE_ADMIN_TOKEN"


class ConsoleConfigError(ValueError):
    """Invalid console configuration; the message names the key (and the file)."""


class ConsoleSettings(BaseModel):
    """Every setting of `sendgate console`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = "127.0.0.1:8080"
    # The sidecar's admin API, and how to reach it.
    target: str = "127.0.0.1:50051"
    admin_token: SecretStr = SecretStr("")
    tls: bool = False
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_server_name: str = ""
    timeout_s: float = Field(5.0, gt=0, le=120)
    # Reviewer name → password hash (`sendgate console --hash-password`).
    reviewers: dict[str, str] = Field(default_factory=dict)
    # Trust this header's value as the reviewer's name, from these peers only.
    proxy_header: str = ""
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    # Signs session cookies; empty = random per process (sign-ins end at restart).
    session_secret: SecretStr = SecretStr("")
    session_hours: float = Field(8.0, gt=0, le=24 * 30)
    # Mark cookies Secure: set when the console is served over HTTPS (a proxy).
    secure_cookies: bool = False
    # How far back the queue and the charts read the event stream.
    events_lookback_hours: int = Field(72, ge=1, le=24 * 90)
    chart_hours: int = Field(12, ge=1, le=72)
    # Events kept in memory for the queue, the events page and the charts.
    events_kept: int = Field(20_000, ge=100, le=1_000_000)
    # Fewest seconds between two reads of the stream (pages share one read).
    events_refresh_s: float = Field(1.0, ge=0, le=600)

    @field_validator("listen", "target")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError("must be HOST:PORT")
        return value

    @field_validator("reviewers")
    @classmethod
    def _reviewers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, hashed in value.items():
            if not REVIEWER_NAME.fullmatch(name):
                raise ValueError(f"reviewer name {name!r}: letters, digits and ._@- only")
            try:
                parse_hash(hashed)
            except ValueError as err:
                raise ValueError(f"reviewer {name!r}: {err}") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_address(item)
        return value

    @property
    def has_credentials(self) -> bool:
        return bool(self.reviewers or self.proxy_header)

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fields = ConsoleSettings.model_fields
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX):
            key = name[len(ENV_PREFIX) :].lower()
            if key not in fields:
                raise ConsoleConfigError(f"{name}: unknown console setting")
            ann = fields[key].annotation
            out[key] = tomllib.loads(f"v = {value}")["v"] if ann not in (str, SecretStr) else value
    if environ.get(TOKEN_ENV):
        out.setdefault("admin_token", environ[TOKEN_ENV])
    return out


def load_console_settings(
    path: str | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> ConsoleSettings:
    """Settings from a TOML file, the environment and overrides (in rising order)."""
    environ = os.environ if environ is None else environ
    source = "settings"
    data: dict[str, Any] = {}
    if path:
        source = path
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ConsoleConfigError(f"{path}: {err}") from None
    try:
        data.update(_env(environ))
    except tomllib.TOMLDecodeError as err:
        raise ConsoleConfigError(f"environment: {err}") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = ConsoleSettings.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConsoleConfigError(f"{source}: {key}: {first['msg']}") from None
    if not settings.has_credentials and not is_loopback_host(settings.listen_host):
        raise ConsoleConfigError(
            f"listen {settings.listen}: no reviewer credentials are configured (reviewers or "
            "proxy_header), so the console listens on loopback only"
        )
    return settings
