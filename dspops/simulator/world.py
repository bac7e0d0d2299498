"""What the simulator serves, shared by every client connection: the scenario resolved for its
session, the positions and executions as orders change them, the orders placed, and the client
ids in use. World matches a request's contract fields to the scenario's contracts, marks
positions, makes daily closes for historical bars and books fills into positions. The simulated
TWS runs on UTC (now()).
"""

from __future__ import annotations

import calendar
import itertools
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from dspops.core import calendars

from .instruments import SimContract
from .resolution import ResolvedScenario
from .scenario import Scenario
from .scenario_specs import HistorySpec, QuoteSpec

__all__ = ["Order", "World", "now"]

UTC = timezone.utc


def now() -> datetime:
    """The simulated TWS's clock (UTC)."""
    return datetime.now(UTC)


@dataclass
class Order:
    order_id: int
    client_id: int
    perm_id: int
    contract: SimContract | None  # None for BAG
    legs: list[tuple[SimContract, int, str]]  # (contract, ratio, action) for BAG
    action: str
    quantity: float
    order_type: str
    lmt_price: float | None
    tif: str
    account: str
    order_ref: str
    status: str = "Submitted"
    filled: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0

    @property
    def remaining(self) -> float:
        return max(self.quantity - self.filled, 0.0)

    @property
    def is_open(self) -> bool:
        return self.status in ("PreSubmitted", "Submitted")


@dataclass
class World:
    """Everything the simulator serves, shared by all connections (one event loop)."""

    resolved: ResolvedScenario
    positions: dict[int, list[float]] = field(default_factory=dict)  # conId -> [qty, avg cost]
    executions: list[dict[str, Any]] = field(default_factory=list)
    orders: dict[tuple[int, int], Order] = field(default_factory=dict)
    client_ids: set[int] = field(default_factory=set)
    next_order_id: int = 1
    perm_ids: itertools.count = field(default_factory=lambda: itertools.count(1_100_000_001))
    exec_seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def build(cls, scenario: Scenario) -> World:
        resolved = scenario.resolve()
        w = cls(resolved=resolved)
        w.positions = {cid: [q, c] for cid, (q, c) in resolved.positions.items()}
        w.executions = [dict(e) for e in resolved.executions]
        used = [e["order_id"] for e in w.executions]
        w.next_order_id = max(used + [0]) + 1
        return w

    @property
    def scenario(self) -> Scenario:
        return self.resolved.scenario

    @property
    def account(self) -> str:
        return self.resolved.scenario.account

    def contract(self, con_id: int) -> SimContract | None:
        return self.resolved.contracts.get(con_id)

    def quote(self, con_id: int) -> QuoteSpec | None:
        return self.resolved.quotes.get(con_id)

    def match(self, f: list[str]) -> list[SimContract]:
        """Contracts matching the 12 wire fields of a request's contract."""
        con_id, symbol, sec_type, expiry, _strike, _right, mult, exchange, primary, currency, local, tclass = f
        out = []
        for c in self.resolved.contracts.values():
            if con_id not in ("", "0") and str(c.con_id) != con_id:
                continue
            if symbol and symbol.upper() != c.symbol:
                continue
            if sec_type and sec_type.upper() != c.sec_type:
                continue
            if local and local.upper() != c.local_symbol:
                continue
            if expiry and not (c.last_trade_date.startswith(expiry) or c.contract_month == expiry):
                continue
            if exchange and exchange.upper() not in (c.exchange, c.primary_exchange):
                continue
            if primary and c.sec_type == "STK" and primary.upper() != c.primary_exchange:
                continue
            if currency and currency.upper() != c.currency:
                continue
            if tclass and tclass.upper() != c.trading_class:
                continue
            if mult and c.multiplier and float(mult) != float(c.multiplier):
                continue
            out.append(c)
        return out

    def mark_price(self, con_id: int) -> float:
        q = self.quote(con_id)
        if q is None:
            return 0.0
        if q.bid and q.ask and q.bid > 0 and q.ask > 0:
            return (q.bid + q.ask) / 2
        for v in (q.last, q.close):
            if v and v > 0:
                return v
        return 0.0

    def sessions_in_window(self, c: SimContract, count: int, unit: str) -> int:
        """How many daily bars a duration of `count` `unit`s (S, D, W, M, Y) holds, ending at the last
        session before the scenario's session: "N D" is N sessions (as TWS counts daily bars), the
        others are the sessions within that span of calendar time (at least one)."""
        exchange = calendars.CFE if c.sec_type in ("FUT", "IND") else calendars.NYSE
        end = calendars.previous_session(self.resolved.session, exchange=exchange)
        if unit == "D":
            return count
        # Past the loaded calendar there are no sessions to serve: a longer window gets what exists.
        first = calendars.CALENDAR_START
        if unit == "S":
            start = end - timedelta(days=min(max(1, math.ceil(count / 86400)), (end - first).days))
        elif unit == "W":
            start = end - timedelta(days=min(7 * count, (end - first).days))
        else:
            months = min(count * (12 if unit == "Y" else 1), (end.year - first.year + 1) * 12)
            year, month = divmod(end.year * 12 + end.month - 1 - months, 12)
            start = date(year, month + 1, min(end.day, calendar.monthrange(year, month + 1)[1]))
        sessions = calendars.sessions_in_range(max(start + timedelta(days=1), first), end, exchange=exchange)
        return max(1, len(sessions))

    def daily_closes(self, c: SimContract, days: int) -> list[tuple[Any, float]]:
        """`days` daily closes for the sessions before the scenario's session, oldest first."""
        spec = self.resolved.history.get(c.con_id)
        q = self.quote(c.con_id)
        anchor = next((v for v in ((q.close, q.last) if q else ()) if v and v > 0), None)
        if spec is None and anchor is None:
            return []
        exchange = calendars.CFE if c.sec_type in ("FUT", "IND") else calendars.NYSE
        end = calendars.previous_session(self.resolved.session, exchange=exchange)
        sessions: list[Any] = [end]
        while len(sessions) < days:
            sessions.append(calendars.previous_session(sessions[-1], exchange=exchange))
        sessions.reverse()
        if spec is not None and spec.closes:
            closes = list(spec.closes)[-days:]
            return list(zip(sessions[-len(closes):], closes))
        vol = (spec or HistorySpec()).annual_vol / math.sqrt(252)
        rng = random.Random(c.con_id)
        level = float(anchor or 100.0)
        out = [level]
        for _ in range(len(sessions) - 1):  # walk backwards from the anchor
            level = level / math.exp(rng.gauss(0.0, vol))
            out.append(round(level, 2))
        out.reverse()
        return list(zip(sessions, out))

    def apply_fill(self, con_id: int, signed_qty: float, price: float) -> None:
        c = self.resolved.contracts[con_id]
        unit_cost = price * c.multiplier_value
        qty, avg = self.positions.get(con_id, [0.0, 0.0])
        new_qty = qty + signed_qty
        if abs(new_qty) < 1e-9:
            self.positions.pop(con_id, None)
            return
        if qty == 0 or (qty > 0) != (new_qty > 0):
            avg = unit_cost  # opened, or flipped through zero
        elif abs(new_qty) > abs(qty):
            avg = (avg * abs(qty) + unit_cost * abs(signed_qty)) / abs(new_qty)
        self.positions[con_id] = [new_qty, avg]
