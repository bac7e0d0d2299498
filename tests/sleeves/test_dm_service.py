"""The DM rebalance plan: inputs from the database (or the simulator), one stored run, exit codes.

The book is built here: about 300 sessions of synthetic closes per ETF (each with its own drift
and the same day-to-day wiggle, so the momentum ranking is known), a broker snapshot for NLV and
a vol-target state.
"""

import io
import json
import math
from datetime import date, datetime, time
from decimal import ROUND_DOWN, Decimal

import pytest
from django.core.management import CommandError, call_command

from dspops.core import calendars, clock
from dspops.core.models import BrokerSnapshot, DataSource, Instrument
from sleeves.dm_service import DmConfigError, DmSetupError, plan_dm_rebalance
from sleeves.models import DmTarget, Fill, MonitorRun, PriceBar, RunKind, Sleeve, VolTargetState

FEB_2 = date(2026, 2, 2)  # the first NYSE session of February 2026 (Jan 30 is the session before)
NY = calendars.NEW_YORK

# Daily log drift per symbol: GLD, SPY and EEM lead; EFA trails (and ends near $86).
DRIFT = {"GLD": 0.0012, "SPY": 0.0008, "EEM": 0.0005, "TIP": 0.0002, "IEF": 0.0001, "TLT": -0.0001,
         "PDBC": -0.0002, "UUP": -0.0003, "EFA": -0.0004, "SHY": 0.00005}
LAST = {"GLD": 380, "SPY": 690, "EEM": 50, "TIP": 110, "IEF": 95, "TLT": 88, "PDBC": 13, "UUP": 27,
        "EFA": 86, "SHY": 83}

JSON_KEYS = {"sleeve", "as_of", "data_status", "simulated", "first_session_of_month", "next_rebalance",
             "momentum", "selected", "weights", "target_shares", "tickets", "dropped", "nav_usd", "reasons",
             "sources"}


def build_history(end: date, *, sessions: int = 300, drift=None, only=None):
    """``sessions`` closes per symbol ending on ``end``: drift plus a +/-0.5% alternating wiggle."""
    drift = drift or DRIFT
    days = calendars.sessions_in_range(date(2024, 1, 1), end)[-sessions:]
    bars = []
    for symbol, daily in drift.items():
        if only is not None and symbol not in only:
            continue
        instrument = Instrument.objects.get(symbol=symbol)
        for i, day in enumerate(days):
            back = len(days) - 1 - i
            close = LAST[symbol] * math.exp(-daily * back) * (1 + 0.005 * (-1) ** back)
            bars.append(PriceBar(instrument=instrument, session=day, close=Decimal(f"{close:.2f}"),
                                 source=DataSource.STORED))
    PriceBar.objects.bulk_create(bars)


def snapshot(day: date, nlv="100000.00"):
    return BrokerSnapshot.objects.create(
        as_of=datetime.combine(day, time(8, 30), NY), account="U1234567", simulated=False,
        net_liquidation=Decimal(nlv) if nlv is not None else None,
    )


def vol_state(day: date, multiplier="1.0000"):
    return VolTargetState.objects.create(as_of_session=day, multiplier=Decimal(multiplier),
                                         source=DataSource.STORED, computed_at=clock.now())


@pytest.fixture
def book(booted, monkeypatch):
    """History to Jan 30, an NLV of $100,000 read on Feb 2, vol multiplier 1 as of Jan 30."""
    monkeypatch.delenv("DSP_RISK_SCALE", raising=False)
    build_history(date(2026, 1, 30))
    snapshot(FEB_2)
    vol_state(date(2026, 1, 30))
    return booted


def hold(symbol: str, quantity: int, price: str):
    Fill.objects.create(
        sleeve=Sleeve.objects.get(code="DM"), instrument=Instrument.objects.get(symbol=symbol), side="BUY",
        quantity=Decimal(quantity), price=Decimal(price), executed_at=datetime(2026, 1, 5, 15, 0, tzinfo=NY),
        source="manual",
    )


def command(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("dm_rebalance", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


# --- a complete plan -----------------------------------------------------------------------------

def test_a_complete_offline_plan_holds_the_top_three_sized_from_nlv_times_0_90_and_the_risk_scale(book):
    outcome = plan_dm_rebalance(session=FEB_2)
    o = outcome.outputs
    assert outcome.ok and outcome.run.status == "ok" and outcome.run.reason == ""
    assert o["selected"] == ["GLD", "SPY", "EEM"]
    assert Decimal(o["nav_usd"]) == Decimal("100000") * Decimal("0.90") * 1 * 1
    weights = {s: Decimal(w) for s, w in o["weights"].items()}
    scale = Decimal(o["vol_scale"])
    assert scale == min(Decimal("0.08") / Decimal(o["portfolio_vol"]), Decimal("1.5")).quantize(Decimal("0.000001"))
    assert weights["GLD"] == weights["SPY"] == weights["EEM"] == (scale / 3).quantize(Decimal("0.000001"))
    assert weights["SHY"] == 1 - 3 * weights["GLD"] and weights["EFA"] == weights["TLT"] == 0
    prices = outcome.run.inputs["prices"]
    assert Decimal(prices["GLD"]) == PriceBar.objects.get(instrument__symbol="GLD", session=date(2026, 1, 30)).close
    for symbol in ("GLD", "SPY", "EEM", "SHY"):
        expected = (Decimal("90000") * weights[symbol] / Decimal(prices[symbol])).to_integral_value(ROUND_DOWN)
        assert o["target_shares"][symbol] == int(expected) > 0
    assert [(t["side"], t["symbol"]) for t in o["tickets"]] == [("BUY", s) for s in ("SPY", "EEM", "GLD", "SHY")]


def test_an_order_below_the_minimum_is_dropped_and_shown_in_the_report(book):
    hold("EFA", 1, "85.00")  # EFA is not selected: SELL 1 at about $86
    code, out, _ = command("plan", "--as-of", "2026-02-02")
    assert code == 0
    assert "dropped: EFA SELL 1 ($86.43) below $100.00" in out  # USD to the cent, as everywhere (dspops.core.formats)
    run = MonitorRun.objects.get(kind=RunKind.DM_PLAN)
    assert [d["symbol"] for d in run.outputs["dropped"]] == ["EFA"]
    assert "EFA" not in [t["symbol"] for t in run.outputs["tickets"]]


def test_the_stored_run_keeps_inputs_sources_and_outputs(book):
    run = plan_dm_rebalance(session=FEB_2).run
    assert (run.kind, run.sleeve.code, run.trading_date, run.simulated) == (RunKind.DM_PLAN, "DM", FEB_2, False)
    assert run.inputs["nlv"] == "100000.00" and len(run.inputs["closes"]["SPY"]) == 273
    assert run.sources["nlv"]["source"] == "stored" and run.sources["settings"] == {"source": "database"}
    assert run.sources["prices"]["SPY"] == {"source": "stored", "as_of": "2026-01-30", "price": "close",
                                            "bar_source": "stored"}
    assert run.sources["vol_multiplier"]["as_of"] == "2026-01-30"
    assert {"first_session_of_month", "momentum", "selected", "weights", "target_shares", "tickets", "dropped",
            "turnover_pct"} <= set(run.outputs)


def test_no_etf_with_positive_momentum_means_100_percent_shy(booted, monkeypatch):
    monkeypatch.delenv("DSP_RISK_SCALE", raising=False)
    build_history(date(2026, 1, 30), drift={s: -0.0005 for s in DRIFT})
    snapshot(FEB_2)
    vol_state(date(2026, 1, 30))
    code, out, _ = command("plan", "--as-of", "2026-02-02")
    assert code == 0 and "Selected: none — 100% SHY" in out
    assert MonitorRun.objects.get().outputs["weights"]["SHY"] == "1"


# --- run: the month's target -----------------------------------------------------------------------

def test_run_adopts_the_plan_as_the_months_target_and_running_again_replaces_it(book):
    first = plan_dm_rebalance(session=FEB_2, store_target=True)
    assert DmTarget.objects.get().run == first.run
    snapshot(FEB_2, nlv="200000.00")
    code, out, _ = command("run", "--as-of", "2026-02-02")
    target = DmTarget.objects.get()
    assert code == 0 and "Adopted as the 2026-02 target." in out
    assert target.month == "2026-02" and target.run != first.run and target.nav_usd == Decimal("180000.00")
    assert target.tickets == target.run.outputs["tickets"]


def test_plan_never_adopts_a_target(book):
    plan_dm_rebalance(session=FEB_2)
    assert DmTarget.objects.count() == 0


# --- fail closed ---------------------------------------------------------------------------------

def test_missing_history_for_one_etf_exits_3_naming_it_and_nothing_is_partial(book):
    PriceBar.objects.filter(instrument__symbol="EFA", session__gt=date(2026, 1, 20)).delete()
    code, out, err = command("run", "--as-of", "2026-02-02", "--json")
    payload = json.loads(out)
    assert code == 3 and "EFA: history ends 2026-01-20" in err
    assert payload["data_status"] == "data_unavailable"
    assert (payload["selected"], payload["weights"], payload["target_shares"], payload["tickets"]) == ([], {}, {}, [])
    run = MonitorRun.objects.get()
    assert run.status == "data_unavailable" and "EFA: history ends 2026-01-20" in run.reason
    assert DmTarget.objects.count() == 0


def test_short_history_names_how_many_closes_it_has(book):
    PriceBar.objects.filter(instrument__symbol="TLT", session__lt=date(2025, 6, 1)).delete()
    outcome = plan_dm_rebalance(session=FEB_2)
    assert not outcome.ok
    assert any(r.startswith("TLT: history ends 2026-01-30 with only") and "of the 273 closes" in r
               for r in outcome.reasons)


def test_a_stale_nlv_makes_the_plan_data_unavailable(book):
    BrokerSnapshot.objects.all().delete()
    snapshot(date(2026, 1, 28))
    outcome = plan_dm_rebalance(session=FEB_2)
    assert outcome.run.status == "data_unavailable" and "nlv" in outcome.plan.missing
    assert "NLV: the latest broker snapshot is from 2026-01-28" in outcome.run.reason
    assert outcome.outputs["tickets"] == [] and outcome.outputs["nav_usd"] is None


def test_a_stale_vol_target_state_is_missing_never_one(book):
    VolTargetState.objects.all().delete()
    vol_state(date(2026, 1, 26))  # 5 sessions before Feb 2; stale after 3
    outcome = plan_dm_rebalance(session=FEB_2)
    assert not outcome.ok and "vol_multiplier" in outcome.plan.missing
    assert outcome.run.inputs["vol_multiplier"] is None


def test_dsp_risk_scale_overrides_the_stored_risk_scale(book, monkeypatch):
    monkeypatch.setenv("DSP_RISK_SCALE", "0.095")
    outcome = plan_dm_rebalance(session=FEB_2)
    assert Decimal(outcome.outputs["nav_usd"]) == Decimal("8550.00")
    assert outcome.sources["risk_scale"] == {"source": "env:DSP_RISK_SCALE", "value": "0.095"}


@pytest.mark.parametrize("value", ["abc", "1.5", "-0.1", "nan", ""])
def test_a_bad_dsp_risk_scale_is_a_usage_error_and_nothing_is_stored(book, monkeypatch, value):
    monkeypatch.setenv("DSP_RISK_SCALE", value)
    with pytest.raises(DmSetupError, match="DSP_RISK_SCALE"):
        plan_dm_rebalance(session=FEB_2)
    code, _, err = command("plan", "--as-of", "2026-02-02")
    assert code == 2 and "is not a number from 0 to 1" in err
    assert MonitorRun.objects.count() == 0


# --- config file -------------------------------------------------------------------------------------

def config_file(tmp_path, settings, *, extra: str = "", top_k: int = 3):
    text = (settings.CONFIG_DIR / "dsp100k_etf_dual_momentum.yaml").read_text()
    text = text.replace("  top_k: 3\n", f"  top_k: {top_k}\n{extra}")
    path = tmp_path / "dm.yaml"
    path.write_text(text)
    return path


def test_strict_refuses_an_unknown_config_key_with_exit_2_naming_it(book, tmp_path, settings):
    path = config_file(tmp_path, settings, extra="  top_kk: 4\n")
    code, _, err = command("plan", "--as-of", "2026-02-02", "--strict", "-c", str(path))
    assert code == 2 and "sleeve_dm.top_kk: unknown key" in err
    with pytest.raises(DmConfigError, match="top_kk"):
        plan_dm_rebalance(session=FEB_2, config_path=path, strict=True)
    assert MonitorRun.objects.count() == 0


def test_without_strict_an_unknown_key_is_reported_and_the_file_overrides_the_settings(book, tmp_path, settings):
    path = config_file(tmp_path, settings, extra="  top_kk: 4\n", top_k=2)
    outcome = plan_dm_rebalance(session=FEB_2, config_path=path)
    assert outcome.ok and outcome.outputs["selected"] == ["GLD", "SPY"]
    assert outcome.sources["settings"] == {"source": "file", "path": str(path)}
    assert any("override the stored DM settings" in r for r in outcome.reasons)
    assert any("sleeve_dm.top_kk: unknown key" in r for r in outcome.reasons)


# --- command output ------------------------------------------------------------------------------

def test_the_json_output_has_exactly_the_documented_keys(book):
    code, out, _ = command("plan", "--as-of", "2026-02-02", "--json")
    payload = json.loads(out)
    assert code == 0 and set(payload) == JSON_KEYS
    assert (payload["sleeve"], payload["as_of"], payload["data_status"]) == ("DM", "2026-02-02", "ok")
    assert payload["next_rebalance"] == "2026-03-02" and payload["simulated"] is False


def test_2026_02_02_is_the_first_session_of_february_and_2026_02_03_is_not(book):
    PriceBar.objects.filter(session__gt=date(2025, 12, 1)).delete()  # nothing else matters here
    assert plan_dm_rebalance(session=FEB_2).first_session_of_month is True
    later = plan_dm_rebalance(session=date(2026, 2, 3))
    assert later.first_session_of_month is False and later.next_rebalance == date(2026, 3, 2)
    code, out, _ = command("plan", "--as-of", "2026-02-03")
    assert code == 3 and "first NYSE session of the month: no" in out


@pytest.mark.parametrize("as_of, message", [
    ("2026-13-01", "is not a date"),
    ("2026-02-01", "2026-02-01 (Sunday) is not an NYSE session; the session before it is 2026-01-30"),
    ("2099-01-02", "outside the loaded exchange calendar"),
])
def test_a_bad_as_of_is_a_usage_error(book, as_of, message):
    code, _, err = command("plan", "--as-of", as_of)
    assert code == 2 and message in err
    assert MonitorRun.objects.count() == 0


# --- live ----------------------------------------------------------------------------------------

EXTRA_QUOTES = {
    "IEF": {"bid": 95.10, "ask": 95.12, "close": 95.00},
    "TLT": {"bid": 88.20, "ask": 88.22, "close": 88.00},
    "TIP": {"bid": 110.40, "ask": 110.42, "close": 110.30},
    "PDBC": {"bid": 13.10, "ask": 13.11, "close": 13.05},
    "UUP": {"bid": 27.30, "ask": 27.31, "close": 27.25},
}


def test_a_live_plan_against_the_simulator_says_simulated(booted, broker, monkeypatch):
    monkeypatch.delenv("DSP_RISK_SCALE", raising=False)
    broker("calm_contango", {"quotes": EXTRA_QUOTES})
    session = clock.current_session()
    vol_state(session)
    outcome = plan_dm_rebalance(live=True, role="test")
    assert outcome.ok, outcome.reasons
    assert outcome.simulated is True and outcome.run.simulated is True and outcome.as_json()["simulated"] is True
    assert Decimal(outcome.outputs["nav_usd"]) == Decimal("105000.00") * Decimal("0.90")
    assert outcome.sources["nlv"]["source"] == "simulated" and outcome.sources["prices"]["EFA"]["source"] == "simulated"
    assert outcome.run.inputs["prices"]["EFA"] == "86.41"
    assert PriceBar.objects.filter(instrument__symbol="SPY", source="simulated").count() == 273


def test_a_live_plan_names_each_etf_the_broker_has_no_history_for(booted, broker, monkeypatch):
    monkeypatch.delenv("DSP_RISK_SCALE", raising=False)
    broker("calm_contango")  # quotes (and so history) only for SPY, EEM, EFA, GLD and SHY
    vol_state(clock.current_session())
    outcome = plan_dm_rebalance(live=True, role="test")
    assert not outcome.ok and outcome.run.simulated is True
    for symbol in ("IEF", "TLT", "TIP", "PDBC", "UUP"):
        assert f"{symbol}: the broker's daily history could not be read" in outcome.run.reason
    assert "SPY: the broker's daily history" not in outcome.run.reason


def test_the_simulators_closes_never_replace_a_stored_close(booted, broker, monkeypatch):
    monkeypatch.delenv("DSP_RISK_SCALE", raising=False)
    broker("calm_contango", {"quotes": EXTRA_QUOTES})
    session = clock.current_session()
    vol_state(session)
    day = calendars.previous_session(session)
    PriceBar.objects.create(instrument=Instrument.objects.get(symbol="SPY"), session=day, close=Decimal("600.00"),
                            source=DataSource.STORED)
    outcome = plan_dm_rebalance(live=True, role="test")
    bar = PriceBar.objects.get(instrument__symbol="SPY", session=day)
    assert (bar.close, bar.source) == (Decimal("600.00"), "stored")
    assert any(r.startswith("SPY: 1 stored close(s) differ from the simulator's and were kept") for r in outcome.reasons)


def test_live_with_a_past_as_of_is_a_usage_error(book):
    code, _, err = command("plan", "--live", "--as-of", "2026-02-02")
    assert code == 2 and "--live reads the broker now" in err
    assert MonitorRun.objects.count() == 0


def test_an_unexpected_failure_is_exit_1_and_says_it_is_internal(book, monkeypatch):
    from sleeves.management.commands import dm_rebalance

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(dm_rebalance, "plan_dm_rebalance", broken)
    code, _, err = command("plan", "--as-of", "2026-02-02")
    assert code == 1 and "internal error while planning DM: RuntimeError: boom" in err


# --- the NLV's broker snapshot (issue 13 item 10) ------------------------------------------------------------

FEB_6, SAT_FEB_7 = date(2026, 2, 6), date(2026, 2, 7)


def test_a_plan_on_a_closed_day_uses_the_snapshot_read_that_day(booted, monkeypatch, time_machine):
    # Measured: `dm_rebalance plan` said "no broker snapshot is stored" while snapshots existed: on a closed day
    # the plan is for the last session, and a snapshot read after its end was not looked at.
    monkeypatch.delenv("DSP_RISK_SCALE", raising=False)
    time_machine.move_to(datetime.combine(SAT_FEB_7, time(11, 0), NY), tick=False)
    build_history(date(2026, 2, 5))
    vol_state(date(2026, 2, 5))
    snapshot(SAT_FEB_7)  # read this morning, after Friday's close
    code, out, err = command("plan")
    assert "no broker snapshot is stored" not in out + err
    assert code == 0, err
    run = MonitorRun.objects.get(kind=RunKind.DM_PLAN)
    assert (run.trading_date, run.status, Decimal(run.inputs["nlv"])) == (FEB_6, "ok", Decimal("100000.00"))


def test_a_past_session_with_only_later_snapshots_says_so_not_that_none_is_stored(book):
    BrokerSnapshot.objects.all().delete()
    snapshot(date(2026, 2, 3))  # read after the session planned
    outcome = plan_dm_rebalance(session=FEB_2)
    assert not outcome.ok and "nlv" in outcome.plan.missing
    assert "no broker snapshot is stored" not in outcome.run.reason
    assert ("NLV: no broker snapshot read by the end of 2026-02-02 is stored (the earliest is from 2026-02-03 "
            "08:30 ET)") in outcome.run.reason


def test_no_snapshot_at_all_still_says_none_is_stored(book):
    BrokerSnapshot.objects.all().delete()
    outcome = plan_dm_rebalance(session=FEB_2)
    assert "NLV: no broker snapshot is stored" in outcome.run.reason
