"""A small demo history, so a new user sees a populated admin. Loaded by ``bootstrap --demo``.

Demo fills carry exec ids starting with DEMO- and a note saying so; loading twice adds nothing.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import transaction

from dspops import calendars, clock
from dspops.models import Instrument
from rolls import vx
from rolls.models import SpreadPosition, default_levels
from rolls.services import roll_sessions_before, vxm_instrument
from sleeves.models import Fill, FillSource, Side, Sleeve
from sleeves.selectors import sleeve_settings

_STOCKS = [("VRP_ERP", "SPY", 13, "681.40"), ("DM", "EEM", 220, "56.84"), ("DM", "EFA", 127, "98.14"),
           ("DM", "GLD", 30, "408.48"), ("DM", "SHY", 540, "82.91")]


@transaction.atomic
def load_demo() -> list[str]:
    done: list[str] = []
    session = clock.current_session()
    executed_at = clock.now() - timedelta(days=7)
    for sleeve_code, symbol, quantity, price in _STOCKS:
        _fill(f"DEMO-{symbol}", sleeve_code, Instrument.objects.get(local_symbol=symbol, sec_type="STK"),
              Side.BUY, quantity, price, executed_at, done)
    front, second, _ = vx.front_contracts(calendars.session_on_or_before(session, exchange="XCBF"),
                                          roll_sessions=roll_sessions_before())
    short_leg, long_leg = vxm_instrument(front), vxm_instrument(second)
    _fill(f"DEMO-{short_leg}", "VRP_CS", short_leg, Side.SELL, 1, "17.45", executed_at, done)
    _fill(f"DEMO-{long_leg}", "VRP_CS", long_leg, Side.BUY, 1, "18.55", executed_at, done)
    sleeve = Sleeve.objects.get(code="VRP_CS")
    if not SpreadPosition.objects.filter(sleeve=sleeve, is_active=True).exists():
        cs = sleeve_settings("VRP_CS")
        entry = Decimal("1.10")
        stop, take_profit = default_levels(entry, stop_multiple=cs["default_stop_multiple"],
                                           take_profit_multiple=cs["default_take_profit_multiple"])
        dates = vx.contract_dates(front, sessions_before=cs["roll_sessions_before"])
        SpreadPosition.objects.create(
            sleeve=sleeve, short_leg=short_leg, long_leg=long_leg, quantity=1,
            short_entry_price=Decimal("17.45"), long_entry_price=Decimal("18.55"),
            entry_date=calendars.trading_date(executed_at), entry_spread=entry,
            stop_loss_spread=stop, take_profit_spread=take_profit,
            settlement_date=dates.settlement_date, roll_by=dates.roll_by, note="demo position",
        )
        done.append(f"VRP-CS position -1 {short_leg} / +1 {long_leg} at {entry}")
    return done


def _fill(exec_id, sleeve_code, instrument, side, quantity, price, executed_at, done):
    if Fill.objects.filter(exec_id=exec_id).exists():
        return
    Fill.objects.create(
        sleeve=Sleeve.objects.get(code=sleeve_code), instrument=instrument, side=side,
        quantity=Decimal(quantity), price=Decimal(price), commission=Decimal("1.00"),
        executed_at=executed_at, exec_id=exec_id, order_ref=f"demo", source=FillSource.SIMULATED,
        note="demo data",
    )
    done.append(f"fill {side} {quantity} {instrument} @ {price}")
