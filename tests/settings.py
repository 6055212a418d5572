"""Settings for the test suite: the real settings module with test-only defaults."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "x" * 40)
os.environ.setdefault("SECURE_HTTPS", "false")
# Per checkout, so that test runs of two checkouts never share files.
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TRADING_VAR_DIR", os.path.join(_CHECKOUT, "var", "test"))

from tradingsite.settings import *  # noqa: E402,F403

# Hashing passwords slowly protects real users, not test fixtures.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

STATIC_ROOT = os.path.join(os.environ["TRADING_VAR_DIR"], "staticfiles")
os.makedirs(STATIC_ROOT, exist_ok=True)

# django-axes refuses logins that carry no request, which Django's test client
# (client.login) makes; the lockout tests switch it back on.
AXES_ENABLED = False

# A file, not memory, so that worker and beat subprocesses in the Celery tests
# share the test database (transactional tests commit for them to see).
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["TRADING_VAR_DIR"], "test-db.sqlite3")}  # noqa: F405
