"""Services that write sleeve data: recording and reversing fills; recording a skipped task run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from sleeves.models import Fill, FillSource, MonitorRun, RunStatus, Side, Sleeve


# What a floor above must do once a fill is reversed, registered in its AppConfig.ready (sleeves imports
# nothing above it): the rolls app resolves the alerts of a finished roll whose leg fill this takes off the book.
AFTER_REVERSAL: list[Callable[[Fill], None]] = []


@transaction.atomic
def reverse_fill(*, fill: Fill, user, reason: str) -> Fill:
    """Cancel ``fill`` with an equal and opposite fill at the same time and price.

    A correction is this reversal followed by a new, correct fill. Raises ValidationError when
    the fill is itself a reversal or has already been reversed.
    """
    fill = Fill.objects.select_for_update().get(pk=fill.pk)
    if fill.reverses_id is not None:
        raise ValidationError(f"Fill #{fill.pk} is itself a reversal; record a new fill instead.")
    if Fill.objects.filter(reverses=fill).exists():
        raise ValidationError(f"Fill #{fill.pk} has already been reversed.")
    if not reason.strip():
        raise ValidationError("Say why the fill is reversed.")
    reversal = Fill(
        sleeve=fill.sleeve, instrument=fill.instrument,
        side=Side.SELL if fill.side == Side.BUY else Side.BUY,
        quantity=fill.quantity, price=fill.price, commission=None, executed_at=fill.executed_at,
        exec_id=None, order_ref=fill.order_ref, source=FillSource.CORRECTION,
        note=f"Reverses fill #{fill.pk}: {reason.strip()}"[:300], entered_by=user, reverses=fill,
    )
    reversal.full_clean()
    reversal.save()
    for follow in AFTER_REVERSAL:
        follow(fill)
    return reversal


@transaction.atomic
def reverse_fills(*, fills, user, reason: str) -> list[Fill]:
    """Reverse each of ``fills`` (reverse_fill) in one transaction: all are reversed, or none is."""
    return [reverse_fill(fill=fill, user=user, reason=reason) for fill in fills]


def record_skipped_run(*, kind: str, session: date, reason: str, now: datetime, sleeve_code: str | None = None,
                       triggered_by: str = "task") -> MonitorRun:
    """Store that a scheduled task did not run (``reason``: why, e.g. the market is closed), dated ``session``."""
    return MonitorRun.objects.create(
        kind=kind, sleeve=Sleeve.objects.filter(code=sleeve_code).first() if sleeve_code else None,
        trading_date=session, started_at=now, finished_at=now, status=RunStatus.SKIPPED, reason=reason,
        triggered_by=triggered_by,
    )
