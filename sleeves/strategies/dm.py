"""DM (ETF dual momentum): selection, vol scaling and the rebalance tickets (LEGACY.md 4.2, DECISIONS.md 5).

momentum = last / first - 1 over the ``momentum_window_days`` closes before the final
``momentum_skip_days``; the ``top_k`` ETFs with momentum strictly above ``min_momentum`` are held
in equal weights, or 100% ``cash_symbol`` when none qualifies. Portfolio vol = sum of weight x
asset vol (stdev of the last ``vol_lookback_days`` simple returns x sqrt(252)); the weights are
scaled by min(``vol_target`` / portfolio vol, ``max_leverage``) and the cash symbol takes what is
left below 1. NAV = NLV x ``nav_fraction`` x risk scale x vol-overlay multiplier; target shares
= trunc(NAV x weight / price). Tickets below ``min_order_notional`` are dropped and reported.

Fractions (momentum, vols, scale, weights) are rounded to 6 dp and every later step uses the
rounded figure, so the stored plan reproduces itself. Any missing input (a universe or cash
symbol's history, NLV, the risk scale, the overlay multiplier, the positions, a needed price)
makes the whole plan DATA UNAVAILABLE with no tickets: never a silent partial answer.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import ROUND_DOWN, Decimal

from dspops.core import formats  # pure: no Django, no I/O
from sleeves.strategies import (
    DATA_OK,
    DATA_UNAVAILABLE,
    plain,
    present_decimal,
    present_positive,
    present_whole,
    round_to,
)

TRADING_DAYS_PER_YEAR = 252
FRACTION = "0.000001"
BUY, SELL = "BUY", "SELL"


@dataclass(frozen=True)
class Setting:
    """What the operator's side needs to know of one DM setting, in plain values (no Django).

    The DM settings are declared once, here: each field of ``DmSettings`` carries its ``Setting``,
    and ``DM_SETTINGS`` lists them (plus ``RISK_SCALE``). ``sleeves.parameters`` makes the stored,
    editable DM settings from them, and ``sleeves.dm_config`` reads each from the config file at its
    ``config_key`` (the legacy dsp100k_etf_dual_momentum.yaml layout, ``section.key``). ``kind`` is a
    ``sleeves.parameters`` kind: "decimal", "int", "symbol" or "symbols".
    """

    kind: str
    description: str
    config_key: str
    unit: str = ""
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    key: str = ""  # the setting's name: its DmSettings field's (filled in by DM_SETTINGS)


def _setting(kind: str, description: str, unit: str = "", minimum: str | None = None, maximum: str | None = None,
             *, config_key: str):
    """A DmSettings field (no default: every threshold is passed in) that declares its setting."""
    declared = Setting(kind, description, config_key, unit, None if minimum is None else Decimal(minimum),
                       None if maximum is None else Decimal(maximum))
    return field(metadata={"setting": declared})


@dataclass(frozen=True)
class DmSettings:
    """The DM settings (each field declares its stored setting; ``risk_scale`` arrives in the inputs
    because DSP_RISK_SCALE overrides it). Raises ValueError for an impossible combination."""

    risky_universe: tuple[str, ...] = _setting("symbols", "ETFs that compete on momentum",
                                               config_key="sleeve_dm.risky_universe")
    cash_symbol: str = _setting("symbol", "Where the unselected weight goes", config_key="sleeve_dm.cash_symbol")
    top_k: int = _setting("int", "How many ETFs to hold", "ETFs", "1", "20", config_key="sleeve_dm.top_k")
    min_momentum: Decimal = _setting("decimal", "Hold an ETF only if its momentum is above this", "fraction", "-1",
                                     "10", config_key="sleeve_dm.min_momentum")
    momentum_window_days: int = _setting("int", "Closes in the momentum window", "sessions", "20", "1000",
                                         config_key="sleeve_dm.momentum_window_days")
    momentum_skip_days: int = _setting("int", "Most recent closes skipped", "sessions", "0", "100",
                                       config_key="sleeve_dm.momentum_skip_days")
    vol_target: Decimal = _setting("decimal", "Portfolio vol target", "fraction", "0.001", "1",
                                   config_key="sleeve_dm.vol_target")
    vol_lookback_days: int = _setting("int", "Returns used for each ETF's vol", "sessions", "5", "1000",
                                      config_key="sleeve_dm.vol_lookback_days")
    max_leverage: Decimal = _setting("decimal", "Cap on the vol scale", "x", "0", "5",
                                     config_key="sleeve_dm.max_leverage")
    min_order_notional: Decimal = _setting("decimal", "Orders smaller than this are dropped", "USD", "0", "1000000",
                                           config_key="sleeve_dm.min_order_notional")
    nav_fraction: Decimal = _setting("decimal", "Share of NLV deployed by the sleeve", "fraction", "0", "1",
                                     config_key="general.sleeve_dm_nav_pct")

    def __post_init__(self):
        object.__setattr__(self, "risky_universe", tuple(self.risky_universe))
        problems = []
        if not self.risky_universe:
            problems.append("risky_universe is empty")
        if len(set(self.risky_universe)) != len(self.risky_universe):
            problems.append("risky_universe lists a symbol twice")
        if self.cash_symbol in self.risky_universe:
            problems.append(f"the cash symbol {self.cash_symbol} is also in risky_universe")
        if self.top_k < 1:
            problems.append("top_k must be at least 1")
        if self.momentum_window_days < 2:
            problems.append("momentum_window_days must be at least 2")
        if self.momentum_skip_days < 0:
            problems.append("momentum_skip_days must not be negative")
        if self.vol_lookback_days < 2:
            problems.append("vol_lookback_days must be at least 2")
        if self.vol_target <= 0 or self.max_leverage <= 0:
            problems.append("vol_target and max_leverage must be above 0")
        if self.min_order_notional < 0 or self.nav_fraction < 0:
            problems.append("min_order_notional and nav_fraction must not be negative")
        if problems:
            raise ValueError("DM settings: " + "; ".join(problems) + ". Fix the DM settings.")

    @property
    def closes_needed(self) -> int:
        """Closes each symbol needs: the momentum window plus the skip (273), or more if the vol
        lookback reaches further back."""
        return max(self.momentum_window_days + self.momentum_skip_days, self.vol_lookback_days + 1)


# A DM setting that is not a DmSettings field: the plan takes it from its inputs.
RISK_SCALE = Setting("decimal", "Risk scale (DSP_RISK_SCALE overrides it)", "general.risk_scale", "x", Decimal("0"),
                     Decimal("1"), key="risk_scale")

# Every DM setting, in the order the admin lists them: DmSettings' fields, then the risk scale.
DM_SETTINGS: tuple[Setting, ...] = (
    *(replace(f.metadata["setting"], key=f.name) for f in fields(DmSettings)),
    RISK_SCALE,
)

# The values of legacy/config/dsp100k_etf_dual_momentum.yaml (LEGACY.md 4.1), which config/ keeps;
# for the strategy's tests (tests/sleeves/test_dm_settings.py checks they are the file's).
LEGACY_DEFAULTS = DmSettings(
    risky_universe=("SPY", "EFA", "EEM", "IEF", "TLT", "TIP", "GLD", "PDBC", "UUP"),
    cash_symbol="SHY",
    top_k=3,
    min_momentum=Decimal("0.0"),
    momentum_window_days=252,
    momentum_skip_days=21,
    vol_target=Decimal("0.08"),
    vol_lookback_days=63,
    max_leverage=Decimal("1.5"),
    min_order_notional=Decimal("100.0"),
    nav_fraction=Decimal("0.90"),
)


@dataclass(frozen=True)
class DmInputs:
    """One rebalance plan.

    ``closes``: per symbol, (session, adjusted close) oldest first, none after ``session``
    (their age is the caller's check). ``current_shares``: the sleeve's positions; a symbol not
    listed holds 0, but None means the positions are unknown. ``prices``: the price to size
    with per symbol. ``vol_multiplier``: the overlay; pass 1 when it is switched off (None or
    NaN is missing, never "no overlay").
    """

    session: date
    closes: Mapping[str, Sequence[tuple[date, Decimal | None]]]
    nlv: Decimal | None
    current_shares: Mapping[str, int | Decimal | None] | None
    prices: Mapping[str, Decimal | None]
    risk_scale: Decimal | None
    vol_multiplier: Decimal | None


@dataclass(frozen=True)
class DmSymbolLine:
    symbol: str
    momentum: Decimal | None  # 6 dp; None when its history is missing
    asset_vol: Decimal | None  # annualised, 6 dp
    selected: bool
    target_weight: Decimal | None  # 6 dp, after vol scaling; None when not decided
    price: Decimal | None
    current_shares: int | None
    target_shares: int | None
    delta_shares: int | None  # target - current; positive = BUY


@dataclass(frozen=True)
class DmTicket:
    symbol: str
    side: str  # "BUY" | "SELL"
    quantity: int  # > 0
    price: Decimal
    notional_usd: Decimal


@dataclass(frozen=True)
class DmDroppedOrder:
    symbol: str
    side: str
    quantity: int
    notional_usd: Decimal
    reason: str


@dataclass(frozen=True)
class DmPlan:
    data_status: str  # "ok" | "data_unavailable"
    missing: tuple[str, ...]  # "closes:EFA", "price:GLD", "nlv", "current_shares:TLT", ...
    session: date
    selected: tuple[str, ...]
    all_cash: bool | None  # None when the selection could not be made
    portfolio_vol: Decimal | None  # None when all cash (nothing to scale)
    vol_scale: Decimal | None
    nav_usd: Decimal | None
    lines: tuple[DmSymbolLine, ...]  # universe, then cash, then any other symbol held
    tickets: tuple[DmTicket, ...]  # sells first, then buys; empty unless data_status is ok
    dropped: tuple[DmDroppedOrder, ...]
    estimated_turnover_pct: Decimal | None  # sum |delta x price| / (2 x NAV), in %
    reasons: tuple[str, ...]


def is_rebalance_day(session: date, is_first_session_of_month: bool) -> bool:
    """DM rebalances on the first NYSE session of each month."""
    return is_first_session_of_month


def is_first_session_of_month(session: date, previous_session: date) -> bool:
    """True when the NYSE session before ``session`` is in another month (2026-02-02 after 01-30)."""
    return (session.year, session.month) != (previous_session.year, previous_session.month)


def plan(inputs: DmInputs, settings: DmSettings) -> DmPlan:
    """The target weights, share targets and tickets for one rebalance.

    Raises ValueError when a symbol's closes are out of order or dated after the session, or
    a position is not a whole number of shares.
    """
    missing: list[str] = []
    reasons: list[str] = []
    universe = settings.risky_universe
    cash = settings.cash_symbol

    # 1. Momentum and vol per symbol, from complete histories only.
    momentum: dict[str, Decimal | None] = {}
    asset_vol: dict[str, Decimal | None] = {}
    for symbol in (*universe, cash):
        closes = _usable_closes(symbol, inputs.closes.get(symbol), inputs.session, settings)
        if isinstance(closes, str):
            missing.append(f"closes:{symbol}")
            reasons.append(f"{symbol}: {closes}")
            momentum[symbol] = asset_vol[symbol] = None
            continue
        momentum[symbol] = _momentum(closes, settings)
        asset_vol[symbol] = _asset_vol(closes, settings)

    # 2. Selection and weights: only when every universe and cash history is there.
    selected: tuple[str, ...] = ()
    all_cash = portfolio_vol = vol_scale = None
    weights: dict[str, Decimal] | None = None
    if not missing:
        ranked = sorted(universe, key=lambda s: (-momentum[s], universe.index(s)))
        top = ranked[: settings.top_k]
        selected = tuple(s for s in top if momentum[s] > settings.min_momentum)
        all_cash = not selected
        if all_cash:
            weights = {cash: Decimal(1)}
            reasons.append(
                f"no ETF in the top {settings.top_k} has momentum above {plain(settings.min_momentum)}: "
                f"100% {cash}"
            )
        else:
            equal = Decimal(1) / len(selected)
            portfolio_vol = round_to(sum(equal * asset_vol[s] for s in selected), FRACTION)
            if portfolio_vol <= 0:
                flat = [s for s in selected if asset_vol[s] <= 0]
                missing.extend(f"vol:{s}" for s in flat)
                reasons.append(f"{', '.join(flat)}: the closes do not move (vol 0), so the sleeve cannot be vol-scaled")
            else:
                vol_scale = round_to(min(settings.vol_target / portfolio_vol, settings.max_leverage), FRACTION)
                weights = {s: round_to(equal * vol_scale, FRACTION) for s in selected}
                weights[cash] = max(Decimal(1) - sum(weights.values()), Decimal(0))
                reasons.append(
                    f"holding {', '.join(selected)}; portfolio vol {portfolio_vol} -> scale {vol_scale}"
                    + (f" (capped at max_leverage {plain(settings.max_leverage)})"
                       if vol_scale == settings.max_leverage else "")
                )

    # 3. NAV and positions.
    nlv = present_positive(inputs.nlv)
    risk_scale = present_decimal(inputs.risk_scale)
    if risk_scale is not None and risk_scale < 0:
        risk_scale = None
    vol_multiplier = present_positive(inputs.vol_multiplier)
    for name, value in (("nlv", nlv), ("risk_scale", risk_scale), ("vol_multiplier", vol_multiplier)):
        if value is None:
            missing.append(name)
    nav = None
    if nlv is not None and risk_scale is not None and vol_multiplier is not None:
        nav = round_to(nlv * settings.nav_fraction * risk_scale * vol_multiplier, "0.01")

    held: dict[str, int | None] = {}
    if inputs.current_shares is None:
        missing.append("current_shares")
    else:
        for symbol, shares in inputs.current_shares.items():
            held[symbol] = present_whole(shares, f"current_shares[{symbol}]")
            if held[symbol] is None:
                missing.append(f"current_shares:{symbol}")
    others = tuple(s for s in held if s not in universe and s != cash and held[s] != 0)
    for symbol in others:
        reasons.append(f"{symbol} is held by DM but is not in its universe: target 0")
    symbols = (*universe, cash, *others)

    # 4. Prices: needed for every symbol with a target weight or a position.
    prices = {s: present_positive(inputs.prices.get(s)) for s in symbols}
    for symbol in symbols:
        needs_price = (weights is not None and weights.get(symbol, 0) > 0) or held.get(symbol) not in (0, None)
        if needs_price and prices[symbol] is None:
            missing.append(f"price:{symbol}")

    # 5. Targets and tickets, only from a complete set of inputs.
    complete = not missing and weights is not None and nav is not None and inputs.current_shares is not None
    lines, tickets, dropped = [], [], []
    for symbol in symbols:
        weight = weights.get(symbol, Decimal(0)) if weights is not None else None
        if symbol in others:
            weight = Decimal(0)
        current = held.get(symbol, 0) if inputs.current_shares is not None else None
        target = delta = None
        if complete:
            target = 0 if weight == 0 else int((nav * weight / prices[symbol]).to_integral_value(ROUND_DOWN))
            delta = target - current
        lines.append(DmSymbolLine(
            symbol=symbol, momentum=momentum.get(symbol), asset_vol=asset_vol.get(symbol),
            selected=symbol in selected, target_weight=weight, price=prices[symbol],
            current_shares=current, target_shares=target, delta_shares=delta,
        ))
        if not delta:
            continue
        side = BUY if delta > 0 else SELL
        notional = round_to(abs(delta) * prices[symbol], "0.01")
        if notional < settings.min_order_notional:
            dropped.append(DmDroppedOrder(
                symbol, side, abs(delta), notional,
                f"{side} {abs(delta)} {symbol} is {formats.usd(notional)}, "
                f"below the {formats.usd(settings.min_order_notional)} minimum order",
            ))
        else:
            tickets.append(DmTicket(symbol, side, abs(delta), prices[symbol], notional))
    tickets.sort(key=lambda t: t.side != SELL)  # stable: sells first, then buys, in line order

    turnover = None
    if complete and nav > 0:
        turnover = round_to(sum(t.notional_usd for t in tickets) * 100 / (2 * nav), "0.01")

    if missing:
        reasons.append(f"DATA UNAVAILABLE: missing {', '.join(missing)}; no tickets were prepared")
    return DmPlan(
        data_status=DATA_UNAVAILABLE if missing else DATA_OK,
        missing=tuple(missing),
        session=inputs.session,
        selected=selected,
        all_cash=all_cash,
        portfolio_vol=portfolio_vol,
        vol_scale=vol_scale,
        nav_usd=nav,
        lines=tuple(lines),
        tickets=tuple(tickets) if complete else (),
        dropped=tuple(dropped) if complete else (),
        estimated_turnover_pct=turnover,
        reasons=tuple(reasons),
    )


def _usable_closes(symbol, series, session, settings) -> list[Decimal] | str:
    """The last ``closes_needed`` closes as Decimals, or why they cannot be used."""
    series = list(series or ())
    for (earlier, _), (later, _) in zip(series, series[1:]):
        if not earlier < later:
            raise ValueError(f"{symbol} closes must be oldest first, one per session: {earlier} then {later}.")
    if series and series[-1][0] > session:
        raise ValueError(f"{symbol} has a close dated {series[-1][0]}, after the session {session}.")
    needed = settings.closes_needed
    if len(series) < needed:
        return f"has {len(series)} of the {needed} closes needed"
    window = series[-needed:]
    closes = [present_positive(close) for _, close in window]
    gaps = [day.isoformat() for (day, _), close in zip(window, closes) if close is None]
    if gaps:
        return f"close missing or NaN on {', '.join(gaps)}"
    return closes


def _momentum(closes: list[Decimal], settings: DmSettings) -> Decimal:
    skip, window = settings.momentum_skip_days, settings.momentum_window_days
    span = closes[len(closes) - skip - window: len(closes) - skip]
    return round_to(span[-1] / span[0] - 1, FRACTION)


def _asset_vol(closes: list[Decimal], settings: DmSettings) -> Decimal:
    recent = closes[-(settings.vol_lookback_days + 1):]
    returns = [later / earlier - 1 for earlier, later in zip(recent, recent[1:])]
    return round_to(statistics.stdev(returns) * Decimal(TRADING_DAYS_PER_YEAR).sqrt(), FRACTION)
