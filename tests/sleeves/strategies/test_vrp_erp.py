"""VRP-ERP: VIX regimes, confirmation in sessions, target shares, drift and the rebalance signal."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from sleeves.strategies.vrp_erp import (
    LEGACY_DEFAULTS,
    ErpInputs,
    ErpSettings,
    Regime,
    RegimeMemory,
    evaluate,
)
from tests.sleeves.strategies import sessions_between

D = Decimal
MON, TUE, WED, THU, FRI = (date(2026, 1, d) for d in (12, 13, 14, 15, 16))
MLK_DAY, TUE_AFTER_MLK = date(2026, 1, 19), date(2026, 1, 20)

ELEVATED_SINCE_LAST_WEEK = RegimeMemory(
    state="ELEVATED", since_session=date(2026, 1, 5), last_session=date(2026, 1, 9)
)


def run(vix="16.24", spy="689.51", shares=0, vol="1", memory=None, session=MON, settings=LEGACY_DEFAULTS):
    to_d = lambda v: D(v) if isinstance(v, str) else v  # noqa: E731 - floats and None pass through
    return evaluate(
        ErpInputs(session=session, vix=to_d(vix), spy_price=to_d(spy), actual_shares=shares,
                  vol_multiplier=to_d(vol), memory=memory),
        settings, sessions_between,
    )


def test_the_worked_example_is_elevated_with_a_target_of_ten_and_full_drift():
    result = run(vix="16.24", spy="689.51", shares=0, vol="1")
    assert (result.data_status, result.missing) == ("ok", ())
    assert result.regime == Regime.ELEVATED and result.observed_regime == Regime.ELEVATED
    assert result.regime_multiplier == D("0.75")
    assert (result.target_shares, result.actual_shares, result.delta_shares) == (10, 0, 10)
    assert result.drift_pct == D("100.00")
    assert result.rebalance is True
    assert "drift 100.00% > 5%" in result.reasons


@pytest.mark.parametrize(
    "vix, regime, multiplier, target",
    [
        ("9.50", Regime.CALM, D("1.00"), 20),
        ("14.99", Regime.CALM, D("1.00"), 20),
        ("15", Regime.ELEVATED, D("0.75"), 15),
        ("19.99", Regime.ELEVATED, D("0.75"), 15),
        ("20", Regime.HIGH, D("0.50"), 10),
        ("29.99", Regime.HIGH, D("0.50"), 10),
        ("30", Regime.CRISIS, D("0.25"), 5),
        ("80.00", Regime.CRISIS, D("0.25"), 5),
    ],
)
def test_each_regime_boundary_is_a_strict_less_than(vix, regime, multiplier, target):
    result = run(vix=vix, spy="500", shares=target)
    assert result.regime == regime
    assert result.regime_multiplier == multiplier
    assert result.target_shares == target


@pytest.mark.parametrize(
    "spy, vol, target",
    [
        ("689.51", "1", 10),  # 7500 / 689.51 = 10.88
        ("689.51", "1.5", 16),  # 11250 / 689.51 = 16.32
        ("689.51", "0.25", 2),  # 1875 / 689.51 = 2.72
        ("750.00", "1", 10),  # exactly 10: floor keeps it
        ("750.01", "1", 9),  # a cent more and it is 9.9999
    ],
)
def test_target_shares_are_floored_after_the_vol_multiplier(spy, vol, target):
    assert run(vix="16.24", spy=spy, vol=vol, shares=target).target_shares == target


@pytest.mark.parametrize(
    "spy, shares, drift, rebalance",
    [
        ("500", 20, D("0.00"), False),  # target 20 (CALM, 10000 / 500)
        ("500", 19, D("5.00"), False),  # exactly 5% is not above 5%
        ("500", 21, D("5.00"), False),
        ("500", 18, D("10.00"), True),
        ("500", 25, D("25.00"), True),
        ("500", -2, D("110.00"), True),
        ("520", 20, D("5.26"), True),  # target 19 (10000 / 520 = 19.23): 1/19 is above 5%
        ("20000.01", 0, D("0.00"), False),  # target 0 and flat
        ("20000.01", 3, D("100.00"), True),  # target 0 while holding
    ],
)
def test_drift_is_measured_in_shares_against_the_target(spy, shares, drift, rebalance):
    result = run(vix="12", spy=spy, shares=shares)
    assert result.drift_pct == drift
    assert result.rebalance is rebalance


def test_a_target_of_zero_while_flat_is_no_drift_and_while_holding_is_full_drift():
    flat = run(vix="12", spy="20000.01", shares=0)
    holding = run(vix="12", spy="20000.01", shares=1)
    assert (flat.target_shares, flat.drift_pct, flat.delta_shares) == (0, D("0.00"), 0)
    assert (holding.target_shares, holding.drift_pct, holding.delta_shares) == (0, D("100.00"), -1)


@pytest.mark.parametrize("shares, delta", [(0, 10), (10, 0), (13, -3)])
def test_delta_is_target_minus_actual_so_positive_means_buy(shares, delta):
    assert run(shares=shares).delta_shares == delta


def test_the_drift_threshold_comes_from_the_settings():
    strict = replace(LEGACY_DEFAULTS, drift_rebalance_pct=D("4.99"))
    result = run(vix="12", spy="500", shares=19, settings=strict)
    assert result.rebalance is True
    assert "drift 5.00% > 4.99%" in result.reasons


# --- confirmation in sessions ------------------------------------------------------------

# Each step: (session, vix, confirmed regime after it, regime_changed, words expected in reasons)
CONFIRMATION_STORIES = {
    "a change is confirmed on the second session in the new regime": [
        (MON, "21", Regime.ELEVATED, False, "regime changing to HIGH (1/2 sessions)"),
        (TUE, "22", Regime.HIGH, True, "regime changed ELEVATED -> HIGH (confirmed after 2 sessions)"),
        (WED, "23", Regime.HIGH, False, None),
    ],
    "two runs on one session count once": [
        (MON, "21", Regime.ELEVATED, False, "regime changing to HIGH (1/2 sessions)"),
        (MON, "21.50", Regime.ELEVATED, False, "regime changing to HIGH (1/2 sessions)"),
        (MON, "22", Regime.ELEVATED, False, "regime changing to HIGH (1/2 sessions)"),
        (TUE, "22", Regime.HIGH, True, "regime changed ELEVATED -> HIGH (confirmed after 2 sessions)"),
    ],
    "a revert before confirmation cancels the change": [
        (MON, "21", Regime.ELEVATED, False, "regime changing to HIGH (1/2 sessions)"),
        (TUE, "18", Regime.ELEVATED, False, "regime change to HIGH cancelled: VIX is back in ELEVATED"),
        (WED, "21", Regime.ELEVATED, False, "regime changing to HIGH (1/2 sessions)"),
        (THU, "21", Regime.HIGH, True, "regime changed ELEVATED -> HIGH (confirmed after 2 sessions)"),
    ],
    "a revert within the same session cancels too": [
        (MON, "21", Regime.ELEVATED, False, "regime changing to HIGH (1/2 sessions)"),
        (MON, "19", Regime.ELEVATED, False, "cancelled"),
        (TUE, "21", Regime.ELEVATED, False, "regime changing to HIGH (1/2 sessions)"),
    ],
    "a third regime restarts the count for itself": [
        (MON, "21", Regime.ELEVATED, False, "regime changing to HIGH (1/2 sessions)"),
        (TUE, "31", Regime.ELEVATED, False, "regime changing to CRISIS (1/2 sessions)"),
        (WED, "31", Regime.CRISIS, True, "regime changed ELEVATED -> CRISIS (confirmed after 2 sessions)"),
    ],
    "a weekend is not a session": [
        (FRI, "21", Regime.ELEVATED, False, "regime changing to HIGH (1/2 sessions)"),
        (date(2026, 1, 17), "21", Regime.ELEVATED, False, "(1/2 sessions)"),  # Saturday rerun
        (TUE_AFTER_MLK, "21", Regime.HIGH, True, "confirmed after 2 sessions"),  # MLK Monday skipped
    ],
    "a session without a run still counts as a session in the new regime": [
        (MON, "21", Regime.ELEVATED, False, "(1/2 sessions)"),
        (WED, "21", Regime.HIGH, True, "regime changed ELEVATED -> HIGH (confirmed after 3 sessions)"),
    ],
}


@pytest.mark.parametrize("steps", CONFIRMATION_STORIES.values(), ids=CONFIRMATION_STORIES.keys())
def test_regime_confirmation_over_several_sessions(steps):
    memory = ELEVATED_SINCE_LAST_WEEK
    for session, vix, regime, changed, words in steps:
        result = run(vix=vix, session=session, memory=memory, shares=5)
        assert (result.regime, result.regime_changed) == (regime, changed), (session, vix)
        if words:
            assert any(words in reason for reason in result.reasons), result.reasons
        memory = result.memory
        assert memory.last_session == session


def test_a_three_session_confirmation_setting_waits_for_the_third_session():
    settings = replace(LEGACY_DEFAULTS, regime_confirm_sessions=3)
    memory = ELEVATED_SINCE_LAST_WEEK
    seen = []
    for session in (MON, TUE, WED):
        result = run(vix="25", session=session, memory=memory, settings=settings)
        seen.append((result.regime, result.reasons[0]))
        memory = result.memory
    assert seen == [
        (Regime.ELEVATED, "regime changing to HIGH (1/3 sessions)"),
        (Regime.ELEVATED, "regime changing to HIGH (2/3 sessions)"),
        (Regime.HIGH, "regime changed ELEVATED -> HIGH (confirmed after 3 sessions)"),
    ]


def test_the_regime_changes_at_most_once_per_session_even_with_one_session_confirmation():
    settings = replace(LEGACY_DEFAULTS, regime_confirm_sessions=1)
    first = run(vix="25", session=MON, memory=ELEVATED_SINCE_LAST_WEEK, settings=settings)
    second = run(vix="12", session=MON, memory=first.memory, settings=settings)
    next_day = run(vix="12", session=TUE, memory=second.memory, settings=settings)
    assert (first.regime, first.regime_changed) == (Regime.HIGH, True)
    assert (second.regime, second.regime_changed) == (Regime.HIGH, False)
    assert "it already changed this session" in second.reasons[0]
    assert (next_day.regime, next_day.regime_changed) == (Regime.CALM, True)


def test_the_memory_records_the_pending_change_and_when_it_was_first_seen():
    pending = run(vix="21", session=MON, memory=ELEVATED_SINCE_LAST_WEEK).memory
    assert pending == RegimeMemory(state=Regime.ELEVATED, since_session=date(2026, 1, 5),
                                   pending_state=Regime.HIGH, pending_since=MON, last_session=MON)
    confirmed = run(vix="21", session=TUE, memory=pending).memory
    assert confirmed == RegimeMemory(state=Regime.HIGH, since_session=TUE, last_session=TUE)


def test_a_pending_change_does_not_move_the_target_until_it_is_confirmed():
    pending = run(vix="21", spy="500", session=MON, memory=ELEVATED_SINCE_LAST_WEEK, shares=15)
    assert (pending.target_shares, pending.regime_multiplier, pending.rebalance) == (15, D("0.75"), False)
    confirmed = run(vix="21", spy="500", session=TUE, memory=pending.memory, shares=15)
    assert (confirmed.target_shares, confirmed.regime_multiplier) == (10, D("0.50"))


def test_a_confirmed_regime_change_signals_a_rebalance_even_without_drift():
    pending = run(vix="21", spy="500", session=MON, memory=ELEVATED_SINCE_LAST_WEEK, shares=10)
    confirmed = run(vix="21", spy="500", session=TUE, memory=pending.memory, shares=10)
    assert (confirmed.drift_pct, confirmed.rebalance) == (D("0.00"), True)
    assert confirmed.reasons == ("regime changed ELEVATED -> HIGH (confirmed after 2 sessions)",)


def test_a_fresh_book_adopts_the_observed_regime_at_once():
    result = run(vix="25", spy="500", shares=10, memory=None, session=MON)
    assert (result.regime, result.regime_changed, result.rebalance) == (Regime.HIGH, False, False)
    assert result.memory == RegimeMemory(state=Regime.HIGH, since_session=MON, last_session=MON)
    assert result.reasons == ("regime HIGH adopted (no earlier regime on record)",)


def test_a_memory_read_from_the_database_with_plain_strings_works():
    memory = RegimeMemory(state="HIGH", since_session=MON, pending_state="", pending_since=None,
                          last_session=MON)
    assert memory.state == Regime.HIGH and memory.pending_state is None


@pytest.mark.parametrize(
    "fields, words",
    [
        (dict(state="STORMY", since_session=MON), "not one of CALM, ELEVATED, HIGH, CRISIS"),
        (dict(state="HIGH", since_session=MON, pending_state="CALM"), "set together"),
        (dict(state="HIGH"), "since_session"),
    ],
)
def test_a_malformed_regime_memory_is_refused(fields, words):
    with pytest.raises(ValueError, match=words):
        RegimeMemory(**fields)


def test_evaluating_a_session_before_the_last_one_is_refused():
    memory = RegimeMemory(state="HIGH", since_session=MON, last_session=WED)
    with pytest.raises(ValueError, match="evaluate sessions in order"):
        run(vix="21", session=TUE, memory=memory)


# --- missing inputs ----------------------------------------------------------------------


@pytest.mark.parametrize("blank", [None, float("nan"), D("NaN"), D("-1")],
                         ids=["None", "float NaN", "Decimal NaN", "-1"])
@pytest.mark.parametrize("field", ["vix", "spy", "vol"])
def test_a_missing_price_or_multiplier_makes_the_run_data_unavailable_without_a_target(field, blank):
    names = {"vix": "vix", "spy": "spy_price", "vol": "vol_multiplier"}
    result = run(**{field: blank}, shares=5, memory=ELEVATED_SINCE_LAST_WEEK)
    assert (result.data_status, result.missing) == ("data_unavailable", (names[field],))
    assert (result.target_shares, result.drift_pct, result.delta_shares) == (None, None, None)
    assert result.rebalance is None
    assert result.reasons[-1] == f"DATA UNAVAILABLE: missing {names[field]}"


@pytest.mark.parametrize("blank", [None, float("nan"), D("NaN")], ids=["None", "float NaN", "Decimal NaN"])
def test_unknown_actual_shares_are_never_taken_as_zero(blank):
    result = run(shares=blank)
    assert (result.data_status, result.missing) == ("data_unavailable", ("actual_shares",))
    assert result.target_shares == 10  # the target does not need the position
    assert (result.actual_shares, result.drift_pct, result.delta_shares, result.rebalance) == (None,) * 4


def test_actual_shares_from_fills_may_be_a_whole_decimal_but_not_a_fraction():
    assert run(shares=D("10.000")).actual_shares == 10
    with pytest.raises(ValueError, match="actual_shares must be a whole number"):
        run(shares=D("10.5"))


def test_a_confirmed_change_still_signals_when_the_position_is_unknown():
    pending = run(vix="21", session=MON, memory=ELEVATED_SINCE_LAST_WEEK)
    result = run(vix="21", session=TUE, memory=pending.memory, shares=None)
    assert (result.data_status, result.rebalance, result.regime) == ("data_unavailable", True, Regime.HIGH)


def test_a_missing_vix_leaves_the_regime_memory_untouched():
    pending = run(vix="21", session=MON, memory=ELEVATED_SINCE_LAST_WEEK).memory
    result = run(vix=float("nan"), session=TUE, memory=pending)
    assert result.memory is pending
    assert (result.regime, result.observed_regime, result.regime_multiplier) == (Regime.ELEVATED, None, D("0.75"))


def test_a_fresh_book_without_vix_has_no_regime_and_no_memory():
    result = run(vix=None, memory=None)
    assert (result.regime, result.regime_multiplier, result.memory) == (None, None, None)
    assert result.missing == ("vix",)


def test_every_input_missing_names_every_input():
    result = run(vix=None, spy=D("NaN"), shares=None, vol=float("nan"))
    assert result.missing == ("vix", "spy_price", "actual_shares", "vol_multiplier")
    assert result.actual_exposure_usd is None


def test_the_actual_exposure_is_shares_times_price_to_the_cent():
    assert run(spy="689.515", shares=13).actual_exposure_usd == D("8963.70")


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(elevated_vix=D("20")), "must increase"),
        (dict(crisis_vix=D("19")), "must increase"),
        (dict(regime_confirm_sessions=0), "at least 1"),
    ],
)
def test_settings_with_impossible_values_are_refused(changes, words):
    with pytest.raises(ValueError, match=words):
        replace(LEGACY_DEFAULTS, **changes)


def test_settings_have_no_defaults_so_every_threshold_is_passed_in():
    with pytest.raises(TypeError):
        ErpSettings()
