"""Charts for the dashboard, drawn server-side as SVG with matplotlib (no JavaScript, works offline).

matplotlib is imported only when a chart is drawn, so command start-up stays fast.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from datetime import timedelta

from dspops.core import formats
from sleeves.models import PriceBar, SpreadPosition, VrpCsLogEntry, VrpErpLogEntry


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


def _fit_dates(axes, days) -> None:
    """Pad the date axis to the data: with one or two readings matplotlib would span years."""
    days = sorted(days)
    if days:
        span = max((days[-1] - days[0]).days, 1)
        pad = timedelta(days=max(2, span // 20))
        axes.set_xlim(days[0] - pad, days[-1] + pad)


def _svg(figure) -> str:
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    return buffer.getvalue()


def _empty(figure, axes, message: str) -> str:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, fontsize=9, color="#666")
    axes.set_xticks([])
    axes.set_yticks([])
    return _svg(figure)


def _last_per_session(rows):
    by_session = OrderedDict()
    for row in rows:
        by_session[row[0]] = row[1:]
    return by_session


def vol_chart(*, sessions: int = 120) -> str:
    """VIX (stored closes and monitor readings), VX1 and VX2 from the VRP-CS log."""
    figure, axes = _figure("VIX, VX1 and VX2")
    cs = _last_per_session(VrpCsLogEntry.objects.filter(data_status="ok").order_by("trading_date", "logged_at")
                           .values_list("trading_date", "vix", "vx1", "vx2"))
    vix_closes = list(PriceBar.objects.filter(instrument__symbol="VIX").order_by("-session")
                      .values_list("session", "close")[:sessions])[::-1]
    days = sorted(set(list(cs)[-sessions:]) | {d for d, _ in vix_closes})
    if not days:
        return _empty(figure, axes, "No VIX or VX readings stored yet")
    vix = dict(vix_closes)
    for day, (v, _, _) in cs.items():
        if v is not None:
            vix[day] = v
    axes.plot([d for d in days if d in vix], [float(vix[d]) for d in days if d in vix], label="VIX", lw=1.2)
    for index, label in ((1, "VX1"), (2, "VX2")):
        points = [(d, values[index]) for d, values in cs.items() if values[index] is not None]
        if points:
            axes.plot([d for d, _ in points], [float(v) for _, v in points], label=label, lw=1.2, marker=".")
    _fit_dates(axes, days)
    axes.legend(fontsize=8, loc="upper left")
    return _svg(figure)


def spread_chart() -> str:
    """The VRP-CS spread since entry against the stop and the take-profit of the active config."""
    figure, axes = _figure("VRP-CS spread vs stop and take-profit")
    position = SpreadPosition.objects.filter(sleeve__code="VRP_CS", is_active=True).first()
    if position is None:
        return _empty(figure, axes, "No active VRP-CS position config")
    points = _last_per_session(VrpCsLogEntry.objects.filter(trading_date__gte=position.entry_date, spread__isnull=False)
                               .order_by("trading_date", "logged_at").values_list("trading_date", "spread"))
    if not points:
        return _empty(figure, axes, f"No spread readings since entry on {position.entry_date}")
    axes.plot(list(points), [float(v[0]) for v in points.values()], label="spread", lw=1.4, marker=".")
    # Labels in dspops.core.formats' prices (to the tick), as the digest and the config page write them.
    axes.axhline(float(position.stop_loss_spread), color="#b00", ls="--", lw=1,
                 label=f"stop {formats.price(position.stop_loss_spread)}")
    axes.axhline(float(position.take_profit_spread), color="#1b7a1b", ls="--", lw=1,
                 label=f"take-profit {formats.price(position.take_profit_spread)}")
    axes.axhline(float(position.entry_spread), color="#888", ls=":", lw=1,
                 label=f"entry {formats.price(position.entry_spread)}")
    _fit_dates(axes, list(points))
    axes.legend(fontsize=8, loc="upper left")
    return _svg(figure)


def erp_chart(*, sessions: int = 120) -> str:
    """VRP-ERP target shares against actual shares."""
    figure, axes = _figure("VRP-ERP target vs actual shares")
    rows = _last_per_session(VrpErpLogEntry.objects.filter(target_shares__isnull=False)
                             .order_by("trading_date", "logged_at")
                             .values_list("trading_date", "target_shares", "actual_shares"))
    days = list(rows)[-sessions:]
    if not days:
        return _empty(figure, axes, "No VRP-ERP runs with a target yet")
    axes.step(days, [rows[d][0] for d in days], where="post", label="target", lw=1.4, marker=".")
    actual = [(d, rows[d][1]) for d in days if rows[d][1] is not None]
    axes.step([d for d, _ in actual], [a for _, a in actual], where="post", label="actual", lw=1.4, marker=".")
    _fit_dates(axes, days)
    axes.legend(fontsize=8, loc="upper left")
    return _svg(figure)


CHARTS = {"vol": vol_chart, "spread": spread_chart, "erp": erp_chart}
