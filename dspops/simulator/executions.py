"""Execution requests: the world's executions filtered as TWS filters them (client id, account,
time, symbol, security type, exchange, side), each sent as an execution report followed by its
commission report. Orders placed in the session report their fills through the same message.
Mixed into Connection, whose world, send and spawn it uses.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .messages import COMMISSION_REPORT, EXECUTION_DATA, EXECUTION_DATA_END
from .world import World

__all__ = ["ExecutionRequests", "parse_filter_time"]

UTC = timezone.utc


class ExecutionRequests:
    """reqExecutions, and the execution report of one fill."""

    world: World

    def req_executions(self, f: list[str]) -> None:
        req_id = int(f[2])
        client_filter = int(f[3] or 0)
        acct, since, symbol, sec_type, exchange, side = f[4:10]
        since_dt = parse_filter_time(since)

        async def answer() -> None:
            for e in sorted(self.world.executions, key=lambda e: e["time"]):
                c = self.world.contract(e["con_id"])
                if c is None:
                    continue
                if client_filter and e["client_id"] != client_filter:
                    continue
                if acct and acct != self.world.account:
                    continue
                if since_dt is not None and e["time"] < since_dt:
                    continue
                if symbol and symbol.upper() != c.symbol:
                    continue
                if sec_type and sec_type.upper() != c.sec_type:
                    continue
                if exchange and exchange.upper() != e["exchange"]:
                    continue
                if side and side.upper() not in (e["side"], {"BUY": "BOT", "SELL": "SLD"}[e["side"]]):
                    continue
                self._send_execution(req_id, e)
            self.send(EXECUTION_DATA_END, 1, req_id)

        self.spawn(answer())

    def _send_execution(self, req_id: int, e: dict[str, Any]) -> None:
        c = self.world.contract(e["con_id"])
        assert c is not None
        when = e["time"].astimezone(UTC).strftime("%Y%m%d %H:%M:%S") + " UTC"
        self.send(
            EXECUTION_DATA, req_id, e["order_id"], c.con_id, c.symbol, c.sec_type, c.last_trade_date,
            0, "", c.multiplier, e["exchange"], c.currency, c.local_symbol, c.trading_class,
            e["exec_id"], when, self.world.account, e["exchange"],
            "BOT" if e["side"] == "BUY" else "SLD", e["quantity"], e["price"], e["perm_id"],
            e["client_id"], 0, e.get("cum_qty", e["quantity"]), e.get("avg_price", e["price"]),
            e["order_ref"], "", "", "", 0,
        )
        if e["commission"] is not None:
            self.send(COMMISSION_REPORT, 1, e["exec_id"], e["commission"], e["commission_currency"], "", "", "")

def parse_filter_time(text: str) -> datetime | None:
    """The execution filter's time: "yyyymmdd-hh:mm:ss" (UTC) or "yyyymmdd hh:mm:ss [zone]".

    The simulated TWS runs on UTC, so a time without a zone is read as UTC.
    """
    text = text.strip()
    if not text:
        return None
    from zoneinfo import ZoneInfo

    if len(text) >= 17 and text[8] == "-":
        return datetime.strptime(text[:17], "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
    parts = text.split()
    moment = datetime.strptime(parts[0] + parts[1], "%Y%m%d%H:%M:%S")
    zone = ZoneInfo(parts[2]) if len(parts) > 2 else UTC
    return moment.replace(tzinfo=zone).astimezone(UTC)
