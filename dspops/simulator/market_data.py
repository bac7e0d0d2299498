"""Market data requests: snapshots and streaming quotes of single contracts and of BAG combos
(priced from their legs), live or delayed as the scenario says (warning 10167 when only delayed
data exists and live was asked for), the LAST_TIMESTAMP of a stale quote, and the faults that
touch market data (an IB error per instrument, a missing tickSnapshotEnd, a connection dropped
mid-snapshot). Also historical data: daily bars for the durations TWS accepts ("N S", "N D",
"N W", "N M", "N Y"; an invalid one is error 321, as TWS answers it). Mixed into Connection, whose
world, faults, send, error, drop and spawn it uses.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from .messages import (
    DELAYED_TICKS,
    HISTORICAL_DATA,
    LAST_TIMESTAMP,
    LIVE_TICKS,
    MARKET_DATA_TYPE,
    MARKET_DATA_WARNINGS,
    TICK_PRICE,
    TICK_SNAPSHOT_END,
    TICK_STRING,
)
from .scenario_specs import Faults, QuoteSpec
from .world import World, now

__all__ = ["MarketDataRequests", "duration_window"]

log = logging.getLogger("dspops.simulator")

_DURATION = re.compile(r"([0-9]+) ([SDWMY])")
# TWS's own wording for a durationStr it cannot read, and for days past a year (it wants years then).
_BAD_DURATION = "Error validating request.-'bP' : cause - Historical data duration format is invalid: {!r}"
_DAYS_OVER_A_YEAR = ("Error validating request.-'bH' : cause - Historical data requests for durations longer than "
                     "365 days must be made in years.")


def duration_window(duration: str) -> tuple[int, str] | str:
    """A reqHistoricalData durationStr as (count, unit), or the 321 message TWS sends for it.

    TWS takes an integer, one space and a unit: S seconds, D days, W weeks, M months, Y years;
    anything else (a missing unit, "1 y", "1 Year", "0 D") is refused, as are more than 365 days.
    """
    m = _DURATION.fullmatch(duration.strip())
    if m is None or int(m.group(1)) == 0:
        return _BAD_DURATION.format(duration)
    count, unit = int(m.group(1)), m.group(2)
    if (unit == "D" and count > 365) or (unit == "S" and count > 365 * 86400):
        return _DAYS_OVER_A_YEAR
    return count, unit


class MarketDataRequests:
    """reqMktData (and its cancel) and reqHistoricalData."""

    world: World
    faults: Faults
    client_id: int | None
    market_data_type: int
    streams: set[int]
    snapshot_dropped: bool

    def req_mkt_data(self, f: list[str]) -> None:
        req_id = int(f[2])
        wanted, i = self._parse_contract(f, 3)
        legs: list[tuple[str, int, str]] = []
        if wanted[2].upper() == "BAG":
            n = int(f[i])
            i += 1
            for _ in range(n):
                legs.append((f[i], int(f[i + 1]), f[i + 2]))
                i += 4
        if f[i] == "1":  # delta-neutral contract: conId, delta, price
            i += 3
        i += 1
        snapshot = f[i + 1] == "1"
        md_type = self.market_data_type

        if legs:
            coro = self._combo_data(req_id, legs, snapshot, md_type)
        else:
            coro = self._mkt_data(req_id, wanted, snapshot, md_type)
        if not snapshot:
            self.streams.add(req_id)
        self.spawn(coro)

    def cancel_mkt_data(self, f: list[str]) -> None:
        self.streams.discard(int(f[2]))

    async def _mkt_data(self, req_id: int, wanted: list[str], snapshot: bool, md_type: int) -> None:
        c = self._lookup(wanted)
        if c is None:
            self.error(req_id, 200)
            return
        log.info(
            "client %s: %s %s (reqId %d)", self.client_id,
            "snapshot" if snapshot else "streaming", c.name, req_id,
        )
        code = self.world.resolved.market_data_errors.get(c.con_id)
        if code is not None and code not in MARKET_DATA_WARNINGS:
            self.error(req_id, code)
            return
        q = self.world.quote(c.con_id) or QuoteSpec()
        data_type = q.market_data_type
        if code in MARKET_DATA_WARNINGS or (data_type in (3, 4) and md_type in (1, 2)):
            self.error(req_id, 10167)
        self._send_ticks(req_id, q, data_type)
        self._end_snapshot(req_id, c.con_id, snapshot)

    async def _combo_data(self, req_id: int, legs: list[tuple[str, int, str]], snapshot: bool, md_type: int) -> None:
        bid = ask = 0.0
        complete = True
        data_type = 1
        for con_id_text, ratio, action in legs:
            c = self.world.contract(int(con_id_text or 0))
            if c is None:
                self.error(req_id, 200)
                return
            code = self.world.resolved.market_data_errors.get(c.con_id)
            if code is not None and code not in MARKET_DATA_WARNINGS:
                self.error(req_id, code)
                return
            q = self.world.quote(c.con_id) or QuoteSpec()
            data_type = max(data_type, q.market_data_type)
            if not (q.bid and q.ask and q.bid > 0 and q.ask > 0):
                complete = False
                continue
            if action.upper() == "BUY":
                bid += ratio * q.bid
                ask += ratio * q.ask
            else:
                bid -= ratio * q.ask
                ask -= ratio * q.bid
        combo = QuoteSpec(
            bid=round(bid, 6) if complete else None,
            ask=round(ask, 6) if complete else None,
            bid_size=1 if complete else None,
            ask_size=1 if complete else None,
            market_data_type=data_type,
        )
        if data_type in (3, 4) and md_type in (1, 2):
            self.error(req_id, 10167)
        self._send_ticks(req_id, combo, data_type)
        self._end_snapshot(req_id, None, snapshot)

    def _send_ticks(self, req_id: int, q: QuoteSpec, data_type: int) -> None:
        self.send(MARKET_DATA_TYPE, 1, req_id, data_type)
        ids = DELAYED_TICKS if data_type in (3, 4) else LIVE_TICKS
        sizes = {"bid": q.bid_size, "ask": q.ask_size, "last": q.last_size, "close": None}
        for name in ("bid", "ask", "last", "close"):
            price = getattr(q, name)
            if price is None:
                continue  # never sent: the client keeps NaN
            self.send(TICK_PRICE, 6, req_id, ids[name], price, sizes[name] if sizes[name] is not None else 0, 0)
        if q.age_s is not None:
            stamp = int(now().timestamp() - q.age_s)
            self.send(TICK_STRING, 6, req_id, LAST_TIMESTAMP, stamp)

    def _end_snapshot(self, req_id: int, con_id: int | None, snapshot: bool) -> None:
        if self.faults.disconnect_mid_snapshot and not self.snapshot_dropped:
            self.snapshot_dropped = True
            log.info("fault: dropping client %s in the middle of a snapshot", self.client_id)
            self.drop()
            return
        if not snapshot:
            return
        if con_id is not None and con_id in self.world.resolved.no_snapshot_end:
            log.info("fault: no tickSnapshotEnd for reqId %d", req_id)
            return
        self.send(TICK_SNAPSHOT_END, 1, req_id)

    # --- historical data -----------------------------------------------------------------------

    def req_historical_data(self, f: list[str]) -> None:
        req_id = int(f[1])
        wanted, i = self._parse_contract(f, 2)
        _include_expired, _end, bar_size, duration = f[i:i + 4]

        async def answer() -> None:
            c = self._lookup(wanted)
            if c is None:
                self.error(req_id, 200)
                return
            if bar_size.strip() != "1 day":
                self.error(req_id, 321, "Error validating request.-'bK' : cause - the simulator serves "
                           f"'1 day' bars only (got {bar_size!r})")
                return
            window = duration_window(duration)
            if isinstance(window, str):
                self.error(req_id, 321, window)
                return
            count = self.world.sessions_in_window(c, *window)
            closes = self.world.daily_closes(c, count)
            if not closes:
                self.error(req_id, 162)
                return
            start, end = closes[0][0], closes[-1][0]
            fields: list[Any] = [HISTORICAL_DATA, req_id, f"{start:%Y%m%d}", f"{end:%Y%m%d}", len(closes)]
            for day, close in closes:
                fields += [f"{day:%Y%m%d}", close, close, close, close, 1000, close, 100]
            self.send(*fields)

        self.spawn(answer())
