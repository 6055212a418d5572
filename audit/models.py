from __future__ import annotations

from typing import Any

from django.db import models


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove an audit event through the ORM."""


class EventQuerySet(models.QuerySet["Event"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("events_log is append-only: events cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("events_log is append-only: events cannot be deleted")

    # bulk paths bypass save(); refuse them too
    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AppendOnlyError("events_log is append-only: events cannot be updated")


class Event(models.Model):
    """One row of the hash-chained, append-only audit trail.

    ``hash = sha256(canonical_json(row) + prev_hash)``; ``seq`` is gapless, so a
    deleted row shows as a hole and a reordered one as a broken link.
    """

    seq = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField(db_index=True)
    type = models.CharField(max_length=100, db_index=True)
    actor = models.CharField(max_length=150, db_index=True)
    bot = models.ForeignKey(
        "trading.Bot",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_constraint=False,
    )
    message = models.TextField(blank=True)
    inputs = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        db_table = "events_log"
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["bot", "-created_at"], name="events_bot_created"),
            models.Index(fields=["type", "-created_at"], name="events_type_created"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type} by {self.actor}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("events_log is append-only: events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("events_log is append-only: events cannot be deleted")


class ChainHead(models.Model):
    """The single row holding the chain's tip.

    Appenders lock it (``select_for_update``) so concurrent writers serialise and
    never fork the chain; the verifier compares it with the last row so that a
    deleted tail is found too.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        db_table = "events_chain_head"

    def __str__(self) -> str:
        return f"chain head at #{self.seq}"
