"""A demo book, so a new user sees a working app at once. Loaded by ``bootstrap --demo``
(``make run`` does it when IB_MODE=sim).

It is the simulator's ``calm_contango`` book as it stood before that scenario's executions: once
``sync_fills`` imports those (the warm-up does), the fills add up to exactly the broker's
positions, so reconciliation matches. The VRP-CS position config is the spread those executions
opened. Demo fills carry exec ids starting with DEMO- and say so in their note; loading twice adds
nothing.
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

from django.db import transaction

from dspops.core import calendars, clock
from dspops.core.models import Instrument
from dspops.core import vx
from sleeves.models import SpreadPosition
from dspops.core.instruments import vxm_instrument
from rolls.roll_calendar import fill_spread_defaults, roll_sessions_before
from sleeves.models import Fill, FillSource, Side, Sleeve

# (sleeve, symbol, shares, price): calm_contango's positions less its executions (SPY +2, SHY +40).
_STOCKS = [("VRP_ERP", "SPY", 11, "612.35"), ("DM", "EEM", 220, "47.10"), ("DM", "EFA", 127, "84.20"),
           ("DM", "GLD", 30, "340.50"), ("DM", "SHY", 500, "82.70")]
# The spread calm_contango's executions opened: SELL front at 17.45, BUY second at 18.10.
_SHORT_ENTRY, _LONG_ENTRY = Decimal("17.45"), Decimal("18.10")


def demo_fill_time() -> datetime:
    """11:00 New York on the fifth NYSE session before today: a book is bought on a trading day, and
    before the scenario's executions (counted back over sessions from now, a day or so at most)."""
    today = calendars.session_on_or_before(clock.trading_date())
    day = calendars.session_offset(today, -5)
    return datetime.combine(day, time(11, 0), calendars.NEW_YORK)


@transaction.atomic
def load_demo() -> list[str]:
    done: list[str] = []
    executed_at = demo_fill_time()
    for sleeve_code, symbol, quantity, price in _STOCKS:
        if Fill.objects.filter(exec_id=f"DEMO-{symbol}").exists():
            continue
        Fill.objects.create(
            sleeve=Sleeve.objects.get(code=sleeve_code),
            instrument=Instrument.objects.get(local_symbol=symbol, sec_type="STK"),
            side=Side.BUY, quantity=Decimal(quantity), price=Decimal(price), commission=Decimal("1.00"),
            executed_at=executed_at, exec_id=f"DEMO-{symbol}", order_ref="demo", source=FillSource.SIMULATED,
            note="demo data",
        )
        done.append(f"fill BUY {quantity} {symbol} @ {price}")
    sleeve = Sleeve.objects.get(code="VRP_CS")
    if not SpreadPosition.objects.filter(sleeve=sleeve, is_active=True).exists():
        session = calendars.session_on_or_before(clock.trading_date(), exchange=calendars.CFE)
        front, second, _ = vx.front_contracts(session, roll_sessions=roll_sessions_before())
        position = SpreadPosition(
            sleeve=sleeve, short_leg=vxm_instrument(front), long_leg=vxm_instrument(second), quantity=1,
            short_entry_price=_SHORT_ENTRY, long_entry_price=_LONG_ENTRY, entry_date=session,
            note="demo position (the simulator's calm_contango spread)",
        )
        fill_spread_defaults(position)
        position.full_clean()
        position.save()
        done.append(f"VRP-CS position {position}")
    return done
