"""export_logs: the VRP-CS and VRP-ERP logs written back in the legacy CSV layouts."""

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from sleeves.models import VrpCsLogEntry, VrpErpLogEntry

# The first lines of the legacy files (LEGACY.md 2.9 and 1.5), written out by hand.
CS_HEADER = ("date,time,vix,vx1,vx2,spread,entry_spread,pnl_usd,gate_state,gate_score,contango_pct,days_to_roll,"
             "roll_by,stop_loss_level,take_profit_level,stop_loss_hit,take_profit_hit,notes")
ERP_HEADER = ("date,time,vix,spy_price,regime,target_shares,actual_shares,actual_exposure_usd,avg_cost,fill_price,"
              "drift_pct,rebalance_signal,action_taken,notes")


# The legacy CLI's made-up SPY and VIX (LEGACY.md 1.1): imported as missing, so exported empty.
LEGACY_PLACEHOLDERS = {"595.00", "14.80"}


def cs_entry(logged_at, **values):
    defaults = dict(trading_date=logged_at.date(), data_status="ok", vix=Decimal("15.57"), vx1=Decimal("16.57"),
                    vx2=Decimal("18.22"), spread=Decimal("1.65"), entry_spread=Decimal("1.63"),
                    pnl_usd=Decimal("1.5"), gate_state="OPEN", gate_score=Decimal("0.5740"),
                    contango_pct=Decimal("6.4200"), days_to_roll=2, roll_by=date(2026, 1, 14),
                    stop_loss_level=Decimal("2.04"), take_profit_level=Decimal("0.82"), stop_loss_hit=False,
                    take_profit_hit=False, source="legacy")
    return VrpCsLogEntry.objects.create(logged_at=logged_at, **{**defaults, **values})


def erp_entry(logged_at, **values):
    defaults = dict(trading_date=logged_at.date(), data_status="ok", vix=Decimal("16.24"),
                    spy_price=Decimal("689.510000"), regime="ELEVATED", target_shares=10, actual_shares=0,
                    actual_exposure_usd=Decimal("0"), drift_pct=Decimal("100.0000"), rebalance_signal=True,
                    source="legacy")
    return VrpErpLogEntry.objects.create(logged_at=logged_at, **{**defaults, **values})


def export(directory):
    out = io.StringIO()
    call_command("export_logs", str(directory), stdout=out)
    return out.getvalue()


def lines(path):
    return path.read_text(encoding="utf-8").split("\n")


def test_the_header_lines_are_exactly_the_legacy_headers(booted, tmp_path):
    export(tmp_path)
    assert lines(tmp_path / "daily_log.csv")[0] == CS_HEADER
    assert lines(tmp_path / "vrp_erp_log.csv")[0] == ERP_HEADER


def test_a_row_is_written_in_the_legacy_style_in_new_york_time(booted, tmp_path):
    cs_entry(datetime(2026, 1, 12, 14, 22, 15, tzinfo=UTC))
    erp_entry(datetime(2026, 1, 10, 10, 4, 53, tzinfo=UTC))
    export(tmp_path)
    assert lines(tmp_path / "daily_log.csv")[1] == (
        "2026-01-12,09:22:15,15.57,16.57,18.22,1.65,1.63,1.50,OPEN,0.574,6.42,2,2026-01-14,2.04,0.82,False,False,"
    )
    assert lines(tmp_path / "vrp_erp_log.csv")[1] == (
        "2026-01-10,05:04:53,16.24,689.51,ELEVATED,10,0,0.00,,,100.00%,True,,"
    )


def test_a_missing_value_is_an_empty_cell_never_nan(booted, tmp_path):
    cs_entry(datetime(2026, 1, 10, 13, 55, 7, tzinfo=UTC), data_status="data_unavailable", vix=None, vx1=None,
             vx2=None, spread=None, pnl_usd=None, gate_score=None, contango_pct=None, stop_loss_hit=None)
    erp_entry(datetime(2026, 1, 10, 14, 39, 31, tzinfo=UTC), data_status="data_unavailable", spy_price=None,
              drift_pct=None, rebalance_signal=None)
    export(tmp_path)
    cs = (tmp_path / "daily_log.csv").read_text()
    assert lines(tmp_path / "daily_log.csv")[1] == (
        "2026-01-10,08:55:07,,,,,1.63,,OPEN,,,2,2026-01-14,2.04,0.82,,False,"
    )
    assert "nan" not in cs.lower() and "None" not in cs
    assert lines(tmp_path / "vrp_erp_log.csv")[1] == "2026-01-10,09:39:31,16.24,,ELEVATED,10,0,0.00,,,,,,"


def test_rows_are_oldest_first_and_the_file_ends_with_a_newline(booted, tmp_path):
    erp_entry(datetime(2026, 1, 12, 14, 25, 43, tzinfo=UTC), notes="second")
    erp_entry(datetime(2026, 1, 10, 10, 4, 53, tzinfo=UTC), notes="first, with a comma")
    export(tmp_path)
    rows = lines(tmp_path / "vrp_erp_log.csv")
    assert rows[1].endswith(',"first, with a comma"') and rows[2].endswith(",second") and rows[3] == ""


def test_exporting_again_replaces_the_files_and_leaves_no_temporary_file(booted, tmp_path):
    (tmp_path / "daily_log.csv").write_text("old content\n")
    cs_entry(datetime(2026, 1, 12, 14, 22, 15, tzinfo=UTC))
    output = export(tmp_path)
    export(tmp_path)
    assert len(lines(tmp_path / "daily_log.csv")) == 3 and "old content" not in (tmp_path / "daily_log.csv").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["daily_log.csv", "vrp_erp_log.csv"]
    assert "daily_log.csv: 1 row(s)" in output


def test_a_directory_that_does_not_exist_is_refused(booted, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(CommandError, match="is not an existing directory"):
        export(missing)
    assert not missing.exists()


def test_the_real_legacy_logs_round_trip_apart_from_time_zone_and_nan(booted, shared_dir, tmp_path):
    """Imported from ../shared/legacy and exported again: every cell but date and time is as logged,
    with nan as an empty cell (and the ERP placeholder prices, stored as missing, empty too)."""
    from dspops.legacy_import import import_legacy

    import_legacy(directory=shared_dir / "legacy")
    export(tmp_path)
    for name in ("daily_log.csv", "vrp_erp_log.csv"):
        legacy = lines(shared_dir / "legacy" / "paper_trading" / name)
        exported = lines(tmp_path / name)
        assert exported[0] == legacy[0] and len(exported) == len(legacy)
        for old, new in zip(legacy[1:], exported[1:]):
            for was, now in zip(old.split(",")[2:], new.split(",")[2:]):
                assert now == ("" if was == "nan" or was in LEGACY_PLACEHOLDERS else was), (old, new)
