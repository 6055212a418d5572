"""Settings come from the environment and refuse malformed values loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from tradingsite.env import env_bool, env_chat_roles, env_int, env_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("value", ["true", "1", "YES", "on"])
def test_truthy_booleans(value: str) -> None:
    assert env_bool("X", False, {"X": value}) is True


@pytest.mark.parametrize("value", ["false", "0", "no", "OFF"])
def test_falsy_booleans(value: str) -> None:
    assert env_bool("X", True, {"X": value}) is False


@pytest.mark.parametrize("value", ["ture", "2", "enabled", "yess"])
def test_malformed_boolean_is_refused_with_its_name(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=f"X={value!r} is not a boolean"):
        env_bool("X", False, {"X": value})


def test_missing_boolean_uses_default() -> None:
    assert env_bool("X", True, {}) is True


@pytest.mark.parametrize("value", ["redis//localhost", "localhost:6379", "redis://", "ftp://x"])
def test_malformed_url_is_refused(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="CELERY_BROKER_URL"):
        env_url("CELERY_BROKER_URL", "", {"CELERY_BROKER_URL": value}, schemes=("redis",))


def test_url_with_bad_port_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="bad port"):
        env_url("U", "", {"U": "redis://localhost:notaport/0"}, schemes=("redis",))


def test_int_refuses_words_and_small_values() -> None:
    with pytest.raises(ImproperlyConfigured, match="not a whole number"):
        env_int("APPROVAL_TTL_MINUTES", 60, {"APPROVAL_TTL_MINUTES": "ten"})
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("APPROVAL_TTL_MINUTES", 60, {"APPROVAL_TTL_MINUTES": "0"}, minimum=1)


def test_telegram_chat_roles() -> None:
    parsed = env_chat_roles("T", {"T": "123456789:operator, -1001234567:viewer"})
    assert parsed == {123456789: "operator", -1001234567: "viewer"}
    with pytest.raises(ImproperlyConfigured, match="role 'boss'"):
        env_chat_roles("T", {"T": "1:boss"})
    with pytest.raises(ImproperlyConfigured, match="not a numeric id"):
        env_chat_roles("T", {"T": "abc:viewer"})


def _django_check(extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "SECURE_HTTPS", "DEBUG", "TRADING_VAR_DIR"))
    }
    env.update({"DJANGO_SETTINGS_MODULE": "tradingsite.settings", "TRADING_VAR_DIR": "/tmp/trading-check"})
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_process_refuses_to_start_on_a_malformed_boolean() -> None:
    result = _django_check({"DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_process_refuses_to_start_on_a_malformed_database_url() -> None:
    result = _django_check({"DEBUG": "true", "DATABASE_URL": "mysql//nope"})
    assert result.returncode != 0
    assert "DATABASE_URL='mysql//nope' is not a valid URL" in result.stderr


def test_production_needs_a_secret_key() -> None:
    result = _django_check({"DEBUG": "false"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_deploy_check_passes_with_production_settings() -> None:
    result = _django_check(
        {
            "DEBUG": "false",
            "DJANGO_SECRET_KEY": "k" * 20 + "9f8Ahs7dG2kLmN3pQr5sTu6vWx8yZa1bCd4eFg7hJk0lMn",
            "ALLOWED_HOSTS": "trading.example.org",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        },
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr
