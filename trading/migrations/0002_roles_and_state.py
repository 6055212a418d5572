"""Create the role groups with their permissions, and the system state row."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations


def forwards(apps, schema_editor):
    # Permissions are normally created after all migrations; make them now so
    # that the groups can be given them in this migration.
    for app_config in global_apps.get_app_configs():
        original = app_config.models_module
        app_config.models_module = original or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = original

    from trading.roles import sync_roles

    sync_roles(apps)
    SystemState = apps.get_model("trading", "SystemState")
    SystemState.objects.get_or_create(id=1, defaults={"state": "PAUSED", "changed_by": "system"})


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["viewer", "operator", "admin"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("trading", "0001_initial"),
        ("approvals", "0001_initial"),
        ("audit", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
