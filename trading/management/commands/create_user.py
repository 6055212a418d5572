"""Create (or update) a user with one of the roles viewer, operator, admin."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from trading.services import user_set_role

ROLES = ("viewer", "operator", "admin")


class Command(BaseCommand):
    help = "Create a user with a role. The password is prompted for, or read from stdin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        parser.add_argument("--update", action="store_true", help="change role/password of an existing user")

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"].strip()
        if not username:
            raise CommandError("the username must not be empty")
        if not Group.objects.filter(name=options["role"]).exists():
            raise CommandError("role groups are missing: run `manage.py migrate` first")
        exists = User.objects.filter(username=username).exists()
        if exists and not options["update"]:
            raise CommandError(f"user {username!r} already exists (use --update to change it)")
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("the passwords do not match")
        user = User.objects.filter(username=username).first() or User(username=username)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError("password refused: " + " ".join(exc.messages)) from None
        with transaction.atomic():
            user.set_password(password)
            user.save()
            user_set_role(user=user, role=options["role"])
        self.stdout.write(f"{'updated' if exists else 'created'} {username} with role {options['role']}")
