"""Configuration: every validation rule has its own bad file and an exact error."""

from __future__ import annotations

from pathlib import Path

import pytest

from sendgate.config import load_settings
from sendgate.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "config"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("SENDGATE_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("fixture", "key", "fragment"),
    [
        ("bad_grpc_address.toml", "grpc_address", "HOST:PORT"),
        ("bad_failure_mode.toml", "failure_mode", "fail_open"),
        ("bad_redis_url.toml", "redis_url", "redis://"),
        ("bad_warn_ratio.toml", "limits.warn_ratio", "greater than 0"),
        ("bad_personal_monthly.toml", "limits.personal_monthly", "greater than or equal to 0"),
        ("bad_timezone.toml", "limits.timezone", "unknown time zone"),
        ("bad_window.toml", "limits.conversation_window_days", "greater than or equal to 1"),
        ("bad_tiers_order.toml", "business.tiers", "ascending"),
        ("bad_tiers_zero.toml", "business.tiers", "only the last may be 0"),
        ("bad_tiers_empty.toml", "business.tiers", "at least one tier"),
        ("bad_downgrade.toml", "business.flagged_downgrade_days", "greater than or equal to 0"),
        ("bad_idempotency.toml", "idempotency_hours", "greater than or equal to 24"),
        ("unknown_top.toml", "no_such_key", "unknown key"),
        ("unknown_nested.toml", "limits.no_such_key", "unknown key"),
        ("not_toml.toml", "config", "not valid TOML"),
        ("bad_tls_pair.toml", "tls", "cert_file and key_file go together"),
        ("bad_tls_names.toml", "tls", "needs client_ca_file"),
        ("bad_tls_missing.toml", "tls", "file not found"),
        ("bad_bulk_action.toml", "bulk.action", "flag"),
        ("bad_quality_order.toml", "quality", "medium_rate must be below low_rate"),
    ],
)
def test_bad_file_names_the_key(fixture: str, key: str, fragment: str) -> None:
    path = FIXTURES / fixture
    with pytest.raises(ConfigError) as info:
        load_settings(str(path))
    assert info.value.key == key
    assert str(info.value).startswith(f"invalid configuration: {key}: ")
    assert fragment in str(info.value)
    if key != "config":
        assert str(path) in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings("/nonexistent/sendgate.toml")


def test_defaults() -> None:
    s = load_settings()
    assert s.redis_url == ""
    assert s.grpc_address == "127.0.0.1:50051"
    assert s.metrics_address == "0.0.0.0:9464"
    assert s.failure_mode == "fail_open"
    assert (s.allow_client_time, s.enforce) == (False, True)
    assert s.limits.warn_ratio == 0.8
    assert s.limits.conversation_window_days == 30
    assert s.business.tiers == [250, 1000, 10000, 100000, 0]
    assert s.business.flagged_downgrade_days == 7


def test_file_then_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    good = str(FIXTURES / "good.toml")
    s = load_settings(good)
    assert (s.limits.personal_monthly, s.limits.timezone, s.failure_mode) == (
        150,
        "Europe/Berlin",
        "fail_closed",
    )
    monkeypatch.setenv("SENDGATE_LIMITS__PERSONAL_MONTHLY", "500")
    monkeypatch.setenv("SENDGATE_BUSINESS__TIERS", "[10, 20, 0]")
    monkeypatch.setenv("SENDGATE_GRPC_ADDRESS", "127.0.0.1:6000")
    s = load_settings(good)
    assert s.limits.personal_monthly == 500
    assert s.limits.username_monthly == 30  # the rest of the table stays from the file
    assert s.business.tiers == [10, 20, 0]
    s = load_settings(good, grpc_address="127.0.0.1:7000", redis_url=None)
    assert s.grpc_address == "127.0.0.1:7000"


def test_config_file_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGATE_CONFIG", str(FIXTURES / "good.toml"))
    assert load_settings().limits.personal_monthly == 150


def test_bad_environment_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGATE_LIMITS__WARN_RATIO", "1.5")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.key == "limits.warn_ratio"


@pytest.mark.parametrize(
    ("var", "hint"),
    [
        (
            "SENDGATE_LIMITS_PERSONAL_MONTHLY",
            "not a setting; nested keys take two underscores: SENDGATE_LIMITS__PERSONAL_MONTHLY",
        ),
        ("SENDGATE_REDIS_TIMEOUT_MS", "not a setting; nested keys take two underscores: "
                                      "SENDGATE_REDIS__TIMEOUT_MS"),
        ("SENDGATE_NO_SUCH_KEY", "not a setting"),
        ("SENDGATE_GRPC_ADDRES", "not a setting"),
        ("sendgate_lower_case", "not a setting"),  # read case-insensitively, so checked too
    ],
)  # fmt: skip
def test_unknown_top_level_environment_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, var: str, hint: str
) -> None:
    monkeypatch.setenv(var, "5")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.key == var
    assert str(info.value) == f"invalid configuration: {var}: unknown environment variable ({hint})"


def test_unknown_nested_environment_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGATE_LIMITS__NO_SUCH_KEY", "5")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.key == "limits.no_such_key"
    assert str(info.value).startswith("invalid configuration: limits.no_such_key: unknown key")


@pytest.mark.parametrize(
    "var",
    ["SENDGATE_CONFIG", "SENDGATE_TOKEN", "SENDGATE_ADMIN_TOKEN", "SENDGATE_TARGET",
     "SENDGATE_REDIS_SERVER", "SENDGATE_SOAK_SECONDS"],
)  # fmt: skip
def test_variables_that_are_not_settings_are_allowed(
    monkeypatch: pytest.MonkeyPatch, var: str
) -> None:
    value = str(FIXTURES / "good.toml") if var == "SENDGATE_CONFIG" else "x"
    monkeypatch.setenv(var, value)
    load_settings()


def test_every_spelling_of_a_setting_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGATE_REDIS_URL", "redis://127.0.0.1:1/0")  # a top-level key
    monkeypatch.setenv("SENDGATE_REDIS__TIMEOUT_MS", "300")  # a nested key
    monkeypatch.setenv("SENDGATE_LIMITS", '{"personal_monthly": 7}')  # a section as JSON
    s = load_settings()
    assert (s.redis_url, s.redis.timeout_ms, s.limits.personal_monthly) == (
        "redis://127.0.0.1:1/0", 300, 7,
    )  # fmt: skip
