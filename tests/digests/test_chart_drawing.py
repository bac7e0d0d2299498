"""What the dashboard charts draw (digests.charts): ticks on whole days, every series visible, and a note when
there is too little history to read.

The drawing depends on nothing but a chart's data, so most tests hand each chart's figure step plain data of a
chosen length (sessions ending Friday 20 November 2026) and read its axes; the SVG is checked for what the
browser gets: a marker drawn for a lone reading, the note's text. One test starts from the database as a new
install has it: one session of readings.
"""

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from matplotlib import dates as mdates
from matplotlib.colors import to_hex

from digests import charts
from sleeves.models import VrpCsLogEntry

FRIDAY = date(2026, 11, 20)
LEVELS = (("stop", 0.6, "stop 0.60"), ("take-profit", 2.2, "take-profit 2.20"), ("entry", 1.1, "entry 1.10"))


def sessions(count: int) -> list[str]:
    """The last ``count`` weekdays up to FRIDAY, oldest first, as the data steps write them (ISO text)."""
    days, day = [], FRIDAY
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day.isoformat())
        day -= timedelta(days=1)
    return days[::-1]


def vol(days, *, vx=True) -> tuple:
    return ("lines", tuple(days), (("VIX", tuple((d, 16.0 + i % 7) for i, d in enumerate(days))),
                                   ("VX1", tuple((d, 17.0 + i % 5) for i, d in enumerate(days)) if vx else ()),
                                   ("VX2", tuple((d, 18.5 + i % 4) for i, d in enumerate(days)) if vx else ())))


def spread(days) -> tuple:
    return ("spread", tuple((d, 1.0 + 0.05 * (i % 6)) for i, d in enumerate(days)), LEVELS)


def erp(days) -> tuple:
    return ("steps", tuple((d, 20 + i % 3, 18 + i % 4) for i, d in enumerate(days)))


CHARTS = {"vol": (vol, charts.vol_figure), "spread": (spread, charts.spread_figure), "erp": (erp, charts.erp_figure)}
LENGTHS = (1, 2, 3, 5, 10, 20, 60, 120, 250, 500)


def figure(name: str, count: int):
    make, draw = CHARTS[name]
    return draw(make(sessions(count)))


def ticks(axes, *, minor: bool = False) -> list[datetime]:
    """The x ticks matplotlib places in the view (the locator's answer, as a drawing asks it), as UTC datetimes."""
    low, high = axes.get_xlim()
    locator = axes.xaxis.get_minor_locator() if minor else axes.xaxis.get_major_locator()
    return [tick for tick in mdates.num2date(locator()) if low <= mdates.date2num(tick) <= high]


def series(axes):
    """The chart's data lines (the stop/take-profit/entry levels are full-width lines, visible by themselves)."""
    levels = {label for _, _, label in LEVELS}
    return [line for line in axes.get_lines() if line.get_label() not in levels]


@pytest.mark.parametrize("count", LENGTHS)
@pytest.mark.parametrize("name", CHARTS)
def test_date_ticks_fall_on_whole_days_and_never_crowd(name, count):
    axes = figure(name, count).axes[0]
    placed = ticks(axes)
    assert 2 <= len(placed) <= charts.MAX_DATE_TICKS
    assert all(tick.time() == datetime.min.time() for tick in placed), placed  # midnight: no 12:00 tick
    assert all(tick.time() == datetime.min.time() for tick in ticks(axes, minor=True))
    labels = axes.xaxis.get_major_formatter().format_ticks(mdates.date2num(placed))
    assert all(":" not in label for label in labels), labels  # dates, never hours
    assert len(set(labels)) == len(labels)


@pytest.mark.parametrize("name", CHARTS)
def test_a_short_history_has_a_tick_every_day_labelled_by_its_date(name):
    for count in (1, 3, 5):
        axes = figure(name, count).axes[0]
        placed = ticks(axes)
        assert [b - a for a, b in zip(placed, placed[1:])] == [timedelta(days=1)] * (len(placed) - 1)
        assert {tick.date().isoformat() for tick in placed} >= set(sessions(count))
        labels = axes.xaxis.get_major_formatter().format_ticks(mdates.date2num(placed))
        assert "Nov 20" in labels


def test_a_long_history_ticks_on_the_first_of_months():
    placed = ticks(figure("erp", 120).axes[0])
    assert all(tick.day == 1 for tick in placed) and len({tick.month for tick in placed}) == len(placed)


@pytest.mark.parametrize("name", CHARTS)
def test_every_series_of_one_reading_is_drawn_as_a_marker(name):
    """A line through one point draws nothing: each series has a marker, and the SVG draws it in the plot."""
    make, draw = CHARTS[name]
    data = make(sessions(1))
    lines = series(draw(data).axes[0])
    assert lines and all(line.get_marker() not in (None, "", " ", "None") and line.get_markersize() > 0
                         and len(line.get_xdata()) == 1 for line in lines)

    svg = charts.CHARTS[name].draw(data)
    plotted = svg[:svg.index('id="legend_1"')]  # the data is drawn before the legend, which has markers of its own
    for line in lines:
        color = to_hex(line.get_color())
        assert re.search(rf'<use xlink:href="#m[0-9a-f]+" x="[-0-9.]+" y="[-0-9.]+" style="fill: {color}', plotted), \
            line.get_label()


def test_a_series_without_a_reading_keeps_its_place_in_the_legend_and_says_so():
    svg = charts.vol_draw(vol(sessions(3), vx=False))
    assert "<!-- VIX -->" in svg and "VX1 (no readings)" in svg and "VX2 (no readings)" in svg
    svg = charts.erp_draw(("steps", tuple((d, 20, None) for d in sessions(3))))
    assert "actual (no readings)" in svg


@pytest.mark.parametrize("name", CHARTS)
def test_too_little_history_is_said_on_the_chart(name):
    make, _ = CHARTS[name]
    for count in range(1, charts.MIN_SESSIONS):
        svg = charts.CHARTS[name].draw(make(sessions(count)))
        word = "session" if count == 1 else "sessions"
        assert f"Too little history: {count} {word} (the chart needs {charts.MIN_SESSIONS})" in svg
    assert "Too little history" not in charts.CHARTS[name].draw(make(sessions(charts.MIN_SESSIONS)))


@pytest.mark.parametrize("name, data, message", [
    ("vol", ("empty", "No VIX or VX readings stored yet"), "No VIX or VX readings stored yet"),
    ("spread", ("empty", "No active VRP-CS position config"), "No active VRP-CS position config"),
    ("erp", ("empty", "No VRP-ERP runs with a target yet"), "No VRP-ERP runs with a target yet")])
def test_a_chart_with_no_data_keeps_its_message_and_no_note(name, data, message):
    svg = charts.CHARTS[name].draw(data)
    assert message in svg and "Too little history" not in svg


@pytest.mark.parametrize("name", CHARTS)
def test_the_same_data_still_draws_the_same_bytes(name):
    make, _ = CHARTS[name]
    for count in (1, 120):
        data = make(sessions(count))
        assert charts.CHARTS[name].draw(data) == charts.CHARTS[name].draw(data)


def test_a_new_install_with_one_session_shows_vix_and_both_futures_and_says_it_is_too_little(booted):
    VrpCsLogEntry.objects.create(logged_at=datetime(2026, 11, 20, 21, tzinfo=timezone.utc), trading_date=FRIDAY,
                                 data_status="ok", vix=Decimal("17.00"), vx1=Decimal("18.00"), vx2=Decimal("19.20"),
                                 spread=Decimal("1.20"), source="simulated")
    data = charts.current("vol").data
    axes = charts.vol_figure(data).axes[0]
    assert {line.get_label(): len(line.get_xdata()) for line in series(axes)} == {"VIX": 1, "VX1": 1, "VX2": 1}
    assert all(line.get_marker() == "o" for line in series(axes))
    assert "Too little history: 1 session (the chart needs 5)" in charts.vol_draw(data)
