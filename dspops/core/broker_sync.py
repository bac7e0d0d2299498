"""Read the broker through the gateway and store what it said: quotes, positions, account values.

The only place that turns Instrument rows into broker contracts and back. Everything stored
carries its source and as-of time; a quote the gateway judged unusable is stored as invalid,
with its reason, never as a number that looks usable.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction

from dspops.core import bounds
from typing import TYPE_CHECKING

from dspops.core.broker.errors import GatewayError
from dspops.core.broker.types import ContractSpec, QualifiedContract, Quote

if TYPE_CHECKING:  # ib_insync loads only when a connection is made, not at start-up
    from dspops.core.broker.gateway import Gateway
from dspops.core.models import BrokerSnapshot, DataSource, Instrument, QuoteSnapshot, SecType

__all__ = ["GatewayError", "open_gateway", "qualify", "record_quotes", "refresh_broker_snapshot",
           "quote_source"]


def open_gateway(role: str) -> "Gateway":
    """A connected gateway for a role (web, worker, shell); use it as a context manager."""
    # Lazy for start-up cost: only a broker read needs ib_insync (about 0.3 s to import).
    from dspops.core.broker.gateway import Gateway, GatewayConfig

    return Gateway(GatewayConfig.from_settings(role))


def contract_spec(instrument: Instrument) -> ContractSpec:
    if instrument.sec_type == SecType.STOCK:
        return ContractSpec.stock(instrument.symbol, "SMART", instrument.currency)
    if instrument.sec_type == SecType.INDEX:
        return ContractSpec.index(instrument.symbol, instrument.exchange, instrument.currency)
    month = instrument.contract_month.replace("-", "")
    return ContractSpec.future(instrument.symbol, month, exchange=instrument.exchange,
                               currency=instrument.currency, local_symbol=instrument.local_symbol)


def qualify(gateway: "Gateway", instruments: Iterable[Instrument]) -> dict[int, QualifiedContract]:
    """Qualify instruments with the broker and record their conIds. Keyed by Instrument pk."""
    instruments = list(instruments)
    contracts = gateway.qualify([contract_spec(i) for i in instruments])
    result = {}
    for instrument, contract in zip(instruments, contracts):
        if instrument.con_id != contract.con_id:
            if instrument.con_id is not None:
                raise GatewayError(
                    f"{instrument} is conId {instrument.con_id} in dspops but the broker says {contract.con_id}. "
                    "Check the instrument in the admin before trading on it."
                )
            instrument.con_id = contract.con_id
            if contract.min_tick and not instrument.min_tick:
                instrument.min_tick = contract.min_tick
            instrument.save(update_fields=["con_id", "min_tick"])
        result[instrument.pk] = contract
    return result


def quote_source(quote: Quote) -> str:
    """Delayed or frozen data says so even from the simulator; live data from it says simulated."""
    kind = {"frozen": DataSource.FROZEN, "delayed": DataSource.DELAYED,
            "delayed-frozen": DataSource.DELAYED_FROZEN}.get(quote.source)
    if kind is not None:
        return kind
    return DataSource.SIMULATED if quote.simulated else DataSource.LIVE


def record_quotes(
    gateway: "Gateway", instruments: Iterable[Instrument], *, max_age_s: float = 60, allow_delayed: bool = False,
    timeout: float | None = None,
) -> dict[int, QuoteSnapshot]:
    """One snapshot of every instrument at once, stored as QuoteSnapshot rows (keyed by pk)."""
    instruments = list(instruments)
    contracts = qualify(gateway, instruments)
    quotes = gateway.quotes([contracts[i.pk] for i in instruments], timeout=timeout, max_age_s=max_age_s,
                            allow_delayed=allow_delayed)
    stored = {}
    with transaction.atomic():
        for instrument, quote in zip(instruments, quotes):
            stored[instrument.pk] = QuoteSnapshot.objects.create(
                instrument=instrument, bid=_price(quote.bid), ask=_price(quote.ask), last=_price(quote.last),
                close=_price(quote.close), market_data_type=quote.market_data_type, source=quote_source(quote),
                as_of=quote.as_of, valid=quote.valid, invalid_reason=quote.invalid_reason[:200],
            )
    return stored


def _price(value: Decimal | None) -> Decimal | None:
    # The stored row keeps what the broker sent only when it is a price at all, and one the column
    # holds (the gateway already drops absurd prices; this keeps the row storable whatever a Quote says).
    if value is None or value < 0:
        return None
    try:
        return bounds.fits_column(value, "price", bounds.PRICE_DIGITS)
    except bounds.OutOfBounds:
        return None


def refresh_broker_snapshot(
    *, instruments: list[Instrument], role: str = "web", gateway: "Gateway | None" = None, requested_by: str = ""
) -> BrokerSnapshot:
    """Quotes for `instruments` (what the book watches: sleeves.selectors.watched_instruments), the
    positions and the account figures, stored.

    Raises GatewayError (nothing stored) when the broker cannot be read. An account figure the
    broker sent as an absurd value is stored as missing; the snapshot's (unsaved) ``problems`` say
    why, for the page that asked.
    """
    if gateway is None:
        with open_gateway(role) as connected:
            return refresh_broker_snapshot(instruments=instruments, gateway=connected, requested_by=requested_by)
    record_quotes(gateway, instruments)
    positions = gateway.positions()
    account = gateway.account_values()
    with transaction.atomic():
        snapshot = BrokerSnapshot.objects.create(
            as_of=account.as_of, account=account.account, simulated=gateway.simulated,
            net_liquidation=account.net_liquidation, excess_liquidity=account.excess_liquidity,
            maint_margin_req=account.maint_margin_req, available_funds=account.available_funds,
            total_cash_value=account.total_cash_value, currency=account.currency,
            positions=[
                {"con_id": p.con_id, "local_symbol": p.local_symbol, "symbol": p.symbol, "sec_type": p.sec_type,
                 "quantity": str(p.quantity), "avg_cost": str(p.avg_cost), "multiplier": str(p.multiplier)}
                for p in sorted(positions, key=lambda p: (p.sec_type, p.local_symbol))
            ],
            requested_by=requested_by,
        )
    snapshot.problems = account.problems
    return snapshot
