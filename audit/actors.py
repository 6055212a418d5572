"""Who does things: roles and the actor string written into every event."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Role(enum.IntEnum):
    """Ordered so that ``role >= Role.OPERATOR`` reads as "at least operator"."""

    ANONYMOUS = 0
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3
    # The system itself (risk breach, expiry policy, exchange failures). It is
    # not above admin in the web sense; transitions name it explicitly.
    SYSTEM = 4

    @property
    def label(self) -> str:
        return self.name.lower()


GROUP_ROLES = {"viewer": Role.VIEWER, "operator": Role.OPERATOR, "admin": Role.ADMIN}


def role_of(user: Any) -> Role:
    """The highest role a Django user holds through its groups (superuser = admin)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Role.ANONYMOUS
    if user.is_superuser:
        return Role.ADMIN
    cached = getattr(user, "_trading_role", None)
    if cached is not None:
        return cached
    names = set(user.groups.values_list("name", flat=True))
    role = max((GROUP_ROLES[n] for n in names if n in GROUP_ROLES), default=Role.ANONYMOUS)
    user._trading_role = role
    return role


@dataclass(frozen=True)
class Actor:
    """The ``actor`` of an event and the role it acts with."""

    name: str
    role: Role
    user_id: int | None = None

    @classmethod
    def for_user(cls, user: Any) -> Actor:
        return cls(name=user.get_username(), role=role_of(user), user_id=user.pk)

    @classmethod
    def system(cls) -> Actor:
        return cls(name="system", role=Role.SYSTEM)

    @classmethod
    def scheduler(cls) -> Actor:
        return cls(name="scheduler", role=Role.SYSTEM)

    @classmethod
    def advisor(cls, name: str) -> Actor:
        # An advisor may only propose; it holds no role that changes anything.
        return cls(name=f"advisor:{name}", role=Role.VIEWER)

    @classmethod
    def telegram(cls, chat_id: int | str, role: Role) -> Actor:
        return cls(name=f"telegram:{chat_id}", role=role)

    def __str__(self) -> str:
        return self.name
