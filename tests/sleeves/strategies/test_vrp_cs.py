"""VRP-CS: spread P&L, contango, stop/take-profit and the persisted regime gate."""

import math
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from sleeves.strategies.vrp_cs import (
    LEGACY_DEFAULTS,
    CsInputs,
    CsSettings,
    GateMemory,
    GateState,
    evaluate,
    gate_allows_roll,
    gate_score,
    initial_gate_state,
    next_gate_state,
)
from tests.sleeves.strategies import sessions_between

D = Decimal
NAN = float("nan")
MON, TUE, WED, THU, FRI = (date(2026, 1, d) for d in (12, 13, 14, 15, 16))
LAST_WEEK = date(2026, 1, 5)
OPEN, REDUCE, CLOSED, UNKNOWN = GateState.OPEN, GateState.REDUCE, GateState.CLOSED, GateState.UNKNOWN

WORKED = dict(vix="16.24", vvix="91.86", vx1="17.10", vx2="17.85", entry_spread="1.63", quantity=1,
              stop_loss_spread="0.81", take_profit_spread="3.26")


def run(session=MON, memory=None, settings=LEGACY_DEFAULTS, **overrides):
    values = {**WORKED, **overrides}
    as_input = {k: D(v) if isinstance(v, str) else v for k, v in values.items()}
    return evaluate(CsInputs(session=session, gate_memory=memory, **as_input), settings, sessions_between)


def test_the_worked_example_is_a_stop_loss_hit_at_minus_88_dollars():
    result = run()
    assert (result.data_status, result.missing) == ("ok", ())
    assert result.spread == D("0.75")
    assert result.pnl_usd == D("-88.00")
    assert (result.stop_loss_hit, result.take_profit_hit, result.levels_invalid) == (True, False, False)
    assert result.stop_loss_distance == D("-0.06") and result.take_profit_distance == D("2.51")
    assert "STOP-LOSS HIT: spread 0.75 <= stop 0.81" in result.reasons


@pytest.mark.parametrize(
    "vx2, quantity, multiplier, pnl",
    [
        ("17.85", 1, 100, D("-88.00")),
        ("17.85", 2, 100, D("-176.00")),  # quantity is honoured
        ("17.85", 5, 100, D("-440.00")),
        ("17.85", 1, 1000, D("-880.00")),  # a VX contract
        ("19.10", 1, 100, D("37.00")),  # the spread widened to 2.00: a gain
        ("16.60", 3, 100, D("-639.00")),  # inverted (-0.50): a loss
        ("18.73", 0, 100, D("0.00")),  # flat
    ],
)
def test_pnl_is_spread_change_times_multiplier_times_quantity_and_gains_on_widening(vx2, quantity, multiplier, pnl):
    settings = replace(LEGACY_DEFAULTS, multiplier=multiplier)
    assert run(vx2=vx2, quantity=quantity, settings=settings).pnl_usd == pnl


@pytest.mark.parametrize(
    "spread, stop_hit, tp_hit, near_stop, near_tp",
    [
        ("-0.40", True, False, False, False),  # a VIX spike inverts the curve
        ("0.75", True, False, False, False),
        ("0.81", True, False, False, False),  # exactly at the stop is a hit
        ("0.82", False, False, True, False),
        ("0.91", False, False, True, False),  # exactly 0.10 away is near
        ("0.92", False, False, False, False),
        ("1.63", False, False, False, False),
        ("3.15", False, False, False, False),
        ("3.16", False, False, False, True),
        ("3.25", False, False, False, True),
        ("3.26", False, True, False, False),  # exactly at the take-profit is a hit
        ("4.00", False, True, False, False),
    ],
)
def test_stop_hits_at_or_below_and_take_profit_at_or_above_with_near_flags(
    spread, stop_hit, tp_hit, near_stop, near_tp
):
    result = run(vx1="17.00", vx2=str(D("17.00") + D(spread)))
    assert result.spread == D(spread)
    assert (result.stop_loss_hit, result.take_profit_hit) == (stop_hit, tp_hit)
    assert (result.near_stop_loss, result.near_take_profit) == (near_stop, near_tp)
    assert result.stop_loss_distance == D(spread) - D("0.81")
    assert result.take_profit_distance == D("3.26") - D(spread)


@pytest.mark.parametrize(
    "entry, stop, take_profit, words",
    [
        ("0.65", "0.81", "0.32", "the stop-loss 0.81 is not below the entry spread 0.65 and the "
                                 "take-profit 0.32 is not above the entry spread 0.65"),
        ("1.63", "2.04", "3.26", "the stop-loss 2.04 is not below the entry spread 1.63"),
        ("1.63", "1.63", "3.26", "the stop-loss 1.63 is not below"),
        ("1.63", "0.81", "1.63", "the take-profit 1.63 is not above"),
        ("1.63", "0.81", "0.50", "the take-profit 0.50 is not above"),
    ],
)
def test_levels_on_the_wrong_side_are_invalid_and_never_reported_as_hits(entry, stop, take_profit, words):
    result = run(entry_spread=entry, stop_loss_spread=stop, take_profit_spread=take_profit)  # spread 0.75
    assert result.levels_invalid is True
    assert (result.stop_loss_hit, result.take_profit_hit) == (None, None)
    assert (result.near_stop_loss, result.near_take_profit) == (None, None)
    assert any(reason.startswith("STOP/TP LEVELS INVALID") and words in reason for reason in result.reasons)


def test_the_running_positions_levels_below_and_above_entry_are_valid():
    result = run(entry_spread="0.65", stop_loss_spread="0.32", take_profit_spread="1.30", vx2="17.50")
    assert result.levels_invalid is False
    assert (result.stop_loss_hit, result.take_profit_hit, result.pnl_usd) == (False, False, D("-25.00"))


@pytest.mark.parametrize(
    "vix, vx1, points, pct",
    [
        ("16.24", "17.10", D("0.86"), D("5.30")),
        ("20.00", "19.00", D("-1.00"), D("-5.00")),
        ("17.10", "17.10", D("0.00"), D("0.00")),
    ],
)
def test_contango_is_measured_against_vix_itself(vix, vx1, points, pct):
    result = run(vix=vix, vx1=vx1)
    assert (result.contango_points, result.contango_pct) == (points, pct)


@pytest.mark.parametrize("blank", [None, NAN, D("NaN"), D("0"), D("-1")],
                         ids=["None", "nan", "Decimal NaN", "zero", "-1"])
def test_contango_is_none_never_zero_without_a_vix(blank):
    result = run(vix=blank)
    assert (result.contango_points, result.contango_pct) == (None, None)
    assert result.missing == ("vix",)


# --- the gate score --------------------------------------------------------------------------


def legacy_score(vix, vvix, vx1):
    clip = lambda x, lo, hi: max(lo, min(hi, x))  # noqa: E731
    parts = (1 - 2 * (clip(vix, 12, 35) - 12) / 23, 1 - 2 * (clip(vvix, 80, 140) - 80) / 60,
             clip((vx1 - vix) / 5, -1, 1))
    return sum(parts) / 3


@pytest.mark.parametrize(
    "vix, vvix, vx1, expected",
    [
        ("16.24", "91.86", "17.10", D("0.4693")),
        ("10", "70", "16", D("1.0000")),  # every component at its calm cap
        ("40", "150", "30", D("-1.0000")),  # every component at its stressed cap
        ("23.5", "110", "23.5", D("0.0000")),  # every component at its midpoint
        ("30", "120", "27", D("-0.4995")),  # -0.5652, -0.3333, -0.6
    ],
)
def test_the_gate_score_is_the_mean_of_the_three_legacy_components(vix, vvix, vx1, expected):
    assert gate_score(D(vix), D(vvix), D(vx1)) == expected
    assert math.isclose(float(expected), legacy_score(float(vix), float(vvix), float(vx1)), abs_tol=5e-5)


@pytest.mark.parametrize("field", ["vix", "vvix", "vx1"])
@pytest.mark.parametrize("blank", [None, NAN, D("NaN"), D("-1")], ids=["None", "nan", "Decimal NaN", "-1"])
def test_the_gate_score_needs_all_three_inputs(field, blank):
    values = {"vix": D("16.24"), "vvix": D("91.86"), "vx1": D("17.10"), field: blank}
    assert gate_score(**values) is None


@pytest.mark.parametrize(
    "state, score, expected",
    [
        (OPEN, "0.1", OPEN),  # inside the hysteresis band: stays open
        (OPEN, "0.0999", REDUCE),
        (OPEN, "-0.3", REDUCE),
        (OPEN, "-0.3001", CLOSED),
        (REDUCE, "0.2", OPEN),
        (REDUCE, "0.1999", REDUCE),
        (REDUCE, "-0.3", REDUCE),
        (REDUCE, "-0.3001", CLOSED),
        (CLOSED, "0.2", OPEN),
        (CLOSED, "0.1999", REDUCE),
        (CLOSED, "-0.2", REDUCE),
        (CLOSED, "-0.2001", CLOSED),
    ],
)
def test_gate_transitions_follow_the_thresholds_with_hysteresis(state, score, expected):
    assert next_gate_state(state, D(score), LEGACY_DEFAULTS) == expected


@pytest.mark.parametrize(
    "score, expected", [("0.2", OPEN), ("0.1999", REDUCE), ("-0.3", REDUCE), ("-0.3001", CLOSED)]
)
def test_a_fresh_gate_takes_the_state_its_score_gives(score, expected):
    assert initial_gate_state(D(score), LEGACY_DEFAULTS) == expected


@pytest.mark.parametrize(
    "state, allowed", [(OPEN, True), ("OPEN", True), (REDUCE, False), (CLOSED, False), (UNKNOWN, False), (None, False)]
)
def test_only_an_open_gate_allows_a_roll(state, allowed):
    assert gate_allows_roll(state) is allowed


# --- the gate over several sessions ----------------------------------------------------------


def scored(score):
    """Quotes whose gate score is exactly ``score`` (|score| <= 1/3): VIX and VVIX at their
    midpoints, the contango component carrying the whole score."""
    if score is None:
        return dict(vix="23.5", vvix=NAN, vx1="23.5")
    return dict(vix="23.5", vvix="110", vx1=str(D("23.5") + 15 * D(score)))


GATE_STORIES = {
    "a dip below open minus hysteresis moves OPEN to REDUCE": (OPEN, [
        (MON, "0.05", REDUCE, True, "gate OPEN -> REDUCE (score 0.0500)"),
    ]),
    "a score inside the hysteresis band keeps the gate OPEN": (OPEN, [
        (MON, "0.15", OPEN, False, None),
        (TUE, "0.10", OPEN, False, None),
    ]),
    "a new state holds for the minimum sessions before it may change again": (OPEN, [
        (MON, "0.05", REDUCE, True, None),
        (TUE, "0.30", REDUCE, False,
         "gate stays REDUCE: REDUCE -> OPEN (score 0.3000) needs 2 sessions in REDUCE, it has 1"),
        (WED, "0.30", OPEN, True, "gate REDUCE -> OPEN (score 0.3000)"),
    ]),
    "two runs on one session move the gate once": (OPEN, [
        (MON, "0.05", REDUCE, True, None),
        (MON, "-0.33", REDUCE, False, "it already changed this session"),
        (MON, "0.30", REDUCE, False, None),
    ]),
    "a weekend and a holiday do not count towards the minimum": (OPEN, [
        (FRI, "0.05", REDUCE, True, None),
        (date(2026, 1, 17), "0.30", REDUCE, False, "it has 0"),  # a Saturday rerun
        (date(2026, 1, 20), "0.30", REDUCE, False, "it has 1"),  # Monday the 19th is MLK Day
        (date(2026, 1, 21), "0.30", OPEN, True, None),
    ]),
    "a closed gate reopens to REDUCE only at closed plus hysteresis": (CLOSED, [
        (MON, "-0.25", CLOSED, False, None),
        (TUE, "-0.20", REDUCE, True, "gate CLOSED -> REDUCE (score -0.2000)"),
    ]),
    "a collapse takes REDUCE straight to CLOSED": (REDUCE, [
        (MON, "-0.31", CLOSED, True, "gate REDUCE -> CLOSED (score -0.3100)"),
    ]),
    "a NaN input gives UNKNOWN and the stored state comes back after it": (OPEN, [
        (MON, None, UNKNOWN, False, "gate UNKNOWN (missing vvix): counts as CLOSED; the stored gate is unchanged"),
        (TUE, "0.30", OPEN, False, None),
        (WED, "0.05", REDUCE, True, None),
        (THU, None, UNKNOWN, False, None),
        (FRI, "0.30", OPEN, True, None),  # two sessions in REDUCE, the UNKNOWN one included
    ]),
}


@pytest.mark.parametrize("start, steps", GATE_STORIES.values(), ids=GATE_STORIES.keys())
def test_the_gate_over_several_sessions(start, steps):
    memory = GateMemory(start, since_session=LAST_WEEK, last_session=LAST_WEEK)
    for session, score, state, changed, words in steps:
        result = run(session=session, memory=memory, **scored(score))
        assert result.gate_score == (D(score) if score is not None else None)
        assert (result.gate_state, result.gate_changed) == (state, changed), (session, score)
        if words:
            assert any(words in reason for reason in result.reasons), result.reasons
        if state == UNKNOWN:
            assert result.gate_memory is memory
        else:
            assert result.gate_memory.state == state and result.gate_memory.last_session == session
        memory = result.gate_memory


def test_with_no_minimum_the_gate_still_changes_at_most_once_per_session():
    settings = replace(LEGACY_DEFAULTS, gate_min_sessions=0)
    memory = GateMemory(OPEN, since_session=LAST_WEEK, last_session=LAST_WEEK)
    first = run(session=MON, memory=memory, settings=settings, **scored("0.05"))
    second = run(session=MON, memory=first.gate_memory, settings=settings, **scored("-0.33"))
    next_day = run(session=TUE, memory=second.gate_memory, settings=settings, **scored("-0.33"))
    assert [r.gate_state for r in (first, second, next_day)] == [REDUCE, REDUCE, CLOSED]
    assert "gate stays REDUCE: it already changed this session" in second.reasons[0]
    assert next_day.gate_memory == GateMemory(CLOSED, since_session=TUE, last_session=TUE)


def test_a_three_session_minimum_waits_three_sessions():
    settings = replace(LEGACY_DEFAULTS, gate_min_sessions=3)
    memory = GateMemory(REDUCE, since_session=MON, last_session=MON)
    states = []
    for session in (TUE, WED, THU):
        result = run(session=session, memory=memory, settings=settings, **scored("0.30"))
        states.append(result.gate_state)
        memory = result.gate_memory
    assert states == [REDUCE, REDUCE, OPEN]


@pytest.mark.parametrize("score, state", [("0.30", OPEN), ("0.15", REDUCE), ("-0.33", CLOSED)])
def test_a_fresh_gate_starts_where_its_first_score_puts_it(score, state):
    result = run(session=MON, memory=None, **scored(score))
    assert (result.gate_state, result.gate_previous_state, result.gate_changed) == (state, None, False)
    assert result.gate_memory == GateMemory(state, since_session=MON, last_session=MON)


def test_a_fresh_gate_with_an_unknown_score_stores_nothing():
    result = run(session=MON, memory=None, vvix=D("NaN"))
    assert (result.gate_state, result.gate_memory, result.gate_score) == (UNKNOWN, None, None)
    assert gate_allows_roll(result.gate_state) is False


def test_evaluating_a_session_before_the_gate_last_saw_is_refused():
    memory = GateMemory(OPEN, since_session=MON, last_session=WED)
    with pytest.raises(ValueError, match="evaluate sessions in order"):
        run(session=TUE, memory=memory)


@pytest.mark.parametrize("state", [UNKNOWN, "HALF-OPEN"])
def test_the_gate_memory_refuses_a_state_it_must_never_store(state):
    with pytest.raises(ValueError, match="must be OPEN, REDUCE or CLOSED"):
        GateMemory(state, since_session=MON, last_session=MON)


# --- missing inputs everywhere -------------------------------------------------------------

# field -> what is still computed when it alone is missing
MISSING_ONE = {
    "vix": dict(spread=D("0.75"), pnl=D("-88.00"), gate=UNKNOWN, contango=None, stop_hit=True),
    "vvix": dict(spread=D("0.75"), pnl=D("-88.00"), gate=UNKNOWN, contango=D("5.30"), stop_hit=True),
    "vx1": dict(spread=None, pnl=None, gate=UNKNOWN, contango=None, stop_hit=None),
    "vx2": dict(spread=None, pnl=None, gate=OPEN, contango=D("5.30"), stop_hit=None),
    "entry_spread": dict(spread=D("0.75"), pnl=None, gate=OPEN, contango=D("5.30"), stop_hit=None),
    "quantity": dict(spread=D("0.75"), pnl=None, gate=OPEN, contango=D("5.30"), stop_hit=True),
    "stop_loss_spread": dict(spread=D("0.75"), pnl=D("-88.00"), gate=OPEN, contango=D("5.30"), stop_hit=None),
    "take_profit_spread": dict(spread=D("0.75"), pnl=D("-88.00"), gate=OPEN, contango=D("5.30"), stop_hit=True),
}


@pytest.mark.parametrize("blank", [None, NAN, D("NaN")], ids=["None", "nan", "Decimal NaN"])
@pytest.mark.parametrize("field", MISSING_ONE)
def test_a_missing_or_nan_input_is_named_and_only_what_needs_it_goes_blank(field, blank):
    expected = MISSING_ONE[field]
    result = run(**{field: blank})
    assert (result.data_status, result.missing) == ("data_unavailable", (field,))
    assert (result.spread, result.pnl_usd) == (expected["spread"], expected["pnl"])
    assert (result.gate_state, result.contango_pct) == (expected["gate"], expected["contango"])
    assert result.stop_loss_hit is expected["stop_hit"]
    assert result.reasons[-1] == f"DATA UNAVAILABLE: missing {field}"


def test_the_take_profit_is_still_checked_when_only_the_stop_is_missing():
    result = run(stop_loss_spread=None, vx2="20.50")  # spread 3.40
    assert (result.stop_loss_hit, result.take_profit_hit) == (None, True)


@pytest.mark.parametrize("field", ["vx1", "vx2"])
def test_a_minus_one_quote_from_the_broker_is_missing_not_a_price(field):
    result = run(**{field: D("-1")})
    assert result.missing == (field,)
    assert (result.spread, result.pnl_usd, result.stop_loss_hit) == (None, None, None)


def test_everything_missing_names_everything_and_decides_nothing():
    result = run(vix=None, vvix=NAN, vx1=D("NaN"), vx2=None, entry_spread=None, quantity=None,
                 stop_loss_spread=None, take_profit_spread=NAN)
    assert result.missing == ("vix", "vvix", "vx1", "vx2", "entry_spread", "quantity",
                              "stop_loss_spread", "take_profit_spread")
    assert result.gate_state == UNKNOWN
    assert (result.stop_loss_hit, result.take_profit_hit, result.pnl_usd) == (None, None, None)


def test_a_fractional_quantity_is_refused():
    with pytest.raises(ValueError, match="quantity must be a whole number"):
        run(quantity=D("1.5"))


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(gate_closed_threshold=D("0.2")), "must be below"),
        (dict(gate_hysteresis=D("-0.1")), "gate_hysteresis must not be negative"),
        (dict(gate_min_sessions=-1), "gate_min_sessions must not be negative"),
        (dict(multiplier=0), "multiplier must be positive"),
    ],
)
def test_settings_with_impossible_values_are_refused(changes, words):
    with pytest.raises(ValueError, match=words):
        replace(LEGACY_DEFAULTS, **changes)


def test_settings_have_no_defaults_so_every_threshold_is_passed_in():
    with pytest.raises(TypeError):
        CsSettings()


def test_a_mismatch_beside_a_whole_spread_still_reports_its_stop():
    """Review finding: any naked-leg finding switched the stop and take-profit off, so with q=2 configured and
    one whole spread held (or an extra contract beside a whole spread) a stop hit was never reported. The
    levels are prices of the spread, so they still apply while a whole spread is held; with none they do not."""
    from sleeves.strategies.vrp_cs import HeldLeg

    held = (HeldLeg("VXMG6", D(-1), D("17.20"), D("17.10")), HeldLeg("VXMH6", D(1), D("18.83"), D("17.85")))
    result = run(quantity=2, held_legs=held, whole_spread_held=True)
    assert (result.stop_loss_hit, result.take_profit_hit) == (True, False)
    assert "STOP-LOSS HIT: spread 0.75 <= stop 0.81" in result.reasons
    assert result.pnl_usd == D("-88.00")  # over what is held: (17.20 - 17.10) x 100 + (17.85 - 18.83) x 100
    lone = run(quantity=2, held_legs=held[:1], whole_spread_held=False)
    assert (lone.stop_loss_hit, lone.take_profit_hit) == (None, None)
    assert any("no whole configured spread is held" in r for r in lone.reasons)
