from __future__ import annotations

from django.conf import settings
from django.db import models


class Approval(models.Model):
    """A proposed change to a bot's configuration that a human must decide.

    ``PENDING → APPROVED → APPLIED | FAILED`` and ``PENDING → REJECTED | EXPIRED``.
    """

    class Kind(models.TextChoices):
        STRATEGY_PARAMS = "strategy_params", "Strategy parameters"
        STRATEGY_SWITCH = "strategy_switch", "Strategy switch"
        RISK_LIMITS = "risk_limits", "Risk limits"

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        APPROVED = "APPROVED", "Approved"
        APPLIED = "APPLIED", "Applied"
        FAILED = "FAILED", "Failed"
        REJECTED = "REJECTED", "Rejected"
        EXPIRED = "EXPIRED", "Expired"

    class OnExpiry(models.TextChoices):
        NONE = "none", "Nothing"
        PAUSE = "pause", "Pause the system"
        EMERGENCY_STOP = "emergency_stop", "Emergency stop"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    bot = models.ForeignKey("trading.Bot", on_delete=models.PROTECT, related_name="approvals")
    base_config = models.ForeignKey(
        "trading.BotConfig", on_delete=models.PROTECT, related_name="proposals"
    )
    change = models.JSONField(help_text="The proposed change as a structured diff")
    rationale = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    proposer = models.CharField(max_length=150)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    on_expiry = models.CharField(max_length=16, choices=OnExpiry.choices, default=OnExpiry.NONE)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    decider_name = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    applied_config = models.ForeignKey(
        "trading.BotConfig", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    failure_reason = models.TextField(blank=True)

    class Meta:
        db_table = "approvals"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="approvals_status_expiry"),
            models.Index(fields=["bot", "-created_at"], name="approvals_bot_created"),
        ]
        permissions = [("decide_approval", "Can approve or reject proposals")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} for {self.bot} ({self.status})"
