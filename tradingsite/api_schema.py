"""OpenAPI generation that knows each route's minimum role (``api_roles``).

Public operations carry no security requirement, so a schema-driven fuzzer
can tell them apart from the ones that must refuse missing credentials; every
other operation says in its description which role it needs.
"""

from __future__ import annotations

import re
from typing import Any

from django.urls import Resolver404, resolve
from drf_spectacular.openapi import AutoSchema

from audit.actors import Role
from tradingsite.api_roles import required_role

PATH_PARAMETER = re.compile(r"\{[^}]+\}")


def route_name(path: str) -> str | None:
    """The URL name of an OpenAPI path such as ``/api/bots/{bot_id}``."""
    try:
        return resolve(PATH_PARAMETER.sub("1", path)).url_name
    except Resolver404:
        return None


class RoleAwareAutoSchema(AutoSchema):
    def _required_role(self) -> Role | None:
        return required_role(route_name(self.path), self.method)

    def get_auth(self) -> list[Any]:
        if self._required_role() == Role.ANONYMOUS:
            return []
        return super().get_auth()

    def get_description(self) -> str:
        description = super().get_description() or ""
        role = self._required_role()
        if role is None or role == Role.ANONYMOUS:
            return description
        note = f"Needs the **{role.label}** role or higher."
        return f"{description}\n\n{note}" if description else note
