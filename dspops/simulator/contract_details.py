"""Contract details requests: a request's 12 contract fields matched against the world's
contracts (error 200 when none matches), answered with the full contract details layout of a
stock, an index or a VXM future. Also the contract lookup the market data, history and order
requests share. Mixed into Connection, whose world, send, error and spawn it uses.
"""

from __future__ import annotations

import logging
from typing import Any

from .instruments import SimContract
from .messages import CONTRACT_DATA, CONTRACT_DATA_END
from .world import World

__all__ = ["ContractRequests"]

log = logging.getLogger("dspops.simulator")


class ContractRequests:
    """reqContractDetails, and the contract fields every other request carries."""

    world: World
    client_id: int | None

    def req_contract_details(self, f: list[str]) -> None:
        req_id = int(f[2])
        wanted = f[3:15]
        include_expired = f[15] == "1" if len(f) > 15 else False  # noqa: F841 - listed only

        async def answer() -> None:
            matches = self.world.match(wanted)
            if not matches:
                log.info("client %s: no contract matches %s -> error 200", self.client_id, wanted)
                self.error(req_id, 200)
                return
            for c in matches:
                self.send(*self._contract_details(req_id, c))
            self.send(CONTRACT_DATA_END, 1, req_id)

        self.spawn(answer())

    @staticmethod
    def _contract_details(req_id: int, c: SimContract) -> list[Any]:
        if c.sec_type == "FUT":
            order_types = "ACTIVETIM,AD,ADJUST,ALERT,ALLOC,DAY,GTC,LMT,MKT,STP,STPLMT"
            valid = "CFE"
            hours = "20260101:1700-20260102:1600"
            under = ("VIX", "IND")
        elif c.sec_type == "IND":
            order_types = ""
            valid = "CBOE"
            hours = "20260101:0215-20260101:1615"
            under = ("", "")
        else:
            order_types = "ACTIVETIM,AD,ADJUST,ALERT,ALLOC,DAY,GTC,LMT,MKT,MOC,STP,STPLMT"
            valid = f"SMART,{c.primary_exchange},NYSE,BATS,IEX"
            hours = "20260101:0400-20260101:2000"
            under = ("", "")
        return [
            CONTRACT_DATA, req_id, c.symbol, c.sec_type, c.last_trade_date, 0, "", c.exchange,
            c.currency, c.local_symbol, c.trading_class, c.trading_class, c.con_id, c.min_tick,
            c.multiplier, order_types, valid, 1, 0, c.long_name, c.primary_exchange,
            c.contract_month, "", "", "", c.time_zone, hours, hours, "", "",
            0,  # secIdList count
            1, under[0], under[1], "26", c.last_trade_date, "ETF" if c.sec_type == "STK" else "",
            1, 1, 1,
        ]

    def _parse_contract(self, f: list[str], start: int) -> tuple[list[str], int]:
        return f[start:start + 12], start + 12

    def _lookup(self, wanted: list[str]) -> SimContract | None:
        matches = self.world.match(wanted)
        return matches[0] if len(matches) == 1 else None
