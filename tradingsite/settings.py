"""Settings for the trading bot: one file, every knob from the environment.

See ``.env.example`` for the full list with defaults. A ``.env`` file in the
project folder is read first (values already in the environment win).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from tradingsite.env import (
    env_bool,
    env_chat_roles,
    env_choice,
    env_decimal,
    env_int,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TRADING_VAR_DIR") or BASE_DIR / "var")


def _load_dotenv(path: Path) -> None:
    if not path.is_file():
        return
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ImproperlyConfigured(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        # "KEY=value   # comment": a comment starts at whitespace followed by #.
        value = value.split(" #", 1)[0].split("\t#", 1)[0].strip().strip("'\"")
        os.environ.setdefault(key.strip(), value)


_load_dotenv(BASE_DIR / ".env")

# --- core -------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set: set it (50+ random characters) or run with DEBUG=true"
        )
    SECRET_KEY = "insecure-development-key-only-for-debug-mode-0123456789abcdefghij"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
# HTTPS hardening is on unless explicitly switched off for a plain-HTTP local run.
SECURE_HTTPS = env_bool("SECURE_HTTPS", not DEBUG)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "knox",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "audit",
    "trading",
    "risk",
    "approvals",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tradingsite.middleware.LocalTrustedModeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a flagged lockout into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tradingsite.urls"
WSGI_APPLICATION = "tradingsite.wsgi.application"
ASGI_APPLICATION = "tradingsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tradingsite.pages.header",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------
DATABASE_URL = env_url(
    "DATABASE_URL",
    f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
    schemes=("sqlite", "postgres", "postgresql", "pgsql"),
)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers (the web) run while a writer (a cycle) commits.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        # IMMEDIATE takes the write lock when a transaction starts, so two
        # processes never both read and then fail to upgrade to a writer.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth -------------------------------------------------------------------
AUTH_ENABLED = env_bool("AUTH_ENABLED", True)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "dashboard:login"
# A refused CSRF check answers with a plain sentence (an HTMX fragment or a page).
CSRF_FAILURE_VIEW = "tradingsite.pages.csrf_failure"
# django-axes watches every authentication (admin and API login) and refuses a
# locked-out username+address before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = True
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
# Lock the pair (username, address): a guesser cannot lock a real user out from
# elsewhere, and rotating usernames from one address does not reset the count.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "tradingsite.api_auth.lockout_response"
# The client address is REMOTE_ADDR only: forwarded headers are trivially forged.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
# API tokens (django-rest-knox): only a SHA-512 digest is stored; they expire.
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env_int("API_TOKEN_TTL_HOURS", 10, minimum=1)),
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
}

# --- i18n / time ------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static -----------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- security (checked by `manage.py check --deploy`) -------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads it to send X-CSRFToken
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = SECURE_HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if SECURE_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- REST framework ---------------------------------------------------------
LOGIN_RATE_LIMIT = env_str("LOGIN_RATE_LIMIT", "10/min")
if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", LOGIN_RATE_LIMIT):
    raise ImproperlyConfigured(f"LOGIN_RATE_LIMIT={LOGIN_RATE_LIMIT!r}: use a count per period, e.g. 10/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Local trusted mode first: it answers only when AUTH_ENABLED=false.
        "tradingsite.api_auth.LocalTrustedAuthentication",
        "tradingsite.api_auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every route's minimum role per method lives in tradingsite/api_roles.py.
    "DEFAULT_PERMISSION_CLASSES": ["tradingsite.api_auth.RoutePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tradingsite.api_common.DecimalJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "tradingsite.api_common.FormatTolerantNegotiation",
    "DEFAULT_SCHEMA_CLASS": "tradingsite.api_schema.RoleAwareAutoSchema",
    "DEFAULT_THROTTLE_RATES": {"login": LOGIN_RATE_LIMIT},
    # Throttle by REMOTE_ADDR only, like django-axes: X-Forwarded-For is the client's to forge.
    "NUM_PROXIES": 0,
    "COERCE_DECIMAL_TO_STRING": True,
    "EXCEPTION_HANDLER": "tradingsite.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Trading bot API",
    "DESCRIPTION": (
        "Operate the trading bot: system state, bots and their config versions, orders, fills, "
        "positions, snapshots, the audit trail and approvals. Authenticate with "
        "`POST /api/auth/login` and send `Authorization: Token <token>`. Money is a decimal string."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["tradingsite.api_auth.RoutePermission"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api",
    # Swagger UI from the installed sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "AUTHENTICATION_WHITELIST": [
        "tradingsite.api_auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "ENUM_NAME_OVERRIDES": {
        "SideEnum": "trading.models.Side",
        "ModeEnum": "trading.models.Mode",
        "SystemStateEnum": "trading.models.SystemState.State",
        "OrderStatusEnum": "trading.models.Order.Status",
        "ApprovalStatusEnum": "approvals.models.Approval.Status",
        "BacktestStatusEnum": "trading.models.Backtest.Status",
        "CycleStatusEnum": "trading.models.CycleRun.Status",
    },
}

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL",
    f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}",
    schemes=("redis", "rediss", "sqla+sqlite", "sqla+postgresql", "amqp", "memory", "filesystem"),
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
# A task not acknowledged within this many seconds (its worker died) is
# delivered again (Redis). No retry countdown or ETA may exceed it.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
# Only Redis knows a visibility timeout (the SQLAlchemy transport passes its
# options to create_engine, which refuses unknown ones).
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT} if CELERY_BROKER_URL.startswith(("redis", "rediss")) else {}
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- trading ----------------------------------------------------------------
LIVE_TRADING_ENABLED = env_bool("LIVE_TRADING_ENABLED", False)
BINANCE_API_KEY = env_str("BINANCE_API_KEY")
BINANCE_API_SECRET = env_str("BINANCE_API_SECRET")
BINANCE_TESTNET = env_bool("BINANCE_TESTNET", True)
BINANCE_BASE_URL = env_url("BINANCE_BASE_URL", "", schemes=("http", "https"))
MARKET_DATA = env_choice("MARKET_DATA", "replay", ("binance", "replay"))
# A cycle whose worker died frees its bot after this long (longer than the
# task's hard time limit, so a slow cycle never loses its lease).
CYCLE_LEASE_SECONDS = env_int("CYCLE_LEASE_SECONDS", 300, minimum=1)
# The paper engine's costs: taker fee and slippage in basis points (10 bps = 0.1 %).
PAPER_FEE_BPS = env_decimal("PAPER_FEE_BPS", "10", minimum="0", maximum="1000")
PAPER_SLIPPAGE_BPS = env_decimal("PAPER_SLIPPAGE_BPS", "0", minimum="0", maximum="1000")

# --- Telegram ---------------------------------------------------------------
TELEGRAM_BOT_TOKEN = env_str("TELEGRAM_BOT_TOKEN")
TELEGRAM_ALLOWED_CHATS = env_chat_roles("TELEGRAM_ALLOWED_CHATS")
TELEGRAM_BASE_URL = env_url("TELEGRAM_BASE_URL", "", schemes=("http", "https"))

# --- AI advisor -------------------------------------------------------------
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_url("OPENAI_BASE_URL", "", schemes=("http", "https"))
OPENAI_MODEL = env_str("OPENAI_MODEL", "gpt-4o-mini")
APPROVAL_TTL_MINUTES = env_int("APPROVAL_TTL_MINUTES", 60, minimum=1)
APPROVALS_MAX_PENDING = env_int("APPROVALS_MAX_PENDING", 3, minimum=1)
# The OpenAI client: seconds a request may take, and retries of 429/5xx/timeouts.
OPENAI_TIMEOUT_SECONDS = env_int("OPENAI_TIMEOUT_SECONDS", 30, minimum=1)
OPENAI_MAX_RETRIES = env_int("OPENAI_MAX_RETRIES", 2, minimum=0)
# Every proposal is backtested before and after over this many days of the bot's cached candles.
ADVISOR_EVIDENCE_DAYS = env_int("ADVISOR_EVIDENCE_DAYS", 30, minimum=1)
# The advisors' beat schedule; the OpenAI advisor runs on it only when switched on.
ADVISOR_INTERVAL_MINUTES = env_int("ADVISOR_INTERVAL_MINUTES", 60, minimum=1)
ADVISOR_SCHEDULE_OPENAI = env_bool("ADVISOR_SCHEDULE_OPENAI", False)

# --- logging: never log secrets; the formatter carries no request bodies. ----
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    # HTTP clients log every request URL at INFO: noise, and some URLs carry a
    # token in their path (Telegram's /bot<token>/…).
    "loggers": {name: {"level": "WARNING"} for name in ("httpx", "httpx2", "httpcore", "openai")},
}
