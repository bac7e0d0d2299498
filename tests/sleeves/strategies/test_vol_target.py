"""The vol-target overlay: realised vol from SPY closes, the clamped multiplier, staleness."""

import math
import statistics
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from sleeves.strategies.vol_target import (
    LEGACY_DEFAULTS,
    VolTargetInputs,
    VolTargetSettings,
    evaluate,
    is_stale,
    multiplier_for_vol,
)
from tests.sleeves.strategies import sessions_between, sessions_from

D = Decimal
DAYS = sessions_from(date(2025, 12, 1), 40)


def spy_closes(daily_moves, start="600.00"):
    """Closes that move by the given fractions, rounded to the cent like real bars."""
    closes, price = [D(start)], D(start)
    for move in daily_moves:
        price = (price * (1 + D(move))).quantize(D("0.01"))
        closes.append(price)
    return list(zip(DAYS[-len(closes):], closes))


def float_vol(closes):
    """An independent computation with floats, the way the legacy pandas fallback did it."""
    prices = [float(c) for _, c in closes]
    returns = [math.log(b / a) for a, b in zip(prices, prices[1:])]
    return statistics.stdev(returns) * math.sqrt(252)


# About 9% annualised, like SPY in a quiet month.
SPY_LIKE_MOVES = ["0.0056", "-0.0042", "0.0084", "-0.0070", "0.0028", "0.0014", "-0.0098", "0.0070", "-0.0028",
                  "0.0042", "0.0000", "-0.0056", "0.0084", "-0.0014", "0.0028", "-0.0084", "0.0056", "0.0042",
                  "-0.0070", "0.0014", "0.0028"]


@pytest.mark.parametrize(
    "vol, multiplier, clamped",
    [
        ("0.092", D("1.0870"), None),  # SPY at 9.2%: 0.10 / 0.092 = 1.0869..
        ("0.10", D("1.0000"), None),
        ("0.0667", D("1.4993"), None),
        ("0.0666", D("1.5000"), "max"),  # 1.5015 is above the cap
        ("0.03", D("1.5000"), "max"),
        ("0.40", D("0.2500"), None),  # exactly the floor is not clamped
        ("0.41", D("0.2500"), "min"),
        ("0.80", D("0.2500"), "min"),
    ],
)
def test_the_multiplier_is_target_over_vol_clamped_at_both_ends(vol, multiplier, clamped):
    assert multiplier_for_vol(D(vol), LEGACY_DEFAULTS) == (multiplier, clamped)


def test_the_clamp_bounds_come_from_the_settings():
    settings = replace(LEGACY_DEFAULTS, vol_multiplier_min=D("0.5"), vol_multiplier_max=D("1.2"))
    assert multiplier_for_vol(D("0.05"), settings) == (D("1.2000"), "max")
    assert multiplier_for_vol(D("0.25"), settings) == (D("0.5000"), "min")


def test_realised_vol_is_the_sample_stdev_of_21_log_returns_annualised():
    closes = spy_closes(SPY_LIKE_MOVES)
    result = evaluate(VolTargetInputs(closes), LEGACY_DEFAULTS)
    assert (result.data_status, result.missing, result.returns_used) == ("ok", (), 21)
    assert result.as_of_session == closes[-1][0]
    assert math.isclose(float(result.realized_vol), float_vol(closes), abs_tol=1e-6)
    assert (result.realized_vol, result.multiplier, result.clamped) == (D("0.089548"), D("1.1167"), None)


def test_only_the_last_21_returns_count():
    recent = spy_closes(SPY_LIKE_MOVES)
    with_a_crash_before = [(date(2025, 11, 3), D("400.00")), (date(2025, 11, 4), D("900.00"))] + recent
    expected = evaluate(VolTargetInputs(recent), LEGACY_DEFAULTS)
    assert evaluate(VolTargetInputs(with_a_crash_before), LEGACY_DEFAULTS) == expected


@pytest.mark.parametrize(
    "moves, clamped, multiplier",
    [
        (["0.0005", "-0.0004"] * 10 + ["0.0003"], "max", D("1.5000")),  # a very quiet market
        (["0.04", "-0.035"] * 10 + ["0.03"], "min", D("0.2500")),  # a crash-sized swing
    ],
)
def test_quiet_and_wild_markets_hit_the_clamp(moves, clamped, multiplier):
    result = evaluate(VolTargetInputs(spy_closes(moves)), LEGACY_DEFAULTS)
    assert (result.clamped, result.multiplier) == (clamped, multiplier)
    assert f"clamped to {clamped}" in result.reasons[0]


@pytest.mark.parametrize("count, status", [(20, "data_unavailable"), (21, "data_unavailable"), (22, "ok"), (23, "ok")])
def test_21_returns_need_22_closes(count, status):
    closes = spy_closes(SPY_LIKE_MOVES)[-count:]
    result = evaluate(VolTargetInputs(closes), LEGACY_DEFAULTS)
    assert result.data_status == status
    if status != "ok":
        assert result.missing == ("closes",)
        assert (result.multiplier, result.realized_vol, result.as_of_session) == (None, None, None)
        assert result.reasons == (f"DATA UNAVAILABLE: the overlay needs 22 SPY closes for 21 returns, has {count}",)


def test_the_lookback_comes_from_the_settings():
    closes = spy_closes(SPY_LIKE_MOVES)[-6:]
    five = replace(LEGACY_DEFAULTS, vol_lookback_returns=5)
    assert evaluate(VolTargetInputs(closes), five).returns_used == 5
    assert evaluate(VolTargetInputs(closes[1:]), five).data_status == "data_unavailable"


@pytest.mark.parametrize("blank", [None, float("nan"), D("NaN"), D("-1"), D("0")],
                         ids=["None", "nan", "Decimal NaN", "-1", "zero"])
def test_a_missing_close_inside_the_window_makes_the_overlay_unavailable(blank):
    closes = spy_closes(SPY_LIKE_MOVES)
    closes[10] = (closes[10][0], blank)
    result = evaluate(VolTargetInputs(closes), LEGACY_DEFAULTS)
    assert (result.data_status, result.multiplier) == ("data_unavailable", None)
    assert result.reasons == (f"DATA UNAVAILABLE: SPY close missing or NaN on {closes[10][0].isoformat()}",)


def test_a_missing_close_before_the_window_does_not_matter():
    closes = [(date(2025, 11, 28), D("NaN"))] + spy_closes(SPY_LIKE_MOVES)
    assert evaluate(VolTargetInputs(closes), LEGACY_DEFAULTS).data_status == "ok"


def test_closes_that_never_move_are_refused_rather_than_read_as_zero_vol():
    closes = spy_closes(["0"] * 21)
    result = evaluate(VolTargetInputs(closes), LEGACY_DEFAULTS)
    assert (result.data_status, result.multiplier) == ("data_unavailable", None)
    assert "do not move" in result.reasons[0]


def test_closes_out_of_order_are_a_programming_error():
    closes = spy_closes(SPY_LIKE_MOVES)
    closes[3], closes[4] = closes[4], closes[3]
    with pytest.raises(ValueError, match="oldest first"):
        evaluate(VolTargetInputs(closes), LEGACY_DEFAULTS)


@pytest.mark.parametrize(
    "as_of, today, stale",
    [
        (date(2026, 1, 12), date(2026, 1, 12), False),  # same session
        (date(2026, 1, 12), date(2026, 1, 15), False),  # 3 sessions old
        (date(2026, 1, 12), date(2026, 1, 16), True),  # 4 sessions old
        (date(2026, 1, 15), date(2026, 1, 20), False),  # Fri, MLK Monday, Tue: 2 sessions
        (date(2026, 1, 15), date(2026, 1, 21), False),  # 3 sessions
        (date(2026, 1, 15), date(2026, 1, 22), True),  # 4 sessions, though only 7 calendar days
        (None, date(2026, 1, 12), True),  # no state at all
    ],
)
def test_the_state_is_stale_after_more_than_three_sessions(as_of, today, stale):
    assert is_stale(as_of, today, sessions_between, LEGACY_DEFAULTS.vol_state_stale_sessions) is stale


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(vol_multiplier_min=D("2")), "is above vol_multiplier_max"),
        (dict(vol_lookback_returns=1), "at least 2"),
        (dict(vol_target_annual=D("0")), "must be above 0"),
        (dict(vol_state_stale_sessions=-1), "must not be negative"),
    ],
)
def test_settings_with_impossible_values_are_refused(changes, words):
    with pytest.raises(ValueError, match=words):
        replace(LEGACY_DEFAULTS, **changes)


def test_settings_have_no_defaults_so_every_threshold_is_passed_in():
    with pytest.raises(TypeError):
        VolTargetSettings()
