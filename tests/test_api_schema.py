"""The OpenAPI schema and its docs page, and a bounded schemathesis fuzz of the
whole API in-process (the WSGI app, the test database)."""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from knox.models import AuthToken
from schemathesis.generation import GenerationMode

from tests.api_support import make_world, set_state
from tests.factories import UserFactory
from tradingsite.wsgi import application

# Bounded: every operation gets a few positive and negative cases, so the suite
# stays quick while still reaching each route with odd input.
# API_FUZZ_EXAMPLES=200 for a deeper run by hand.
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "8"))
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.django_db
def test_schema_is_public_openapi_that_names_every_route(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    assert {"/api/system/pause", "/api/bots/{bot_id}/configs/diff", "/api/orders.csv", "/api/events/verify"} <= paths
    login = schema["paths"]["/api/auth/login"]["post"]
    assert "security" not in login  # public
    pause = schema["paths"]["/api/system/pause"]["post"]
    assert {"tokenAuth": []} in pause["security"]
    assert "Needs the **operator** role" in pause["description"]
    assert {
        "/api/scheduler", "/api/scheduler/bots/{bot_id}", "/api/bots/{bot_id}/cycle",
        "/api/approvals/{approval_id}/approve", "/api/approvals/{approval_id}/reject",
        "/api/backtests", "/api/backtests/{backtest_id}",
    } <= paths
    assert "Needs the **operator** role" in schema["paths"]["/api/approvals/{approval_id}/approve"]["post"]["description"]
    assert "Needs the **viewer** role" in schema["paths"]["/api/backtests"]["get"]["description"]
    assert "Needs the **operator** role" in schema["paths"]["/api/backtests"]["post"]["description"]


@pytest.mark.django_db
def test_swagger_ui_is_served_locally_without_a_cdn(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "cdn" not in page.lower() and "https://" not in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


def _routed(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def _fuzz_operation(operation: Any, mode: GenerationMode, user: User | None, problems: list[str]) -> None:
    secured = bool(operation.definition.raw.get("security"))

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        headers = {}
        if user is not None:
            # A fresh token per case: the fuzzed logout revokes the one it is sent with.
            headers["Authorization"] = f"Token {AuthToken.objects.create(user=user)[1]}"
        response = case.call(headers=headers)
        label = f"{case.method} {case.formatted_path} ({mode.value}) body={str(case.body)[:120]!r}"
        if response.status_code >= 500:
            problems.append(f"{label}: server error {response.status_code}")
            return
        path = "/" + response.request.url.split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
        # A path that no route matches is Django's 404 before any view: not a
        # route ignoring credentials.
        if user is None and secured and _routed(path) and response.status_code != 401:
            problems.append(f"{label}: answered {response.status_code} without credentials")

    try:
        run()
    except Unsatisfiable:
        # Nothing to make invalid (an operation without parameters or body).
        assert mode == GenerationMode.NEGATIVE, f"{operation.label}: no valid case generated"


def _fuzz(user: User | None) -> list[str]:
    """Fuzz every operation as ``user`` (None: anonymous); return the problems found."""
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    problems: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, mode, user, problems)
    return problems


@pytest.fixture
def wsgi_keeps_the_test_connection():  # type: ignore[no-untyped-def]
    """The raw WSGI handler closes the database connection after each request,
    which would end the test's transaction (on PostgreSQL); Django's own test
    client unhooks the same signal."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.usefixtures("wsgi_keeps_the_test_connection")
def test_fuzzing_as_admin_finds_no_server_error() -> None:
    make_world()
    set_state("RUNNING")
    problems = _fuzz(UserFactory(username="fuzz-admin", role="admin"))
    assert not problems, "\n".join(problems[:20])


@pytest.mark.django_db
@pytest.mark.usefixtures("wsgi_keeps_the_test_connection")
def test_fuzzing_without_credentials_finds_no_route_that_ignores_them() -> None:
    make_world()
    problems = _fuzz(None)
    assert not problems, "\n".join(problems[:20])


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.usefixtures("wsgi_keeps_the_test_connection")
def test_fuzzing_as_admin_on_postgres_finds_no_server_error() -> None:
    # PostgreSQL refuses what SQLite lets through (NUL characters, out-of-range
    # integers), so the same fuzz runs in the PostgreSQL pass too.
    test_fuzzing_as_admin_finds_no_server_error()
