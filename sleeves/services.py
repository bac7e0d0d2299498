"""Services that write sleeve data: recording and reversing fills; checking and repairing the positions table;
recording a skipped task run."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from dspops.core.models import Instrument
from sleeves.models import Fill, FillSource, MonitorRun, RunStatus, Side, Sleeve, SleevePosition, counted_fills, deferred_replays
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
    touch is replayed once, at the end."""
    with deferred_replays():
        return [reverse_fill(fill=fill, user=user, reason=reason) for fill in fills]


# What a book is compared on: (label, how to read it from a stored row, how to read it from a replayed book).
_BOOK_FIGURES = (
    ("quantity", lambda row: row.quantity, lambda book: book.held),
    ("average cost", lambda row: row.average_cost, lambda book: book.average),
    ("realised P&L (points)", lambda row: row.realized_pnl_points, lambda book: book.realised),
    ("fills counted", lambda row: row.fill_count, lambda book: book.count),
    ("commissions", lambda row: row.commissions_usd, lambda book: book.commissions),
    ("fills without commission", lambda row: row.commissions_missing, lambda book: book.commissions_missing),
)


@dataclass(frozen=True)
class PositionDifference:
    """One figure of one book where the positions table and a replay of the fills disagree."""

    book: str  # "VRP_ERP SPY", "unattributed VXMF7"
    figure: str
    stored: object  # None: the table has no row
    replayed: object  # None: no fill counts for this book

    def __str__(self):
        return f"{self.book}: {self.figure} stored {self.stored if self.stored is not None else 'no row'}, " \
               f"fills give {self.replayed if self.replayed is not None else 'no position'}"


def replay_all_positions() -> tuple[dict[tuple[int | None, int], tuple[PositionBook, tuple]], int]:
    """Every book replayed from the counted fills in one pass: {(sleeve id, instrument id): (book, last fill's
    (executed_at, id))}, and how many fills were replayed."""
    books: dict[tuple[int | None, int], PositionBook] = defaultdict(PositionBook)
    last: dict[tuple[int | None, int], tuple] = {}
    rows = counted_fills().order_by("executed_at", "id").values_list(
        "id", "sleeve_id", "instrument_id", "executed_at", "side", "quantity", "price", "commission")
    replayed = 0
    for pk, sleeve_id, instrument_id, executed_at, side, quantity, price, commission in rows.iterator(chunk_size=5000):
        books[(sleeve_id, instrument_id)].add(quantity if side == Side.BUY else -quantity, price, commission)
        last[(sleeve_id, instrument_id)] = (executed_at, pk)
        replayed += 1
    return {key: (book, last[key]) for key, book in books.items()}, replayed


def position_differences() -> tuple[list[PositionDifference], int]:
    """Compare the positions table with a replay of every fill: the differences (none when they agree) and the
    number of fills replayed. Reads only."""
    replayed, count = replay_all_positions()
    stored = {(row.sleeve_id, row.instrument_id): row for row in SleevePosition.objects.all()}
    sleeves = dict(Sleeve.objects.values_list("pk", "code"))
    instruments = Instrument.objects.in_bulk({key[1] for key in set(replayed) | set(stored)})
    differences = []
    for key in sorted(set(replayed) | set(stored), key=lambda k: (sleeves.get(k[0], "~"), k[1])):
        instrument = instruments[key[1]]
        label = f"{sleeves.get(key[0], 'unattributed')} {instrument.local_symbol or instrument.symbol}"
        row, (book, _) = stored.get(key), replayed.get(key, (None, None))
        for figure, from_row, from_book in _BOOK_FIGURES:
            mine = from_row(row) if row is not None and row.fill_count else None
            theirs = from_book(book) if book is not None else None
            if mine != theirs:
                differences.append(PositionDifference(label, figure, mine, theirs))
    return differences, count


@transaction.atomic
def rebuild_positions() -> tuple[list[PositionDifference], int]:
    """Repair the positions table from the fills, in one transaction: every book is rewritten from its replay and
    a row no fill supports is removed. Returns what differed before (position_differences) and the fills replayed."""
    differences, count = position_differences()
    if differences:
        replayed, _ = replay_all_positions()
        for key, row in {(r.sleeve_id, r.instrument_id): r for r in SleevePosition.objects.select_for_update()}.items():
            if key not in replayed:
                row.delete()
        for (sleeve_id, instrument_id), (book, last) in replayed.items():
            row, _ = SleevePosition.objects.get_or_create(sleeve_id=sleeve_id, instrument_id=instrument_id)
            row.store(book, last=last)
    return differences, count


def record_skipped_run(*, kind: str, session: date, reason: str, now: datetime, sleeve_code: str | None = None,
                       triggered_by: str = "task") -> MonitorRun:
    """Store that a scheduled task did not run (``reason``: why, e.g. the market is closed), dated ``session``."""
    return MonitorRun.objects.create(
        kind=kind, sleeve=Sleeve.objects.filter(code=sleeve_code).first() if sleeve_code else None,
        trading_date=session, started_at=now, finished_at=now, status=RunStatus.SKIPPED, reason=reason,
        triggered_by=triggered_by,
    )
