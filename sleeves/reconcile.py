"""Reconciliation: the broker's position in each contract against the sum of the sleeves' fills.

DECISIONS.md section 5: the broker's per-contract totals must equal the sum over the sleeves
(unattributed fills included). Every difference is a break and a critical alert; an alert is
resolved by the first run in which its contract matches again. When the broker cannot be read
the run is DATA UNAVAILABLE and ReconcileError is raised: it never reports "no breaks".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction

from dspops.core import clock, formats
from dspops.core.alerts import raise_alert, resolve_alerts
from dspops.core.broker.errors import GatewayError
from dspops.core.broker_sync import open_gateway

if TYPE_CHECKING:  # the gateway module imports ib_insync: only a broker read pays for it (start-up cost)
    from dspops.core.broker.gateway import Gateway
from dspops.core.broker.types import BrokerPosition
from dspops.core.errors import OperatorError
from dspops.core.models import Instrument
from sleeves import naked_legs
from sleeves.naked_legs import NakedLeg
from sleeves.fill_import import InstrumentMatchError, find_instrument
from sleeves.models import MonitorRun, RunKind, RunStatus
from sleeves.selectors import Position, net_quantities, positions_by_sleeve
from sleeves.services import positions_table_differences

__all__ = ["BREAK_ALERT", "Break", "ReconcileError", "ReconcileReport", "reconcile"]

BREAK_ALERT = "reconciliation_break"
OUT_OF_STEP_ALERT = "positions_out_of_step"
NO_INSTRUMENT = "no instrument in dspops"


class ReconcileError(OperatorError):
    """The broker's positions could not be read, so nothing was reconciled."""


@dataclass(frozen=True)
class Break:
    """A contract whose broker position differs from the sum of the sleeves' fills."""

    local_symbol: str
    con_id: int | None
    broker_quantity: Decimal
    fills_quantity: Decimal
    difference: Decimal  # broker - fills
    note: str = ""  # e.g. "no instrument in dspops"

    @property
    def subject(self) -> str:
        return self.local_symbol or f"conId {self.con_id}"

    @property
    def message(self) -> str:
        broker, fills = formats.quantity(self.broker_quantity), formats.quantity(self.fills_quantity)
        head = f"{self.subject}: broker {broker}, fills {fills}"
        if self.note:
            head += f" ({self.note})"
        return f"{head}. {self.advice}; until then the sleeves' positions do not add up to the account."

    @property
    def advice(self) -> str:
        """What to do, by the way the break goes: the broker holds more than the fills explain (fills are
        missing), or the fills show more than the broker holds (the recorded fills are not at the broker)."""
        if self.note == NO_INSTRUMENT:
            return "Add the instrument, then record its fills (sync_fills or the fill form), or close the position"
        if self.note:
            return "Check the instrument in the admin, then run reconcile again"
        broker, fills = self.broker_quantity, self.fills_quantity
        gap = formats.quantity(abs(abs(broker) - abs(fills)))
        if broker != 0 and fills != 0 and (broker > 0) != (fills > 0):
            return (f"The broker is {_side(broker)} and the fills {_side(fills)}: check the executions in TWS, "
                    "pull or record the fills that are missing (sync_fills or the fill form) and reverse any fill "
                    "recorded by mistake")
        if abs(broker) > abs(fills):
            return (f"The broker holds {gap} more than the recorded fills: record or pull the missing fills "
                    "(sync_fills, import_fills or the fill form) and attribute them to a sleeve")
        return (f"The recorded fills show {gap} more than the broker holds: those fills are not at the broker. "
                "Check the executions in TWS and reverse the fills recorded by mistake (or record the fills "
                "that closed the position)")

    def as_dict(self) -> dict:
        return {
            "local_symbol": self.local_symbol, "con_id": self.con_id,
            "broker_quantity": formats.quantity(self.broker_quantity),
            "fills_quantity": formats.quantity(self.fills_quantity), "difference": formats.quantity(self.difference),
            "note": self.note,
        }


def _side(quantity: Decimal) -> str:
    return f"long {formats.quantity(quantity)}" if quantity > 0 else f"short {formats.quantity(-quantity)}"


@dataclass(frozen=True)
class ReconcileReport:
    breaks: list[Break]
    matched: int  # contracts whose broker position equals the fills
    simulated: bool
    as_of: datetime
    run_id: int | None = None
    positions: tuple[Position, ...] = ()  # the book's positions compared (the one selector's answer)
    naked_legs: tuple[NakedLeg, ...] = ()  # VXM held at the broker other than the configured spread
    naked_legs_not_compared: str = ""  # why the broker's VXM holding was not compared with the config, if not
    positions_out_of_step: tuple[str, ...] = ()  # where the positions table differs from a replay of the fills

    @property
    def ok(self) -> bool:
        return not self.breaks


def reconcile(*, gateway: Gateway | None = None, role: str = "shell", triggered_by: str = "command") -> ReconcileReport:
    """Compare the broker's positions with the fills; store the run; raise or resolve the break alerts.

    Raises ReconcileError (run stored as DATA UNAVAILABLE, alerts left as they were) when the
    broker cannot be read.
    """
    started = clock.now()
    try:
        if gateway is None:
            with open_gateway(role) as opened:
                positions, simulated = opened.positions(), opened.simulated
        else:
            positions, simulated = gateway.positions(), gateway.simulated
    except GatewayError as exc:
        reason = f"The broker's positions could not be read: {exc}"
        with transaction.atomic():
            MonitorRun.objects.create(
                kind=RunKind.RECONCILE, trading_date=clock.current_session(), started_at=started,
                finished_at=clock.now(), status=RunStatus.DATA_UNAVAILABLE, reason=reason,
                simulated=gateway is not None and gateway.simulated,
                triggered_by=triggered_by,
            )
        raise ReconcileError(f"{reason} Nothing was reconciled; run reconcile again when TWS is up.") from exc

    as_of = max((p.as_of for p in positions), default=started)
    with transaction.atomic():
        out_of_step = _check_positions_table()
        book = positions_by_sleeve()
        breaks, matched = _compare(positions, book=book, near=clock.trading_date(started))
        for b in breaks:
            raise_alert(code=BREAK_ALERT, subject=b.subject, severity="critical", message=b.message)
        resolve_alerts(code=BREAK_ALERT, keep_subjects=[b.subject for b in breaks])
        # The same naked_leg alert the VRP-CS monitor raises from the same positions (DECISIONS.md section 3).
        naked, naked_not_compared = naked_legs.check_broker_positions(positions, session=clock.trading_date(started))
        run = MonitorRun.objects.create(
            kind=RunKind.RECONCILE, trading_date=clock.current_session(), started_at=started,
            finished_at=clock.now(), status=RunStatus.OK, simulated=simulated, triggered_by=triggered_by,
            inputs={"broker_positions": len(positions)},
            sources={"positions": {"source": "simulated" if simulated else "broker", "as_of": as_of.isoformat()},
                     "fills": {"source": "stored", "as_of": started.isoformat()}},
            outputs={"breaks": [b.as_dict() for b in breaks], "matched": matched, "simulated": simulated,
                     "naked_legs": [leg.as_dict() for leg in naked] if naked is not None else None,
                     "naked_legs_not_compared": naked_not_compared,
                     "positions_out_of_step": list(out_of_step),
                     "positions": [position_as_dict(p) for p in book]},
        )
    return ReconcileReport(breaks=breaks, matched=matched, simulated=simulated, as_of=as_of, run_id=run.pk,
                           positions=tuple(book), naked_legs=tuple(naked or ()),
                           naked_legs_not_compared=naked_not_compared, positions_out_of_step=out_of_step)


def _check_positions_table() -> tuple[str, ...]:
    """The positions table against a replay of every fill, once a day with the broker's positions: a write that
    went around the fills' upkeep (raw SQL, a restored backup) is found and named, never trusted silently.
    Raises or resolves the one critical positions_out_of_step alert."""
    differences, _ = positions_table_differences()
    said = tuple(str(d) for d in differences)
    if said:
        raise_alert(code=OUT_OF_STEP_ALERT, subject="positions table", severity="critical",
                    message=f"The positions table differs from the fills in {formats.plural(len(said), 'figure')}: "
                            + "; ".join(said[:10]) + ("; …" if len(said) > 10 else "")
                            + ". Run manage.py rebuild_positions, then reconcile again.")
    resolve_alerts(code=OUT_OF_STEP_ALERT, keep_subjects=["positions table"] if said else [])
    return said


def position_as_dict(p: Position) -> dict:
    """The book's position as the run stores it: every figure in the kernel's formats (missing, never 0)."""
    mark = p.mark
    return {
        "sleeve": p.sleeve_code, "local_symbol": p.instrument.local_symbol, "con_id": p.instrument.con_id,
        "quantity": formats.quantity(p.quantity), "average_cost": formats.price(p.average_cost),
        "multiplier": formats.quantity(p.multiplier), "mark": formats.price(p.mark_price),
        "mark_basis": mark.basis if mark else "", "mark_source": mark.source if mark else None,
        "mark_as_of": formats.iso_moment(mark.as_of) if mark and mark.as_of else None,
        "market_value_usd": formats.usd(p.market_value_usd),
        "unrealized_pnl_usd": formats.usd(p.unrealized_pnl_usd, with_sign=True),
        "realized_pnl_usd": formats.usd(p.realized_pnl_usd, with_sign=True),
        "commissions_usd": formats.usd(p.commissions_usd), "commissions_missing": p.commissions_missing,
    }


def _compare(positions: list[BrokerPosition], *, book: list[Position], near: date) -> tuple[list[Break], int]:
    broker: dict[int, Decimal] = {}
    first: dict[int, BrokerPosition] = {}
    for p in positions:  # one contract may be held in several accounts
        broker[p.con_id] = broker.get(p.con_id, Decimal(0)) + p.quantity
        first.setdefault(p.con_id, p)
    fills = net_quantities(book)
    breaks: list[Break] = []
    matched = 0
    seen: set[int] = set()
    for con_id, quantity in broker.items():
        p = first[con_id]
        try:
            instrument = find_instrument(
                con_id=con_id, sec_type=p.sec_type, symbol=p.symbol, local_symbol=p.local_symbol or p.symbol,
                near=near, expiry=_expiry(p.last_trade_date),
            )
        except InstrumentMatchError as exc:
            breaks.append(Break(p.local_symbol, con_id, quantity, Decimal(0), quantity, note=str(exc)))
            continue
        if instrument is None:
            breaks.append(Break(p.local_symbol, con_id, quantity, Decimal(0), quantity,
                                note=NO_INSTRUMENT))
            continue
        seen.add(instrument.pk)
        held = fills.get(instrument.pk, Decimal(0))
        if quantity == held:
            matched += 1
        else:
            breaks.append(Break(instrument.local_symbol, con_id, quantity, held, quantity - held))
    leftovers = Instrument.objects.in_bulk([pk for pk in fills if pk not in seen])
    for pk, instrument in leftovers.items():
        held = fills[pk]
        breaks.append(Break(instrument.local_symbol, instrument.con_id, Decimal(0), held, -held))
    breaks.sort(key=lambda b: b.subject)
    return breaks, matched


def _expiry(text: str) -> date | None:
    text = (text or "").strip()
    if len(text) == 8 and text.isdigit():
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    return None
