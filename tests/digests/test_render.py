"""digests.render: the daily digest and the weekly review as markdown, from frozen snapshots.

The snapshot below is the 2026-01-12 legacy day (LEGACY.md §2.9 log row 16:22:15, §2.1 January
defaults): VXMF6/VXMG6, entry 1.63, spread 1.64, P&L +1.50, stop 2.04 and TP 0.82 on the wrong
sides of the entry.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from digests.render import render_digest, render_weekly_review
from digests.snapshot import (
    AlertLine,
    CalendarEvent,
    CalendarSpreadSleeve,
    DigestSnapshot,
    DriftReading,
    DualMomentumSleeve,
    EtfWeight,
    IndexLevel,
    PositionLine,
    PositionsReport,
    Reconciliation,
    ReconciliationBreak,
    SleeveLogCoverage,
    UpcomingRoll,
    VixGatedSpySleeve,
    VolTargetOverlay,
    WeekAhead,
    WeeklyReviewSnapshot,
)
from dspops.core import formats

D = Decimal
UTC = timezone.utc

SECTIONS = [
    "## Vol-Target Overlay",
    "## Vol Indices",
    "## Sleeve VRP-CS (Calendar Spread)",
    "## Sleeve VRP-ERP (VIX-gated SPY)",
    "## Sleeve DM (ETF Dual Momentum)",
    "## Positions and Reconciliation",
    "## Calendar (next 5 sessions)",
    "## Alerts",
]


def legacy_day() -> DigestSnapshot:
    return DigestSnapshot(
        trading_date=date(2026, 1, 12),
        generated_at=datetime(2026, 1, 13, 1, 18, 12, tzinfo=UTC),  # 20:18:12 in New York
        simulated=False,
        overlay=VolTargetOverlay(
            multiplier=D("1.0900"), realized_vol=D("0.092"), as_of_session=date(2026, 1, 9),
            source="stored", sessions_old=1,
        ),
        vix=IndexLevel(value=D("15.57"), as_of=date(2026, 1, 12), source="legacy"),
        vvix=IndexLevel(value=D("91.86"), as_of=date(2026, 1, 7), source="stored"),
        vrp_cs=CalendarSpreadSleeve(
            as_of=datetime(2026, 1, 12, 21, 22, 15, tzinfo=UTC), source="legacy", data_status="ok",
            short_leg="VXMF6", long_leg="VXMG6", quantity=1,
            entry_spread=D("1.63"), current_spread=D("1.64"), pnl_usd=D("1.50"),
            gate_state="OPEN", gate_score=D("0.574"),
            stop_loss_level=D("2.04"), take_profit_level=D("0.82"),
            # What a naive check would say with these inverted levels: both "hit".
            stop_loss_hit=True, take_profit_hit=True,
            roll_by=date(2026, 1, 13), sessions_to_roll=1, settlement_date=date(2026, 1, 21),
        ),
        vrp_erp=VixGatedSpySleeve(
            as_of=datetime(2026, 1, 12, 21, 25, 43, tzinfo=UTC), source="legacy", data_status="ok",
            vix=D("15.57"), regime="ELEVATED", target_shares=13, actual_shares=13, actual_source="broker",
            drift_pct=D("0"), rebalance=False,
        ),
        dm=DualMomentumSleeve(
            next_rebalance=date(2026, 2, 2), last_plan_date=date(2026, 1, 2), last_plan_status="executed",
            selected=(EtfWeight(symbol="EFA", weight=D("0.5")), EtfWeight(symbol="GLD", weight=D("0.5"))),
            vol_multiplier=D("1.09"),
        ),
        positions=PositionsReport(
            as_of=datetime(2026, 1, 12, 21, 30, tzinfo=UTC), source="broker",
            positions=(
                PositionLine(sleeve="VRP-CS", symbol="VXMF6", quantity=D("-1"), avg_cost_per_unit=D("16.2353")),
                PositionLine(sleeve="VRP-CS", symbol="VXMG6", quantity=D("1"), avg_cost_per_unit=D("17.8747")),
                PositionLine(sleeve="VRP-ERP", symbol="SPY", quantity=D("13"), avg_cost_per_unit=D("691.15")),
            ),
            reconciliation=Reconciliation(
                checked=True, as_of=datetime(2026, 1, 12, 21, 30, tzinfo=UTC), source="broker", breaks=(),
            ),
        ),
        calendar=WeekAhead(
            sessions=(date(2026, 1, 13), date(2026, 1, 14), date(2026, 1, 15), date(2026, 1, 16), date(2026, 1, 20)),
            events=(
                CalendarEvent(on=date(2026, 1, 19), kind="holiday", description="NYSE and CFE closed (MLK Day)"),
                CalendarEvent(on=date(2026, 1, 13), kind="roll_by", description="VRP-CS VXMF6/VXMG6"),
            ),
        ),
        alerts=(),
    )


def lines_of(text: str, heading: str) -> list[str]:
    """The lines of one section, without its heading and the blank line after it."""
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [line for line in lines[start:end] if line]


def line_starting(lines: list[str], prefix: str) -> str:
    found = [line for line in lines if line.startswith(prefix)]
    assert len(found) == 1, f"expected one line starting {prefix!r} in {lines}"
    return found[0]


def alert(severity: str, code: str, **extra) -> AlertLine:
    return AlertLine(severity=severity, code=code, message=f"{code} message", **extra)


# Layout -------------------------------------------------------------------------------------


def test_a_full_snapshot_renders_every_section_heading_in_order():
    text = render_digest(legacy_day())

    assert [line for line in text.splitlines() if line.startswith("## ")] == SECTIONS


def test_it_starts_with_the_legacy_title_and_a_new_york_generated_line():
    lines = render_digest(legacy_day()).splitlines()

    assert lines[:3] == ["# DSP-100K Daily Digest — 2026-01-12", "", "Generated: `2026-01-12T20:18:12-05:00`"]


def test_the_generated_line_uses_the_summer_offset_in_july():
    snapshot = replace(legacy_day(), trading_date=date(2026, 7, 1),
                       generated_at=datetime(2026, 7, 1, 20, 0, tzinfo=UTC))

    assert render_digest(snapshot).splitlines()[2] == "Generated: `2026-07-01T16:00:00-04:00`"


def test_it_refuses_a_naive_generated_time():
    with pytest.raises(ValueError, match="naive"):
        replace(legacy_day(), generated_at=datetime(2026, 1, 12, 20, 18))


def test_simulated_banner_sits_under_the_generated_line_only_when_simulated():
    banner = "**SIMULATED BROKER** — made from the TWS simulator, not a real account."
    simulated = [line for line in render_digest(replace(legacy_day(), simulated=True)).splitlines() if line]
    real = render_digest(legacy_day())

    assert simulated[1].startswith("Generated: ")
    assert simulated[2] == banner
    assert "SIMULATED" not in real


# VRP-CS -------------------------------------------------------------------------------------


def test_the_legacy_case_shows_legs_spreads_and_a_signed_pnl():
    cs = lines_of(render_digest(legacy_day()), "## Sleeve VRP-CS (Calendar Spread)")

    assert line_starting(cs, "- Legs:") == "- Legs: `-1 VXMF6 / +1 VXMG6` | Quantity: `1`"
    assert line_starting(cs, "- Entry spread:") == "- Entry spread: `1.63` | Current spread: `1.64` | P&L: `+$1.50`"
    assert line_starting(cs, "- Gate:") == "- Gate: `OPEN` (score `0.574`)"


def test_levels_on_the_wrong_sides_are_shown_with_distances_but_not_evaluated():
    cs = lines_of(render_digest(legacy_day()), "## Sleeve VRP-CS (Calendar Spread)")

    assert line_starting(cs, "- Stop-loss:") == "- Stop-loss: `2.04` | distance (spread - stop): `-0.40`"
    assert line_starting(cs, "- Take-profit:") == "- Take-profit: `0.82` | distance (TP - spread): `-0.82`"
    assert line_starting(cs, "- Exit check:").startswith("- Exit check: `levels invalid: not evaluated`")
    assert not any("HIT" in line or "not hit" in line for line in cs)


def test_valid_levels_report_the_hits_the_monitor_recorded():
    cs_in = replace(
        legacy_day().vrp_cs, entry_spread=D("0.65"), current_spread=D("1.38"), stop_loss_level=D("0.32"),
        take_profit_level=D("1.30"), stop_loss_hit=False, take_profit_hit=True,
    )
    cs = lines_of(render_digest(replace(legacy_day(), vrp_cs=cs_in)), "## Sleeve VRP-CS (Calendar Spread)")

    assert line_starting(cs, "- Exit check:") == "- Exit check: stop `not hit` | take-profit `HIT`"
    assert line_starting(cs, "- Stop-loss:").endswith("`+1.06`")
    assert line_starting(cs, "- Take-profit:").endswith("`-0.08`")


def test_a_missing_current_spread_leaves_the_exit_check_not_evaluated():
    cs_in = replace(legacy_day().vrp_cs, entry_spread=D("0.65"), stop_loss_level=D("0.32"),
                    take_profit_level=D("1.30"), current_spread=None, pnl_usd=None,
                    stop_loss_hit=False, take_profit_hit=False, data_status="data_unavailable",
                    data_status_reason="VX2 quote missing")
    cs = lines_of(render_digest(replace(legacy_day(), vrp_cs=cs_in)), "## Sleeve VRP-CS (Calendar Spread)")

    assert line_starting(cs, "- Entry spread:") == "- Entry spread: `0.65` | Current spread: `missing` | P&L: `missing`"
    assert line_starting(cs, "- Exit check:") == "- Exit check: `not evaluated` (current spread missing)"
    assert line_starting(cs, "- As of:").endswith("Data: `DATA UNAVAILABLE` (VX2 quote missing)")


def test_roll_by_shows_sessions_and_calendar_days_and_the_settlement_date():
    cs = lines_of(render_digest(legacy_day()), "## Sleeve VRP-CS (Calendar Spread)")

    assert line_starting(cs, "- Roll-by:") == "- Roll-by: `2026-01-13` (Tue) | `1 session (1 calendar day)`"
    assert line_starting(cs, "- Settlement:") == "- Settlement: `2026-01-21` (Wed)"
    assert line_starting(cs, "- As of:") == "- As of: `2026-01-12T16:22:15-05:00` (legacy log) | Data: `OK`"


def test_an_overdue_roll_says_overdue():
    cs_in = replace(legacy_day().vrp_cs, roll_by=date(2026, 1, 8), sessions_to_roll=-2)
    cs = lines_of(render_digest(replace(legacy_day(), vrp_cs=cs_in)), "## Sleeve VRP-CS (Calendar Spread)")

    assert line_starting(cs, "- Roll-by:") == "- Roll-by: `2026-01-08` (Thu) | `overdue by 2 sessions (4 calendar days)`"


# Missing and stale inputs ---------------------------------------------------------------------


def test_missing_vix_shows_missing_not_a_number():
    text = render_digest(replace(legacy_day(), vix=None))
    indices = lines_of(text, "## Vol Indices")

    assert indices == ["- VIX: `missing`", "- VVIX: `91.86` (as of 2026-01-07, stored history)"]


def test_a_nan_vix_is_missing_too():
    nan_vix = IndexLevel(value=D("NaN"), as_of=date(2026, 1, 12), source="live")

    assert lines_of(render_digest(replace(legacy_day(), vix=nan_vix)), "## Vol Indices")[0] == "- VIX: `missing`"


def test_vix_shows_its_as_of_date_and_source():
    assert lines_of(render_digest(legacy_day()), "## Vol Indices")[0] == "- VIX: `15.57` (as of 2026-01-12, legacy log)"


def test_a_missing_overlay_says_missing_and_never_a_default_multiplier():
    overlay = lines_of(render_digest(replace(legacy_day(), overlay=None)), "## Vol-Target Overlay")

    assert overlay == ["- Multiplier: `missing` (no vol-target state)"]


def test_a_stale_overlay_is_marked_with_its_age():
    stale = replace(legacy_day().overlay, as_of_session=date(2026, 1, 5), sessions_old=5)
    overlay = lines_of(render_digest(replace(legacy_day(), overlay=stale)), "## Vol-Target Overlay")

    assert overlay == [
        "- Multiplier: `1.09` | Realised vol: `9.20%`",
        "- As of session: `2026-01-05` (Mon), stored history (stale: 5 sessions old)",
    ]


def test_a_fresh_overlay_is_not_marked_stale():
    overlay = lines_of(render_digest(legacy_day()), "## Vol-Target Overlay")

    assert overlay[1] == "- As of session: `2026-01-09` (Fri), stored history"


def test_an_overlay_of_unknown_age_counts_as_stale():
    unknown = replace(legacy_day().overlay, sessions_old=None)

    assert "(stale: age unknown)" in render_digest(replace(legacy_day(), overlay=unknown))


def test_missing_sleeve_states_say_missing():
    text = render_digest(replace(legacy_day(), vrp_cs=None, vrp_erp=None, dm=None, positions=None, calendar=None))

    assert lines_of(text, "## Sleeve VRP-CS (Calendar Spread)") == ["- State: `missing` (no VRP-CS monitor run)"]
    assert lines_of(text, "## Sleeve VRP-ERP (VIX-gated SPY)") == ["- State: `missing` (no VRP-ERP monitor run)"]
    assert lines_of(text, "## Calendar (next 5 sessions)") == ["- Calendar: `missing`"]
    assert "- Reconciliation: `not checked` (no positions)" in lines_of(text, "## Positions and Reconciliation")


# VRP-ERP and DM ---------------------------------------------------------------------------------


def test_vrp_erp_shows_where_the_actual_came_from_and_why_it_rebalances():
    erp_in = replace(legacy_day().vrp_erp, actual_shares=0, actual_source="fills", drift_pct=D("100"),
                     rebalance=True, rebalance_reasons=("drift 100.00% above 5%",))
    erp = lines_of(render_digest(replace(legacy_day(), vrp_erp=erp_in)), "## Sleeve VRP-ERP (VIX-gated SPY)")

    assert erp[:3] == [
        "- VIX: `15.57` | Regime: `ELEVATED`",
        "- Target: `13` shares | Actual: `0` (from fills)",
        "- Drift: `100.00%` | Rebalance: `yes` (drift 100.00% above 5%)",
    ]


def test_dm_lists_the_selected_etfs_with_their_weights():
    dm = lines_of(render_digest(legacy_day()), "## Sleeve DM (ETF Dual Momentum)")

    assert dm == [
        "- Next rebalance: `2026-02-02` (Mon)",
        "- Last plan: `2026-01-02` (Fri) | Status: `executed`",
        "- Selected: `EFA` `50.00%`, `GLD` `50.00%`",
        "- Vol multiplier: `1.09`",
    ]


def test_dm_without_a_plan_says_no_plan_yet():
    no_plan = replace(legacy_day().dm, last_plan_date=None, last_plan_status=None, selected=())
    dm = lines_of(render_digest(replace(legacy_day(), dm=no_plan)), "## Sleeve DM (ETF Dual Momentum)")

    assert dm[1] == "- Last plan: `no plan yet`"
    assert not any(line.startswith("- Selected") for line in dm)


# Positions, reconciliation and calendar ----------------------------------------------------------


def test_positions_are_grouped_by_sleeve_with_the_cost_per_unit():
    # Without a mark, the value and P&L are missing, never a default (issue 13 item 1: the one selector's figures).
    positions = lines_of(render_digest(legacy_day()), "## Positions and Reconciliation")

    assert positions[1:7] == [
        "- VRP-CS:",
        "  - `VXMF6`: qty `-1` @ `16.2353` per unit"
        " | mark `missing` | value `missing` | unrealised `missing` | realised `missing` | commissions `missing`",
        "  - `VXMG6`: qty `1` @ `17.8747` per unit"
        " | mark `missing` | value `missing` | unrealised `missing` | realised `missing` | commissions `missing`",
        "- VRP-ERP:",
        "  - `SPY`: qty `13` @ `691.15` per unit"
        " | mark `missing` | value `missing` | unrealised `missing` | realised `missing` | commissions `missing`",
        "- Reconciliation: `matches the broker` (as of 2026-01-12T16:30:00-05:00, broker)",
    ]


def test_each_reconciliation_break_names_the_contract_and_both_quantities():
    recon = Reconciliation(
        checked=True, as_of=datetime(2026, 1, 12, 21, 30, tzinfo=UTC), source="broker",
        breaks=(ReconciliationBreak(symbol="VXMG6", broker_quantity=D("-1"), fills_quantity=D("0")),),
    )
    report = replace(legacy_day().positions, reconciliation=recon)
    positions = lines_of(render_digest(replace(legacy_day(), positions=report)), "## Positions and Reconciliation")

    assert positions[-2:] == [
        "- Reconciliation: `1 break` (as of 2026-01-12T16:30:00-05:00, broker)",
        "  - `VXMG6`: broker `-1`, fills `0`",
    ]
    assert not any("matches the broker" in line for line in positions)


def test_a_reconciliation_that_could_not_run_says_not_checked_and_why():
    recon = Reconciliation(checked=False, as_of=None, source=None, not_checked_reason="broker not connected")
    report = replace(legacy_day().positions, reconciliation=recon)
    positions = lines_of(render_digest(replace(legacy_day(), positions=report)), "## Positions and Reconciliation")

    assert positions[-1] == "- Reconciliation: `not checked` (broker not connected)"


def test_calendar_events_are_in_date_order_with_weekdays():
    week = lines_of(render_digest(legacy_day()), "## Calendar (next 5 sessions)")

    assert week == [
        "- Sessions: `2026-01-13` (Tue), `2026-01-14` (Wed), `2026-01-15` (Thu), `2026-01-16` (Fri), `2026-01-20` (Tue)",
        "- `2026-01-13` (Tue) Roll-by: VRP-CS VXMF6/VXMG6",
        "- `2026-01-19` (Mon) Market closed: NYSE and CFE closed (MLK Day)",
    ]


# Alerts -----------------------------------------------------------------------------------------


def test_alerts_are_ordered_critical_first_then_warning_then_info():
    alerts = (alert("info", "dm_rebalance_soon"), alert("warning", "roll_due"), alert("critical", "orphan_leg"),
              alert("warning", "erp_drift"))
    section = lines_of(render_digest(replace(legacy_day(), alerts=alerts)), "## Alerts")

    assert section == [
        "- 🔴 CRITICAL `orphan_leg`: orphan_leg message",
        "- 🟠 WARNING `roll_due`: roll_due message",
        "- 🟠 WARNING `erp_drift`: erp_drift message",
        "- 🔵 INFO `dm_rebalance_soon`: dm_rebalance_soon message",
    ]


def test_no_alerts_renders_none():
    assert lines_of(render_digest(legacy_day()), "## Alerts") == ["- None"]


def test_an_unknown_alert_severity_is_refused():
    with pytest.raises(ValueError, match="severity"):
        alert("urgent", "roll_due")


# Formatting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "signed", "expected"),
    [
        (D("1.5"), True, "+$1.50"),
        (D("-88"), True, "-$88.00"),
        (D("0"), True, "$0.00"),
        (D("1051830.475"), False, "$1,051,830.48"),
        (None, True, "missing"),
    ],
)
def test_usd_has_a_sign_two_decimals_and_thousands_separators(value, signed, expected):
    assert formats.usd(value, with_sign=signed) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(D("1.5"), "1.50"), (D("16.2353"), "16.2353"), (D("1.0900"), "1.09"), (D("-0.00"), "0.00"), (D("NaN"), "missing")],
)
def test_prices_have_two_places_unless_more_are_significant(value, expected):
    assert formats.decimal(value) == expected


def test_the_snapshot_and_the_renderer_are_pure_python():
    # No Django, no app models, no I/O library: importing them alone loads only the kernel's pure helpers.
    code = ("import sys, digests.render, digests.snapshot; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'django', 'sleeves', 'rolls'}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_rendering_twice_gives_the_same_text():
    assert render_digest(legacy_day()) == render_digest(legacy_day())


# Weekly review ------------------------------------------------------------------------------------


def week() -> WeeklyReviewSnapshot:
    return WeeklyReviewSnapshot(
        week_ending=date(2026, 1, 16),
        generated_at=datetime(2026, 1, 16, 22, 0, tzinfo=UTC),
        simulated=False,
        sessions=(date(2026, 1, 12), date(2026, 1, 13), date(2026, 1, 14), date(2026, 1, 15), date(2026, 1, 16)),
        digest_dates=(date(2026, 1, 10), date(2026, 1, 12), date(2026, 1, 14), date(2026, 1, 15), date(2026, 1, 16)),
        alerts=(
            alert("warning", "roll_due", first_seen_on=date(2026, 1, 12), last_seen_on=date(2026, 1, 13),
                  resolved_on=date(2026, 1, 14)),
            alert("critical", "orphan_leg", first_seen_on=date(2026, 1, 14), last_seen_on=date(2026, 1, 16)),
        ),
        overlay=replace(legacy_day().overlay, as_of_session=date(2026, 1, 9), sessions_old=5),
        sleeve_logs=(
            SleeveLogCoverage(sleeve="VRP-CS", missing_sessions=(date(2026, 1, 15), date(2026, 1, 16))),
            SleeveLogCoverage(sleeve="VRP-ERP", missing_sessions=()),
        ),
        drift_readings=(
            DriftReading(session=date(2026, 1, 12), sleeve="VRP-ERP", drift_pct=D("100")),
            DriftReading(session=date(2026, 1, 13), sleeve="VRP-ERP", drift_pct=D("5")),
            DriftReading(session=date(2026, 1, 14), sleeve="VRP-ERP", drift_pct=None),
        ),
        upcoming_rolls=(
            UpcomingRoll(roll_by=date(2026, 3, 11), description="VRP-CS VXMH6/VXMJ6", sessions_to_roll=37,
                         settlement_date=date(2026, 3, 18)),
            UpcomingRoll(roll_by=date(2026, 2, 10), description="VRP-CS VXMG6/VXMH6", sessions_to_roll=16,
                         settlement_date=date(2026, 2, 18)),
            UpcomingRoll(roll_by=date(2026, 1, 27), description="test roll", sessions_to_roll=6,
                         settlement_date=None),
        ),
    )


def test_weekly_review_lists_a_missing_digest_session():
    digests = lines_of(render_weekly_review(week()), "## Digests")

    assert digests == [
        "- `2026-01-12` (Mon): digest",
        "- `2026-01-13` (Tue): `missing` (no digest for this session)",
        "- `2026-01-14` (Wed): digest",
        "- `2026-01-15` (Thu): digest",
        "- `2026-01-16` (Fri): digest",
        "- `2026-01-10` (Sat): digest (not an NYSE session of this week)",
        "- Digests missing: `1` of 5 sessions",
    ]


def test_weekly_review_has_its_title_and_sections_in_order():
    lines = render_weekly_review(week()).splitlines()

    assert lines[:3] == ["# DSP-100K Weekly Review — week ending 2026-01-16", "", "Generated: `2026-01-16T17:00:00-05:00`"]
    assert [line for line in lines if line.startswith("## ")] == [
        "## Digests",
        "## Alerts this week",
        "## Vol-Target Overlay freshness",
        "## Sleeve logs missing a session",
        "## Drift above 5%",
        "## Rolls due in the next 14 days",
    ]


def test_weekly_review_shows_alerts_critical_first_with_their_dates():
    assert lines_of(render_weekly_review(week()), "## Alerts this week") == [
        "- 🔴 CRITICAL `orphan_leg`: orphan_leg message (seen 2026-01-14 to 2026-01-16, open)",
        "- 🟠 WARNING `roll_due`: roll_due message (seen 2026-01-12 to 2026-01-13, resolved 2026-01-14)",
    ]


def test_weekly_review_flags_stale_overlay_missing_logs_drift_and_near_rolls():
    text = render_weekly_review(week())

    assert lines_of(text, "## Vol-Target Overlay freshness")[1].endswith("(stale: 5 sessions old)")
    assert lines_of(text, "## Sleeve logs missing a session") == [
        "- VRP-CS: missing `2026-01-15` (Thu), `2026-01-16` (Fri)",
        "- VRP-ERP: `complete`",
    ]
    # 5% exactly is not above 5%; a drift that was not recorded is listed (fail closed).
    assert lines_of(text, "## Drift above 5%") == [
        "- `2026-01-12` (Mon) VRP-ERP: `100.00%`",
        "- `2026-01-14` (Wed) VRP-ERP: `missing` (drift not recorded)",
    ]
    assert lines_of(text, "## Rolls due in the next 14 days") == [
        "- `2026-01-27` (Tue) test roll: `6 sessions (11 calendar days)` | settlement `missing`",
    ]


def test_weekly_review_marks_a_fresh_overlay_and_unchecked_logs():
    review = replace(week(), overlay=replace(week().overlay, sessions_old=0), sleeve_logs=())
    text = render_weekly_review(review)

    assert lines_of(text, "## Vol-Target Overlay freshness")[1].endswith("stored history (fresh)")
    assert lines_of(text, "## Sleeve logs missing a session") == ["- Sleeve logs: `not checked`"]
