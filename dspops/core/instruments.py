"""Instruments made from the VX contract calendar, never typed by hand."""

from __future__ import annotations

from decimal import Decimal

from dspops.core import vx
from dspops.core.models import Instrument, SecType


def vxm_instrument(cm: vx.ContractMonth) -> Instrument:
    """The Instrument row for a VXM contract month, created from the calendar when missing."""
    instrument, _ = Instrument.objects.get_or_create(
        sec_type=SecType.FUTURE,
        exchange="CFE",
        local_symbol=cm.local_symbol("VXM"),
        contract_month=cm.label,
        defaults={
            "symbol": "VXM",
            "currency": "USD",
            "multiplier": Decimal("100"),
            "settlement_date": vx.settlement_date(cm),
            "min_tick": Decimal("0.01"),
            "description": f"Mini VIX futures {cm.label}",
        },
    )
    return instrument
