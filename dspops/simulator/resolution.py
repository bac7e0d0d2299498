"""A scenario resolved for one trading session: every contract name it uses turned into a
SimContract with its conId, relative execution times ("-30m") turned into instants (counted
back from now, or from 15:30 New York when an `as_of` day is replayed, over NYSE sessions only so
an execution never lands on a weekend or a holiday, and checked against the date bounds), and the
positions, quotes, history and faults keyed by conId. This is what the server serves from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from dspops.core import bounds, calendars
from dspops.core.calendars import NEW_YORK

from .instruments import (
    BUILTIN_INDEXES,
    BUILTIN_STOCKS,
    ContractResolver,
    SimContract,
    listed_months,
)
from .scenario_checks import _RELATIVE_TIME, parse_time
from .scenario_specs import HistorySpec, QuoteSpec, ScenarioError

if TYPE_CHECKING:
    from .scenario import Scenario

__all__ = ["ResolvedScenario", "back_over_sessions"]

UTC = timezone.utc


def back_over_sessions(reference: datetime, elapsed: timedelta) -> datetime:
    """`elapsed` before `reference`, counting only the hours of NYSE session days (New York dates).

    A real fill happens on a trading day, so "-26h" on a Monday morning is Friday morning, not
    Sunday, and "-1d" the day after a holiday is the session before it. Days that are not
    sessions are skipped whole, so the order of the executions is kept.
    """
    moment = reference.astimezone(NEW_YORK)
    day, into_day, left = moment.date(), moment - datetime.combine(moment.date(), time(0), NEW_YORK), elapsed
    while True:
        if calendars.is_session(day):
            if left <= into_day:
                return (datetime.combine(day, time(0), NEW_YORK) + into_day - left).astimezone(UTC)
            left -= into_day
        # On to the whole day before (a day not a session is passed over without counting).
        day, into_day = day - timedelta(days=1), timedelta(days=1)


@dataclass
class ResolvedScenario:
    """A scenario with every contract name turned into a SimContract for one session."""

    scenario: Scenario
    session: date
    reference_time: datetime  # what relative times ("-30m") count back from
    contracts: dict[int, SimContract]  # conId -> contract (everything qualify can find)
    names: dict[str, int]  # scenario name ("front", "SPY", "VXMZ6") -> conId
    quotes: dict[int, QuoteSpec]
    positions: dict[int, tuple[float, float]]  # conId -> (quantity, avg cost)
    executions: list[dict[str, Any]]
    market_data_errors: dict[int, int]
    no_snapshot_end: set[int]
    unfilled_legs: set[int]
    history: dict[int, HistorySpec] = field(default_factory=dict)

    @classmethod
    def build(cls, sc: Scenario, now: datetime) -> ResolvedScenario:
        session = sc.session(now)
        if sc.as_of is not None:
            # Replaying a past day: relative times count back from 15:30 New York.
            reference = datetime.combine(session, time(15, 30), NEW_YORK).astimezone(UTC)
        else:
            reference = now.astimezone(UTC)
        resolver = ContractResolver(sc, session)
        # Everything qualify can find: builtins, declared instruments, listed VXM months.
        for name in list(BUILTIN_STOCKS) + list(BUILTIN_INDEXES) + list(sc.instruments):
            resolver.resolve(name, "instruments")
        for cm in listed_months(session):
            resolver.add_future(cm)

        def cid(name: str, where: str) -> int:
            return resolver.resolve(name, where).con_id

        quotes = {cid(n, f"quotes.{n}"): q for n, q in sc.quotes.items()}
        positions: dict[int, tuple[float, float]] = {}
        for i, p in enumerate(sc.positions):
            con_id = cid(p.contract, f"positions[{i}]")
            if con_id in positions:
                raise ScenarioError(
                    f"{sc.name}: positions[{i}]: {p.contract} is listed twice"
                )
            positions[con_id] = (p.quantity, p.avg_cost)
        executions = []
        for i, e in enumerate(sc.executions):
            c = resolver.resolve(e.contract, f"executions[{i}]")
            where = f"scenario {sc.name} ({sc.source_path or 'no file'}): executions[{i}].time"
            moment = parse_time(e.time, reference, where, checked=not e.unchecked)
            if not e.unchecked and _RELATIVE_TIME.fullmatch(str(e.time).strip()):
                moment = back_over_sessions(reference, reference - moment)
            if not e.unchecked:
                try:
                    bounds.check_execution_time(moment, now, "execution time")
                except bounds.OutOfBounds as exc:
                    raise ScenarioError(f"{where}: {exc}; to send one on purpose, use faults.absurd") from None
            executions.append(
                {
                    "con_id": c.con_id,
                    "side": e.side,
                    "quantity": e.quantity,
                    "price": e.price,
                    "time": moment,
                    "exec_id": e.exec_id or f"0000e{i + 1:03d}.{session:%Y%m%d}.01.01",
                    "order_ref": e.order_ref,
                    "commission": e.commission,
                    "commission_currency": e.commission_currency,
                    "order_id": e.order_id,
                    "perm_id": e.perm_id or 900_000_000 + i + 1,
                    "exchange": e.exchange or _exec_exchange(c),
                    "client_id": 0,
                }
            )
        errors = {
            cid(n, f"faults.market_data_errors.{n}"): code
            for n, code in sc.faults.market_data_errors.items()
        }
        no_end = {cid(n, "faults.no_snapshot_end") for n in sc.faults.no_snapshot_end}
        unfilled = {cid(n, "orders.unfilled_legs") for n in sc.orders.unfilled_legs}
        history = {cid(n, f"history.{n}"): h for n, h in sc.history.items()}
        return cls(
            scenario=sc,
            session=session,
            reference_time=reference,
            contracts=dict(resolver.by_con_id),
            names=dict(resolver.names),
            quotes=quotes,
            positions=positions,
            executions=executions,
            market_data_errors=errors,
            no_snapshot_end=no_end,
            unfilled_legs=unfilled,
            history=history,
        )


def _exec_exchange(c: SimContract) -> str:
    return c.primary_exchange if c.sec_type == "STK" else c.exchange
