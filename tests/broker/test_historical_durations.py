"""reqHistoricalData durations, over TCP with the plain ib_insync client: the simulator answers
every duration TWS accepts for daily bars ("N S", "N D", "N W", "N M", "N Y"; dspops and the DM
config ask for "1 Y" and "2 Y") and refuses an invalid one with error 321, as TWS does."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from ib_insync import IB, Stock

from dspops.core import calendars


def _bars(ib: IB, duration: str, bar_size: str = "1 day") -> tuple[list, list[tuple[int, str]]]:
    errors: list[tuple[int, str]] = []
    ib.errorEvent += lambda _req, code, text, _contract: errors.append((code, text))
    bars = ib.reqHistoricalData(Stock("SPY", "SMART", "USD"), "", duration, bar_size, "TRADES", True)
    return list(bars), errors


def _last_session(server) -> date:
    return calendars.previous_session(server.world.resolved.session)


@pytest.mark.parametrize("duration, days_back", [("1 Y", 365), ("2 Y", 730), ("3 M", 91), ("2 W", 14)])
def test_calendar_durations_serve_the_sessions_in_that_window(sim, ib_client, duration, days_back):
    server = sim()
    ib = ib_client(server)
    bars, errors = _bars(ib, duration)
    assert errors == []
    end = _last_session(server)
    days = [b.date for b in bars]
    assert days[-1] == end and days == sorted(days) and len(set(days)) == len(days)
    assert all(calendars.is_session(d) for d in days)
    # Every session of the window, give or take the day a month's length moves its start.
    expected = calendars.sessions_in_range(end - timedelta(days=days_back) + timedelta(days=1), end)
    assert abs(len(days) - len(expected)) <= 2
    assert float(bars[-1].close) == pytest.approx(661.4)  # the walk still ends at the scenario's close


def test_day_and_second_durations(sim, ib_client):
    server = sim()
    ib = ib_client(server)
    bars, errors = _bars(ib, "20 D")
    assert errors == [] and len(bars) == 20
    bars, errors = _bars(ib, "86400 S")
    assert errors == [] and [b.date for b in bars] == [_last_session(server)]


def test_two_years_is_about_five_hundred_sessions(sim, ib_client):
    bars, errors = _bars(ib_client(sim()), "2 Y")
    assert errors == [] and 495 <= len(bars) <= 510


@pytest.mark.parametrize("duration", ["1 y", "1 Year", "Y", "1Y", "0 D", "-1 D", "1.5 Y", ""])
def test_an_invalid_duration_is_error_321(sim, ib_client, duration):
    bars, errors = _bars(ib_client(sim()), duration)
    assert bars == []
    assert [code for code, _ in errors] == [321]
    assert errors[0][1].startswith("Error validating request.-'bP' : cause - Historical data duration format is invalid")


def test_days_past_a_year_must_be_asked_in_years(sim, ib_client):
    bars, errors = _bars(ib_client(sim()), "400 D")
    assert bars == [] and [code for code, _ in errors] == [321]
    assert "durations longer than 365 days must be made in years" in errors[0][1]


def test_a_bar_size_other_than_one_day_is_error_321(sim, ib_client):
    bars, errors = _bars(ib_client(sim()), "1 Y", bar_size="1 hour")
    assert bars == [] and [code for code, _ in errors] == [321]
