"""Charts for the dashboard, drawn server-side as SVG with matplotlib (no JavaScript, works offline).

Each chart is two steps: its data (a few bounded, indexed queries returning the very values it draws, as
plain dates, Decimals and strings) and its drawing (matplotlib, 0.1 to over 1 second). The drawing depends
on nothing but the data, so a digest of the data is the chart's version: the SVG is kept in the "charts"
cache (settings.CACHES) under (chart, version) and drawn only when that copy is missing, i.e. once per
change of its data, not once per page view.

Why a digest of the values and not a row count or the largest id: rows are corrected in place (price bars
by sleeves.price_import and the DM plan's bar sync with update()/bulk_update(), which add no row and send
no signal; a position config edited in the admin), and these tables have no "updated" column. Whatever
changes what a chart draws changes its data, hence its version: a new log row, a corrected bar, a new or
edited position config, the window moving to a new session. No chart's window depends on today's date
(each shows its last stored sessions, or the position since its entry), so the date is not an input; a
chart that ever draws "today" must put it in its data. The data step costs the same whatever the size of
the history: each query is limited to the chart's window through an index.

Every drawing reads the same way however much history there is: the date axis ticks whole days (never hours),
every series has markers as well as its line (a single reading is a dot, not nothing), and a chart with fewer
than MIN_SESSIONS sessions draws them and says "Too little history" (one with none keeps its empty message).

matplotlib is imported only when a chart is drawn, so command start-up stays fast.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import marshal
from dataclasses import dataclass
from datetime import date, timedelta, timezone
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Callable

from django.core.cache import caches
from django.db.models import CharField, FloatField
from django.db.models.functions import Cast

from dspops.core import formats
from sleeves.models import PriceBar, SpreadPosition, VrpCsLogEntry, VrpErpLogEntry

log = logging.getLogger("dspops.charts")

CACHE_ALIAS = "charts"
# A version names one picture for ever, so a copy is never stale; the timeout only lets old versions go.
CACHE_SECONDS = 7 * 24 * 3600
SESSIONS = 120


@dataclass(frozen=True)
class Chart:
    """A chart: ``data()`` reads what it draws (plain values, marshal-able), ``draw(data)`` returns the SVG."""

    name: str
    data: Callable[[], tuple]
    draw: Callable[[tuple], str]


@dataclass(frozen=True)
class ChartData:
    """A chart's data now and its version (the chart's name and a digest of the data and of the drawing code)."""

    version: str
    data: tuple


# --- drawing (matplotlib) ---------------------------------------------------------------------------


def _figure(title: str):
    # Lazy for start-up cost (see the module docstring).
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 2.8), dpi=100)
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=10, loc="left")
    axes.grid(True, alpha=0.3)
    axes.tick_params(labelsize=8)
    return figure, axes


# The date axis ticks whole days only: matplotlib's own choice falls every 12 hours on a short history. The
# step is the finest that keeps the labels apart (at most MAX_DATE_TICKS), each on a day boundary: every day,
# every other day, Mondays, every other Monday, then the first of a month, then the first of a year.
MAX_DATE_TICKS = 9
_DATE_STEPS = (  # (about how many days a step is, the kind of tick, its interval, the label's format)
    (1, "day", 1, "%b %d"), (2, "day", 2, "%b %d"), (7, "monday", 1, "%b %d"), (14, "monday", 2, "%b %d"),
    (30.5, "month", 1, "%b %Y"), (61, "month", 2, "%b %Y"), (91.5, "month", 3, "%b %Y"), (183, "month", 6, "%b %Y"),
    (365.25, "year", 1, "%Y"))

# A chart with fewer sessions than this draws them and says so: a week of sessions shows a direction.
MIN_SESSIONS = 5
NOTE_COLOR = "#a15c00"


def _date_step(span_days: float) -> tuple:
    """The finest step of _DATE_STEPS that puts at most MAX_DATE_TICKS ticks on ``span_days`` days."""
    for step in _DATE_STEPS:
        if span_days / step[0] + 1 <= MAX_DATE_TICKS:
            return step
    return _DATE_STEPS[-1]


def _date_axis(axes, days) -> None:
    """Pad the date axis to the data (with one or two readings matplotlib would span years) and tick it on whole
    days, labelled as dates ("Nov 16"), never as hours."""
    from matplotlib import dates as mdates

    days = sorted(days)
    if not days:
        return
    span = max((days[-1] - days[0]).days, 1)
    pad = timedelta(days=max(2, span // 20))
    first, last = days[0] - pad, days[-1] + pad
    axes.set_xlim(first, last)
    _, kind, interval, label = _date_step((last - first).days)
    utc = timezone.utc  # dates are drawn as UTC midnights: a tick at 00:00 UTC is the session's day
    locator = {"day": lambda: mdates.DayLocator(interval=interval, tz=utc),
               "monday": lambda: mdates.WeekdayLocator(byweekday=mdates.MO, interval=interval, tz=utc),
               "month": lambda: mdates.MonthLocator(interval=interval, tz=utc),
               "year": lambda: mdates.YearLocator(tz=utc)}[kind]()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.DateFormatter(label, tz=utc))
    if kind == "monday" or (kind == "day" and interval > 1):
        axes.xaxis.set_minor_locator(mdates.DayLocator(tz=utc))  # unlabelled: each day between the labels


def _marker(count: int) -> dict:
    """Every series is drawn with markers as well as its line, so a single reading (a line of one point draws
    nothing) still shows; smaller on a long history, where the line carries the shape."""
    return {"marker": "o", "markersize": 3.5 if count <= 30 else 2}


def _history_note(axes, sessions: int) -> None:
    """Say on the chart that it has too little history to read, rather than leave a lone dot to explain itself."""
    if sessions < MIN_SESSIONS:
        axes.set_title(f"Too little history: {formats.sessions(sessions)} (the chart needs {MIN_SESSIONS})",
                       loc="right", fontsize=8, color=NOTE_COLOR)


def _svg(figure) -> str:
    import matplotlib

    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.StringIO()
    # The same data gives the same bytes: no creation date, and element ids from a fixed salt, not a random one.
    with matplotlib.rc_context({"svg.hashsalt": "dspops-chart"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _empty(title: str, message: str):
    figure, axes = _figure(title)
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, fontsize=9, color="#666")
    axes.set_xticks([])
    axes.set_yticks([])
    return figure


# --- data (bounded queries) ---------------------------------------------------------------------------
# Values are read as the drawing uses them: sessions as ISO text, prices as floats (matplotlib draws floats),
# cast in SQL so no per-value conversion runs in Python; the one exception is the position config's levels,
# whose labels are formatted from their Decimals.


def _day(field: str) -> Cast:
    return Cast(field, CharField())


def _number(field: str) -> Cast:
    return Cast(field, FloatField())


def _last_per_session(rows) -> dict:
    """{session: the rest of its last row}, rows ordered by session then time."""
    return {row[0]: row[1:] for row in rows}


def _window_start(queryset, sessions: int) -> date | None:
    """The oldest of the latest ``sessions`` distinct trading dates of ``queryset`` (read down the date index);
    None when it has fewer: then all its rows are in the window."""
    return (queryset.order_by("-trading_date").values_list("trading_date", flat=True).distinct()
            [sessions - 1:sessions].first())


def _dates(days):
    return [date.fromisoformat(day) for day in days]


VOL_TITLE = "VIX, VX1 and VX2"


def vol_data(*, sessions: int = SESSIONS) -> tuple:
    """VIX (stored closes, overridden by the VRP-CS monitor's reading of the same session), VX1 and VX2.

    The window: the latest ``sessions`` sessions with a VRP-CS reading and the latest ``sessions`` VIX closes.
    VX points are those of the window's span (all that the date axis shows).
    """
    ok = VrpCsLogEntry.objects.filter(data_status="ok")
    cs_start = _window_start(ok, sessions)
    vix_closes = list(PriceBar.objects.filter(instrument__symbol="VIX").order_by("-session")
                      .values_list(_day("session"), _number("close"))[:sessions])[::-1]
    # With fewer than ``sessions`` sessions logged, all of them; else from the older of the two windows' starts.
    in_span = ok
    if cs_start is not None:
        in_span = ok.filter(trading_date__gte=min([cs_start] + _dates(d for d, _ in vix_closes[:1])))
    cs = _last_per_session(in_span.order_by("trading_date", "logged_at")
                           .values_list(_day("trading_date"), _number("vix"), _number("vx1"), _number("vx2")))
    first_cs = cs_start.isoformat() if cs_start else ""
    days = sorted({d for d in cs if d >= first_cs} | {d for d, _ in vix_closes})
    if not days:
        return ("empty", "No VIX or VX readings stored yet")
    vix = dict(vix_closes)
    for day, (v, _, _) in cs.items():
        if v is not None:
            vix[day] = v
    lines = [("VIX", tuple((d, vix[d]) for d in days if d in vix))]
    for index, label in ((1, "VX1"), (2, "VX2")):
        lines.append((label, tuple((d, values[index]) for d, values in cs.items() if values[index] is not None)))
    return ("lines", tuple(days), tuple(lines))


def vol_figure(data: tuple):
    """The figure ``vol_draw`` writes (its own step so the axes can be read before they become SVG)."""
    if data[0] == "empty":
        return _empty(VOL_TITLE, data[1])
    _, days, lines = data
    figure, axes = _figure(VOL_TITLE)
    for label, points in lines:
        # A series with no reading in the window still has its place in the legend, saying so.
        axes.plot(_dates(d for d, _ in points), [v for _, v in points], lw=1.2, **_marker(len(points)),
                  label=label if points else f"{label} (no readings)")
    _date_axis(axes, _dates(days))
    _history_note(axes, len(days))
    axes.legend(fontsize=8, loc="upper left")
    return figure


def vol_draw(data: tuple) -> str:
    return _svg(vol_figure(data))


SPREAD_TITLE = "VRP-CS spread vs stop and take-profit"


def spread_data() -> tuple:
    """The VRP-CS spread since entry and the stop, take-profit and entry of the active position config.

    Bounded by the position's life (the log's date index from its entry date), not by the log's size.
    """
    position = (SpreadPosition.objects.filter(sleeve__code="VRP_CS", is_active=True)
                .values_list("entry_date", "stop_loss_spread", "take_profit_spread", "entry_spread").first())
    if position is None:
        return ("empty", "No active VRP-CS position config")
    entry_date, stop, take_profit, entry = position
    points = _last_per_session(VrpCsLogEntry.objects.filter(trading_date__gte=entry_date, spread__isnull=False)
                               .order_by("trading_date", "logged_at")
                               .values_list(_day("trading_date"), _number("spread")))
    if not points:
        return ("empty", f"No spread readings since entry on {entry_date}")
    # Labels in dspops.core.formats' prices (to the tick), as the digest and the config page write them.
    levels = tuple((name, float(value), f"{name} {formats.price(value)}")
                   for name, value in (("stop", stop), ("take-profit", take_profit), ("entry", entry)))
    return ("spread", tuple((d, v[0]) for d, v in points.items()), levels)


_LEVEL_STYLE = {"stop": {"color": "#b00", "ls": "--"}, "take-profit": {"color": "#1b7a1b", "ls": "--"},
                "entry": {"color": "#888", "ls": ":"}}


def spread_figure(data: tuple):
    if data[0] == "empty":
        return _empty(SPREAD_TITLE, data[1])
    _, points, levels = data
    figure, axes = _figure(SPREAD_TITLE)
    days = _dates(d for d, _ in points)
    axes.plot(days, [v for _, v in points], label="spread", lw=1.4, **_marker(len(points)))
    for name, value, label in levels:
        axes.axhline(value, lw=1, label=label, **_LEVEL_STYLE[name])
    _date_axis(axes, days)
    _history_note(axes, len(days))
    axes.legend(fontsize=8, loc="upper left")
    return figure


def spread_draw(data: tuple) -> str:
    return _svg(spread_figure(data))


ERP_TITLE = "VRP-ERP target vs actual shares"


def erp_data(*, sessions: int = SESSIONS) -> tuple:
    """VRP-ERP target shares against actual shares, the last run of each of the latest ``sessions`` sessions."""
    with_target = VrpErpLogEntry.objects.filter(target_shares__isnull=False)
    start = _window_start(with_target, sessions)
    in_window = with_target.filter(trading_date__gte=start) if start else with_target
    rows = _last_per_session(in_window.order_by("trading_date", "logged_at")
                             .values_list(_day("trading_date"), "target_shares", "actual_shares"))
    if not rows:
        return ("empty", "No VRP-ERP runs with a target yet")
    return ("steps", tuple((d, target, actual) for d, (target, actual) in rows.items()))


def erp_figure(data: tuple):
    if data[0] == "empty":
        return _empty(ERP_TITLE, data[1])
    rows = data[1]
    days = _dates(d for d, _, _ in rows)
    figure, axes = _figure(ERP_TITLE)
    axes.step(days, [target for _, target, _ in rows], where="post", label="target", lw=1.4, **_marker(len(rows)))
    actual = [(day, a) for day, (_, _, a) in zip(days, rows) if a is not None]
    axes.step([d for d, _ in actual], [a for _, a in actual], where="post", lw=1.4, **_marker(len(actual)),
              label="actual" if actual else "actual (no readings)")
    _date_axis(axes, days)
    _history_note(axes, len(days))
    axes.legend(fontsize=8, loc="upper left")
    return figure


def erp_draw(data: tuple) -> str:
    return _svg(erp_figure(data))


CHARTS = {chart.name: chart for chart in (
    Chart("vol", vol_data, vol_draw), Chart("spread", spread_data, spread_draw), Chart("erp", erp_data, erp_draw))}


# --- versions and the cache ---------------------------------------------------------------------------


@functools.cache
def _code_version() -> str:
    """This module's source and matplotlib's version: a new drawing (after a deploy) is a new version."""
    return hashlib.sha256(Path(__file__).read_bytes() + installed_version("matplotlib").encode()).hexdigest()[:12]


def current(name: str) -> ChartData:
    """The chart's data and version now (a few bounded queries; nothing is drawn)."""
    chart = CHARTS[name]
    data = chart.data()
    # marshal format 2: plain values only (not even a str subclass such as a template's SafeString) and no
    # back-references, so equal data gives equal bytes in any process.
    digest = hashlib.sha256(marshal.dumps((chart.name, _code_version(), data), 2)).hexdigest()[:24]
    return ChartData(version=f"{chart.name}-{digest}", data=data)


def _key(version: str) -> str:
    return f"chart:{version}"


def cached(version: str) -> str | None:
    """The SVG kept for ``version``, or None (never drawn, gone, or the cache cannot be reached)."""
    try:
        return caches[CACHE_ALIAS].get(_key(version))
    except Exception as exc:  # noqa: BLE001 - any cache failure: as if nothing were kept
        log.warning("charts cache unreadable (%s): %s", exc, version)
        return None


def svg(name: str, latest: ChartData | None = None) -> str:
    """The chart as SVG: the kept copy of its current version, or drawn now and kept.

    A cache that cannot be reached (Redis down, a full disk) costs a drawing, never the chart.
    """
    latest = latest or current(name)
    kept = cached(latest.version)
    if kept is not None:
        return kept
    drawn = CHARTS[name].draw(latest.data)
    try:
        caches[CACHE_ALIAS].set(_key(latest.version), drawn, CACHE_SECONDS)
    except Exception as exc:  # noqa: BLE001 - the chart is drawn; only its copy is lost
        log.warning("charts cache unwritable (%s): %s not kept", exc, latest.version)
    return drawn
