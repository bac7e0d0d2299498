"""The vol-target overlay: SPY's realised vol sets a multiplier for DM and VRP-ERP (DECISIONS.md 5).

realised vol = sample stdev of the last ``vol_lookback_returns`` daily log returns x sqrt(252)
(so it needs one close more than returns); multiplier = ``vol_target_annual`` / realised vol,
clamped to [``vol_multiplier_min``, ``vol_multiplier_max``]. The realised vol is rounded to 6 dp
and the multiplier computed from that, so the stored figures reproduce each other. The state is
stale after ``vol_state_stale_sessions`` trading sessions.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sleeves.strategies import DATA_OK, DATA_UNAVAILABLE, SessionsBetween, present_positive, round_to

TRADING_DAYS_PER_YEAR = 252


@dataclass(frozen=True)
class VolTargetSettings:
    """The overlay's settings (the BOOK keys of ``sleeves.parameters``).

    Raises ValueError for a target or bound at or below 0, min above max, fewer than 2 returns
    or a negative staleness limit.
    """

    vol_target_annual: Decimal
    vol_lookback_returns: int
    vol_multiplier_min: Decimal
    vol_multiplier_max: Decimal
    vol_state_stale_sessions: int

    def __post_init__(self):
        if self.vol_target_annual <= 0 or self.vol_multiplier_min <= 0:
            raise ValueError("vol_target_annual and vol_multiplier_min must be above 0.")
        if self.vol_multiplier_min > self.vol_multiplier_max:
            raise ValueError(
                f"vol_multiplier_min {self.vol_multiplier_min} is above vol_multiplier_max "
                f"{self.vol_multiplier_max}. Fix the book settings."
            )
        if self.vol_lookback_returns < 2:
            raise ValueError(f"vol_lookback_returns must be at least 2, got {self.vol_lookback_returns}.")
        if self.vol_state_stale_sessions < 0:
            raise ValueError("vol_state_stale_sessions must not be negative.")


# The legacy overlay's values (LEGACY.md 4.4). For tests and bootstrapping only.
LEGACY_DEFAULTS = VolTargetSettings(
    vol_target_annual=Decimal("0.10"),
    vol_lookback_returns=21,
    vol_multiplier_min=Decimal("0.25"),
    vol_multiplier_max=Decimal("1.50"),
    vol_state_stale_sessions=3,
)


@dataclass(frozen=True)
class VolTargetInputs:
    """SPY daily closes as (session, close), oldest first, dates strictly increasing. A close
    that is None, NaN or <= 0 is missing."""

    closes: Sequence[tuple[date, Decimal | None]]


@dataclass(frozen=True)
class VolTargetResult:
    data_status: str  # "ok" | "data_unavailable"
    missing: tuple[str, ...]  # ("closes",) when the closes cannot give a vol
    realized_vol: Decimal | None  # annualised, 6 dp
    multiplier: Decimal | None  # 4 dp, clamped
    clamped: str | None  # "min" or "max" when the bound applied, else None
    returns_used: int | None
    as_of_session: date | None  # the session of the last close used
    reasons: tuple[str, ...]


def multiplier_for_vol(realized_vol: Decimal, settings: VolTargetSettings) -> tuple[Decimal, str | None]:
    """(target / vol clamped to the bounds, to 4 dp; "min"/"max" when a bound applied)."""
    if realized_vol <= 0:
        raise ValueError(f"realised vol must be above 0, got {realized_vol}.")
    raw = settings.vol_target_annual / realized_vol
    if raw < settings.vol_multiplier_min:
        return round_to(settings.vol_multiplier_min, "0.0001"), "min"
    if raw > settings.vol_multiplier_max:
        return round_to(settings.vol_multiplier_max, "0.0001"), "max"
    return round_to(raw, "0.0001"), None


def evaluate(inputs: VolTargetInputs, settings: VolTargetSettings) -> VolTargetResult:
    """The overlay multiplier from the last ``vol_lookback_returns`` + 1 closes.

    Raises ValueError when the close dates are not strictly increasing.
    """
    closes = list(inputs.closes)
    for (earlier, _), (later, _) in zip(closes, closes[1:]):
        if not earlier < later:
            raise ValueError(f"SPY closes must be oldest first with one per session: {earlier} then {later}.")

    returns_needed = settings.vol_lookback_returns
    window = closes[-(returns_needed + 1):]
    if len(window) < returns_needed + 1:
        return _unavailable(
            f"the overlay needs {returns_needed + 1} SPY closes for {returns_needed} returns, "
            f"has {len(closes)}"
        )
    prices = [present_positive(close) for _, close in window]
    gaps = [session.isoformat() for (session, _), price in zip(window, prices) if price is None]
    if gaps:
        return _unavailable(f"SPY close missing or NaN on {', '.join(gaps)}")

    log_returns = [(later / earlier).ln() for earlier, later in zip(prices, prices[1:])]
    realized = round_to(
        statistics.stdev(log_returns) * Decimal(TRADING_DAYS_PER_YEAR).sqrt(), "0.000001"
    )
    as_of = window[-1][0]
    if realized <= 0:
        return _unavailable(
            f"the last {len(window)} SPY closes up to {as_of} do not move (realised vol 0): check the bars"
        )
    multiplier, clamped = multiplier_for_vol(realized, settings)
    words = f"SPY realised vol {realized} over {returns_needed} log returns to {as_of}: multiplier {multiplier}"
    if clamped:
        bound = settings.vol_multiplier_min if clamped == "min" else settings.vol_multiplier_max
        unclamped = round_to(settings.vol_target_annual / realized, "0.0001")
        words += f" (target / vol {unclamped} clamped to {clamped} {bound})"
    return VolTargetResult(
        data_status=DATA_OK,
        missing=(),
        realized_vol=realized,
        multiplier=multiplier,
        clamped=clamped,
        returns_used=len(log_returns),
        as_of_session=as_of,
        reasons=(words,),
    )


def is_stale(
    as_of_session: date | None, today: date, sessions_between: SessionsBetween, stale_after: int
) -> bool:
    """True when the state is more than ``stale_after`` sessions old, or there is none."""
    if as_of_session is None:
        return True
    return sessions_between(as_of_session, today) > stale_after


def _unavailable(reason: str) -> VolTargetResult:
    return VolTargetResult(
        data_status=DATA_UNAVAILABLE,
        missing=("closes",),
        realized_vol=None,
        multiplier=None,
        clamped=None,
        returns_used=None,
        as_of_session=None,
        reasons=(f"DATA UNAVAILABLE: {reason}",),
    )
