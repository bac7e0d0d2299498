"""A qualified contract read from TWS's contract details: the one QualifiedContract dspops keeps
for a ContractSpec, with its multiplier bounded, its last trade date read and its minimum tick.
Plain Python: it reads the attributes of ib_insync's ContractDetails without importing it.
"""

from __future__ import annotations

from typing import Any

from .tws_values import contract_multiplier, finite_decimal, finite_number, parse_ib_date
from .types import ContractSpec, QualifiedContract

__all__ = ["qualified_contract"]


def qualified_contract(spec: ContractSpec, cd: Any) -> QualifiedContract:
    """The QualifiedContract of `spec` from the one ContractDetails TWS matched it to."""
    c = cd.contract
    return QualifiedContract(
        con_id=int(c.conId),
        symbol=c.symbol,
        sec_type=c.secType,
        exchange=spec.exchange or c.exchange,
        currency=c.currency,
        local_symbol=c.localSymbol,
        multiplier=contract_multiplier(c.multiplier, c.localSymbol or c.symbol),
        last_trade_date=parse_ib_date(c.lastTradeDateOrContractMonth),
        min_tick=finite_decimal(cd.minTick) if (finite_number(cd.minTick) or 0) > 0 else None,
        trading_class=c.tradingClass,
        primary_exchange=c.primaryExchange,
        long_name=cd.longName,
    )
