"""The role groups ``viewer``, ``operator`` and ``admin`` and their permissions.

Created by a data migration and kept complete after every ``migrate`` (new
models bring new permissions). Which *routes* a role may use is declared in
one place per interface; these permissions drive the Django admin.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps

OUR_APPS = ("trading", "risk", "approvals", "audit", "django_celery_beat")
ADMIN_EXTRA_APPS = ("auth", "axes", "knox")

OPERATOR_PERMISSIONS = {
    ("trading", "operate_system"),
    ("trading", "manage_scheduler"),
    ("trading", "trigger_cycle"),
    ("trading", "run_backtest"),
    ("approvals", "decide_approval"),
}
ADMIN_ONLY_PERMISSIONS = {("trading", "resume_emergency"), ("trading", "place_live_order")}


def sync_roles(apps: Any = global_apps) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    perms = list(Permission.objects.select_related("content_type"))

    def key(p: Any) -> tuple[str, str]:
        return (p.content_type.app_label, p.codename)

    viewer = [p for p in perms if p.content_type.app_label in OUR_APPS and p.codename.startswith("view_")]
    operator = viewer + [p for p in perms if key(p) in OPERATOR_PERMISSIONS]
    admin = [p for p in perms if p.content_type.app_label in OUR_APPS + ADMIN_EXTRA_APPS]

    for name, granted in (("viewer", viewer), ("operator", operator), ("admin", admin)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(granted)


def sync_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    if sender.name != "trading":
        return
    sync_roles(kwargs.get("apps") or global_apps)
