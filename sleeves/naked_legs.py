"""Naked legs: any VXM holding other than exactly the configured spread (DECISIONS.md section 3).

The VRP-CS position is -q of the config's short leg and +q of its long leg, nothing else in VXM. A
holding that differs is watched at all times, not only during a roll: live it is the broker's
positions (every VXM contract in the account, whichever sleeve), offline the VRP-CS fills.

``find_naked_legs`` is pure: it compares a holding with the config and says, per contract, what is
held, what the config expects and the order that flattens what is held beyond whole spreads. It
never advises buying a missing leg back: a missing leg is named as missing, and the order given is
the one that flattens the leg left without its pair (DECISIONS.md section 3: never advise trading a
roll again). ``raise_naked_leg_alerts`` turns the findings into one critical ``naked_leg`` alert per
contract and source, and resolves that source's alerts that are no longer true; the monitor,
reconciliation and the digest all call it, so each message says everything on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from dspops.core import formats, vx
from dspops.core.alerts import raise_alert, resolve_alerts
from dspops.core.broker.types import BrokerPosition
from dspops.core.errors import OperatorError
from dspops.core.instruments import vxm_instrument
from dspops.core.models import Alert, Instrument, SecType
from sleeves.models import Sleeve, SpreadPosition
from sleeves.selectors import positions_by_sleeve

__all__ = [
    "ALERT_CODE", "ROLL_IN_PROGRESS", "SOURCES", "HoldingError", "NakedLeg", "RollInProgress", "active_config",
    "average_costs_from_broker",
    "average_costs_from_fills", "check_broker_positions", "find_naked_legs", "holdings_from_broker",
    "holdings_from_fills", "raise_naked_leg_alerts", "resolve_cleared_fills_alerts", "roll_in_progress",
    "whole_spreads_held", "PNL_OVER_HELD", "pnl_label",
]

ALERT_CODE = "naked_leg"
ROOT = "VXM"
# Where a holding was read: the words each message uses for it.
SOURCES = {"broker": "at the broker", "fills": "in the recorded VRP-CS fills"}


@dataclass(frozen=True)
class RollInProgress:
    """A real roll that has begun and is not yet verified: the book passes through holdings that are not the
    config (the config takes the new legs only when the roll is verified)."""

    label: str  # "Roll #12 (Executing)"
    contracts: frozenset[str]  # the local symbols on its path: old front, middle, new back


# The rolls app (a floor above) registers here, in its AppConfig.ready, a function naming the roll in
# progress, or returning None. A naked-leg finding on that roll's path never names an order: trading from
# it would undo the roll (DECISIONS.md section 3: never advise trading a roll again).
ROLL_IN_PROGRESS: list[Callable[[], RollInProgress | None]] = []


def roll_in_progress() -> RollInProgress | None:
    for provider in ROLL_IN_PROGRESS:
        found = provider()
        if found is not None:
            return found
    return None


class HoldingError(OperatorError):
    """A VXM position whose contract cannot be identified: the holding cannot be compared with the config."""


@dataclass(frozen=True)
class NakedLeg:
    """One VXM contract whose holding is not what the config expects.

    ``held`` and ``expected`` are signed contracts (-1: short one). ``flatten`` is the signed quantity
    to trade to flatten what is held beyond whole configured spreads (+1: BUY 1), 0 when nothing held
    needs flattening (a missing leg, or whole spreads fewer than the config's quantity).
    """

    instrument: Instrument
    held: Decimal
    expected: Decimal
    flatten: Decimal
    config: str  # the configured spread in words ("-1 VXMZ6 / +1 VXMF7"), "" when there is no active config
    missing_pairs: tuple[str, ...] = ()  # for a held leg: the configured legs missing beside it
    during_roll: str = ""  # the roll in progress whose path this contract is on ("Roll #12 (Executing)")

    @property
    def contract(self) -> str:
        return self.instrument.local_symbol

    @property
    def subject(self) -> str:
        return self.contract

    @property
    def order(self) -> str:
        """The order that flattens it ("BUY 1 VXMZ6"), or "" when nothing held needs flattening or the contract
        is on the path of a roll in progress (its order would undo the roll)."""
        if self.flatten == 0 or self.during_roll:
            return ""
        side = "BUY" if self.flatten > 0 else "SELL"
        return f"{side} {formats.quantity(abs(self.flatten))} {self.contract}"

    def message(self, *, source: str) -> str:
        """The alert's message: contract, quantity, what the config expects, the order, and where it was read."""
        where = SOURCES[source]
        held, expected = formats.quantity(self.held, with_sign=True), formats.quantity(self.expected, with_sign=True)
        config = f"the VRP-CS config ({self.config})" if self.config else "no active VRP-CS position config"
        if self.held == 0:
            head = f"{self.contract} {where}: none held; {config} expects {expected}, so this leg is missing"
        elif self.expected == 0:
            head = f"{self.contract} {where}: held {held}; {config} expects none"
        else:
            head = f"{self.contract} {where}: held {held}; {config} expects {expected}"
        if self.missing_pairs:
            head += f"; its pair {' and '.join(self.missing_pairs)} is not held"
        if self.during_roll:
            action = (f"{self.during_roll} is in progress and passes through this holding until it is verified: "
                      "do not trade from this alert. The roll page says what to do (record or pull the legs, "
                      "verify, or abort).")
        elif self.order:
            action = (f"Flatten it: {self.order} (or correct the position config if it is wrong). Do not buy or "
                      "sell the missing leg to complete the spread unless you mean to reopen it.")
        elif self.held == 0:
            action = ("Nothing to trade in this contract: flatten the leg left without its pair (its own alert "
                      "names the order), or record the fills the broker shows, or correct the position config.")
        else:
            action = ("The spreads held are whole but fewer than the config says: correct the config's quantity "
                      "or record the missing fills.")
        return f"{head}. {action}"

    def as_dict(self) -> dict:
        row = {"contract": self.contract, "held": formats.quantity(self.held),
               "expected": formats.quantity(self.expected), "order": self.order,
               "missing_pairs": list(self.missing_pairs)}
        return row | {"during_roll": self.during_roll} if self.during_roll else row


def _is_root_future(instrument: Instrument, root: str) -> bool:
    return instrument.sec_type == SecType.FUTURE and instrument.symbol.upper() == root.upper()


def whole_spreads_held(holdings: Mapping[Instrument, Decimal], config: SpreadPosition) -> Decimal:
    """How many of the config's spreads (-1 short leg / +1 long leg) the holding contains whole, at most its
    quantity."""
    short, long = holdings.get(config.short_leg, Decimal(0)), holdings.get(config.long_leg, Decimal(0))
    return max(Decimal(0), min(-short, long, Decimal(config.quantity)))


def find_naked_legs(
    holdings: Mapping[Instrument, Decimal], config: SpreadPosition | None, root: str = ROOT,
    rolling: RollInProgress | None = None,
) -> list[NakedLeg]:
    """Every ``root`` future whose holding is not exactly -q config.short_leg / +q config.long_leg.

    Pure: reads only the given objects, writes nothing. Holdings of other roots and sec types are
    ignored. With no config, every ``root`` holding is a finding. The orders flatten what is held
    beyond the whole configured spreads held (at most q); a missing leg is a finding with no order,
    and the leg it leaves alone is named with the order that flattens it. Sorted by contract month.
    """
    held: dict[Instrument, Decimal] = {}
    for instrument, quantity in holdings.items():
        if _is_root_future(instrument, root) and quantity != 0:
            held[instrument] = held.get(instrument, Decimal(0)) + Decimal(quantity)
    expected: dict[Instrument, Decimal] = {}
    whole = Decimal(0)
    words = ""
    if config is not None:
        q = Decimal(config.quantity)
        short, long = config.short_leg, config.long_leg
        expected = {short: -q, long: q}
        whole = whole_spreads_held(held, config)
        words = f"-{formats.quantity(q)} {short.local_symbol} / +{formats.quantity(q)} {long.local_symbol}"
    keep = {}
    if config is not None:
        keep = {config.short_leg: -whole, config.long_leg: whole}
    findings = []
    for instrument in sorted(set(held) | set(expected), key=lambda i: (i.contract_month, i.local_symbol)):
        quantity = held.get(instrument, Decimal(0))
        wanted = expected.get(instrument, Decimal(0))
        flatten = keep.get(instrument, Decimal(0)) - quantity
        if quantity == wanted and flatten == 0:
            continue
        pairs: tuple[str, ...] = ()
        if config is not None and instrument in expected and quantity != 0:
            other = config.long_leg if instrument == config.short_leg else config.short_leg
            if held.get(other, Decimal(0)) == 0:
                pairs = (other.local_symbol,)
        on_path = rolling.label if rolling is not None and instrument.local_symbol in rolling.contracts else ""
        findings.append(NakedLeg(instrument, quantity, wanted, flatten, words, pairs, on_path))
    return findings


# --- holdings ----------------------------------------------------------------------------------


def _fills_positions(sleeve: str, root: str, as_of: datetime | None):
    row = Sleeve.objects.get(code=sleeve)
    return [p for p in positions_by_sleeve(sleeve=row, as_of=as_of) if _is_root_future(p.instrument, root)]


def holdings_from_fills(
    sleeve: str = "VRP_CS", *, as_of: datetime | None = None, root: str = ROOT
) -> dict[Instrument, Decimal]:
    """The sleeve's net ``root`` futures from its fills up to ``as_of`` (positions_by_sleeve), flat ones left out."""
    return {p.instrument: p.quantity for p in _fills_positions(sleeve, root, as_of)}


def average_costs_from_fills(
    sleeve: str = "VRP_CS", *, as_of: datetime | None = None, root: str = ROOT
) -> dict[Instrument, Decimal]:
    """The average cost per contract (points) of each held ``root`` future, from the sleeve's fills."""
    return {p.instrument: p.average_cost for p in _fills_positions(sleeve, root, as_of) if p.average_cost is not None}


def _broker_rows(positions: Iterable[BrokerPosition], *, near: date, root: str):
    """(instrument, quantity, average cost per contract in points) for each ``root`` future position.

    Raises HoldingError when a position's contract month cannot be read or disagrees with its expiry.
    """
    for p in positions:
        if p.sec_type != "FUT" or p.symbol.upper() != root.upper() or p.quantity == 0:
            continue
        try:
            month = vx.parse_local_symbol(p.local_symbol, near=near, root=root)
        except ValueError as exc:
            raise HoldingError(f"the broker's {root} position conId {p.con_id} cannot be identified: {exc}") from None
        expiry = (p.last_trade_date or "").strip()
        if len(expiry) == 8 and expiry.isdigit() and vx.settlement_date(month).strftime("%Y%m%d") != expiry:
            raise HoldingError(
                f"the broker's position {p.local_symbol} (conId {p.con_id}) expires {expiry}, but {month.label} "
                f"settles {vx.settlement_date(month)}: check the contract in TWS")
        instrument = vxm_instrument(month)
        yield instrument, p.quantity, p.avg_cost / instrument.multiplier


def holdings_from_broker(
    positions: Iterable[BrokerPosition], *, near: date, root: str = ROOT
) -> dict[Instrument, Decimal]:
    """Every ``root`` future the broker holds, whichever sleeve, summed over accounts, by Instrument.

    Instruments missing from dspops are made from the VX calendar. Raises HoldingError for a
    position whose contract cannot be identified: a holding that cannot be read never "matches".
    """
    held: dict[Instrument, Decimal] = {}
    for instrument, quantity, _ in _broker_rows(positions, near=near, root=root):
        held[instrument] = held.get(instrument, Decimal(0)) + quantity
    return {i: q for i, q in held.items() if q != 0}


def average_costs_from_broker(
    positions: Iterable[BrokerPosition], *, near: date, root: str = ROOT
) -> dict[Instrument, Decimal]:
    """The broker's average cost per contract, in points (TWS's avg_cost / multiplier), by Instrument."""
    costs: dict[Instrument, tuple[Decimal, Decimal]] = {}
    for instrument, quantity, cost in _broker_rows(positions, near=near, root=root):
        total, amount = costs.get(instrument, (Decimal(0), Decimal(0)))
        costs[instrument] = (total + abs(quantity), amount + abs(quantity) * cost)
    return {i: amount / total for i, (total, amount) in costs.items() if total}


# --- alerts ------------------------------------------------------------------------------------


def _alert_subject(leg: NakedLeg, source: str) -> str:
    return f"{leg.subject} ({source})"


def raise_naked_leg_alerts(findings: Iterable[NakedLeg], *, source: str) -> list[Alert]:
    """One critical ``naked_leg`` alert per finding, subject "<contract> (<source>)"; resolve the alerts
    this ``source`` raised earlier that are no longer true. Alerts of the other source are left open:
    the fills never clear what the broker showed, nor the broker what the fills showed.

    ``source``: "broker" (the broker's positions) or "fills" (the VRP-CS fills).
    """
    if source not in SOURCES:
        raise ValueError(f"naked-leg source must be one of {', '.join(SOURCES)}, got {source!r}")
    sleeve = Sleeve.objects.filter(code="VRP_CS").first()
    raised = [raise_alert(code=ALERT_CODE, subject=_alert_subject(leg, source), message=leg.message(source=source),
                          sleeve=sleeve, about=leg.instrument, severity="warning" if leg.during_roll else None)
              for leg in findings]
    suffix = f" ({source})"
    others = (Alert.objects.filter(code=ALERT_CODE, resolved_at__isnull=True)
              .exclude(subject__endswith=suffix).values_list("subject", flat=True))
    resolve_alerts(code=ALERT_CODE, keep_subjects=[a.subject for a in raised] + list(others))
    return raised


# How every page and the digest label a VRP-CS run's P&L when it is over what is held, not the configured spread.
PNL_OVER_HELD = "P&L over what is held (a naked leg, see the alerts)"


def pnl_label(outputs: Mapping | None) -> str:
    """The words for a VRP-CS monitor run's P&L (its stored outputs): over the spread, or over what is held."""
    return PNL_OVER_HELD if isinstance(outputs, Mapping) and outputs.get("pnl_over") == "held" else "P&L"


def active_config() -> SpreadPosition | None:
    """The active VRP-CS position config, legs loaded, or None."""
    return (SpreadPosition.objects.filter(sleeve__code="VRP_CS", is_active=True)
            .select_related("short_leg", "long_leg").first())


def check_broker_positions(positions: Iterable[BrokerPosition], *, session: date) -> tuple[list[NakedLeg] | None, str]:
    """Reconciliation's naked-leg check: the broker's VXM holding against the active config, alerts raised and
    resolved as the monitor does (source "broker"). Returns (findings, why not compared).

    Not compared (findings None, alerts left as they were) when the config's legs have settled (a
    spread_legs_expired alert says so) or a VXM position cannot be identified.
    """
    config = active_config()
    if config is not None and config.legs_settled_by(session):
        return None, f"not compared: the position config's short leg {config.short_leg} has settled"
    try:
        held = holdings_from_broker(positions, near=session)
    except HoldingError as exc:
        return None, f"not compared: {exc}"
    findings = find_naked_legs(held, config, rolling=roll_in_progress())
    raise_naked_leg_alerts(findings, source="broker")
    resolve_cleared_fills_alerts(session=session, config=config)
    return findings, ""


def resolve_cleared_fills_alerts(*, session: date, config: SpreadPosition | None = None,
                                 as_of: datetime | None = None) -> int:
    """Resolve the open "fills" naked_leg alerts whose finding the recorded fills no longer show.

    The offline monitor raises them; the live monitor and reconciliation read the broker, so without this
    an alert raised offline would stay open after the fills were synced until the next offline run. It
    never raises one (the live readers' alerts are the broker's). Nothing is resolved when the config's
    legs have settled.
    """
    config = config if config is not None else active_config()
    if config is not None and config.legs_settled_by(session):
        return 0
    findings = find_naked_legs(holdings_from_fills("VRP_CS", as_of=as_of), config, rolling=roll_in_progress())
    still = {_alert_subject(leg, "fills") for leg in findings}
    others = (Alert.objects.filter(code=ALERT_CODE, resolved_at__isnull=True)
              .exclude(subject__endswith=" (fills)").values_list("subject", flat=True))
    return resolve_alerts(code=ALERT_CODE, keep_subjects=list(still) + list(others))
