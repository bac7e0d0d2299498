"""Read-only queries across the sleeve models."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from dspops.core import calendars, clock, vx
from dspops.core.instruments import vxm_instrument
from dspops.core.models import Instrument, SecType
from sleeves import parameters
from sleeves.models import Fill, MonitorRun, RunKind, Side, Sleeve, SleeveParameter, SpreadPosition


@dataclass(frozen=True)
class Position:
    """A sleeve's net holding of one instrument, derived from its fills."""

    sleeve_code: str | None  # None: fills not yet attributed to a sleeve
    instrument: Instrument
    quantity: Decimal
    average_cost: Decimal | None  # per unit, in points; None when flat
    realized_pnl_points: Decimal  # per unit points x quantity, before the multiplier
    fill_count: int

    @property
    def realized_pnl_usd(self) -> Decimal:
        return self.realized_pnl_points * self.instrument.multiplier


def positions_by_sleeve(
    *, as_of: datetime | None = None, sleeve: Sleeve | None = None, include_flat: bool = False
) -> list[Position]:
    """Net position and average cost per (sleeve, instrument), from fills up to ``as_of``.

    Average cost follows the average-cost method: adding to a position moves the average,
    reducing it realises P&L at the average, and crossing through zero starts a new average at
    the crossing fill's price. Unattributed fills form their own group (sleeve_code None).
    """
    fills = Fill.objects.all()
    if as_of is not None:
        fills = fills.filter(executed_at__lte=as_of)
    if sleeve is not None:
        fills = fills.filter(sleeve=sleeve)
    rows = fills.order_by("executed_at", "id").values_list(
        "sleeve__code", "instrument_id", "side", "quantity", "price"
    )
    books: dict[tuple[str | None, int], list[Decimal]] = defaultdict(
        lambda: [Decimal(0), Decimal(0), Decimal(0), 0]  # quantity, average, realised, count
    )
    for sleeve_code, instrument_id, side, quantity, price in rows.iterator(chunk_size=5000):
        book = books[(sleeve_code, instrument_id)]
        held, average, realised, count = book
        signed = quantity if side == Side.BUY else -quantity
        if held == 0 or (held > 0) == (signed > 0):
            new_held = held + signed
            average = (average * abs(held) + price * abs(signed)) / abs(new_held)
        else:
            closing = min(abs(signed), abs(held))
            direction = 1 if held > 0 else -1
            realised += (price - average) * closing * direction
            new_held = held + signed
            if new_held == 0:
                average = Decimal(0)
            elif (new_held > 0) != (held > 0):
                average = price
        books[(sleeve_code, instrument_id)] = [new_held, average, realised, count + 1]
    instruments = Instrument.objects.in_bulk({key[1] for key in books})
    result = []
    for (sleeve_code, instrument_id), (held, average, realised, count) in books.items():
        if held == 0 and not include_flat:
            continue
        result.append(
            Position(
                sleeve_code=sleeve_code,
                instrument=instruments[instrument_id],
                quantity=held,
                average_cost=average.quantize(Decimal("0.000001")) if held else None,
                realized_pnl_points=realised,
                fill_count=count,
            )
        )
    result.sort(key=lambda p: (p.sleeve_code or "~", p.instrument.sec_type, p.instrument.local_symbol))
    return result


def net_positions_by_instrument(*, as_of: datetime | None = None) -> dict[int, Decimal]:
    """Sum over all sleeves (and unattributed fills) per instrument id: what the broker should show."""
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for position in positions_by_sleeve(as_of=as_of):
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
