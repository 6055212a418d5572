from django.contrib import admin

from approvals.models import Approval
from trading.admin_base import ReadOnlyAdmin


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    """Decisions go through the approvals service (pages, API, Telegram)."""

    list_display = ("id", "created_at", "bot", "kind", "status", "proposer", "expires_at", "decider_name")
    list_filter = ("status", "kind", "on_expiry", "bot")
    search_fields = ("rationale", "proposer", "decider_name", "decision_note")
    date_hierarchy = "created_at"
    list_select_related = ("bot",)
