from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest

from approvals import selectors, services
from approvals.models import Approval
from audit.actors import Actor, Role, role_of
from trading.admin_base import ReadOnlyAdmin

NOTE_MAX = 2000


class DecisionActionForm(ActionForm):
    """The admin's action bar, with a note that goes with an approve or reject."""

    note = forms.CharField(
        required=False, label="Note", widget=forms.TextInput(attrs={"size": 40, "placeholder": "kept with the decision"})
    )


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    """Rows are never edited here; decisions go through the approvals service
    (the same one the pages, the API and Telegram use), from the actions."""

    list_display = ("id", "created_at", "bot", "kind", "status", "proposer", "expires_at", "decider_name")
    list_filter = ("status", "kind", "on_expiry", "bot")
    search_fields = ("rationale", "proposer", "decider_name", "decision_note")
    date_hierarchy = "created_at"
    list_select_related = ("bot",)
    action_form = DecisionActionForm
    actions = ["approve_selected", "reject_selected"]

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return role_of(request.user) >= Role.OPERATOR

    @admin.action(description="Approve and apply the selected proposals", permissions=["decide"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Approval]) -> None:
        self._decide(request, queryset, services.approve)

    @admin.action(description="Reject the selected proposals", permissions=["decide"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Approval]) -> None:
        self._decide(request, queryset, services.reject)

    def _decide(self, request: HttpRequest, queryset: QuerySet[Approval], decide: Callable[..., Approval]) -> None:
        note = request.POST.get("note", "").strip()
        if len(note) > NOTE_MAX:
            self.message_user(request, f"Nothing was decided: the note is longer than {NOTE_MAX} characters.", messages.ERROR)
            return
        actor = Actor.for_user(request.user)
        done: list[str] = []
        refused: list[str] = []
        for approval_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                approval = decide(approval_id=approval_id, actor=actor, note=note)
            except services.ApprovalError as exc:
                refused.append(exc.message)
            else:
                done.append(f"#{approval.pk}: {selectors.decision_outcome(approval)}")
        if done:
            self.message_user(request, " ".join(done), messages.SUCCESS)
        if refused:
            self.message_user(request, "Not decided: " + "; ".join(refused) + ".", messages.WARNING)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Only pending proposals can be decided; the bulk delete never applies here.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
