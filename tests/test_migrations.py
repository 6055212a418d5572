import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from trading.models import SystemState


@pytest.mark.django_db
def test_models_and_migrations_agree() -> None:
    # Exits non-zero (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_migrations_create_the_roles_and_the_state_row() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {"viewer", "operator", "admin"}
    assert SystemState.objects.get(id=1).state == SystemState.State.PAUSED


@pytest.mark.django_db
def test_seed_tables_keep_their_names() -> None:
    from django.apps import apps

    tables = {m._meta.db_table for m in apps.get_models()}
    assert {
        "candles_cache", "orders", "fills", "positions", "equity_snapshots",
        "metrics_snapshots", "approvals", "events_log", "config",
    } <= tables
