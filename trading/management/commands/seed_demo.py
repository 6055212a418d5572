"""Set up the offline demo: role users with printed passwords (idempotent)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from trading.services import user_set_role

DEMO_USERS = ("viewer", "operator", "admin")


def demo_logins_path():  # type: ignore[no-untyped-def]
    return settings.VAR_DIR / "demo-logins.json"


class Command(BaseCommand):
    help = "Create the demo users viewer/operator/admin (passwords kept in var/demo-logins.json)."

    def handle(self, *args: Any, **options: Any) -> None:
        path = demo_logins_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        logins: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        with transaction.atomic():
            for name in DEMO_USERS:
                password = logins.get(name) or secrets.token_urlsafe(9)
                user = User.objects.filter(username=name).first() or User(username=name)
                if not user.pk or not user.check_password(password):
                    user.set_password(password)
                    user.save()
                user_set_role(user=user, role=name)
                logins[name] = password
        path.write_text(json.dumps(logins, indent=2))
        path.chmod(0o600)
        self.stdout.write("Demo logins (role = user name):")
        for name in DEMO_USERS:
            self.stdout.write(f"  {name:<9} password: {logins[name]}")
