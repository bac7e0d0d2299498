"""Account requests: account updates (values, then the portfolio with marks), account updates
multi, account summary (at most two open subscriptions, as TWS allows) and positions, all read
from the world's account values and positions. Mixed into Connection, whose world, send, error
and spawn it uses.
"""

from __future__ import annotations

from .framing import format_field
from .messages import (
    ACCOUNT_SUMMARY,
    ACCOUNT_SUMMARY_END,
    ACCOUNT_UPDATE_MULTI,
    ACCOUNT_UPDATE_MULTI_END,
    ACCT_DOWNLOAD_END,
    ACCT_UPDATE_TIME,
    ACCT_VALUE,
    PORTFOLIO_VALUE,
    POSITION_DATA,
    POSITION_END,
)
from .world import World, now

__all__ = ["AccountRequests"]


class AccountRequests:
    """reqAccountUpdates, reqAccountUpdatesMulti, reqAccountSummary (and its cancel), reqPositions."""

    world: World
    account_summaries: set[int]

    def _account_rows(self) -> list[tuple[str, str, str]]:
        sc = self.world.scenario
        return [(tag, format_field(v), sc.currency) for tag, v in sc.account_values.items()]

    def req_account_updates(self, f: list[str]) -> None:
        subscribe = f[2] == "1"
        account = f[3] or self.world.account

        async def answer() -> None:
            if not subscribe:
                return
            if account != self.world.account:
                self.send(ACCT_DOWNLOAD_END, 1, account)
                return
            self.send(ACCT_VALUE, 2, "AccountCode", account, "", account)
            for tag, value, ccy in self._account_rows():
                self.send(ACCT_VALUE, 2, tag, value, ccy, account)
            for con_id, (qty, avg) in sorted(self.world.positions.items()):
                c = self.world.contract(con_id)
                if c is None:
                    continue
                mark = self.world.mark_price(con_id)
                value = qty * mark * c.multiplier_value
                self.send(
                    PORTFOLIO_VALUE, 8, c.con_id, c.symbol, c.sec_type, c.last_trade_date, 0, "",
                    c.multiplier, c.primary_exchange, c.currency, c.local_symbol, c.trading_class,
                    qty, mark, value, avg, value - qty * avg, 0.0, account,
                )
            self.send(ACCT_UPDATE_TIME, 1, now().strftime("%H:%M"))
            self.send(ACCT_DOWNLOAD_END, 1, account)

        self.spawn(answer())

    def req_account_updates_multi(self, f: list[str]) -> None:
        req_id, account, model = int(f[2]), f[3], f[4]

        async def answer() -> None:
            if account in ("", self.world.account, "All"):
                for tag, value, ccy in self._account_rows():
                    self.send(ACCOUNT_UPDATE_MULTI, 1, req_id, self.world.account, model, tag, value, ccy)
            self.send(ACCOUNT_UPDATE_MULTI_END, 1, req_id)

        self.spawn(answer())

    def cancel_account_summary(self, f: list[str]) -> None:
        self.account_summaries.discard(int(f[2]))

    def req_account_summary(self, f: list[str]) -> None:
        req_id, tags = int(f[2]), f[4]
        wanted = {t.strip() for t in tags.split(",") if t.strip()}
        if len(self.account_summaries) >= 2:  # as TWS: at most two open subscriptions
            self.error(req_id, 322, "Error processing request:-'bd' : cause - Maximum number of account summary requests exceeded")
            return
        self.account_summaries.add(req_id)

        async def answer() -> None:
            for tag, value, ccy in self._account_rows():
                if tag in wanted:
                    self.send(ACCOUNT_SUMMARY, 1, req_id, self.world.account, tag, value, ccy)
            self.send(ACCOUNT_SUMMARY_END, 1, req_id)

        self.spawn(answer())

    def req_positions(self, f: list[str]) -> None:
        async def answer() -> None:
            for con_id, (qty, avg) in sorted(self.world.positions.items()):
                c = self.world.contract(con_id)
                if c is None:
                    continue
                self.send(
                    POSITION_DATA, 3, self.world.account, c.con_id, c.symbol, c.sec_type,
                    c.last_trade_date, 0, "", c.multiplier,
                    c.primary_exchange if c.sec_type == "STK" else c.exchange,
                    c.currency, c.local_symbol, c.trading_class, qty, avg,
                )
            self.send(POSITION_END, 1)

        self.spawn(answer())
