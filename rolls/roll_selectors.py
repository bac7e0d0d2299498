"""What the roll pages show: read-only selections over the roll service and the pure checks.

Nothing here decides anything about a roll. The verdicts, tickets, net legs and fill status come
from what ``rolls.roll_service`` stored or computes; the runbook's check rows come from
``rolls.checks`` itself, so the printed thresholds are exactly the ones the checks apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dspops.core import clock, formats
from dspops.core.models import Alert
from rolls import checks, roll_inputs, roll_states, tickets
from rolls.models import RollAttempt, RollCheck
from rolls.roll_states import OPEN_ROLL_STATES, RollState
from rolls.roll_service import (  # noqa: F401 (proposed_levels and ProposedLevels are shown by the pages)
    ProposedLevels,
    active_position,
    booked_leg_fills,
    go_expires_at,
    leg_status,
    orphan_alert_subject,
    proposed_levels,
    roll_legs,
    thresholds,
)
from sleeves.parameters import ParameterError
from sleeves.selectors import sleeve_settings


def latest_check(attempt: RollAttempt) -> RollCheck | None:
    return attempt.checks.order_by("-checked_at", "-id").prefetch_related("results").first()


def go_valid_until(check: RollCheck | None) -> datetime | None:
    """Until when a GO lets the operator start executing (the service refuses after it): its time limit,
    and never past the close of the CFE session it was given in."""
    if check is None or check.verdict != "GO":
        return None
    return go_expires_at(check.checked_at)


@dataclass(frozen=True)
class QuoteRow:
    """One quote a check used, as stored with it (times parsed back for display in New York time)."""

    instrument: str
    bid: str | None
    ask: str | None
    last: str | None
    source: str
    as_of: datetime | None
    valid: bool
    reason: str

    @property
    def manual(self) -> bool:
        return self.source == "manual"


def check_quote_rows(check: RollCheck) -> list[QuoteRow]:
    def when(text):
        return datetime.fromisoformat(text) if text else None

    rows = [QuoteRow(symbol, q.get("bid"), q.get("ask"), None, q.get("source", ""), when(q.get("as_of")),
                     bool(q.get("valid")), q.get("reason", ""))
            for symbol, q in check.inputs.get("quotes", {}).items()]
    vix = check.inputs.get("vix") or {}
    rows.append(QuoteRow("VIX", None, None, vix.get("value"), vix.get("source", ""), when(vix.get("as_of")),
                         vix.get("value") is not None, "" if vix.get("value") is not None else vix.get("reason", "")))
    return rows


@dataclass(frozen=True)
class NetLegRow:
    local_symbol: str
    role: str
    contracts: str  # signed, "+1" / "-2"


def net_leg_rows(net_legs: dict[str, int], attempt_or_legs) -> list[NetLegRow]:
    """The net per contract in roll order, each named by its role in the roll."""
    old_front, middle, new_back = _leg_symbols(attempt_or_legs)
    roles = {old_front: "old front (buy back)", middle: "middle (sell twice)", new_back: "new back (buy)"}
    # Stored JSON keeps no key order on PostgreSQL (jsonb): order by the roll, not by the dict.
    order = [old_front, middle, new_back]
    symbols = sorted(net_legs, key=lambda sym: order.index(sym) if sym in order else len(order))
    return [NetLegRow(symbol, roles.get(symbol, ""), formats.quantity(net_legs[symbol], with_sign=True))
            for symbol in symbols]


def _leg_symbols(attempt_or_legs) -> tuple[str, str, str]:
    if isinstance(attempt_or_legs, RollAttempt):
        return str(attempt_or_legs.old_front), str(attempt_or_legs.middle), str(attempt_or_legs.new_back)
    return tuple(str(leg) for leg in attempt_or_legs)


def orphan_alerts(attempt: RollAttempt):
    """The open critical orphan-leg alerts the verification raised for this roll."""
    return Alert.objects.filter(code="orphan_leg", subject=orphan_alert_subject(attempt), resolved_at__isnull=True)


def diagnosis(attempt: RollAttempt) -> dict | None:
    """What the latest verification of an escalated roll found (kind, message, orders, breaks), or None."""
    if attempt.state != RollState.ESCALATED or not attempt.diagnosis:
        return None
    return attempt.diagnosis


# A recorded leg fill can be reversed (and recorded again) until the roll is verified.
CORRECTABLE_STATES = (RollState.EXECUTING, RollState.LEGS_FILLED, RollState.ESCALATED)


@dataclass(frozen=True)
class StateRow:
    name: str
    title: str
    explanation: str
    next_step: str
    can_become: str


def state_rows() -> list[StateRow]:
    return [
        StateRow(name, info.title, info.explanation, info.next_step,
                 ", ".join(roll_states.STATES[s].title for s in roll_states.TRANSITIONS[name] if s != name)
                 or "nothing (finished)")
        for name, info in roll_states.STATES.items()
    ]


def can_become(attempt: RollAttempt, state: str) -> bool:
    return state in roll_states.TRANSITIONS.get(attempt.state, ())


@dataclass(frozen=True)
class RunbookCheck:
    label: str
    threshold: str


@dataclass(frozen=True)
class Runbook:
    attempt: RollAttempt | None
    legs: tuple[str, str, str] | None
    quantity: int | None
    checks: list[RunbookCheck]
    settings_problem: str
    settings: dict
    net_legs: list[NetLegRow]
    check: RollCheck | None


def runbook_attempt(attempt_id: str | None) -> RollAttempt | None:
    """The roll the runbook prints: the one asked for, else the newest open real roll, else rehearsal."""
    rolls = RollAttempt.objects.select_related("old_front", "middle", "new_back")
    if attempt_id:
        return rolls.filter(pk=attempt_id).first() if attempt_id.isdigit() else None
    return rolls.filter(state__in=OPEN_ROLL_STATES).order_by("rehearsal", "-created_at", "-id").first()


def runbook(attempt: RollAttempt | None) -> Runbook:
    """The pre-roll checks with today's thresholds, as the checks themselves word them.

    The rows are the labels and thresholds of ``checks.pre_roll_checks`` run on a context with
    no market data (every row fails, which is irrelevant here: only its label and threshold are
    printed). The legs are the planned roll's, else the active position's.
    """
    legs, quantity = None, None
    if attempt is not None:
        legs = (attempt.old_front, attempt.middle, attempt.new_back)
        quantity = attempt.quantity
    elif (position := active_position()) is not None:
        legs, quantity = roll_legs(position), position.quantity
    symbols = tuple(str(leg) for leg in legs) if legs else ("VX1", "VX2", "new back")
    problem, rows, cs = "", [], {}
    try:
        cs = sleeve_settings("VRP_CS")
        th = thresholds(legs[1].min_tick if legs else None)
    except ParameterError as exc:
        problem = f"The VRP-CS settings cannot be read ({exc}); fix them in Settings before rolling."
    else:
        ctx = roll_inputs.RollContext(
            now=clock.now(), gate_state="", gate_source="", vix=None, vix_source="", vix_as_of=None,
            quantity=quantity or 1, old_front=symbols[0], middle=symbols[1], new_back=symbols[2], quotes={},
            positions=None, excess_liquidity=None, excess_liquidity_source="")
        rows = [RunbookCheck(r.label, r.threshold) for r in checks.pre_roll_checks(ctx, th)]
        net = tickets.net_legs(ctx) if legs else {}
    check = latest_check(attempt) if attempt is not None else None
    net_rows = []
    if check is not None and check.net_legs:
        net_rows = net_leg_rows(check.net_legs, attempt)
    elif legs and not problem:
        net_rows = net_leg_rows(net, symbols)
    return Runbook(attempt=attempt, legs=symbols if legs else None, quantity=quantity, checks=rows,
                   settings_problem=problem, settings=cs, net_legs=net_rows, check=check)


EXECUTION_STATES = (RollState.EXECUTING, RollState.LEGS_FILLED, RollState.VERIFIED, RollState.ESCALATED,
                    RollState.CLOSED)
