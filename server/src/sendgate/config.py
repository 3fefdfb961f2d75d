"""Settings: a TOML file, then `SENDGATE_*` environment variables, then flags.

Precedence (highest first): command-line flags, environment, TOML file, defaults.
Nested keys use `.` in TOML tables and `__` in the environment, for example
`SENDGATE_LIMITS__PERSONAL_MONTHLY=500`. Unknown keys are errors, and every error
names the key (`invalid configuration: limits.warn_ratio: …`); so is an unknown
`SENDGATE_*` variable (`NOT_SETTINGS` lists the few that are not settings).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from sendgate.errors import ConfigError

FailureMode = Literal["fail_open", "fail_closed"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LimitsSettings(_Section):
    """Monthly quota of messages to people who have not replied."""

    personal_monthly: int = Field(200, ge=0, le=10_000_000)
    business_monthly: int = Field(2000, ge=0, le=10_000_000)
    username_monthly: int = Field(50, ge=0, le=10_000_000)
    warn_ratio: float = Field(0.8, gt=0, le=1)
    conversation_window_days: int = Field(30, ge=1, le=3650)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class BusinessSettings(_Section):
    """Business messaging tiers."""

    tiers: list[int] = Field(default_factory=lambda: [250, 1000, 10000, 100000, 0])
    flagged_downgrade_days: int = Field(7, ge=0, le=365)
    # A user's message opens a window in which the business replies freely.
    customer_service_window_hours: int = Field(24, ge=1, le=24 * 30)
    # Upgrade when unique users of the last 7 days reach this share of the current limit.
    upgrade_fraction: float = Field(0.5, gt=0, le=1)
    # Leaving the first tier: business verification, or this many business-initiated
    # conversations opened while quality was HIGH in the last 30 days.
    starting_tier_high_quality_conversations: int = Field(1000, ge=0)
    # Moving into this tier index or above needs business AND identity verification
    # (default 3: the 100K and unlimited tiers). A number past the end turns it off.
    identity_verification_from_tier: int = Field(3, ge=1, le=100)
    # Lazy re-evaluation of quality, flags and tier: at most this often per business.
    evaluation_interval_minutes: int = Field(60, ge=1, le=24 * 60)

    @field_validator("tiers")
    @classmethod
    def _ascending(cls, tiers: list[int]) -> list[int]:
        if not tiers:
            raise ValueError("needs at least one tier")
        finite = tiers[:-1] if tiers[-1] == 0 else tiers
        if any(t <= 0 for t in finite):
            raise ValueError("tiers are positive; only the last may be 0 (unlimited)")
        if any(b <= a for a, b in pairwise(finite)):
            raise ValueError("tiers must be strictly ascending")
        return tiers


class QualitySettings(_Section):
    """Quality rating from blocks and spam reports (negative feedback per conversation)."""

    window_days: int = Field(7, ge=1, le=90)
    # Feedback and conversations of the most recent hours weigh this much more.
    recent_hours: int = Field(24, ge=1, le=24 * 7)
    recent_weight: float = Field(3.0, ge=1, le=100)
    # Weighted negative feedback per business-initiated conversation.
    medium_rate: float = Field(0.02, gt=0, le=1)
    low_rate: float = Field(0.05, gt=0, le=1)
    # The rate's denominator is at least this, so a handful of messages cannot swing it.
    min_sample: int = Field(20, ge=1, le=1_000_000)
    # Fewer unique blocks/reports than this in the window keep the rating HIGH.
    min_feedback: int = Field(3, ge=1, le=1_000_000)
    # A surge: this many unique blocks/reports within the current and previous hour
    # cuts the tier limit to surge_limit_factor of itself until it passes.
    surge_per_hour: int = Field(50, ge=1, le=10_000_000)
    surge_limit_factor: float = Field(0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> QualitySettings:
        if self.medium_rate >= self.low_rate:
            raise ValueError("medium_rate must be below low_rate")
        return self


class BulkSettings(_Section):
    """Bulk and automated messaging: a logistic score over per-account features."""

    enabled: bool = True
    # What a BULK_SUSPECTED flag does: only flag, throttle (limit x throttle_factor),
    # or deny messages to new contacts with SUSPECTED_BULK (replies still go through).
    action: Literal["flag", "throttle", "deny"] = "deny"
    threshold: float = Field(0.8, gt=0, lt=1)
    bias: float = -7.0
    weight_new_per_minute: float = 0.3
    weight_new_per_hour: float = 0.05
    weight_unreplied_share: float = 3.0
    weight_early_burst: float = 1.0
    weight_negative_feedback: float = 0.7
    weight_regularity: float = 4.0
    # Today's new recipients over max(the account's own daily baseline, takeover_floor):
    # a hijacked old account with a long honest history stands out against its past.
    # Not for accounts on the ramp (younger than ramp.days): they have no past yet.
    # 2.0 with a floor of 60 was picked on bench/simulate.py's training seeds 1-3 (README).
    weight_takeover: float = 2.0
    throttle_factor: float = Field(0.1, gt=0, le=1)
    # The flag lasts this long; it is raised at most once per period (no metric storms).
    flag_period_days: int = Field(30, ge=1, le=365)
    # A burst: this many new recipients within an hour.
    burst_new_per_hour: int = Field(20, ge=1)
    # A first burst this soon after registration counts as an early burst.
    early_burst_hours: int = Field(24, ge=1)
    # Score only after this many messages this month (the unreplied share needs a sample).
    min_messages: int = Field(10, ge=1)
    # The baseline of new recipients per day is an EWMA over about this many days.
    baseline_days: int = Field(14, ge=1, le=365)
    # The takeover feature divides by at least this many new recipients a day, so a
    # quiet account writing to a handful of new people is not a "multiple" of nothing.
    takeover_floor: float = Field(60.0, gt=0, le=1_000_000)


class BanEvasionSettings(_Section):
    """Identifiers of banned accounts, kept only as keyed hashes (HMAC-SHA256)."""

    hmac_key: SecretStr = SecretStr("")
    # An exact match on a strong kind denies a registration; other kinds ask for review.
    strong_kinds: list[str] = Field(default_factory=lambda: ["device", "payment"])
    # Every registration's identifier hashes are kept this long (linked accounts).
    registration_retention_days: int = Field(180, ge=1, le=3650)
    # What a ban does to accounts sharing a strong identifier with it: flag them,
    # restrict them to replies, or ban them too.
    linked_action: Literal["flag", "restrict", "ban"] = "flag"
    # New conversations a day for an account under review (REVIEW or linked).
    review_daily_limit: int = Field(10, ge=0, le=100_000)
    # Registration velocity (collective signal): a registration that finds at least
    # velocity_threshold registrations of other accounts sharing one identifier of a
    # velocity kind within the window before it is answered at least REVIEW (0: off).
    # 10 in 10 minutes: a campus registering 3 per 10 minutes trips it for about 0.1 %
    # of its registrations (Poisson), a farm registering one a minute or faster from
    # its 11th (README, "Registration velocity").
    velocity_kinds: list[str] = Field(default_factory=lambda: ["network", "phone_prefix"])
    velocity_window_minutes: int = Field(10, ge=1, le=1440)
    velocity_threshold: int = Field(10, ge=0, le=1_000_000)


class RampSettings(_Section):
    """New accounts earn their allowance: a daily budget of new conversations."""

    enabled: bool = True
    # Personal accounts registered (registered_at) less than this many days ago.
    days: int = Field(14, ge=1, le=365)
    # New conversations a UTC day on the day of registration...
    daily_base: int = Field(40, ge=0, le=1_000_000)
    # ...plus this many for each whole day of age...
    per_day: int = Field(25, ge=0, le=1_000_000)
    # ...plus this many for each person who has written to the account (30 days).
    per_reply: int = Field(2, ge=0, le=1_000_000)


class TlsSettings(_Section):
    """TLS for the gRPC listener; with client_ca_file, mutual TLS."""

    cert_file: str = ""
    key_file: str = ""
    # Clients must present a certificate signed by this CA (mTLS).
    client_ca_file: str = ""
    # With mTLS: only these certificate names (common name or DNS SAN) are served.
    allowed_client_names: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> TlsSettings:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file go together")
        if (self.client_ca_file or self.allowed_client_names) and not self.cert_file:
            raise ValueError("client_ca_file and allowed_client_names need cert_file")
        if self.allowed_client_names and not self.client_ca_file:
            raise ValueError("allowed_client_names needs client_ca_file (mTLS)")
        for path in (self.cert_file, self.key_file, self.client_ca_file):
            if path and not Path(path).is_file():
                raise ValueError(f"file not found: {path}")
        return self


class AuthSettings(_Section):
    """Bearer tokens, one per service. Empty: the service is open to loopback peers only."""

    sendgate_token: SecretStr = SecretStr("")
    admin_token: SecretStr = SecretStr("")


class RedisSettings(_Section):
    """How the sidecar talks to Redis and when it gives up on it."""

    # Budget for one Redis round trip; the caller's gRPC deadline shortens it further.
    timeout_ms: int = Field(250, ge=1, le=60_000)
    connect_timeout_ms: int = Field(1000, ge=1, le=60_000)
    max_connections: int = Field(64, ge=1, le=10_000)
    # Consecutive failures that open the circuit breaker, and how long it stays open.
    breaker_failures: int = Field(5, ge=1, le=1000)
    breaker_open_ms: int = Field(1000, ge=10, le=600_000)
    health_interval_ms: int = Field(1000, ge=50, le=60_000)
    # At start-up, wait this long for an external Redis. Then, with start_degraded, serve
    # anyway (decisions follow failure_mode, health "" is NOT_SERVING) and finish
    # preparing once Redis answers; without it, exit 1 and let the orchestrator retry.
    startup_wait_ms: int = Field(10_000, ge=0, le=600_000)
    start_degraded: bool = True
    # Standalone Redis: decide and note the recipient in one script call. Off (and always
    # off on Redis Cluster): two calls, sender's slot then recipient's.
    one_call_per_message: bool = True


class Settings(BaseSettings):
    """Every setting of a sendgate process. See README for the table."""

    model_config = SettingsConfigDict(
        env_prefix="SENDGATE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    redis_url: str = ""
    grpc_address: str = "127.0.0.1:50051"
    metrics_address: str = "0.0.0.0:9464"
    failure_mode: FailureMode = "fail_open"
    allow_client_time: bool = False
    enforce: bool = True
    # Start even when Redis may evict keys (an evicted counter hands out a fresh quota).
    allow_evicting_redis: bool = False
    # Embedded Redis only: keep its data (AOF) in this folder; empty = a temporary folder.
    embedded_redis_dir: str = ""
    shutdown_grace_seconds: float = Field(5.0, ge=0, le=300)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # message_id replays are recognised for at least this long.
    idempotency_hours: int = Field(25, ge=24, le=24 * 30)
    # The sendgate:events stream is trimmed (approximately) to this many entries.
    events_max_len: int = Field(100_000, ge=100, le=100_000_000)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    business: BusinessSettings = Field(default_factory=BusinessSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    bulk: BulkSettings = Field(default_factory=BulkSettings)
    ban_evasion: BanEvasionSettings = Field(default_factory=BanEvasionSettings)
    ramp: RampSettings = Field(default_factory=RampSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)

    @field_validator("redis_url")
    @classmethod
    def _url_scheme(cls, value: str) -> str:
        schemes = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
        if value and not value.startswith(schemes):
            raise ValueError(f"must start with one of {', '.join(schemes)}")
        return value

    @field_validator("grpc_address")
    @classmethod
    def _grpc_address(cls, value: str) -> str:
        # A unix socket (an emptyDir shared in the pod) skips TCP for the sidecar hop.
        if value.startswith("unix:"):
            path = unix_path(value)
            if not path.startswith("/"):
                raise ValueError("a unix socket must be unix:///ABSOLUTE/PATH")
            return value
        return cls._host_port(value)

    @field_validator("metrics_address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError("must be HOST:PORT")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = settings_cls.model_config.get("toml_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def _describe(exc: ValidationError, origin: str) -> ConfigError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "config"
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    return ConfigError(key, f"{msg} (from {origin})")


# SENDGATE_* variables that are not settings: read by the CLI's client commands, the
# console, the embedded Redis and the tests. Anything else with the prefix must be a
# setting, so a typo such as SENDGATE_LIMITS_PERSONAL_MONTHLY (one `_`) is an error
# instead of a silently ignored limit.
NOT_SETTINGS = frozenset({
    "SENDGATE_CONFIG",          # the TOML file (load_settings)
    "SENDGATE_TOKEN",           # client commands: SendGate bearer token
    "SENDGATE_ADMIN_TOKEN",     # client commands and console: SendGateAdmin bearer token
    "SENDGATE_TARGET",          # client commands and the chat-server example: sidecar address
    "SENDGATE_REDIS_SERVER",    # the redis-server binary of the embedded Redis
    "SENDGATE_SOAK_SECONDS",    # tests/test_soak.py
})  # fmt: skip
_PREFIX = "SENDGATE_"
CONSOLE_PREFIX = "SENDGATE_CONSOLE_"


def unix_path(address: str) -> str:
    """The socket path of a gRPC `unix:PATH` or `unix:///PATH` address."""
    rest = address.removeprefix("unix:")
    return "/" + rest.lstrip("/") if rest.startswith("//") else rest


def unknown_environment(environ: Mapping[str, str]) -> str | None:
    """The first SENDGATE_* variable that is neither a setting nor in NOT_SETTINGS."""
    fields = Settings.model_fields
    sections = {
        name for name, f in fields.items()
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
    }  # fmt: skip
    for var in sorted(environ):
        upper = var.upper()  # pydantic-settings reads the environment case-insensitively
        if not upper.startswith(_PREFIX) or upper in NOT_SETTINGS:
            continue
        if upper.startswith(CONSOLE_PREFIX):  # the console's own settings (sendgate.console)
            continue
        name = upper[len(_PREFIX) :].lower()
        head, nested, _ = name.partition("__")
        if (not nested and name in fields) or (nested and head in sections):
            continue  # nested keys are checked by the section models (extra="forbid")
        return var
    return None


def _unknown_variable(var: str) -> ConfigError:
    name = var[len(_PREFIX) :].lower()
    sections = [
        n for n, f in Settings.model_fields.items()
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
    ]  # fmt: skip
    hint = "not a setting"
    for section in sections:
        if name.startswith(section + "_") and not name.startswith(section + "__"):
            rest = name[len(section) + 1 :].upper()
            hint += f"; nested keys take two underscores: {_PREFIX}{section.upper()}__{rest}"
            break
    return ConfigError(var, f"unknown environment variable ({hint})")


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Build the settings, raising ConfigError naming the first bad key.

    `config_file` defaults to $SENDGATE_CONFIG; `overrides` are command-line flags
    (None values are ignored).
    """
    unknown = unknown_environment(os.environ)
    if unknown is not None:
        raise _unknown_variable(unknown)
    path = config_file or os.environ.get("SENDGATE_CONFIG") or None
    origin = "environment or flags"
    if path:
        file = Path(path)
        if not file.is_file():
            raise ConfigError("config", f"file not found: {path}")
        try:
            tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("config", f"{path} is not valid TOML: {exc}") from exc
        origin = f"{path}, environment or flags"

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    kwargs = {k: v for k, v in overrides.items() if v is not None}
    try:
        loaded = _FileSettings(**kwargs)
    except ValidationError as exc:
        raise _describe(exc, origin) from exc
    return Settings.model_construct(**dict(loaded))
