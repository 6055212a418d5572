"""Reads of the approvals."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from approvals.models import Approval


def approval_list(*, status: str | None = None, bot: int | None = None) -> QuerySet[Approval]:
    approvals = Approval.objects.select_related("base_config", "applied_config")
    if status:
        approvals = approvals.filter(status=status)
    if bot is not None:
        approvals = approvals.filter(bot_id=bot)
    return approvals


def approval_get(*, approval_id: int) -> Approval:
    approval = approval_list().filter(pk=approval_id).first()
    if approval is None:
        raise Http404(f"no approval #{approval_id}")
    return approval
