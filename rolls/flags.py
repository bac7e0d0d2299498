"""What is wrong with a VRP-CS position config, in the operator's words."""

from __future__ import annotations

from datetime import date

from dspops.core import bounds, vx
from rolls.roll_calendar import roll_sessions_before
from sleeves.models import SpreadPosition


def rule_dates(position: SpreadPosition) -> vx.ContractDates | None:
    """The calendar's settlement and roll-by for the short leg, or None if it is not a VX month."""
    month = position.short_leg.contract_month
    if not month:
        return None
    return vx.contract_dates(vx.ContractMonth.from_label(month), sessions_before=roll_sessions_before())


def spread_position_flags(position: SpreadPosition, *, today: date) -> list[str]:
    """Every reason an operator should look at this config before trusting it."""
    flags = []
    for label, day in (("Roll-by", position.roll_by), ("Settlement", position.settlement_date),
                       ("Entry date", position.entry_date)):
        if day is not None and not bounds.EARLIEST_DATE <= day <= bounds.LATEST_DATE:
            flags.append(f"{label} {day} is outside {bounds.EARLIEST_DATE} to {bounds.LATEST_DATE}: correct the "
                         "position config before trusting it.")
    dates = rule_dates(position)
    if dates is not None:
        if position.settlement_date != dates.settlement_date:
            flags.append(
                f"Settlement {position.settlement_date} was entered by hand; the calendar says "
                f"{dates.settlement_date} for {position.short_leg}."
            )
        if position.roll_by != dates.roll_by:
            flags.append(
                f"Roll-by {position.roll_by} was entered by hand; the calendar says {dates.roll_by} "
                f"({dates.contract} contract, {roll_sessions_before()} CFE sessions before settlement)."
            )
    expiry = position.short_leg.settlement_date
    if expiry is not None and expiry <= today:
        flags.append(
            f"The short leg {position.short_leg} settled on {expiry}: this config no longer describes a "
            "live position. Reconcile it with the broker before monitoring or rolling."
        )
    return flags
