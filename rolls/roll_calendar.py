"""The roll calendar: the RollCycle rows (computed by dspops.core.vx), the countdown to a roll-by,
and the calendar's defaults for a VRP-CS position config the operator left blank.

The roll itself (plan, check, execute, verify) is rolls.roll_service.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from dspops.core import calendars, clock, vx
from rolls.models import RollCycle
from sleeves.models import default_levels
from sleeves.selectors import sleeve_settings


def roll_sessions_before() -> int:
    """N for roll-by, from the VRP-CS settings (5 unless the operator changed it)."""
    return sleeve_settings("VRP_CS")["roll_sessions_before"]


@dataclass(frozen=True)
class CalendarResult:
    created: int
    updated: int
    unchanged: int
    flagged: list[RollCycle]


@transaction.atomic
def generate_roll_calendar(*, from_year: int, to_year: int, sessions_before: int | None = None) -> CalendarResult:
    """Create or refresh the RollCycle rows for every contract month of the years given.

    The rule's dates are (re)computed; a plan the operator entered by hand is kept, and the
    rows whose plan differs from the rule are returned as flagged.
    """
    if from_year > to_year:
        raise ValueError(f"--from-year {from_year} is after --to-year {to_year}.")
    n = sessions_before if sessions_before is not None else roll_sessions_before()
    now = clock.now()
    existing = {c.contract_month: c for c in RollCycle.objects.filter(
        contract_month__gte=f"{from_year:04d}-01", contract_month__lte=f"{to_year:04d}-12")}
    created = updated = unchanged = 0
    for year in range(from_year, to_year + 1):
        for month in range(1, 13):
            dates = vx.contract_dates(vx.ContractMonth(year, month), sessions_before=n)
            cycle = existing.get(dates.contract.label)
            if cycle is None:
                RollCycle.objects.create(
                    contract_month=dates.contract.label, settlement_date=dates.settlement_date,
                    roll_by=dates.roll_by, sessions_before=n, generated_at=now,
                )
                created += 1
            elif (cycle.settlement_date, cycle.roll_by, cycle.sessions_before) != (
                dates.settlement_date, dates.roll_by, n
            ):
                cycle.settlement_date, cycle.roll_by, cycle.sessions_before = dates.settlement_date, dates.roll_by, n
                cycle.generated_at = now
                cycle.save(update_fields=["settlement_date", "roll_by", "sessions_before", "generated_at"])
                updated += 1
            else:
                unchanged += 1
    flagged = [c for c in RollCycle.objects.filter(
        contract_month__gte=f"{from_year:04d}-01", contract_month__lte=f"{to_year:04d}-12") if c.plan_differs]
    return CalendarResult(created, updated, unchanged, flagged)


def countdown(cycle_roll_by, *, today=None) -> tuple[int, int]:
    """(CFE sessions, calendar days) from today's session to a roll-by date."""
    today = today or clock.trading_date()
    return calendars.sessions_until(today, cycle_roll_by, exchange=calendars.CFE), (cycle_roll_by - today).days


def fill_spread_defaults(position) -> list[str]:
    """Fill what the operator left blank on a SpreadPosition, from the calendar and the settings.

    Settlement and roll-by come from the short leg's contract month; the entry spread from the
    entry prices; stop and take-profit from the default multiples when the entry spread is
    positive. Returns what was filled, in words. Never overwrites a value that was entered.
    """
    filled = []
    cs = sleeve_settings("VRP_CS")
    if position.short_leg_id and position.short_leg.contract_month:
        dates = vx.contract_dates(vx.ContractMonth.from_label(position.short_leg.contract_month),
                                  sessions_before=cs["roll_sessions_before"])
        if position.settlement_date is None:
            position.settlement_date = dates.settlement_date
            filled.append(f"settlement {dates.settlement_date} from the calendar")
        if position.roll_by is None:
            position.roll_by = dates.roll_by
            filled.append(f"roll-by {dates.roll_by} from the calendar")
    if position.entry_spread is None and position.short_entry_price is not None and position.long_entry_price is not None:
        position.entry_spread = position.long_entry_price - position.short_entry_price
        filled.append(f"entry spread {position.entry_spread} from the entry prices")
    if position.entry_spread is not None and (position.stop_loss_spread is None or position.take_profit_spread is None):
        levels = default_levels(position.entry_spread, stop_multiple=cs["default_stop_multiple"],
                                take_profit_multiple=cs["default_take_profit_multiple"])
        if levels is not None:
            if position.stop_loss_spread is None:
                position.stop_loss_spread = levels[0]
                filled.append(f"stop {levels[0]} (entry x {cs['default_stop_multiple']})")
            if position.take_profit_spread is None:
                position.take_profit_spread = levels[1]
                filled.append(f"take-profit {levels[1]} (entry x {cs['default_take_profit_multiple']})")
    return filled
