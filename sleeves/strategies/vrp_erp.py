"""VRP-ERP: SPY sized by the VIX regime and the vol-target overlay (DECISIONS.md section 4).

Regimes use strict "<" boundaries: CALM below ``elevated_vix``, ELEVATED below ``high_vix``,
HIGH below ``crisis_vix``, CRISIS at or above it (VIX exactly 30 is CRISIS).

A regime change is confirmed after ``regime_confirm_sessions`` trading sessions in the NEW
regime, counted in sessions, not runs: the session the new regime was first seen counts as 1,
and ``sessions_between(pending_since, session)`` adds the sessions since. A second run on the
same session does not add one. Seeing the confirmed regime again before that cancels the
pending change; seeing a third regime restarts the count for it. The confirmed regime changes
at most once per session. A fresh book (no memory) adopts the observed regime at once.

Target shares = floor(base x regime multiplier x vol multiplier / SPY price).
Drift = |actual - target| / target in %, or, for a target of 0, 0 when flat and 100 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

from sleeves.strategies import (
    DATA_OK,
    DATA_UNAVAILABLE,
    SessionsBetween,
    plain,
    present_positive,
    present_whole,
    round_to,
)


class Regime(StrEnum):
    CALM = "CALM"
    ELEVATED = "ELEVATED"
    HIGH = "HIGH"
    CRISIS = "CRISIS"


# Every regime, calmest first: the names a regime may be stored or imported under.
REGIMES = tuple(Regime)


@dataclass(frozen=True)
class ErpSettings:
    """The VRP-ERP settings (the VRP_ERP keys of ``sleeves.parameters``).

    Raises ValueError when the VIX boundaries are not increasing or the confirmation count is
    below 1.
    """

    base_capital_usd: Decimal
    elevated_vix: Decimal
    high_vix: Decimal
    crisis_vix: Decimal
    calm_multiplier: Decimal
    elevated_multiplier: Decimal
    high_multiplier: Decimal
    crisis_multiplier: Decimal
    drift_rebalance_pct: Decimal
    regime_confirm_sessions: int

    def __post_init__(self):
        if not self.elevated_vix < self.high_vix < self.crisis_vix:
            raise ValueError(
                "VRP-ERP VIX boundaries must increase: elevated_vix < high_vix < crisis_vix, got "
                f"{self.elevated_vix} / {self.high_vix} / {self.crisis_vix}. Fix the sleeve settings."
            )
        if self.regime_confirm_sessions < 1:
            raise ValueError(
                f"regime_confirm_sessions must be at least 1, got {self.regime_confirm_sessions}."
            )

    def regime_for(self, vix: Decimal) -> Regime:
        if vix < self.elevated_vix:
            return Regime.CALM
        if vix < self.high_vix:
            return Regime.ELEVATED
        if vix < self.crisis_vix:
            return Regime.HIGH
        return Regime.CRISIS

    def multiplier_for(self, regime: Regime | str) -> Decimal:
        return {
            Regime.CALM: self.calm_multiplier,
            Regime.ELEVATED: self.elevated_multiplier,
            Regime.HIGH: self.high_multiplier,
            Regime.CRISIS: self.crisis_multiplier,
        }[Regime(regime)]


# The legacy script's values (LEGACY.md 1.2, DECISIONS.md 4). For tests and bootstrapping only:
# the running app reads the operator's settings.
LEGACY_DEFAULTS = ErpSettings(
    base_capital_usd=Decimal("10000"),
    elevated_vix=Decimal("15"),
    high_vix=Decimal("20"),
    crisis_vix=Decimal("30"),
    calm_multiplier=Decimal("1.00"),
    elevated_multiplier=Decimal("0.75"),
    high_multiplier=Decimal("0.50"),
    crisis_multiplier=Decimal("0.25"),
    drift_rebalance_pct=Decimal("5"),
    regime_confirm_sessions=2,
)


@dataclass(frozen=True)
class RegimeMemory:
    """The persisted regime (``SignalState`` name "regime"). All None for a fresh book.

    ``state``: the confirmed regime; ``since_session``: the session it was confirmed;
    ``pending_state`` / ``pending_since``: a change being confirmed and the session it was
    first seen (both set or both None; "" reads as None); ``last_session``: the last session
    evaluated. Raises ValueError for an unknown regime name or a half-set pending change.
    """

    state: Regime | str | None = None
    since_session: date | None = None
    pending_state: Regime | str | None = None
    pending_since: date | None = None
    last_session: date | None = None

    def __post_init__(self):
        for name in ("state", "pending_state"):
            value = getattr(self, name)
            if value == "":
                value = None
            if value is not None:
                try:
                    value = Regime(value)
                except ValueError:
                    raise ValueError(
                        f"regime memory {name} {value!r} is not one of {', '.join(Regime)}."
                    ) from None
            object.__setattr__(self, name, value)
        if (self.pending_state is None) != (self.pending_since is None):
            raise ValueError("regime memory: pending_state and pending_since must be set together.")
        if self.state is not None and self.since_session is None:
            raise ValueError("regime memory: a confirmed state needs its since_session.")

    @property
    def is_fresh(self) -> bool:
        return self.state is None


@dataclass(frozen=True)
class ErpInputs:
    """One VRP-ERP evaluation.

    ``actual_shares``: the sleeve's SPY shares from the broker or recorded fills; None when
    unknown (never assumed 0). ``vol_multiplier``: the vol-target overlay; pass 1 when the
    overlay is switched off. VIX, SPY and the multiplier at or below 0 (IBKR's -1) are missing.
    """

    session: date
    vix: Decimal | None
    spy_price: Decimal | None
    actual_shares: int | None
    vol_multiplier: Decimal | None
    memory: RegimeMemory | None


@dataclass(frozen=True)
class ErpResult:
    data_status: str  # "ok" | "data_unavailable"
    missing: tuple[str, ...]
    session: date
    vix: Decimal | None
    spy_price: Decimal | None
    regime: Regime | None  # the confirmed regime after this evaluation
    observed_regime: Regime | None  # the regime this VIX falls in
    regime_changed: bool  # this evaluation confirmed a change
    regime_multiplier: Decimal | None
    vol_multiplier: Decimal | None
    target_shares: int | None
    actual_shares: int | None
    delta_shares: int | None  # target - actual; positive = BUY
    actual_exposure_usd: Decimal | None
    drift_pct: Decimal | None
    rebalance: bool | None  # None: no confirmed change and the drift cannot be computed
    reasons: tuple[str, ...]
    memory: RegimeMemory | None  # persist this; None only for a fresh book that saw no VIX


def evaluate(inputs: ErpInputs, settings: ErpSettings, sessions_between: SessionsBetween) -> ErpResult:
    """Regime, target shares, drift and the rebalance signal for one session.

    Raises ValueError when ``inputs.session`` is before the memory's last evaluated session
    (sessions must be evaluated in order) or ``actual_shares`` is not a whole number.
    """
    session = inputs.session
    memory = inputs.memory if inputs.memory is not None else RegimeMemory()
    if memory.last_session is not None and session < memory.last_session:
        raise ValueError(
            f"VRP-ERP: session {session} is before the regime's last evaluated session "
            f"{memory.last_session}; evaluate sessions in order (a backfill must not move the "
            "persisted regime)."
        )

    vix = present_positive(inputs.vix)
    spy_price = present_positive(inputs.spy_price)
    vol_multiplier = present_positive(inputs.vol_multiplier)
    actual_shares = present_whole(inputs.actual_shares, "actual_shares")
    missing = tuple(
        name
        for name, value in (
            ("vix", vix),
            ("spy_price", spy_price),
            ("actual_shares", actual_shares),
            ("vol_multiplier", vol_multiplier),
        )
        if value is None
    )
    reasons: list[str] = []

    if vix is None:
        observed = None
        new_memory = inputs.memory
        regime_changed = False
        confirmed = memory.state
        reasons.append("VIX missing: the regime was not evaluated and its memory is unchanged")
    else:
        observed = settings.regime_for(vix)
        new_memory, regime_changed, regime_reasons = _advance(
            memory, observed, session, settings, sessions_between
        )
        confirmed = new_memory.state
        reasons.extend(regime_reasons)

    regime_multiplier = settings.multiplier_for(confirmed) if confirmed is not None else None

    target_shares = None
    if vix is not None and spy_price is not None and vol_multiplier is not None:
        raw = settings.base_capital_usd * regime_multiplier * vol_multiplier / spy_price
        target_shares = int(raw.to_integral_value(rounding=ROUND_FLOOR))

    delta_shares = drift_pct = None
    if target_shares is not None and actual_shares is not None:
        delta_shares = target_shares - actual_shares
        drift_pct = _drift_pct(target_shares, actual_shares)

    # The decision uses the drift as reported (2 dp), so the stored figures explain it.
    drifted = drift_pct is not None and drift_pct > settings.drift_rebalance_pct
    if drifted:
        reasons.append(f"drift {drift_pct}% > {plain(settings.drift_rebalance_pct)}%")

    if regime_changed or drifted:
        rebalance = True
    elif drift_pct is None:
        rebalance = None
    else:
        rebalance = False

    if missing:
        reasons.append(f"DATA UNAVAILABLE: missing {', '.join(missing)}")

    actual_exposure = (
        round_to(actual_shares * spy_price, "0.01")
        if actual_shares is not None and spy_price is not None
        else None
    )
    return ErpResult(
        data_status=DATA_UNAVAILABLE if missing else DATA_OK,
        missing=missing,
        session=session,
        vix=vix,
        spy_price=spy_price,
        regime=confirmed,
        observed_regime=observed,
        regime_changed=regime_changed,
        regime_multiplier=regime_multiplier,
        vol_multiplier=vol_multiplier,
        target_shares=target_shares,
        actual_shares=actual_shares,
        delta_shares=delta_shares,
        actual_exposure_usd=actual_exposure,
        drift_pct=drift_pct,
        rebalance=rebalance,
        reasons=tuple(reasons),
        memory=new_memory,
    )


def _drift_pct(target: int, actual: int) -> Decimal:
    if target == 0:
        return Decimal("0.00") if actual == 0 else Decimal("100.00")
    return round_to(Decimal(abs(actual - target)) * 100 / Decimal(target), "0.01")


def _advance(
    memory: RegimeMemory,
    observed: Regime,
    session: date,
    settings: ErpSettings,
    sessions_between: SessionsBetween,
) -> tuple[RegimeMemory, bool, list[str]]:
    """The new memory, whether a change was confirmed now, and what happened in words."""
    if memory.is_fresh:
        return (
            RegimeMemory(state=observed, since_session=session, last_session=session),
            False,
            [f"regime {observed} adopted (no earlier regime on record)"],
        )

    confirmed = memory.state
    if observed == confirmed:
        reasons = []
        if memory.pending_state is not None:
            reasons.append(
                f"regime change to {memory.pending_state} cancelled: VIX is back in {confirmed}"
            )
        return (
            RegimeMemory(state=confirmed, since_session=memory.since_session, last_session=session),
            False,
            reasons,
        )

    needed = settings.regime_confirm_sessions
    if memory.pending_state == observed:
        pending_since = memory.pending_since
        count = sessions_between(pending_since, session) + 1
    else:
        pending_since = session
        count = 1

    already_changed_today = memory.since_session == session
    if count >= needed and not already_changed_today:
        return (
            RegimeMemory(state=observed, since_session=session, last_session=session),
            True,
            [f"regime changed {confirmed} -> {observed} (confirmed after {count} sessions)"],
        )

    note = f"regime changing to {observed} ({count}/{needed} sessions)"
    if count >= needed:  # only when the regime already changed this session
        note = f"regime changing to {observed} ({count}/{needed} sessions; it already changed this session)"
    return (
        RegimeMemory(
            state=confirmed,
            since_session=memory.since_session,
            pending_state=observed,
            pending_since=pending_since,
            last_session=session,
        ),
        False,
        [note],
    )
