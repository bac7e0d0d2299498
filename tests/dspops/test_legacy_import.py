"""The legacy import: what each legacy file becomes, what is flagged, and what is refused.

The fixtures are small files written here in the legacy formats (LEGACY.md); the last tests
import the real legacy files when ../shared/legacy is present.
"""

import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command

from dspops.core.models import Alert

from digests.models import Digest, DigestSource
from dspops.legacy_import import LegacyImportError, import_legacy
from dspops.core.models import Instrument
from sleeves.models import SpreadPosition
from rolls.models import RollCycle
from sleeves.models import (
    LegacyTrade,
    MonitorRun,
    Sleeve,
    SleeveParameter,
    SignalState,
    VrpCsLogEntry,
    VrpErpLogEntry,
)

# A Friday before the February VXM contract settles (2026-02-18).
BEFORE_EXPIRY = datetime(2026, 2, 6, 20, 0, tzinfo=UTC)
AFTER_EXPIRY = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)


CS_HEADER = (
    "date,time,vix,vx1,vx2,spread,entry_spread,pnl_usd,gate_state,gate_score,contango_pct,days_to_roll,"
    "roll_by,stop_loss_level,take_profit_level,stop_loss_hit,take_profit_hit,notes"
)
CS_ROWS = [
    # line 2: a normal row, levels on their correct sides
    "2026-02-02,16:40:00,17.20,18.15,18.95,0.80,0.80,0.00,OPEN,0.450,5.52,10,2026-02-12,0.40,1.60,False,False,",
    # line 3: the monitor had no quotes
    "2026-02-03,16:40:00,nan,nan,nan,nan,0.80,nan,OPEN,nan,nan,9,2026-02-12,0.40,1.60,False,False,",
    # line 4: inverted levels, hits logged backwards, VIX = VX1 - 1
    "2026-02-04,16:40:00,17.00,18.00,18.30,0.30,0.80,-50.00,OPEN,0.500,5.88,8,2026-02-12,1.00,0.35,False,True,",
    # line 5: a Saturday run
    "2026-02-07,15:30:00,17.50,18.40,19.30,0.90,0.80,10.00,OPEN,0.470,5.14,5,2026-02-12,0.40,1.60,False,False,",
]

ERP_HEADER = (
    "date,time,vix,spy_price,regime,target_shares,actual_shares,actual_exposure_usd,avg_cost,fill_price,"
    "drift_pct,rebalance_signal,action_taken,notes"
)
ERP_ROWS = [
    "2026-02-02,16:45:00,17.20,681.25,ELEVATED,11,0,0.00,,,100.00%,True,,",
    "2026-02-03,16:45:00,18.40,595.00,ELEVATED,12,0,0.00,,,100.00%,True,,",
]

POSITION = {
    "short_contract": "VXMG6",
    "long_contract": "VXMH6",
    "quantity": 2,
    "short_entry_price": 18.50,
    "long_entry_price": 19.30,
    "entry_date": "2026-01-15",
    "entry_spread": 0.80,
    "stop_loss_spread": 0.40,
    "take_profit_spread": 1.60,
    "vx1_expiry": "2026-02-19",
    "roll_by_date": "2026-02-12",
}

TRADES = """ts_iso,action,mode,details_json
2026-02-02T16:45:10,roll,live,{"close_order_id": 7, "close_status": "PendingSubmit", "from": "VXMF6/VXMG6", "open_order_id": 8, "open_status": "PendingSubmit", "to": "VXMG6/VXMH6"}
2026-02-02T16:50:00,open,live,{"order_id": 9, "status": "Submitted"}
2026-02-02T16:55:30,open,live,{"order_id": 10, "status": "Submitted"}
"""

ERP_STATE = {"regime": "HIGH", "vix": 21.3, "days_in_regime": 4, "last_transition_date": "2026-01-31"}

DIGEST = """# DSP-100K Daily Digest — 2026-02-03

Generated: `2026-02-03T17:05:00`

## Alerts
- None
"""

DM_YAML = Path(settings.BASE_DIR) / "config" / "dsp100k_etf_dual_momentum.yaml"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def sleeves(db, settings):
    """Bare sleeves plus the VRP-CS settings (roll-by N); no DM settings, no roll calendar yet."""
    import yaml

    from sleeves.models import SleeveParameter

    created = {
        code: Sleeve.objects.create(code=code, name=code, order_ref_prefix=prefix)
        for code, prefix in (("DM", "dm"), ("VRP_ERP", "erp"), ("VRP_CS", "cs"))
    }
    config = yaml.safe_load((settings.CONFIG_DIR / "sleeves.yaml").read_text())
    for key, value in config["settings"]["VRP_CS"].items():
        SleeveParameter.objects.create(sleeve=created["VRP_CS"], key=key, value=str(value))
    return created


@pytest.fixture
def legacy_dir(tmp_path):
    """A complete legacy folder in the legacy formats, with small invented values."""
    write(tmp_path, "paper_trading/daily_log.csv", "\n".join([CS_HEADER, *CS_ROWS]) + "\n")
    write(tmp_path, "paper_trading/vrp_erp_log.csv", "\n".join([ERP_HEADER, *ERP_ROWS]) + "\n")
    write(tmp_path, "paper_trading/position_config.json", json.dumps(POSITION, indent=2))
    write(tmp_path, "paper_trading/trades.csv", TRADES)
    write(tmp_path, "paper_trading/vrp_erp_state.json", json.dumps(ERP_STATE, indent=2))
    write(tmp_path, "daily_digest/digest_2026-02-03.md", DIGEST)
    write(tmp_path, "config/dsp100k_etf_dual_momentum.yaml", DM_YAML.read_text())
    return tmp_path


def run_import(directory, now=BEFORE_EXPIRY, **kwargs):
    return import_legacy(directory=directory, now=now, **kwargs)


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def flags_of(report, file):
    return [flag.message for flag in report.flags if flag.file == file]


# --- daily_log.csv ---------------------------------------------------------------------------


def test_nan_rows_become_data_unavailable_runs_with_null_numbers(sleeves, legacy_dir):
    run_import(legacy_dir)

    entry = VrpCsLogEntry.objects.get(import_key="cs:2026-02-03T16:40:00")
    assert entry.data_status == "data_unavailable"
    assert [entry.vix, entry.vx1, entry.vx2, entry.spread, entry.pnl_usd, entry.gate_score] == [None] * 6
    assert entry.run.status == "data_unavailable"
    assert "nan" in entry.run.reason
    assert entry.run.kind == "vrp_cs" and entry.run.sleeve.code == "VRP_CS"
    assert entry.run.triggered_by == "legacy import"
    assert VrpCsLogEntry.objects.filter(data_status="ok").count() == 3


def test_values_are_stored_as_logged_decimals(sleeves, legacy_dir):
    run_import(legacy_dir)

    entry = VrpCsLogEntry.objects.get(import_key="cs:2026-02-02T16:40:00")
    assert entry.source == "legacy"
    assert (entry.vix, entry.vx1, entry.vx2, entry.spread) == (
        Decimal("17.20"), Decimal("18.15"), Decimal("18.95"), Decimal("0.80"))
    assert entry.gate_score == Decimal("0.450")
    assert entry.roll_by == date(2026, 2, 12)
    assert entry.run.status == "ok"


def test_timestamps_are_read_as_utc_plus_2_and_stored_in_utc(sleeves, legacy_dir):
    run_import(legacy_dir)

    entry = VrpCsLogEntry.objects.get(import_key="cs:2026-02-02T16:40:00")
    assert entry.logged_at == datetime(2026, 2, 2, 14, 40, tzinfo=UTC)
    assert entry.trading_date == date(2026, 2, 2)
    assert entry.run.started_at == entry.logged_at


def test_a_different_utc_offset_moves_the_stored_time(sleeves, legacy_dir):
    run_import(legacy_dir, utc_offset=timedelta(hours=-5))

    entry = VrpCsLogEntry.objects.get(import_key="cs:2026-02-02T16:40:00")
    assert entry.logged_at == datetime(2026, 2, 2, 21, 40, tzinfo=UTC)


def test_a_saturday_row_goes_to_the_previous_session_and_is_flagged_stale(sleeves, legacy_dir):
    report = run_import(legacy_dir)

    entry = VrpCsLogEntry.objects.get(import_key="cs:2026-02-07T15:30:00")
    assert entry.trading_date == date(2026, 2, 6)
    assert entry.run.trading_date == date(2026, 2, 6)
    assert any(f.startswith("logged outside a session: quotes are stale") for f in entry.flags)
    assert any(f.line == 5 and "quotes are stale" in f.message for f in report.flags)


def test_stop_and_take_profit_on_the_wrong_side_of_entry_are_flagged(sleeves, legacy_dir):
    run_import(legacy_dir)

    inverted = VrpCsLogEntry.objects.get(import_key="cs:2026-02-04T16:40:00")
    assert any("stop-loss level 1.00 is on the profit side" in f for f in inverted.flags)
    assert any("take-profit level 0.35 is on the loss side" in f for f in inverted.flags)
    correct = VrpCsLogEntry.objects.get(import_key="cs:2026-02-02T16:40:00")
    assert not any("side" in f for f in correct.flags)


def test_hits_that_the_correct_rule_contradicts_are_flagged(sleeves, legacy_dir):
    run_import(legacy_dir)

    inverted = VrpCsLogEntry.objects.get(import_key="cs:2026-02-04T16:40:00")
    # Levels put back on their sides: stop 0.35, TP 1.00. The spread 0.30 hits the stop, not the TP.
    assert any(f.startswith("stop_loss_hit logged False but the correct rule says True") for f in inverted.flags)
    assert any(f.startswith("take_profit_hit logged True but the correct rule says False") for f in inverted.flags)
    assert inverted.stop_loss_hit is False and inverted.take_profit_hit is True  # kept as logged


def test_vix_equal_to_vx1_minus_one_is_flagged_as_derived(sleeves, legacy_dir):
    run_import(legacy_dir)

    derived = VrpCsLogEntry.objects.get(import_key="cs:2026-02-04T16:40:00")
    quoted = VrpCsLogEntry.objects.get(import_key="cs:2026-02-02T16:40:00")
    text = "VIX derived from VX1 (legacy live mode: VIX = VX1 - 1.00)"
    assert any(f.startswith(text) for f in derived.flags)
    assert not any(f.startswith(text) for f in quoted.flags)


def test_legacy_placeholder_quotes_are_flagged(sleeves, legacy_dir):
    write(legacy_dir, "paper_trading/daily_log.csv", "\n".join([
        CS_HEADER,
        "2026-02-02,16:40:00,15.0,16.25,17.83,1.58,0.80,78.00,OPEN,0.600,8.33,10,2026-02-12,0.40,1.60,False,False,",
    ]))
    run_import(legacy_dir)

    flags = VrpCsLogEntry.objects.get().flags
    for text in ("VIX 15.0 is the legacy placeholder", "VX1 16.25 is the legacy placeholder",
                 "VX2 17.83 is the legacy placeholder"):
        assert any(f.startswith(text) for f in flags), text


def test_days_to_roll_in_calendar_days_is_flagged_and_sessions_are_stored(sleeves, legacy_dir):
    run_import(legacy_dir)

    entry = VrpCsLogEntry.objects.get(import_key="cs:2026-02-02T16:40:00")
    assert entry.days_to_roll == 10
    assert entry.sessions_to_roll == 8  # 02-03 .. 02-12 on the CFE calendar
    assert any(f.startswith("days_to_roll 10 counts calendar days") for f in entry.flags)


def test_the_daily_log_roll_by_becomes_the_months_planned_roll_by(sleeves, legacy_dir):
    (legacy_dir / "paper_trading/position_config.json").unlink()
    report = run_import(legacy_dir)

    cycle = RollCycle.objects.get(contract_month="2026-02")
    assert cycle.planned_roll_by == date(2026, 2, 12)
    assert (cycle.settlement_date, cycle.roll_by) == (date(2026, 2, 18), date(2026, 2, 10))
    assert cycle.sessions_before == 5
    assert cycle.generated_at == BEFORE_EXPIRY
    assert any("roll-by 2026-02-12 for the 2026-02 contract differs from the rule" in m
               for m in flags_of(report, "paper_trading/daily_log.csv"))


# --- vrp_erp_log.csv ----------------------------------------------------------------------------


def test_erp_rows_become_runs_and_log_entries_with_drift_as_a_number(sleeves, legacy_dir):
    run_import(legacy_dir)

    entry = VrpErpLogEntry.objects.get(import_key="erp:2026-02-02T16:45:00")
    assert entry.spy_price == Decimal("681.25")
    assert entry.drift_pct == Decimal("100")
    assert entry.rebalance_signal is True
    assert entry.avg_cost is None and entry.fill_price is None
    assert entry.run.kind == "vrp_erp" and entry.run.sleeve.code == "VRP_ERP" and entry.run.status == "ok"


def test_the_placeholder_spy_price_is_stored_as_data_unavailable_without_a_price(sleeves, legacy_dir):
    run_import(legacy_dir)

    entry = VrpErpLogEntry.objects.get(import_key="erp:2026-02-03T16:45:00")
    assert entry.data_status == "data_unavailable"
    assert entry.spy_price is None
    assert entry.run.status == "data_unavailable"
    assert "595.00" in entry.run.reason
    assert any("SPY 595.00 is the legacy placeholder, logged as market data" in f for f in entry.flags)


def test_the_placeholder_vix_is_stored_as_data_unavailable_without_a_vix(sleeves, legacy_dir):
    write(legacy_dir, "paper_trading/vrp_erp_log.csv",
          "\n".join([ERP_HEADER, "2026-02-02,16:45:00,14.8,681.25,CALM,14,0,0.00,,,100.00%,True,,"]))
    run_import(legacy_dir)

    entry = VrpErpLogEntry.objects.get()
    assert entry.vix is None and entry.data_status == "data_unavailable"
    assert entry.spy_price == Decimal("681.25")


def test_zero_actual_shares_are_flagged_as_unverified(sleeves, legacy_dir):
    run_import(legacy_dir)

    entry = VrpErpLogEntry.objects.get(import_key="erp:2026-02-02T16:45:00")
    assert entry.actual_shares == 0
    assert any("actual_shares 0 was assumed by the legacy CLI path" in f and "unverified" in f
               for f in entry.flags)


# --- position_config.json --------------------------------------------------------------------


def test_the_position_config_becomes_a_spread_position_on_vxm_instruments(sleeves, legacy_dir):
    run_import(legacy_dir)

    position = SpreadPosition.objects.get()
    assert position.sleeve.code == "VRP_CS"
    assert (position.short_leg.local_symbol, position.long_leg.local_symbol) == ("VXMG6", "VXMH6")
    assert position.quantity == 2
    assert position.entry_spread == Decimal("0.80")
    assert position.is_active is True
    short = Instrument.objects.get(local_symbol="VXMG6")
    assert (short.symbol, short.sec_type, short.exchange, short.currency) == ("VXM", "FUT", "CFE", "USD")
    assert short.multiplier == 100 and short.min_tick == Decimal("0.01")
    assert (short.contract_month, short.settlement_date) == ("2026-02", date(2026, 2, 18))
    assert Instrument.objects.get(local_symbol="VXMH6").settlement_date == date(2026, 3, 18)


def test_typed_settlement_2026_02_19_is_kept_and_flagged_against_the_rule_2026_02_18(sleeves, legacy_dir):
    report = run_import(legacy_dir)

    position = SpreadPosition.objects.get()
    assert position.settlement_date == date(2026, 2, 19)
    assert position.roll_by == date(2026, 2, 12)
    flags = flags_of(report, "paper_trading/position_config.json")
    assert any("vx1_expiry 2026-02-19 differs from the rule" in m and "2026-02-18" in m for m in flags)
    assert any("roll_by_date 2026-02-12 differs from the rule" in m and "2026-02-10" in m for m in flags)
    cycle = RollCycle.objects.get(contract_month="2026-02")
    assert (cycle.planned_settlement_date, cycle.planned_roll_by) == (date(2026, 2, 19), date(2026, 2, 12))
    assert (cycle.settlement_date, cycle.roll_by) == (date(2026, 2, 18), date(2026, 2, 10))


def test_an_existing_roll_cycle_keeps_its_rule_dates(sleeves, legacy_dir):
    RollCycle.objects.create(contract_month="2026-02", settlement_date=date(2026, 2, 18), roll_by=date(2026, 2, 9),
                             sessions_before=6, generated_at=BEFORE_EXPIRY)
    run_import(legacy_dir)

    cycle = RollCycle.objects.get(contract_month="2026-02")
    assert (cycle.roll_by, cycle.sessions_before) == (date(2026, 2, 9), 6)
    assert cycle.planned_roll_by == date(2026, 2, 12)


def test_quantity_is_honoured_over_the_legacy_position_size(sleeves, legacy_dir):
    write(legacy_dir, "paper_trading/position_config.json", json.dumps({**POSITION, "position_size": 1}))
    report = run_import(legacy_dir)

    assert SpreadPosition.objects.get().quantity == 2
    assert any("ignored quantity" in m for m in flags_of(report, "paper_trading/position_config.json"))


def test_the_position_is_inactive_when_the_sleeve_already_has_an_active_one(sleeves, legacy_dir):
    run_import(legacy_dir)
    write(legacy_dir, "paper_trading/position_config.json",
          json.dumps({**POSITION, "entry_date": "2026-01-16", "quantity": 1}))
    run_import(legacy_dir)

    assert SpreadPosition.objects.filter(is_active=True).count() == 1
    assert SpreadPosition.objects.get(entry_date=date(2026, 1, 16)).is_active is False


def test_legs_that_have_settled_raise_a_critical_alert(sleeves, legacy_dir):
    run_import(legacy_dir, now=AFTER_EXPIRY)

    alert = Alert.objects.get(code="spread_legs_expired")
    assert alert.severity == "critical"
    assert alert.sleeve.code == "VRP_CS"
    assert "reconcile" in alert.message.lower()


def test_legs_that_have_not_settled_raise_no_alert(sleeves, legacy_dir):
    run_import(legacy_dir, now=BEFORE_EXPIRY)

    assert not Alert.objects.filter(code="spread_legs_expired").exists()


def test_inverted_levels_in_the_position_config_are_refused(sleeves, legacy_dir):
    write(legacy_dir, "paper_trading/position_config.json",
          json.dumps({**POSITION, "stop_loss_spread": 1.00, "take_profit_spread": 0.40}, indent=2))

    with pytest.raises(LegacyImportError, match=r"position_config\.json:\d+: stop_loss_spread: The stop"):
        run_import(legacy_dir)


# --- trades.csv -----------------------------------------------------------------------------------


def test_the_unquoted_json_in_trades_csv_is_parsed(sleeves, legacy_dir):
    run_import(legacy_dir)

    roll = LegacyTrade.objects.get(action="roll")
    assert roll.details == {"close_order_id": 7, "close_status": "PendingSubmit", "from": "VXMF6/VXMG6",
                            "open_order_id": 8, "open_status": "PendingSubmit", "to": "VXMG6/VXMH6"}
    assert roll.mode == "live"
    assert roll.logged_at == datetime(2026, 2, 2, 14, 45, 10, tzinfo=UTC)
    assert LegacyTrade.objects.count() == 3


def test_a_burst_of_unconfirmed_orders_is_flagged_once_with_one_warning_alert(sleeves, legacy_dir):
    report = run_import(legacy_dir)

    burst = [m for m in flags_of(report, "paper_trading/trades.csv") if "none has a fill confirmation" in m]
    assert len(burst) == 1
    assert "3 order records on 2026-02-02" in burst[0]
    alert = Alert.objects.get(code="legacy_trades_unreconciled")
    assert alert.severity == "warning"
    assert "IBKR executions" in alert.message


def test_a_filled_order_is_no_burst(sleeves, legacy_dir):
    write(legacy_dir, "paper_trading/trades.csv", TRADES.replace('"Submitted"}', '"Filled"}', 1))
    run_import(legacy_dir)

    assert not Alert.objects.filter(code="legacy_trades_unreconciled").exists()


# --- vrp_erp_state.json, digests, DM config ---------------------------------------------------


def test_the_erp_state_becomes_a_regime_signal_from_the_session_on_or_before_the_transition(sleeves, legacy_dir):
    report = run_import(legacy_dir)

    signal = SignalState.objects.get(sleeve__code="VRP_ERP", name="regime")
    assert signal.state == "HIGH"
    assert signal.since_session == signal.last_session == date(2026, 1, 30)  # 01-31 is a Saturday
    assert signal.source == "legacy"
    assert any("counted monitor runs, not sessions" in m for m in flags_of(report, "paper_trading/vrp_erp_state.json"))


def test_an_existing_regime_state_is_not_replaced(sleeves, legacy_dir):
    SignalState.objects.create(sleeve=sleeves["VRP_ERP"], name="regime", state="CALM", since_session=date(2026, 2, 2),
                               last_session=date(2026, 2, 5), source="live")
    run_import(legacy_dir)

    assert SignalState.objects.get().state == "CALM"


def test_a_digest_is_imported_with_its_generated_time_in_utc(sleeves, legacy_dir):
    run_import(legacy_dir)

    digest = Digest.objects.get(trading_date=date(2026, 2, 3))
    assert digest.source == "legacy"
    assert digest.markdown == DIGEST
    assert digest.generated_at == datetime(2026, 2, 3, 15, 5, tzinfo=UTC)


def test_a_digest_for_a_non_session_date_is_noted(sleeves, legacy_dir):
    write(legacy_dir, "daily_digest/digest_2026-02-07.md", DIGEST.replace("2026-02-03", "2026-02-07"))
    run_import(legacy_dir)

    assert "not an NYSE session" in Digest.objects.get(trading_date=date(2026, 2, 7)).note


def test_a_generated_digest_is_never_overwritten(sleeves, legacy_dir):
    Digest.objects.create(trading_date=date(2026, 2, 3), markdown="# ours", generated_at=BEFORE_EXPIRY,
                          source=DigestSource.GENERATED)
    report = run_import(legacy_dir)

    assert Digest.objects.get(trading_date=date(2026, 2, 3)).markdown == "# ours"
    assert report.file("daily_digest/digest_2026-02-03.md").skipped == 1


def test_the_dm_yaml_sets_only_the_changed_dm_settings(sleeves, legacy_dir):
    SleeveParameter.objects.create(sleeve=sleeves["DM"], key="top_k", value="4")
    SleeveParameter.objects.create(sleeve=sleeves["DM"], key="vol_target", value="0.080")
    report = run_import(legacy_dir)

    dm = {p.key: p.value for p in SleeveParameter.objects.filter(sleeve__code="DM")}
    assert dm["top_k"] == "3"
    assert dm["vol_target"] == "0.080"  # the same number: left alone
    assert dm["nav_fraction"] == "0.9"
    assert dm["risk_scale"] == "1.0"
    assert len(dm) == 12
    config = report.file("config/dsp100k_etf_dual_momentum.yaml")
    assert (config.created, config.updated, config.skipped) == (10, 1, 1)
    assert "DM.top_k: 4 -> 3" in config.changes


def test_an_unknown_key_in_the_dm_yaml_is_refused_by_its_dotted_path(sleeves, legacy_dir):
    text = DM_YAML.read_text().replace("  top_k: 3\n", "  top_k: 3\n  top_n: 4\n")
    write(legacy_dir, "config/dsp100k_etf_dual_momentum.yaml", text)

    before = row_counts()
    with pytest.raises(LegacyImportError, match=r"dsp100k_etf_dual_momentum\.yaml:\d+: sleeve_dm\.top_n: unknown key"):
        run_import(legacy_dir)
    assert not SleeveParameter.objects.filter(sleeve__code="DM").exists()
    assert row_counts() == before


# --- whole-import behaviour -----------------------------------------------------------------------


def test_importing_the_same_files_twice_adds_nothing(sleeves, legacy_dir):
    first = run_import(legacy_dir)
    after_first = row_counts()
    second = run_import(legacy_dir)

    assert row_counts() == after_first
    assert first.created > 0
    assert second.created == 0 and second.updated == 0
    assert second.skipped == first.created
    assert second.flags == []


BAD_NUMBER_ON_LINE_3 = "\n".join([CS_HEADER, CS_ROWS[0], CS_ROWS[1].replace("nan,nan,nan,nan", "17.2x,18,19,1", 1)])
TRUNCATED_ROW_ON_LINE_4 = "\n".join([CS_HEADER, CS_ROWS[0], CS_ROWS[1], CS_ROWS[2][:40]])


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("paper_trading/daily_log.csv", BAD_NUMBER_ON_LINE_3, r"daily_log\.csv:3: vix: '17\.2x' is not a number"),
        ("paper_trading/daily_log.csv", TRUNCATED_ROW_ON_LINE_4,
         r"daily_log\.csv:4: expected 18 fields, got \d+: the row is truncated"),
        ("paper_trading/position_config.json", json.dumps({**POSITION, "leverage": 2}, indent=2),
         r"position_config\.json:13: unknown key 'leverage'"),
        ("paper_trading/trades.csv", TRADES + "2026-02-02T17:01:00,open\n",
         r"trades\.csv:5: expected ts_iso,action,mode,details_json; got 2 field\(s\): the row is truncated"),
        ("paper_trading/vrp_erp_log.csv", "\n".join([ERP_HEADER, ERP_ROWS[0], ERP_ROWS[1].replace("True", "yes")]),
         r"vrp_erp_log\.csv:3: rebalance_signal: 'yes' is not True or False"),
    ],
    ids=["bad-number", "truncated-csv-row", "json-unknown-key", "truncated-trade-row", "bad-boolean"],
)
def test_a_malformed_file_is_refused_whole_and_nothing_is_written(sleeves, legacy_dir, name, text, expected):
    write(legacy_dir, name, text)
    before = row_counts()

    with pytest.raises(LegacyImportError, match=expected) as caught:
        run_import(legacy_dir)

    assert str(caught.value).startswith(str(legacy_dir / name))
    assert row_counts() == before


def test_a_failure_while_writing_leaves_no_rows_behind(sleeves, legacy_dir, monkeypatch):
    # The ERP state is written after the position, the logs and the trades: fail there.
    def refuse(*args, **kwargs):
        raise LegacyImportError("paper_trading/vrp_erp_state.json:1: simulated failure in the write step")

    monkeypatch.setattr("dspops.legacy.writers.write_erp_state", refuse)
    before = row_counts()
    with pytest.raises(LegacyImportError, match="simulated failure in the write step"):
        run_import(legacy_dir)
    assert row_counts() == before


def test_missing_sleeves_tell_the_operator_to_run_bootstrap(db, legacy_dir):
    with pytest.raises(LegacyImportError, match="python manage.py bootstrap"):
        run_import(legacy_dir)


def test_a_folder_without_any_legacy_file_is_refused(sleeves, tmp_path):
    with pytest.raises(LegacyImportError, match="none of the legacy files"):
        run_import(tmp_path)


def test_missing_optional_files_are_reported_as_not_found(sleeves, legacy_dir):
    (legacy_dir / "paper_trading/trades.csv").unlink()
    report = run_import(legacy_dir)

    assert report.file("paper_trading/trades.csv").found is False
    assert report.file("paper_trading/daily_log.csv").created == 4
    assert not LegacyTrade.objects.exists()


def test_the_command_prints_counts_and_every_flag(sleeves, legacy_dir):
    out = io.StringIO()
    call_command("import_legacy", str(legacy_dir), stdout=out)
    text = out.getvalue()

    assert "paper_trading/daily_log.csv: 4 created, 0 updated, 0 skipped" in text
    assert "paper_trading/trades.csv: 3 created" in text
    assert "VIX derived from VX1" in text
    assert text.count("logged outside a session") == 1


def test_the_command_reads_the_utc_offset_option(sleeves, legacy_dir):
    call_command("import_legacy", str(legacy_dir), "--utc-offset=-05:00", stdout=io.StringIO())

    assert VrpCsLogEntry.objects.get(import_key="cs:2026-02-02T16:40:00").logged_at == datetime(
        2026, 2, 2, 21, 40, tzinfo=UTC)


def test_the_command_turns_a_refusal_into_a_command_error(sleeves, legacy_dir):
    write(legacy_dir, "paper_trading/daily_log.csv", BAD_NUMBER_ON_LINE_3)

    with pytest.raises(CommandError, match=r"Nothing was imported\. .*daily_log\.csv:3: vix"):
        call_command("import_legacy", str(legacy_dir), stdout=io.StringIO())


# --- the real legacy files -------------------------------------------------------------------------


@pytest.fixture
def real_legacy(shared_dir):
    return shared_dir / "legacy"


def test_the_real_legacy_files_import_with_the_expected_counts(sleeves, real_legacy):
    before = row_counts()
    report = import_legacy(directory=real_legacy, now=AFTER_EXPIRY)

    assert {f.file: (f.created, f.skipped) for f in report.files if f.found} == {
        "paper_trading/position_config.json": (1, 0),
        "paper_trading/daily_log.csv": (9, 0),
        "paper_trading/vrp_erp_log.csv": (3, 0),
        "paper_trading/trades.csv": (6, 0),
        "paper_trading/vrp_erp_state.json": (1, 0),
        "daily_digest/digest_2026-01-10.md": (1, 0),
        "daily_digest/digest_2026-01-12.md": (1, 0),
        "config/dsp100k_etf_dual_momentum.yaml": (12, 0),
    }
    added = {label: n - before[label] for label, n in row_counts().items() if n != before[label]}
    expected = {
        "sleeves.MonitorRun": 12,
        "sleeves.VrpCsLogEntry": 9,
        "sleeves.VrpErpLogEntry": 3,
        "sleeves.LegacyTrade": 6,
        "sleeves.SignalState": 1,
        "sleeves.SleeveParameter": 12,
        "dspops.Instrument": 2,
        "sleeves.SpreadPosition": 1,
        "rolls.RollCycle": 2,
        "digests.Digest": 2,
        "dspops.Alert": 2,
    }
    assert {label: added.get(label) for label in expected} == expected
    assert VrpCsLogEntry.objects.filter(data_status="data_unavailable").count() == 2
    assert VrpErpLogEntry.objects.filter(data_status="data_unavailable").count() == 1
    assert MonitorRun.objects.filter(status="data_unavailable").count() == 3
    assert VrpCsLogEntry.objects.filter(trading_date=date(2026, 1, 9)).count() == 3  # the Saturday runs

    position = SpreadPosition.objects.get()
    assert (position.settlement_date, position.roll_by, position.quantity) == (date(2026, 2, 19), date(2026, 2, 12), 1)
    assert RollCycle.objects.get(contract_month="2026-01").planned_roll_by == date(2026, 1, 14)
    assert set(Alert.objects.values_list("code", "severity")) == {
        ("spread_legs_expired", "critical"), ("legacy_trades_unreconciled", "warning")}
    assert LegacyTrade.objects.get(details__order_id=11200).action == "open"
    burst = [m for m in flags_of(report, "paper_trading/trades.csv") if "none has a fill confirmation" in m]
    assert burst == [burst[0]] and "6 order records on 2026-01-14 within 22 minutes" in burst[0]
    derived = sum("VIX derived from VX1" in m for m in flags_of(report, "paper_trading/daily_log.csv"))
    assert derived == 4


def test_the_real_legacy_files_imported_twice_add_nothing(sleeves, real_legacy):
    import_legacy(directory=real_legacy, now=AFTER_EXPIRY)
    after_first = row_counts()
    second = import_legacy(directory=real_legacy, now=AFTER_EXPIRY)

    assert row_counts() == after_first
    assert second.created == 0


def test_the_importing_user_is_recorded_in_the_history(sleeves, legacy_dir, django_user_model):
    operator = django_user_model.objects.create_user(username="op", password="x")
    import_legacy(directory=legacy_dir, now=BEFORE_EXPIRY, user=operator)

    assert SpreadPosition.objects.get().history.get().history_user == operator
    assert SleeveParameter.objects.get(key="top_k").history.get().history_user == operator


def test_after_bootstrap_the_real_files_import_once_and_flag_the_wrong_expiry(booted, real_legacy):
    first = run_import(real_legacy)
    counts = row_counts()
    second = run_import(real_legacy)
    assert row_counts() == counts
    assert second.created == 0 and second.flags == []
    messages = [flag.message for flag in first.flags]
    assert any("vx1_expiry 2026-02-19 differs from the rule" in m and "2026-02-18" in m for m in messages)
    february = RollCycle.objects.get(contract_month="2026-02")
    assert (february.settlement_date, february.planned_settlement_date) == (date(2026, 2, 18), date(2026, 2, 19))
    assert (february.roll_by, february.planned_roll_by) == (date(2026, 2, 10), date(2026, 2, 12))
