"""Services that write sleeve data: recording and reversing fills; checking and repairing the positions table;
recording a skipped task run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from dspops.core.models import Instrument
from sleeves.models import (
    Fill, FillSource, MonitorRun, RunStatus, Side, Sleeve, SleevePosition, counted_fills, positions_batch, replay_book,
)
from sleeves.position_book import PositionBook


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
    """Reverse each of ``fills`` (reverse_fill) in one transaction: all are reversed, or none is. Each book they
    touch is moved once, at the end (positions_batch)."""
    with positions_batch():
        return [reverse_fill(fill=fill, user=user, reason=reason) for fill in fills]


# What a position is compared on: (what the operator calls it, how to read it from a stored row, from a replay).
_FIGURES = (
    ("quantity", lambda row: row.quantity, lambda book, last: book.held),
    ("average cost", lambda row: row.average_cost, lambda book, last: book.average),
    ("realised P&L (points)", lambda row: row.realized_pnl_points, lambda book, last: book.realised),
    ("fills counted", lambda row: row.fill_count, lambda book, last: book.count),
    ("commissions", lambda row: row.commissions_usd, lambda book, last: book.commissions),
    ("fills without commission", lambda row: row.commissions_missing, lambda book, last: book.commissions_missing),
    # Whether the next fill is added or the position replayed depends on it: a wrong one is a difference too.
    ("last fill", lambda row: (row.last_executed_at, row.last_fill_id), lambda book, last: last),
)


@dataclass(frozen=True)
class PositionDifference:
    """One figure of one position where the positions table and a replay of the fills disagree."""

    position: str  # "VRP_ERP SPY", "unattributed VXMF7"
    figure: str
    stored: object  # None: the table has no row
    replayed: object  # None: no fill counts for this position

    def __str__(self):
        return f"{self.position}: {self.figure} stored {self.stored if self.stored is not None else 'no row'}, " \
               f"fills give {self.replayed if self.replayed is not None else 'no position'}"


def _replayed_positions() -> dict[tuple[int | None, int], tuple[PositionBook, tuple]]:
    """Every position with a counted fill, replayed (replay_book): {(sleeve id, instrument id): (book, last fill)}."""
    keys = counted_fills().order_by().values_list("sleeve_id", "instrument_id").distinct()
    return {key: replay_book(*key) for key in keys}


def _differences() -> tuple[list[PositionDifference], int]:
    replayed = _replayed_positions()
    stored = {(row.sleeve_id, row.instrument_id): row
              for row in SleevePosition.objects.select_related("sleeve", "instrument")}
    labels = {key: row.label for key, row in stored.items()}
    codes = dict(Sleeve.objects.values_list("pk", "code"))
    instruments = Instrument.objects.in_bulk({key[1] for key in set(replayed) - set(stored)})
    for key in set(replayed) - set(stored):
        labels[key] = f"{codes.get(key[0], 'unattributed')} {instruments[key[1]].local_symbol or instruments[key[1]].symbol}"
    differences = []
    for key in sorted(set(replayed) | set(stored), key=lambda k: labels[k]):
        row, (book, last) = stored.get(key), replayed.get(key, (None, None))
        for figure, from_row, from_replay in _FIGURES:
            mine = from_row(row) if row is not None and row.fill_count else None
            theirs = from_replay(book, last) if book is not None else None
            if mine != theirs:
                differences.append(PositionDifference(labels[key], figure, mine, theirs))
    return differences, sum(book.count for book, _ in replayed.values())


def positions_table_differences() -> tuple[list[PositionDifference], int]:
    """Compare the positions table with a replay of every fill: the differences (none when they agree) and the
    number of fills replayed. Reads only. Fills and table are read one after the other, so a fill recorded in
    between can look like a difference: what differs is checked a second time and only what differs both times is
    reported."""
    differences, count = _differences()
    if differences:
        again, count = _differences()
        differences = [d for d in again if d in set(differences)]
    return differences, count


@transaction.atomic
def rebuild_positions() -> tuple[list[PositionDifference], int]:
    """Repair the positions table from the fills, in one transaction: every position is rewritten from its replay
    and a row no fill supports is emptied. Every row is locked first, so a fill recorded meanwhile waits and then
    moves the repaired row. Returns what differed before and the number of fills replayed."""
    rows = {(r.sleeve_id, r.instrument_id): r for r in SleevePosition.objects.select_for_update()}
    differences, count = _differences()
    if differences:
        replayed = _replayed_positions()
        for key, row in rows.items():
            if key not in replayed:
                row.store(PositionBook(), (None, None))
        for key, (book, last) in replayed.items():
            row = rows.get(key) or SleevePosition.objects.get_or_create(sleeve_id=key[0], instrument_id=key[1])[0]
            row.store(book, last)
    return differences, count


def record_skipped_run(*, kind: str, session: date, reason: str, now: datetime, sleeve_code: str | None = None,
                       triggered_by: str = "task") -> MonitorRun:
    """Store that a scheduled task did not run (``reason``: why, e.g. the market is closed), dated ``session``."""
    return MonitorRun.objects.create(
        kind=kind, sleeve=Sleeve.objects.filter(code=sleeve_code).first() if sleeve_code else None,
        trading_date=session, started_at=now, finished_at=now, status=RunStatus.SKIPPED, reason=reason,
        triggered_by=triggered_by,
    )
