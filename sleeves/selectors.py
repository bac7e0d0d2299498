"""Read-only queries across the sleeve models."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from dspops.core import calendars, clock, vx
from dspops.core.instruments import vxm_instrument
from dspops.core.models import Instrument, QuoteSnapshot, SecType
from sleeves import parameters
from sleeves.inputs import from_quote
from sleeves.models import (
    Fill, MonitorRun, RunKind, Sleeve, SleeveParameter, SleevePosition, SpreadPosition, replay_book,
)

MARK_PREFERENCE = ("mid", "last", "close")  # the price a position is valued at, first present wins


@dataclass(frozen=True)
class Mark:
    """The price a position is valued at: the latest stored quote of its instrument (mid, else last, else
    close), with where and when it was observed. ``price`` None: no usable quote, and ``reason`` says why."""

    price: Decimal | None
    basis: str  # "mid", "last" or "close"; "" when missing
    source: str | None
    as_of: datetime | None
    reason: str = ""


@dataclass(frozen=True)
class Position:
    """A sleeve's net holding of one instrument, derived from its fills.

    A fill that has been reversed and its reversal are left out: the pair changes nothing (DECISIONS.md
    section 9). Prices and average cost are per unit, in points; the USD figures apply the instrument's
    multiplier. Realised P&L is before commissions; the commissions are listed beside it.
    """

    sleeve_code: str | None  # None: fills not yet attributed to a sleeve
    instrument: Instrument
    quantity: Decimal
    average_cost: Decimal | None  # per unit, in points; None when flat
    realized_pnl_points: Decimal  # per unit points x quantity, before the multiplier
    fill_count: int  # the fills that count (a reversed fill and its reversal do not)
    commissions_usd: Decimal = Decimal(0)  # the sum of the commissions that are known
    commissions_missing: int = 0  # fills whose commission the broker has not reported (not counted as 0)
    mark: Mark | None = None

    @property
    def multiplier(self) -> Decimal:
        return self.instrument.multiplier

    @property
    def realized_pnl_usd(self) -> Decimal:
        return self.realized_pnl_points * self.instrument.multiplier

    @property
    def mark_price(self) -> Decimal | None:
        return self.mark.price if self.mark is not None else None

    @property
    def market_value_usd(self) -> Decimal | None:
        """quantity x mark x multiplier; None (shown as missing, never 0) when there is no mark."""
        if self.quantity == 0:
            return Decimal(0)
        if self.mark_price is None:
            return None
        return self.quantity * self.mark_price * self.instrument.multiplier

    @property
    def unrealized_pnl_usd(self) -> Decimal | None:
        """(mark - average cost) x quantity x multiplier; None when there is no mark."""
        if self.quantity == 0:
            return Decimal(0)
        if self.mark_price is None or self.average_cost is None:
            return None
        return (self.mark_price - self.average_cost) * self.quantity * self.instrument.multiplier


def mark_of(instrument: Instrument, *, as_of: datetime | None = None) -> Mark:
    """The one mark every view values a position at: the latest stored quote of ``instrument`` observed by
    ``as_of`` (default: now), its mid, else last, else close. An invalid quote, or none, gives no price."""
    quote = (QuoteSnapshot.objects.filter(instrument=instrument, as_of__lte=as_of or clock.now())
             .order_by("-as_of", "-id").first())
    name = instrument.local_symbol or instrument.symbol
    observed = from_quote(name, quote, prefer=MARK_PREFERENCE)
    if observed.missing:
        reason = observed.reason if quote is not None else f"no stored quote for {name}"
        return Mark(None, "", quote.source if quote else None, quote.as_of if quote else None, reason=reason)
    return Mark(observed.value, observed.detail, observed.source, observed.as_of)


def positions_by_sleeve(
    *, as_of: datetime | None = None, sleeve: Sleeve | None = None, include_flat: bool = False
) -> list[Position]:
    """THE positions selector: net position, average cost, realised P&L, commissions and mark per
    (sleeve, instrument), from the fills up to ``as_of``. Every page, digest, command and check reads it.

    Average cost follows the average-cost method (sleeves.position_book). A reversed fill and its reversal are
    left out (counted_fills). Unattributed fills form their own group (sleeve_code None).

    The figures come from the positions table the fills keep (SleevePosition): a handful of rows whatever the
    number of fills. At an earlier ``as_of``, a position with a fill dated after it is replayed from its fills up to
    ``as_of`` (replay_book); the others are as the table has them. The table is read first, so a fill recorded
    meanwhile is either in the table or found dated after ``as_of``.
    """
    rows = SleevePosition.objects.select_related("sleeve", "instrument")
    if as_of is None:
        rows = rows.filter(fill_count__gt=0)
    if sleeve is not None:
        rows = rows.filter(sleeve=sleeve)
    rows = list(rows)
    late = set()
    if as_of is not None:
        fills = Fill.objects.filter(executed_at__gt=as_of)
        if sleeve is not None:
            fills = fills.filter(sleeve=sleeve)
        late = set(fills.order_by().values_list("sleeve_id", "instrument_id").distinct())
    marks: dict[int, Mark] = {}
    result = []
    for row in rows:
        key = (row.sleeve_id, row.instrument_id)
        book = replay_book(*key, as_of=as_of)[0] if key in late else row.book()
        if book.count == 0 or (book.held == 0 and not include_flat):
            continue
        instrument = row.instrument
        if instrument.pk not in marks:
            marks[instrument.pk] = mark_of(instrument, as_of=as_of)
        result.append(
            Position(
                sleeve_code=row.sleeve.code if row.sleeve_id else None,
                instrument=instrument,
                quantity=book.held,
                average_cost=book.average.quantize(Decimal("0.000001")) if book.held else None,
                realized_pnl_points=book.realised,
                fill_count=book.count,
                commissions_usd=book.commissions,
                commissions_missing=book.commissions_missing,
                mark=marks[instrument.pk],
            )
        )
    result.sort(key=lambda p: (p.sleeve_code or "~", p.instrument.sec_type, p.instrument.local_symbol))
    return result


def net_positions_by_instrument(*, as_of: datetime | None = None) -> dict[int, Decimal]:
    """Sum over all sleeves (and unattributed fills) per instrument id: what the broker should show."""
    return net_quantities(positions_by_sleeve(as_of=as_of))


def net_quantities(positions: list[Position]) -> dict[int, Decimal]:
    """The positions' quantities summed per instrument id over the sleeves; flat instruments left out."""
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for position in positions:
        totals[position.instrument.pk] += position.quantity
    return {key: value for key, value in totals.items() if value != 0}


def sleeve_settings(scope: str) -> dict[str, Any]:
    """The typed settings of a sleeve code (or parameters.BOOK), read fresh from the database.

    Raises parameters.ParameterError when a setting is missing or invalid: a run must not
    proceed on a threshold it cannot read.
    """
    rows = SleeveParameter.objects.filter(
        sleeve__isnull=True if scope == parameters.BOOK else False
    )
    if scope != parameters.BOOK:
        rows = rows.filter(sleeve__code=scope)
    return parameters.parse_settings(scope, dict(rows.values_list("key", "value")))


def watched_instruments() -> list[Instrument]:
    """What the book watches: SPY, VIX, VVIX, the DM ETFs, the front three VXM months and the config legs."""
    instruments = list(Instrument.objects.exclude(sec_type=SecType.FUTURE).order_by("sec_type", "symbol"))
    session = calendars.session_on_or_before(clock.trading_date(), exchange=calendars.CFE)
    months = vx.front_contracts(session, roll_sessions=sleeve_settings("VRP_CS")["roll_sessions_before"])
    futures = [vxm_instrument(cm) for cm in months]
    for position in SpreadPosition.objects.filter(is_active=True).select_related("short_leg", "long_leg"):
        for leg in (position.short_leg, position.long_leg):
            if leg.settlement_date and leg.settlement_date >= clock.trading_date() and leg not in futures:
                futures.append(leg)
    return instruments + futures


def latest_reconciliation() -> tuple[MonitorRun | None, list[dict]]:
    """The last reconciliation run and the breaks it stored. A damaged outputs field (not the mapping and
    list a run writes) gives no breaks rather than an error: the run itself still shows its status."""
    run = MonitorRun.objects.filter(kind=RunKind.RECONCILE).order_by("-started_at", "-id").first()
    outputs = run.outputs if run is not None and isinstance(run.outputs, dict) else {}
    breaks = outputs.get("breaks") or []
    return run, [b for b in breaks if isinstance(b, dict)] if isinstance(breaks, list) else []
