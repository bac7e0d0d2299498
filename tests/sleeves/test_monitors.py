"""The VRP-ERP, VRP-CS and vol-target monitors: services, commands, exit codes, live vs offline."""

import io
import json
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from dspops.core import calendars
from dspops.core.models import Instrument
from dspops.core import vx
from sleeves.models import SpreadPosition
from dspops.core.instruments import vxm_instrument
from sleeves.models import (Fill, MonitorRun, PriceBar, SignalState, Sleeve, VolTargetState, VrpCsLogEntry,
                            VrpErpLogEntry)
from sleeves.monitors import run_vol_target, run_vrp_cs_monitor, run_vrp_erp_monitor

D = Decimal
# A Tuesday session, 10:00 New York.
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


def command(name, *args):
    out = io.StringIO()
    try:
        call_command(name, *args, stdout=out)
        code = 0
    except CommandError as exc:
        code = exc.returncode
    return code, out.getvalue()


def record_spread_fills(position, quantity=1, at=NOW - timedelta(days=1)):
    """The fills that make VRP-CS hold the config's spread: SELL q short leg, BUY q long leg (offline, the
    monitor compares these with the config)."""
    sleeve = Sleeve.objects.get(code="VRP_CS")
    for leg, side, price in ((position.short_leg, "SELL", position.short_entry_price),
                             (position.long_leg, "BUY", position.long_entry_price)):
        Fill.objects.create(sleeve=sleeve, instrument=leg, side=side, quantity=D(quantity), price=price,
                            executed_at=at, source="manual")


@pytest.fixture
def spread(booted, today_book):
    """Today's running book, -1 front / +1 second, entered at 1.63 with stop 0.81 / TP 3.26, with its fills."""
    front, second, _ = today_book.months
    dates = vx.contract_dates(front)
    position = SpreadPosition.objects.create(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=vxm_instrument(front), long_leg=vxm_instrument(second),
        quantity=1, short_entry_price=D("16.24"), long_entry_price=D("17.87"), entry_date=today_book.session,
        entry_spread=D("1.63"), stop_loss_spread=D("0.81"), take_profit_spread=D("3.26"),
        settlement_date=dates.settlement_date, roll_by=dates.roll_by)
    record_spread_fills(position)
    return position


# --- VRP-ERP -----------------------------------------------------------------------------------


def test_erp_with_explicit_values_gives_the_issue_example(booted):
    code, out = command("vrp_erp_monitor", "--vix", "16.24", "--spy", "689.51", "--shares", "0", "--base", "10000",
                        "--no-vol-target", "--json")
    payload = json.loads(out)
    assert code == 0
    assert (payload["regime"], payload["target_shares"], payload["drift_pct"], payload["rebalance"]) == (
        "ELEVATED", 10, "100.00", True)
    assert set(payload) >= {"sleeve", "as_of", "data_status", "simulated", "regime", "vix", "spy_price",
                            "vol_multiplier", "target_shares", "actual_shares", "delta_shares", "drift_pct",
                            "rebalance", "reasons", "sources"}
    run = MonitorRun.objects.get()
    assert (run.status, run.inputs["vix"], run.sources["vix"]["source"]) == ("ok", "16.24", "manual")
    assert VrpErpLogEntry.objects.get().target_shares == 10


def test_erp_without_shares_reads_the_sleeves_fills_and_never_assumes_zero(booted):
    Fill.objects.create(sleeve=Sleeve.objects.get(code="VRP_ERP"), instrument=Instrument.objects.get(symbol="SPY"),
                        side="BUY", quantity=D("13"), price=D("681.40"), executed_at=NOW - timedelta(days=3),
                        source="manual")
    outcome = run_vrp_erp_monitor(vix=D("16.24"), spy=D("689.51"), use_vol_target=False, now=NOW)
    assert outcome.payload["actual_shares"] == 13
    assert outcome.payload["sources"]["actual_shares"]["source"] == "fills"


def test_erp_missing_spy_is_data_unavailable_with_no_number_in_its_place(booted):
    code, out = command("vrp_erp_monitor", "--vix", "16.24", "--no-vol-target", "--json")
    payload = json.loads(out)
    assert code == 3
    assert payload["spy_price"] is None and payload["target_shares"] is None
    run = MonitorRun.objects.get()
    assert run.status == "data_unavailable" and "spy" in run.reason.lower()
    assert VrpErpLogEntry.objects.get().spy_price is None


def test_erp_without_a_fresh_vol_target_state_is_data_unavailable(booted):
    VolTargetState.objects.create(as_of_session=date(2026, 11, 16), multiplier=D("1.2"), source="stored",
                                  computed_at=NOW)
    outcome = run_vrp_erp_monitor(vix=D("16"), spy=D("680"), shares=0, now=NOW)
    assert outcome.exit_code == 3
    assert "stale after 3" in outcome.run.reason


def test_erp_no_log_records_nothing_and_keeps_the_regime_state(booted):
    run_vrp_erp_monitor(vix=D("16"), spy=D("680"), shares=0, use_vol_target=False, log_run=False, now=NOW)
    assert MonitorRun.objects.count() == 0 and SignalState.objects.count() == 0


def test_erp_regime_change_needs_two_sessions_not_two_runs(booted):
    day1 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    run_vrp_erp_monitor(vix=D("14"), spy=D("680"), shares=6, use_vol_target=False, now=day1 - timedelta(days=3))
    first = run_vrp_erp_monitor(vix=D("21"), spy=D("680"), shares=14, use_vol_target=False, now=day1)
    again = run_vrp_erp_monitor(vix=D("21"), spy=D("680"), shares=14, use_vol_target=False,
                                now=day1 + timedelta(hours=2))
    confirmed = run_vrp_erp_monitor(vix=D("21"), spy=D("680"), shares=14, use_vol_target=False,
                                    now=day1 + timedelta(days=1))
    assert [first.payload["regime"], again.payload["regime"], confirmed.payload["regime"]] == ["CALM", "CALM", "HIGH"]
    assert SignalState.objects.get(name="regime").state == "HIGH"


def test_erp_live_against_the_simulator_matches_offline_on_the_same_numbers(booted, broker):
    broker("calm_contango")
    live = run_vrp_erp_monitor(live=True, use_vol_target=False, log_run=False, role="test")
    assert live.payload["simulated"] is True and live.exit_code == 0
    assert (live.payload["vix"], live.payload["spy_price"]) == ("16.12", "664.19")  # SPY mid of 664.18/664.20
    assert live.payload["sources"]["vix"]["source"] == "simulated"
    offline = run_vrp_erp_monitor(vix=D("16.12"), spy=D("664.19"), shares=live.payload["actual_shares"],
                                  use_vol_target=False, log_run=False)
    for key in ("regime", "target_shares", "actual_shares", "delta_shares", "drift_pct", "rebalance"):
        assert live.payload[key] == offline.payload[key], key
    assert offline.payload["simulated"] is False


def test_erp_live_with_the_broker_down_is_data_unavailable(booted, settings):
    settings.IB_HOST, settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = "127.0.0.1", 9, 2.0
    outcome = run_vrp_erp_monitor(live=True, use_vol_target=False, role="test")
    assert outcome.exit_code == 3 and outcome.payload["vix"] is None
    assert "broker unavailable" in outcome.run.reason


# --- VRP-CS ------------------------------------------------------------------------------------


def test_cs_with_explicit_values_gives_the_issue_example(spread):
    code, out = command("vrp_cs_monitor", "--vix", "16.24", "--vvix", "91.86", "--vx1", "17.10", "--vx2", "17.85",
                        "--json")
    p = json.loads(out)
    assert code == 0
    assert (p["spread"], p["pnl_usd"], p["stop_loss_hit"], p["take_profit_hit"]) == ("0.75", "-88.00", True, False)
    assert set(p) >= {"sleeve", "as_of", "data_status", "simulated", "vix", "vvix", "vx1", "vx2", "spread",
                      "entry_spread", "quantity", "pnl_usd", "gate_state", "gate_score", "contango_pct",
                      "stop_loss_spread", "take_profit_spread", "stop_loss_hit", "take_profit_hit",
                      "sessions_to_roll", "days_to_roll", "roll_by", "settlement_date", "reasons", "sources"}
    assert VrpCsLogEntry.objects.get().pnl_usd == D("-88.00")


def test_cs_readable_report_says_money_prices_and_the_countdown_the_one_way(spread):
    code, out = command("vrp_cs_monitor", "--vix", "16.24", "--vvix", "91.86", "--vx1", "17.10", "--vx2", "17.85")
    assert code == 0
    assert "VIX 16.24  VVIX 91.86  VX1 17.10  VX2 17.85" in out
    assert "spread 0.75 pts vs entry 1.63 pts: P&L -$88.00" in out  # the sign before the symbol (formats.usd)
    assert "stop 0.81 pts hit=True" in out
    assert re.search(r"roll by \d{4}-\d\d-\d\d: (\d+ sessions? \(\d+ calendar days?\)|due today)", out)


def test_cs_quantity_is_honoured(spread):
    SpreadPosition.objects.filter(pk=spread.pk).update(quantity=2)
    record_spread_fills(spread)  # the second spread
    outcome = run_vrp_cs_monitor(vix=D("16.24"), vvix=D("91.86"), vx1=D("17.10"), vx2=D("17.85"), now=NOW)
    assert outcome.payload["pnl_usd"] == "-176.00"


def test_cs_countdown_is_in_sessions_with_calendar_days_beside_it(spread):
    outcome = run_vrp_cs_monitor(vix=D("16"), vvix=D("90"), vx1=D("17.4"), vx2=D("18.5"), now=NOW, log_run=False)
    assert (outcome.payload["sessions_to_roll"], outcome.payload["days_to_roll"]) == (
        calendars.sessions_until(date(2026, 11, 24), spread.roll_by, exchange=calendars.CFE),
        (spread.roll_by - date(2026, 11, 24)).days)


def test_cs_a_missing_quote_exits_3_and_stores_the_reason(spread):
    code, out = command("vrp_cs_monitor", "--vix", "16.24", "--vvix", "91.86", "--vx1", "17.10", "--json")
    p = json.loads(out)
    assert code == 3
    assert p["vx2"] is None and p["spread"] is None and p["pnl_usd"] is None
    run = MonitorRun.objects.get()
    assert run.status == "data_unavailable" and "vx2" in run.reason
    entry = VrpCsLogEntry.objects.get()
    assert entry.data_status == "data_unavailable" and entry.spread is None


def test_cs_an_expired_position_config_is_never_monitored_as_current(booted):
    legacy = SpreadPosition.objects.create(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=vxm_instrument(vx.ContractMonth(2026, 2)),
        long_leg=vxm_instrument(vx.ContractMonth(2026, 3)), quantity=1, short_entry_price=D("19.12"),
        long_entry_price=D("19.77"), entry_date=date(2026, 1, 14), entry_spread=D("0.65"),
        stop_loss_spread=D("0.32"), take_profit_spread=D("1.30"), settlement_date=date(2026, 2, 19),
        roll_by=date(2026, 2, 12))
    outcome = run_vrp_cs_monitor(vix=D("16"), vvix=D("90"), vx1=D("17.4"), vx2=D("18.5"), now=NOW)
    assert outcome.exit_code == 3
    assert "settled on 2026-02-18" in outcome.run.reason
    assert outcome.payload["pnl_usd"] is None and outcome.payload["stop_loss_hit"] is None
    assert str(legacy.short_leg) in outcome.run.reason


def _todays_spread(today_book):
    """The simulator's book today: -1 front / +1 second, whatever today's front is, with its fills."""
    front, second, _ = today_book.months
    dates = vx.contract_dates(front)
    position = SpreadPosition.objects.create(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=vxm_instrument(front), long_leg=vxm_instrument(second),
        quantity=1, short_entry_price=D("17.45"), long_entry_price=D("18.10"), entry_date=today_book.session,
        entry_spread=D("0.65"), stop_loss_spread=D("0.32"), take_profit_spread=D("1.30"),
        settlement_date=dates.settlement_date, roll_by=dates.roll_by)
    record_spread_fills(position)
    return position


def test_cs_live_against_the_simulator_matches_offline_on_the_same_numbers(booted, broker, today_book):
    broker("calm_contango")
    _todays_spread(today_book)
    live = run_vrp_cs_monitor(live=True, log_run=False, role="test")
    assert live.payload["simulated"] is True and live.exit_code == 0, live.payload["reasons"]
    assert (live.payload["vx1"], live.payload["vx2"], live.payload["spread"]) == ("17.475", "18.575", "1.10")
    offline = run_vrp_cs_monitor(vix=D(live.payload["vix"]), vvix=D(live.payload["vvix"]), vx1=D("17.475"),
                                 vx2=D("18.575"), log_run=False)
    for key in ("spread", "pnl_usd", "gate_state", "gate_score", "contango_pct", "stop_loss_hit", "take_profit_hit"):
        assert live.payload[key] == offline.payload[key], key


def test_cs_delayed_only_broker_data_is_not_used(booted, broker, today_book):
    broker("delayed_only")
    _todays_spread(today_book)
    outcome = run_vrp_cs_monitor(live=True, log_run=False, role="test")
    assert outcome.exit_code == 3
    assert outcome.payload["vx1"] is None and any("delayed" in r for r in outcome.payload["reasons"])


def test_cs_a_dropped_connection_mid_snapshot_is_data_unavailable(booted, broker, today_book):
    broker("disconnect")
    _todays_spread(today_book)
    outcome = run_vrp_cs_monitor(live=True, role="test")
    assert outcome.exit_code == 3 and outcome.payload["spread"] is None
    assert "broker unavailable" in outcome.run.reason


def test_cs_vix_spike_closes_the_gate(booted, broker, today_book):
    broker("vix_spike")
    _todays_spread(today_book)
    first = run_vrp_cs_monitor(live=True, role="test")
    assert first.payload["gate_state"] == "CLOSED"
    assert SignalState.objects.get(name="gate").state == "CLOSED"


# --- vol-target overlay ------------------------------------------------------------------------


def _spy_bars(closes, end=date(2026, 11, 23)):
    sessions = calendars.sessions_in_range(end - timedelta(days=60), end)[-len(closes):]
    spy = Instrument.objects.get(symbol="SPY")
    PriceBar.objects.bulk_create(PriceBar(instrument=spy, session=s, close=D(c), source="stored")
                                 for s, c in zip(sessions, closes))


def test_vol_target_from_stored_closes_is_stored_with_its_session(booted):
    _spy_bars([600 + (i % 2) * 3 for i in range(30)])
    outcome = run_vol_target(now=NOW)
    assert outcome.exit_code == 0
    state = VolTargetState.objects.get()
    assert state.as_of_session == date(2026, 11, 23) and state.returns_used == 21
    assert D("0.25") <= state.multiplier <= D("1.50")


def test_vol_target_on_stale_history_is_data_unavailable(booted):
    _spy_bars([600 + i for i in range(30)], end=date(2026, 1, 8))
    code, out = command("vol_target", "--json")
    assert code == 3
    assert json.loads(out)["multiplier"] is None
    assert VolTargetState.objects.count() == 0


def test_vol_target_live_fetches_spy_history_from_the_simulator(booted, broker):
    broker("calm_contango")
    outcome = run_vol_target(live=True, role="test")
    assert outcome.exit_code == 0 and outcome.payload["simulated"] is True
    assert PriceBar.objects.filter(instrument__symbol="SPY", source="simulated").count() >= 22


def test_editing_a_setting_changes_the_next_run_without_a_restart(booted):
    from sleeves.models import SleeveParameter

    before = run_vrp_erp_monitor(vix=D("16.24"), spy=D("689.51"), shares=0, use_vol_target=False, log_run=False)
    SleeveParameter.objects.filter(sleeve__code="VRP_ERP", key="elevated_vix").update(value="17")
    after = run_vrp_erp_monitor(vix=D("16.24"), spy=D("689.51"), shares=0, use_vol_target=False, log_run=False)
    assert (before.payload["regime"], after.payload["regime"]) == ("ELEVATED", "CALM")
    assert after.payload["target_shares"] == 14  # floor(10000 x 1.00 / 689.51)
