from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is append-only, for everyone."""

    list_display = ("seq", "created_at", "type", "actor", "bot", "message")
    list_filter = ("type", "actor", "created_at")
    search_fields = ("type", "actor", "message")
    date_hierarchy = "created_at"
    list_select_related = ("bot",)
    readonly_fields = [f.name for f in Event._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
