"""digests.alert_rules: DECISIONS §6 alerts from stored runs, logs, positions and states."""

import ast
import inspect
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from digests import alert_rules
from digests.alert_rules import CODES, NotASessionError, evaluate_alerts
from dspops.core.alerts import REGISTRY, raise_alert
from dspops.core.errors import OperatorError
from dspops.core.models import Alert
from dspops.core.models import Instrument, QuoteSnapshot, SecType
from dspops.core import vx
from sleeves.models import SpreadPosition
from dspops.core.instruments import vxm_instrument
from sleeves.models import Fill, MonitorRun, PriceBar, Sleeve, VolTargetState, VrpCsLogEntry, VrpErpLogEntry

D = Decimal
NY = ZoneInfo("America/New_York")
MON, TUE, WED = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)


def evening(day: date) -> datetime:
    return datetime.combine(day, time(16, 30), tzinfo=NY)


def evaluate(day: date, now: date | None = None):
    return evaluate_alerts(trading_date=day, now=evening(now or day))


def open_alerts(code: str) -> dict[str, Alert]:
    return {a.subject: a for a in Alert.objects.filter(code=code, resolved_at__isnull=True)}


def erp_log(day: date, *, drift: str | None, ok: bool = True, at: time = time(9, 0)):
    moment = datetime.combine(day, at, tzinfo=NY)
    run = MonitorRun.objects.create(
        kind="vrp_erp", sleeve=Sleeve.objects.get(code="VRP_ERP"), trading_date=day, started_at=moment,
        finished_at=moment, status="ok" if ok else "data_unavailable",
        reason="" if ok else "vix: no quote for vix", triggered_by="test")
    VrpErpLogEntry.objects.create(
        run=run, logged_at=moment, trading_date=day, data_status="ok" if ok else "data_unavailable",
        vix=D("16.12") if ok else None, spy_price=D("664.19") if ok else None, regime="ELEVATED", target_shares=11,
        actual_shares=10, drift_pct=None if drift is None else D(drift), source="manual")
    return run


def cs_log(day: date, *, spread="1.64", entry="1.63", stop="0.81", tp="3.26", stop_hit=False, tp_hit=False,
           gate="OPEN", score="0.5", ok=True, outputs=None, roll_by=date(2026, 12, 9)):
    moment = datetime.combine(day, time(9, 0), tzinfo=NY)
    run = MonitorRun.objects.create(
        kind="vrp_cs", sleeve=Sleeve.objects.get(code="VRP_CS"), trading_date=day, started_at=moment,
        finished_at=moment, status="ok" if ok else "data_unavailable", reason="" if ok else "vx1: no quote for vx1",
        triggered_by="test",
        outputs={"short_leg": "VXMZ6", "long_leg": "VXMF7", "settlement_date": "2026-12-16", **(outputs or {})})
    VrpCsLogEntry.objects.create(
        run=run, logged_at=moment, trading_date=day, data_status="ok" if ok else "data_unavailable",
        vx1=D("17.00") if ok else None, vx2=D("17.00") + D(spread) if ok else None, spread=D(spread) if ok else None,
        entry_spread=D(entry), quantity=1, pnl_usd=(D(spread) - D(entry)) * 100 if ok else None, gate_state=gate,
        gate_score=D(score) if score is not None else None, stop_loss_level=D(stop), take_profit_level=D(tp),
        stop_loss_hit=stop_hit if ok else None, take_profit_hit=tp_hit if ok else None, roll_by=roll_by,
        source="manual")
    return run


@pytest.fixture
def spread_position(booted):
    """-1 VXMZ6 / +1 VXMF7 (settles 2026-12-16), with a roll-by typed by hand on Monday 2026-12-07."""
    return SpreadPosition.objects.create(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=vxm_instrument(vx.ContractMonth(2026, 12)),
        long_leg=vxm_instrument(vx.ContractMonth(2027, 1)), quantity=1, short_entry_price=D("16.24"),
        long_entry_price=D("17.87"), entry_date=date(2026, 11, 20), entry_spread=D("1.63"),
        stop_loss_spread=D("0.81"), take_profit_spread=D("3.26"), settlement_date=date(2026, 12, 16),
        roll_by=date(2026, 12, 7))


# --- identity and resolution -----------------------------------------------------------------


def test_an_alert_still_true_the_next_day_is_the_same_row_seen_twice(booted):
    erp_log(MON, drift="12.5")
    evaluate(MON)
    erp_log(TUE, drift="9")
    evaluate(TUE)

    [alert] = Alert.objects.filter(code="erp_drift")
    assert (alert.subject, alert.severity, alert.occurrences, alert.resolved_at) == ("SPY", "warning", 2, None)
    assert (alert.first_seen_at, alert.last_seen_at) == (evening(MON), evening(TUE))
    assert "drift 9.00%" in alert.message and "Rebalance to 11 shares" in alert.message


def test_an_alert_is_resolved_when_its_condition_clears_and_a_new_one_opens_if_it_returns(booted):
    erp_log(MON, drift="12.5")
    evaluate(MON)
    erp_log(TUE, drift="1")
    evaluate(TUE)
    first = Alert.objects.get(code="erp_drift")
    assert first.resolved_at == evening(TUE)

    erp_log(WED, drift="7")
    evaluate(WED)
    second = Alert.objects.get(code="erp_drift", resolved_at__isnull=True)
    assert second.pk != first.pk and second.occurrences == 1


def test_a_past_date_never_resolves_an_alert_that_holds_now(booted):
    erp_log(TUE, drift="12.5")
    evaluate(TUE)
    erp_log(MON, drift="1")

    evaluate(MON, now=TUE)

    assert open_alerts("erp_drift")["SPY"].occurrences == 1


def test_a_rule_that_cannot_be_evaluated_resolves_nothing(booted):
    erp_log(MON, drift="12.5")
    evaluate(MON)
    erp_log(TUE, drift=None, ok=False)  # no drift today: not evaluated

    evaluate(TUE)

    assert "SPY" in open_alerts("erp_drift")
    assert "VRP-ERP" in open_alerts("monitor_data_unavailable")


def test_alerts_raised_by_other_services_are_left_alone(booted):
    raise_alert(code="reconciliation_break", severity="critical", subject="VXMZ6", message="broker -1, fills 0")
    raise_alert(code="orphan_leg", severity="critical", subject="VXMF7", message="close VXMF7")

    evaluate(TUE)

    assert set(open_alerts("reconciliation_break")) == {"VXMZ6"} and set(open_alerts("orphan_leg")) == {"VXMF7"}


def test_every_code_the_rules_raise_or_resolve_is_declared_and_registered():
    tree = ast.parse(inspect.getsource(alert_rules))
    literals = set()
    for node in ast.walk(tree):
        # result.add("code", ...), result.evaluated.add("code") and RuleResult(evaluated={"code", ...})
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add":
            if node.args and isinstance(node.args[0], ast.Constant):
                literals.add(node.args[0].value)
        if isinstance(node, ast.keyword) and node.arg == "evaluated" and isinstance(node.value, ast.Set):
            literals |= {element.value for element in node.value.elts}
        # the stop and take-profit rules are a table: checks = (("cs_stop_loss", ...), ...)
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["checks"]:
            literals |= {row.elts[0].value for row in node.value.elts}
    assert literals == set(CODES)
    assert set(CODES) <= set(REGISTRY)


def test_an_undeclared_code_is_refused():
    with pytest.raises(ValueError, match="not one of the digest rules' CODES"):
        alert_rules.RuleResult().add("reconciliation_break", "critical", "VXMZ6", "broker -1, fills 0")


def test_a_date_that_is_not_an_nyse_session_is_refused(booted):
    with pytest.raises(NotASessionError, match=r"2026-11-28 is not an NYSE session \(Saturday\); "
                                               r"the previous session is 2026-11-27") as refused:
        evaluate_alerts(trading_date=date(2026, 11, 28))
    assert isinstance(refused.value, OperatorError)  # an entry point shows it to the operator
    assert not Alert.objects.exists()


# --- VRP-CS: levels, hits, gate --------------------------------------------------------------


def test_levels_on_the_wrong_sides_are_critical_and_neither_is_reported_as_hit(booted):
    cs_log(TUE, spread="0.75", entry="1.63", stop="2.04", tp="0.82", stop_hit=False, tp_hit=True)

    evaluate(TUE)

    alert = open_alerts("cs_levels_invalid")["VXMZ6/VXMF7"]
    assert alert.severity == "critical"
    assert "stop-loss 2.04 / take-profit 0.82 around the entry spread 1.63" in alert.message
    assert "Fix the position config" in alert.message
    assert "(log of 2026-11-24 09:00 ET)" in alert.message  # New York time, labelled ET (dspops.core.formats)
    assert not open_alerts("cs_take_profit") and not open_alerts("cs_stop_loss")


def test_a_stop_hit_stored_by_the_monitor_is_critical(booted):
    cs_log(TUE, spread="0.80", stop="0.81", stop_hit=True)

    evaluate(TUE)

    alert = open_alerts("cs_stop_loss")["VXMZ6/VXMF7"]
    assert alert.severity == "critical"
    assert "spread 0.80 is at or below the stop-loss 0.81" in alert.message and "Close the spread" in alert.message


def test_near_a_level_is_a_warning_from_the_stored_flag_or_the_distance(booted):
    cs_log(MON, spread="3.20", outputs={"near_take_profit": True})
    evaluate(MON)
    assert open_alerts("cs_take_profit")["VXMZ6/VXMF7"].severity == "warning"

    cs_log(TUE, spread="0.88")  # no stored near flag (a legacy row): 0.07 from the stop, within 0.10
    evaluate(TUE)
    assert open_alerts("cs_stop_loss")["VXMZ6/VXMF7"].severity == "warning"
    assert not open_alerts("cs_take_profit")  # no longer near: resolved


@pytest.mark.parametrize("gate, score, ok, severity", [
    ("OPEN", "0.5", True, None),
    ("REDUCE", "0.05", True, "warning"),
    ("CLOSED", "-0.4", True, "critical"),
    ("UNKNOWN", None, False, "critical"),
    ("OPEN", None, False, "critical"),  # the legacy monitor logged OPEN on nan inputs: UNKNOWN
])
def test_the_gate_alerts_on_reduce_closed_and_unknown(booted, gate, score, ok, severity):
    cs_log(TUE, gate=gate, score=score, ok=ok)

    evaluate(TUE)

    alert = open_alerts("cs_gate").get("VRP-CS")
    assert (alert.severity if alert else None) == severity
    if gate == "OPEN" and severity:
        assert "UNKNOWN" in alert.message and "counts as CLOSED" in alert.message


# --- runs and data ---------------------------------------------------------------------------


def test_a_missing_monitor_run_is_a_warning_per_sleeve_and_a_skipped_run_does_not_count(booted):
    MonitorRun.objects.create(kind="vrp_cs", trading_date=TUE, started_at=evening(TUE), status="skipped",
                              reason="skipped: market closed", triggered_by="task")
    erp_log(TUE, drift="0")

    evaluate(TUE)

    missing = open_alerts("monitor_run_missing")
    assert set(missing) == {"VRP-CS"}
    assert "No VRP-CS monitor run for 2026-11-24" in missing["VRP-CS"].message
    assert "vrp_cs_monitor --live" in missing["VRP-CS"].message


def test_a_data_unavailable_run_is_a_warning_with_its_reason(booted):
    erp_log(TUE, drift=None, ok=False)

    evaluate(TUE)

    alert = open_alerts("monitor_data_unavailable")["VRP-ERP"]
    assert "DATA UNAVAILABLE: vix: no quote for vix. Its decision was not made" in alert.message


def test_stale_and_missing_inputs_are_named_with_their_age(booted):
    vix, vvix = (Instrument.objects.get(symbol=s, sec_type=SecType.INDEX) for s in ("VIX", "VVIX"))
    PriceBar.objects.create(instrument=vix, session=date(2026, 11, 19), close=D("15.38"), source="stored")
    PriceBar.objects.create(instrument=vvix, session=MON, close=D("91.86"), source="stored")

    evaluate(TUE)

    stale = open_alerts("data_stale")
    assert set(stale) == {"VIX", "SPY"}  # VVIX from the previous session is current
    assert stale["VIX"].message.startswith("VIX: latest value 2026-11-19, 3 sessions old")
    assert stale["SPY"].message.startswith("SPY: no value stored on or before 2026-11-24")


def test_a_live_quote_today_makes_an_input_fresh_again(booted):
    vix = Instrument.objects.get(symbol="VIX", sec_type=SecType.INDEX)
    PriceBar.objects.create(instrument=vix, session=date(2026, 11, 19), close=D("15.38"), source="stored")
    evaluate(TUE)
    QuoteSnapshot.objects.create(instrument=vix, last=D("16.12"), source="live", as_of=evening(TUE), valid=True)

    evaluate(TUE)

    assert "VIX" not in open_alerts("data_stale")


@pytest.mark.parametrize("as_of, stale", [(date(2026, 11, 19), False), (date(2026, 11, 18), True)])
def test_the_vol_target_state_is_stale_after_the_book_setting(booted, as_of, stale):
    VolTargetState.objects.create(as_of_session=as_of, multiplier=D("1.09"), source="stored",
                                  computed_at=evening(as_of))

    evaluate(TUE)

    alert = open_alerts("vol_target_stale").get("overlay")
    assert bool(alert) is stale
    if stale:
        assert "from 2026-11-18, 4 sessions old (stale after 3)" in alert.message


def test_a_missing_vol_target_state_is_a_warning(booted):
    evaluate(TUE)
    assert "No vol-target state on or before 2026-11-24" in open_alerts("vol_target_stale")["overlay"].message


def test_an_unattributed_fill_is_a_warning_until_it_gets_a_sleeve(booted):
    spy = Instrument.objects.get(symbol="SPY", sec_type=SecType.STOCK)
    fill = Fill.objects.create(instrument=spy, side="BUY", quantity=D("10"), price=D("664.20"),
                               executed_at=evening(MON), exec_id="0001.01", source="manual")
    evaluate(MON)
    message = open_alerts("fill_unattributed")["0001.01"].message
    assert "Set its sleeve" in message
    assert "BUY 10 " in message and " @ 664.20, 2026-11-23 16:30 ET)" in message  # the price to the tick

    Fill.objects.filter(pk=fill.pk).update(sleeve=Sleeve.objects.get(code="VRP_ERP"))
    evaluate(TUE)

    assert not open_alerts("fill_unattributed")


# --- roll-by and expired legs ----------------------------------------------------------------


@pytest.mark.parametrize("day, severity, words", [
    (date(2026, 12, 2), None, None),
    (date(2026, 12, 3), "warning", "is 2 CFE sessions away (4 calendar days)"),
    (date(2026, 12, 4), "warning", "is 1 CFE session away (3 calendar days)"),
    (date(2026, 12, 7), "critical", "the roll-by is today, 2026-12-07 (Mon)"),
    (date(2026, 12, 8), "critical", "passed 1 CFE session ago"),
])
def test_a_monday_roll_by_shows_on_the_friday_before_counted_in_cfe_sessions(spread_position, day, severity, words):
    evaluate(day)

    alert = open_alerts("roll_due").get("VXMZ6")
    assert (alert.severity if alert else None) == severity
    if words:
        assert words in alert.message


def test_a_roll_alert_escalates_in_place_and_clears_after_the_roll(spread_position):
    evaluate(date(2026, 12, 4))
    evaluate(date(2026, 12, 7))
    alert = Alert.objects.get(code="roll_due")
    assert (alert.severity, alert.occurrences) == ("critical", 2)

    spread_position.is_active = False
    spread_position.save(update_fields=["is_active"])
    SpreadPosition.objects.create(
        sleeve=spread_position.sleeve, short_leg=spread_position.long_leg,
        long_leg=vxm_instrument(vx.ContractMonth(2027, 2)), quantity=1, short_entry_price=D("17.80"),
        long_entry_price=D("18.50"), entry_date=date(2026, 12, 7), entry_spread=D("0.70"),
        stop_loss_spread=D("0.35"), take_profit_spread=D("1.40"), settlement_date=date(2027, 1, 20),
        roll_by=date(2027, 1, 12))
    evaluate(date(2026, 12, 8))

    assert Alert.objects.get(pk=alert.pk).resolved_at is not None
    assert not open_alerts("roll_due")


def test_an_active_position_whose_short_leg_settled_is_critical_until_it_is_replaced(spread_position):
    evaluate(date(2026, 12, 15))
    assert not open_alerts("spread_legs_expired")

    evaluate(date(2026, 12, 16))

    alert = open_alerts("spread_legs_expired")["VXMZ6/VXMF7"]
    assert alert.severity == "critical"
    assert "VXMZ6 settled on 2026-12-16" in alert.message and "Reconcile the VXM position" in alert.message
