"""Positions and account values read from what TWS sent: BrokerPositions (flat ones left out;
an absurd quantity or avg cost is a GatewayError, for positions cannot be half read), and the
AccountValues of an account summary (an absurd figure is None, with the reason in `problems`).
Plain Python: it reads the attributes of ib_insync's Position and AccountValue rows without
importing it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterable

from dspops.core import bounds

from .errors import GatewayError
from .tws_values import bounded, contract_multiplier
from .types import AccountValues, BrokerPosition

__all__ = ["ACCOUNT_TAGS", "account_values_from_summary", "broker_positions"]

UTC = timezone.utc

# The account summary tags dspops asks for, and the AccountValues field of each.
ACCOUNT_TAGS = {
    "NetLiquidation": "net_liquidation",
    "ExcessLiquidity": "excess_liquidity",
    "MaintMarginReq": "maint_margin_req",
    "AvailableFunds": "available_funds",
    "TotalCashValue": "total_cash_value",
}


def broker_positions(raw: Iterable[Any], *, now: datetime, simulated: bool) -> list[BrokerPosition]:
    """Every position TWS sent that is not flat, sorted by (account, conId)."""
    out = []
    for p in raw:
        c = p.contract
        try:
            quantity = bounded(p.position, "position", "quantity", bounds.QUANTITY_DIGITS)
            # TWS's avg cost is per unit x multiplier: bounded like an account figure, in the price column.
            avg_cost = bounded(p.avgCost, "avg cost", "account_value", bounds.PRICE_DIGITS)
        except bounds.OutOfBounds as exc:
            raise GatewayError(
                f"TWS sent an unreadable position for {c.localSymbol or c.symbol} "
                f"(position {p.position!r}, avg cost {p.avgCost!r}: {exc}); positions cannot be read"
            ) from None
        if quantity == 0:
            continue
        out.append(
            BrokerPosition(
                account=p.account,
                con_id=int(c.conId),
                symbol=c.symbol,
                sec_type=c.secType,
                local_symbol=c.localSymbol,
                quantity=quantity,
                avg_cost=avg_cost,
                multiplier=contract_multiplier(c.multiplier, c.localSymbol or c.symbol),
                as_of=now,
                source="broker",
                simulated=simulated,
                exchange=c.exchange,
                currency=c.currency,
                last_trade_date=c.lastTradeDateOrContractMonth,
            )
        )
    return sorted(out, key=lambda p: (p.account, p.con_id))


def account_values_from_summary(
    rows: Iterable[Any], *, account: str, simulated: bool
) -> AccountValues:
    """The AccountValues of `account` from its summary rows. A figure TWS does not send is None,
    never 0."""
    values: dict[str, Decimal | None] = {}
    currencies: dict[str, str] = {}
    problems: dict[str, str] = {}
    for row in rows:
        if row.tag in ACCOUNT_TAGS and row.currency != "BASE":
            try:
                value = bounds.check_plausible(row.value, row.tag, "account_value", digits=bounds.MONEY_DIGITS)
            except bounds.OutOfBounds as exc:
                value = None
                problems[row.tag] = f"absurd value from the broker, not used: {exc}"[:300]
            else:
                problems.pop(row.tag, None)
            values[ACCOUNT_TAGS[row.tag]] = value
            currencies[row.tag] = row.currency
    return AccountValues(
        account=account,
        net_liquidation=values.get("net_liquidation"),
        excess_liquidity=values.get("excess_liquidity"),
        maint_margin_req=values.get("maint_margin_req"),
        available_funds=values.get("available_funds"),
        total_cash_value=values.get("total_cash_value"),
        currency=currencies.get("NetLiquidation") or next(iter(currencies.values()), ""),
        as_of=datetime.now(UTC),
        source="broker",
        simulated=simulated,
        problems=tuple(problems.values()),
    )
