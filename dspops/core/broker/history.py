"""Daily closes read from the bars TWS sent for a historical data request, oldest first. No bars,
or a bar without a usable close or date (absurd, or outside the bounds), is a GatewayError: the
history cannot be used in part. Plain Python: it reads the attributes of ib_insync's BarData
without importing it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Sequence

from dspops.core import bounds

from .errors import GatewayError
from .tws_values import finite_decimal, plausible_kind
from .types import DailyClose, QualifiedContract

__all__ = ["daily_closes_from_bars"]


def daily_closes_from_bars(
    contract: QualifiedContract, bars: Sequence[Any], *, days: int, simulated: bool
) -> list[DailyClose]:
    """The last `days` daily closes of `contract` in `bars`, oldest first."""
    if not bars:
        raise GatewayError(f"TWS returned no daily history for {contract.local_symbol} ({days} days)")
    out = []
    kind = plausible_kind(contract.sec_type)
    for bar in bars:
        close = finite_decimal(bar.close)
        day = bar.date.date() if isinstance(bar.date, datetime) else bar.date
        problem = ""
        if close is not None and close > 0 and isinstance(day, date):
            try:
                close = bounds.check_plausible(close, "close", kind, digits=bounds.PRICE_DIGITS)
                bounds.check_date(day, "bar date")
            except bounds.OutOfBounds as exc:
                problem = f": {exc}"
        if problem or close is None or close <= 0 or not isinstance(day, date):
            raise GatewayError(
                f"TWS sent an unusable daily bar for {contract.local_symbol} "
                f"({bar.date!r}, close {bar.close!r}{problem}); the history cannot be used"
            )
        out.append(DailyClose(contract.con_id, contract.local_symbol, day, close, "broker", simulated))
    return out[-days:]
