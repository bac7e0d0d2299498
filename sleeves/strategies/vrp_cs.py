"""VRP-CS: the VXM calendar spread's P&L, stop/take-profit and regime gate (DECISIONS.md section 3).

The position is short the front month (VX1) and long the next (VX2), in equal size.
spread = VX2 - VX1; P&L = (spread - entry_spread) x multiplier x quantity: it gains when the
spread widens. The stop sits below the entry and hits at spread <= stop; the take-profit sits
above it and hits at spread >= TP. Levels on the wrong side are never reported as hits.

When the holding is not exactly the configured spread (a naked leg: POSITION MISMATCH), the P&L is
computed only over what is held: each held contract's (mark - its entry price) x multiplier x its
signed quantity (``HeldLeg``), never the full spread's. The stop and take-profit are levels of the
spread's price: they are still evaluated while at least one whole configured spread is held, and not
otherwise.

The gate score and its transitions are those of LEGACY.md section 2.8. The gate state is
persisted (``GateMemory``), needs ``gate_min_sessions`` sessions in its current state before
it may change (``sessions_between(since_session, session)``, so a state entered on Monday may
change on Wednesday with 2), and changes at most once per session. A score that cannot be
computed gives UNKNOWN, which counts as CLOSED for every check and leaves the memory as it was.
A fresh gate takes the state its first score gives directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from sleeves.strategies import (
    DATA_OK,
    DATA_UNAVAILABLE,
    SessionsBetween,
    present_decimal,
    present_positive,
    present_whole,
    round_to,
)

# The score's normalisation (LEGACY.md 2.8): part of the formula's definition, not thresholds.
VIX_FLOOR, VIX_CAP = Decimal("12"), Decimal("35")
VVIX_FLOOR, VVIX_CAP = Decimal("80"), Decimal("140")
CONTANGO_SCALE_POINTS = Decimal("5")


class GateState(StrEnum):
    OPEN = "OPEN"
    REDUCE = "REDUCE"
    CLOSED = "CLOSED"
    UNKNOWN = "UNKNOWN"  # the score cannot be computed; counts as CLOSED


# The states a gate is stored in (GateMemory, SignalState "gate", the VRP-CS log); UNKNOWN is never stored.
GATE_STATES = (GateState.OPEN, GateState.REDUCE, GateState.CLOSED)


def gate_allows_roll(state: GateState | str | None) -> bool:
    """Only an OPEN gate allows a roll or an entry; REDUCE, CLOSED, UNKNOWN and None do not."""
    return state == GateState.OPEN


@dataclass(frozen=True)
class CsSettings:
    """The VRP-CS settings used here (VRP_CS keys of ``sleeves.parameters``).

    Raises ValueError when the closed threshold is not below the open one, or a count, the
    multiplier, the hysteresis or the near distance is negative.
    """

    multiplier: int
    gate_open_threshold: Decimal
    gate_closed_threshold: Decimal
    gate_hysteresis: Decimal
    gate_min_sessions: int
    near_level_points: Decimal

    def __post_init__(self):
        if not self.gate_closed_threshold < self.gate_open_threshold:
            raise ValueError(
                f"gate_closed_threshold {self.gate_closed_threshold} must be below "
                f"gate_open_threshold {self.gate_open_threshold}. Fix the VRP-CS settings."
            )
        if self.multiplier <= 0:
            raise ValueError(f"multiplier must be positive, got {self.multiplier}.")
        for name in ("gate_hysteresis", "gate_min_sessions", "near_level_points"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}.")


# The legacy values (LEGACY.md 2.8; VXM multiplier 100). For tests and bootstrapping only.
LEGACY_DEFAULTS = CsSettings(
    multiplier=100,
    gate_open_threshold=Decimal("0.2"),
    gate_closed_threshold=Decimal("-0.3"),
    gate_hysteresis=Decimal("0.1"),
    gate_min_sessions=2,
    near_level_points=Decimal("0.10"),
)


@dataclass(frozen=True)
class GateMemory:
    """The persisted gate (``SignalState`` name "gate"): its state, the session it entered that
    state (the last change) and the last session evaluated. Never UNKNOWN: an unknown score
    does not overwrite what was known. Raises ValueError for any other state."""

    state: GateState | str
    since_session: date
    last_session: date

    def __post_init__(self):
        if self.state not in GATE_STATES:
            raise ValueError(f"gate memory state {self.state!r} must be OPEN, REDUCE or CLOSED.")
        object.__setattr__(self, "state", GateState(self.state))


@dataclass(frozen=True)
class HeldLeg:
    """One contract actually held: signed quantity (-1 = short one), its entry price (the cost basis of
    what is held) and its mark, in points; None when unknown."""

    contract: str
    quantity: Decimal
    entry_price: Decimal | None
    mark: Decimal | None


@dataclass(frozen=True)
class HeldLegPnl:
    contract: str
    quantity: Decimal
    entry_price: Decimal | None
    mark: Decimal | None
    pnl_usd: Decimal | None  # to the cent; None when the entry or the mark is unknown


def held_pnl(
    legs: tuple[HeldLeg, ...] | list[HeldLeg], multiplier: int
) -> tuple[Decimal | None, tuple[HeldLegPnl, ...]]:
    """P&L over what is held: the sum of each leg's (mark - entry) x multiplier x signed quantity, to the cent.

    The total is None when any leg's entry or mark is unknown (a total without one leg is not the P&L).
    """
    rows = []
    for leg in legs:
        entry, mark = present_decimal(leg.entry_price), present_positive(leg.mark)
        pnl = None if entry is None or mark is None else round_to((mark - entry) * multiplier * leg.quantity, "0.01")
        if pnl is not None and pnl == 0:
            pnl = abs(pnl)  # a flat leg of a short position is 0.00, not -0.00
        rows.append(HeldLegPnl(leg.contract, leg.quantity, entry, mark, pnl))
    total = None if any(r.pnl_usd is None for r in rows) else sum((r.pnl_usd for r in rows), Decimal("0.00"))
    return total, tuple(rows)


@dataclass(frozen=True)
class CsInputs:
    """One VRP-CS evaluation. Quotes (VIX, VVIX, VX1, VX2) at or below 0 are missing; the
    entry, stop and take-profit spreads may be negative. ``gate_memory`` None = a fresh gate."""

    session: date
    vix: Decimal | None
    vvix: Decimal | None
    vx1: Decimal | None
    vx2: Decimal | None
    entry_spread: Decimal | None
    quantity: int | None
    stop_loss_spread: Decimal | None
    take_profit_spread: Decimal | None
    gate_memory: GateMemory | None
    # What is held when it is not the configured spread (POSITION MISMATCH); None: the spread is held.
    held_legs: tuple[HeldLeg, ...] | None = None
    # With held_legs: at least one whole configured spread (-1 short leg / +1 long leg) is among them, so its
    # stop and take-profit still apply (they are levels of the spread price, whatever the size).
    whole_spread_held: bool = False


@dataclass(frozen=True)
class CsResult:
    data_status: str  # "ok" | "data_unavailable"
    missing: tuple[str, ...]
    session: date
    vix: Decimal | None
    vvix: Decimal | None
    vx1: Decimal | None
    vx2: Decimal | None
    spread: Decimal | None  # VX2 - VX1, at the quotes' precision
    entry_spread: Decimal | None
    quantity: int | None
    pnl_usd: Decimal | None  # to the cent
    contango_points: Decimal | None  # VX1 - VIX
    contango_pct: Decimal | None  # 100 x (VX1 - VIX) / VIX, 2 dp
    gate_score: Decimal | None  # 4 dp; the state is decided on this rounded value
    gate_state: GateState  # UNKNOWN when the score cannot be computed
    gate_previous_state: GateState | None  # the persisted state before this run
    gate_changed: bool
    gate_memory: GateMemory | None  # persist this (unchanged when UNKNOWN)
    stop_loss_spread: Decimal | None
    take_profit_spread: Decimal | None
    levels_invalid: bool  # stop not below entry or TP not above: a critical alert
    stop_loss_hit: bool | None  # None: cannot be decided (missing input or invalid levels)
    take_profit_hit: bool | None
    stop_loss_distance: Decimal | None  # spread - stop
    take_profit_distance: Decimal | None  # TP - spread
    near_stop_loss: bool | None  # not hit, and within near_level_points
    near_take_profit: bool | None
    reasons: tuple[str, ...]
    held_legs: tuple[HeldLegPnl, ...] | None = None  # the P&L's legs on a POSITION MISMATCH


def gate_score(vix: Decimal | None, vvix: Decimal | None, vx1: Decimal | None) -> Decimal | None:
    """The gate score (LEGACY.md 2.8) to 4 dp, or None when an input is missing, NaN or <= 0."""
    vix, vvix, vx1 = present_positive(vix), present_positive(vvix), present_positive(vx1)
    if vix is None or vvix is None or vx1 is None:
        return None
    vix_part = 1 - 2 * (_clip(vix, VIX_FLOOR, VIX_CAP) - VIX_FLOOR) / (VIX_CAP - VIX_FLOOR)
    vvix_part = 1 - 2 * (_clip(vvix, VVIX_FLOOR, VVIX_CAP) - VVIX_FLOOR) / (VVIX_CAP - VVIX_FLOOR)
    contango_part = _clip((vx1 - vix) / CONTANGO_SCALE_POINTS, Decimal(-1), Decimal(1))
    return round_to((vix_part + vvix_part + contango_part) / 3, "0.0001")


def initial_gate_state(score: Decimal, settings: CsSettings) -> GateState:
    """A fresh gate's state: OPEN at or above the open threshold, CLOSED below the closed one."""
    if score >= settings.gate_open_threshold:
        return GateState.OPEN
    if score < settings.gate_closed_threshold:
        return GateState.CLOSED
    return GateState.REDUCE


def next_gate_state(state: GateState | str, score: Decimal, settings: CsSettings) -> GateState:
    """Where the score sends the gate from ``state``, before the session rules (LEGACY.md 2.8)."""
    opened, closed, band = settings.gate_open_threshold, settings.gate_closed_threshold, settings.gate_hysteresis
    state = GateState(state)
    if state == GateState.OPEN:
        if score < closed:
            return GateState.CLOSED
        if score < opened - band:
            return GateState.REDUCE
        return GateState.OPEN
    if state == GateState.REDUCE:
        if score >= opened:
            return GateState.OPEN
        if score < closed:
            return GateState.CLOSED
        return GateState.REDUCE
    if state == GateState.CLOSED:
        if score >= opened:
            return GateState.OPEN
        if score >= closed + band:
            return GateState.REDUCE
        return GateState.CLOSED
    raise ValueError(f"the gate has no transitions from {state}.")


def evaluate(inputs: CsInputs, settings: CsSettings, sessions_between: SessionsBetween) -> CsResult:
    """Spread, P&L, contango, gate and stop/take-profit for one session.

    Raises ValueError when ``inputs.session`` is before the gate memory's last evaluated
    session (sessions must be evaluated in order) or ``quantity`` is not a whole number.
    """
    session = inputs.session
    memory = inputs.gate_memory
    if memory is not None and session < memory.last_session:
        raise ValueError(
            f"VRP-CS: session {session} is before the gate's last evaluated session "
            f"{memory.last_session}; evaluate sessions in order (a backfill must not move the "
            "persisted gate)."
        )

    vix, vvix = present_positive(inputs.vix), present_positive(inputs.vvix)
    vx1, vx2 = present_positive(inputs.vx1), present_positive(inputs.vx2)
    entry = present_decimal(inputs.entry_spread)
    quantity = present_whole(inputs.quantity, "quantity")
    stop = present_decimal(inputs.stop_loss_spread)
    take_profit = present_decimal(inputs.take_profit_spread)
    missing = tuple(
        name
        for name, value in (
            ("vix", vix),
            ("vvix", vvix),
            ("vx1", vx1),
            ("vx2", vx2),
            ("entry_spread", entry),
            ("quantity", quantity),
            ("stop_loss_spread", stop),
            ("take_profit_spread", take_profit),
        )
        if value is None
    )
    reasons: list[str] = []

    spread = vx2 - vx1 if vx1 is not None and vx2 is not None else None
    pnl_usd = None
    held = None
    if inputs.held_legs is not None:
        pnl_usd, held = held_pnl(inputs.held_legs, settings.multiplier)
        if pnl_usd is None:
            unknown = [r.contract for r in held if r.pnl_usd is None]
            reasons.append(f"P&L over what is held is missing: no entry price or mark for {', '.join(unknown)}")
    elif spread is not None and entry is not None and quantity is not None:
        pnl_usd = round_to((spread - entry) * settings.multiplier * quantity, "0.01")

    contango_points = contango_pct = None
    if vx1 is not None and vix is not None:
        contango_points = vx1 - vix
        contango_pct = round_to(100 * contango_points / vix, "0.01")

    score = gate_score(vix, vvix, vx1)
    gate_state, previous, changed, new_memory, gate_reason = _gate(
        memory, score, session, settings, sessions_between, missing
    )
    if gate_reason:
        reasons.append(gate_reason)

    if inputs.held_legs is not None and not inputs.whole_spread_held:
        levels = _Levels(reasons=(
            "stop/take-profit not evaluated: no whole configured spread is held (POSITION MISMATCH)",))
    else:
        levels = _levels(spread, entry, stop, take_profit, settings.near_level_points)
    reasons.extend(levels.reasons)

    if missing:
        reasons.append(f"DATA UNAVAILABLE: missing {', '.join(missing)}")

    return CsResult(
        data_status=DATA_UNAVAILABLE if missing else DATA_OK,
        missing=missing,
        session=session,
        vix=vix,
        vvix=vvix,
        vx1=vx1,
        vx2=vx2,
        spread=spread,
        entry_spread=entry,
        quantity=quantity,
        pnl_usd=pnl_usd,
        contango_points=contango_points,
        contango_pct=contango_pct,
        gate_score=score,
        gate_state=gate_state,
        gate_previous_state=previous,
        gate_changed=changed,
        gate_memory=new_memory,
        stop_loss_spread=stop,
        take_profit_spread=take_profit,
        levels_invalid=levels.invalid,
        stop_loss_hit=levels.stop_hit,
        take_profit_hit=levels.take_profit_hit,
        stop_loss_distance=levels.stop_distance,
        take_profit_distance=levels.take_profit_distance,
        near_stop_loss=levels.near_stop,
        near_take_profit=levels.near_take_profit,
        reasons=tuple(reasons),
        held_legs=held,
    )


def _gate(memory, score, session, settings, sessions_between, missing):
    """(state, previous state, changed, memory to persist, what happened in words)."""
    previous = memory.state if memory is not None else None
    if score is None:
        needed = [name for name in ("vix", "vvix", "vx1") if name in missing]
        return (
            GateState.UNKNOWN, previous, False, memory,
            f"gate UNKNOWN (missing {', '.join(needed)}): counts as CLOSED; the stored gate is unchanged",
        )
    if memory is None:
        state = initial_gate_state(score, settings)
        return (
            state, None, False, GateMemory(state, session, session),
            f"gate starts {state} (score {score}; no earlier gate on record)",
        )

    proposed = next_gate_state(memory.state, score, settings)
    if proposed == memory.state:
        return memory.state, previous, False, GateMemory(memory.state, memory.since_session, session), ""

    move = f"{memory.state} -> {proposed} (score {score})"
    held = sessions_between(memory.since_session, session)
    kept = GateMemory(memory.state, memory.since_session, session)
    if memory.since_session == session:
        return memory.state, previous, False, kept, (
            f"gate stays {memory.state}: it already changed this session; {move} waits for the next session"
        )
    if held < settings.gate_min_sessions:
        return memory.state, previous, False, kept, (
            f"gate stays {memory.state}: {move} needs {settings.gate_min_sessions} sessions in "
            f"{memory.state}, it has {held}"
        )
    return proposed, previous, True, GateMemory(proposed, session, session), f"gate {move}"


@dataclass(frozen=True)
class _Levels:
    invalid: bool = False
    stop_hit: bool | None = None
    take_profit_hit: bool | None = None
    stop_distance: Decimal | None = None
    take_profit_distance: Decimal | None = None
    near_stop: bool | None = None
    near_take_profit: bool | None = None
    reasons: tuple[str, ...] = ()


def _levels(spread, entry, stop, take_profit, near) -> _Levels:
    if entry is None:
        # Without the entry the levels cannot be checked against it: report no hit either way.
        return _Levels()
    problems = []
    if stop is not None and stop >= entry:
        problems.append(f"the stop-loss {stop} is not below the entry spread {entry}")
    if take_profit is not None and take_profit <= entry:
        problems.append(f"the take-profit {take_profit} is not above the entry spread {entry}")
    if problems:
        return _Levels(
            invalid=True,
            reasons=(
                "STOP/TP LEVELS INVALID: " + " and ".join(problems)
                + "; neither level is reported as hit. Correct the position's levels "
                "(stop below the entry, take-profit above it).",
            ),
        )
    if spread is None:
        return _Levels()

    reasons = []
    stop_hit = stop_distance = near_stop = None
    if stop is not None:
        stop_distance = spread - stop
        stop_hit = spread <= stop
        near_stop = not stop_hit and stop_distance <= near
        if stop_hit:
            reasons.append(f"STOP-LOSS HIT: spread {spread} <= stop {stop}")
        elif near_stop:
            reasons.append(f"spread {spread} is {stop_distance} above the stop {stop}")
    tp_hit = tp_distance = near_tp = None
    if take_profit is not None:
        tp_distance = take_profit - spread
        tp_hit = spread >= take_profit
        near_tp = not tp_hit and tp_distance <= near
        if tp_hit:
            reasons.append(f"TAKE-PROFIT HIT: spread {spread} >= take-profit {take_profit}")
        elif near_tp:
            reasons.append(f"spread {spread} is {tp_distance} below the take-profit {take_profit}")
    return _Levels(False, stop_hit, tp_hit, stop_distance, tp_distance, near_stop, near_tp, tuple(reasons))


def _clip(value: Decimal, low: Decimal, high: Decimal) -> Decimal:
    return max(low, min(high, value))

