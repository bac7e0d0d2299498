"""Executions read from the fills TWS reported: one Execution per fill at or after the time asked
for, with its commission when TWS reported one (None if not), every number bounded and its time
not in the future. Combo-level reports (secType BAG) are left out; their legs are reported. An
unknown side or an absurd value is a GatewayError: no execution is read. Plain Python: it reads
the attributes of ib_insync's Fill without importing it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

from dspops.core import bounds

from .errors import GatewayError
from .tws_values import bounded, contract_multiplier, finite_decimal, finite_number, plausible_kind
from .types import Execution

__all__ = ["executions_from_fills"]

UTC = timezone.utc


def executions_from_fills(
    fills: Iterable[Any],
    *,
    known: dict[str, Any],
    since_utc: datetime,
    now: datetime,
    simulated: bool,
) -> list[Execution]:
    """The Executions of `fills` at or after `since_utc`, sorted by (time, execId).

    `known` maps an execId to the first Fill ib_insync saw for it: the one its commission
    report updates.
    """
    out = []
    for fill in fills:
        ex, c = fill.execution, fill.contract
        if c.secType == "BAG":
            continue
        executed_at = ex.time if ex.time.tzinfo else ex.time.replace(tzinfo=UTC)
        executed_at = executed_at.astimezone(UTC)
        if executed_at < since_utc:
            continue
        side = {"BOT": "BUY", "SLD": "SELL", "BUY": "BUY", "SELL": "SELL"}.get(ex.side)
        if side is None:
            raise GatewayError(f"TWS sent execution {ex.execId} with an unknown side {ex.side!r}")
        report = known.get(ex.execId, fill).commissionReport
        has_report = report.execId == ex.execId and finite_number(report.commission) is not None
        quantity, price = finite_decimal(ex.shares), finite_decimal(ex.price)
        if quantity is None or price is None:
            raise GatewayError(f"TWS sent execution {ex.execId} without a readable quantity/price")
        try:
            quantity = bounded(ex.shares, "quantity", "quantity", bounds.QUANTITY_DIGITS)
            price = bounded(ex.price, "price", plausible_kind(c.secType), bounds.PRICE_DIGITS)
            commission = (bounded(report.commission, "commission", "commission", bounds.PRICE_DIGITS)
                          if has_report else None)
            bounds.check_execution_time(executed_at, now, "execution time")
        except bounds.OutOfBounds as exc:
            raise GatewayError(
                f"TWS sent execution {ex.execId} ({c.localSymbol or c.symbol}) with an absurd value: {exc}. "
                "No execution was read; check the execution in TWS."
            ) from None
        out.append(
            Execution(
                exec_id=ex.execId,
                con_id=int(c.conId),
                symbol=c.symbol,
                sec_type=c.secType,
                local_symbol=c.localSymbol,
                side=side,
                quantity=quantity,
                price=price,
                executed_at=executed_at,
                order_ref=ex.orderRef,
                account=ex.acctNumber,
                commission=commission,
                commission_currency=report.currency if has_report else "",
                perm_id=int(ex.permId),
                order_id=int(ex.orderId),
                source="broker",
                simulated=simulated,
                exchange=ex.exchange,
                multiplier=contract_multiplier(c.multiplier, c.localSymbol or c.symbol) if c.multiplier else None,
            )
        )
    return sorted(out, key=lambda e: (e.executed_at, e.exec_id))
