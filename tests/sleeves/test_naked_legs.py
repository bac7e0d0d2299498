"""Naked legs (issue 13 item 2): any VXM holding other than exactly -q front / +q next month of the config.

The finder is pure (unsaved instruments, no database); the offline monitor reads the VRP-CS fills; the
alert is raised once per contract and source, and resolved when the holding is whole again.
"""

import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from dspops.core import vx
from dspops.core.instruments import vxm_instrument
from dspops.core.models import Alert, Instrument, SecType
from sleeves.models import Fill, MonitorRun, RunStatus, Sleeve, SpreadPosition, VrpCsLogEntry
from sleeves.monitors import run_vrp_cs_monitor
from sleeves.naked_legs import RollInProgress, find_naked_legs, holdings_from_fills, raise_naked_leg_alerts

D = Decimal
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)  # a Tuesday session, 10:00 New York


def future(pk, symbol, month, root="VXM"):
    return Instrument(pk=pk, symbol=root, sec_type=SecType.FUTURE, local_symbol=symbol, contract_month=month,
                      multiplier=D(100))


Z6, F7, G7, H7 = (future(1, "VXMZ6", "202612"), future(2, "VXMF7", "202701"), future(3, "VXMG7", "202702"),
                  future(4, "VXMH7", "202703"))
SPY = Instrument(pk=9, symbol="SPY", sec_type=SecType.STOCK, local_symbol="SPY", contract_month="")
VX_BIG = future(8, "VXZ6", "202612", root="VX")


def config(q=1, short=Z6, long=F7):
    return SpreadPosition(short_leg=short, long_leg=long, quantity=q)


def found(holdings, position=None):
    """(contract, held, expected, order, missing pairs) per finding, as the operator reads them."""
    return [(f.contract, f.held, f.expected, f.order, f.missing_pairs)
            for f in find_naked_legs({k: D(v) for k, v in holdings.items()}, position)]


# --- the pure finder ---------------------------------------------------------------------------------


def test_the_exact_spread_is_no_finding():
    assert found({Z6: -1, F7: 1}, config()) == []
    assert found({Z6: -3, F7: 3}, config(3)) == []


def test_other_roots_and_sec_types_are_not_vxm_holdings():
    assert found({Z6: -1, F7: 1, SPY: 13, VX_BIG: -1}, config()) == []


def test_a_lone_short_leg_is_flattened_by_buying_it_and_its_missing_pair_is_named():
    assert found({Z6: -1}, config()) == [
        ("VXMZ6", -1, -1, "BUY 1 VXMZ6", ("VXMF7",)),
        ("VXMF7", 0, 1, "", ()),
    ]


def test_a_lone_long_leg_is_flattened_by_selling_it():
    assert found({F7: 1}, config()) == [
        ("VXMZ6", 0, -1, "", ()),
        ("VXMF7", 1, 1, "SELL 1 VXMF7", ("VXMZ6",)),
    ]


def test_unequal_sizes_flatten_only_the_excess():
    assert found({Z6: -2, F7: 1}, config()) == [("VXMZ6", -2, -1, "BUY 1 VXMZ6", ())]
    assert found({Z6: -1, F7: 2}, config()) == [("VXMF7", 2, 1, "SELL 1 VXMF7", ())]


def test_more_whole_spreads_than_the_config_flatten_the_extra_spreads():
    assert found({Z6: -2, F7: 2}, config()) == [("VXMZ6", -2, -1, "BUY 1 VXMZ6", ()),
                                                ("VXMF7", 2, 1, "SELL 1 VXMF7", ())]


def test_an_extra_third_month_is_a_finding_of_its_own():
    assert found({Z6: -1, F7: 1, G7: 1}, config()) == [("VXMG7", 1, 0, "SELL 1 VXMG7", ())]


def test_a_spread_in_the_wrong_months_flattens_what_is_held_and_names_what_is_missing():
    assert found({F7: -1, G7: 1}, config()) == [
        ("VXMZ6", 0, -1, "", ()),
        ("VXMF7", -1, 1, "BUY 1 VXMF7", ("VXMZ6",)),
        ("VXMG7", 1, 0, "SELL 1 VXMG7", ()),
    ]


def test_quantity_above_one_is_honoured():
    assert found({Z6: -2, F7: 1}, config(2)) == [("VXMZ6", -2, -2, "BUY 1 VXMZ6", ()),
                                                 ("VXMF7", 1, 2, "", ())]
    assert found({Z6: -3}, config(3)) == [("VXMZ6", -3, -3, "BUY 3 VXMZ6", ("VXMF7",)),
                                         ("VXMF7", 0, 3, "", ())]


def test_fewer_whole_spreads_than_the_config_are_a_finding_without_an_order():
    assert found({Z6: -1, F7: 1}, config(2)) == [("VXMZ6", -1, -2, "", ()), ("VXMF7", 1, 2, "", ())]


def test_a_long_front_month_is_never_part_of_the_spread():
    assert found({Z6: 1, F7: 1}, config()) == [("VXMZ6", 1, -1, "SELL 1 VXMZ6", ()),
                                               ("VXMF7", 1, 1, "SELL 1 VXMF7", ())]


def test_without_a_config_every_vxm_holding_is_naked_and_nothing_held_is_nothing_found():
    assert found({Z6: -1, H7: 2, SPY: 13}) == [("VXMZ6", -1, 0, "BUY 1 VXMZ6", ()), ("VXMH7", 2, 0, "SELL 2 VXMH7", ())]
    assert found({}) == []


def test_nothing_held_against_a_config_names_both_legs_as_missing():
    assert found({}, config()) == [("VXMZ6", 0, -1, "", ()), ("VXMF7", 0, 1, "", ())]


def test_the_message_says_contract_quantity_config_order_and_where_it_was_read():
    lone, missing = find_naked_legs({Z6: D(-1)}, config())
    text = lone.message(source="broker")
    assert text.startswith("VXMZ6 at the broker: held -1; the VRP-CS config (-1 VXMZ6 / +1 VXMF7) expects -1; "
                           "its pair VXMF7 is not held. Flatten it: BUY 1 VXMZ6")
    assert missing.message(source="fills").startswith(
        "VXMF7 in the recorded VRP-CS fills: none held; the VRP-CS config (-1 VXMZ6 / +1 VXMF7) expects +1, so this "
        "leg is missing.")


# --- offline: the fills, the monitor and the alert ----------------------------------------------------


@pytest.fixture
def config_z6_f7(booted):
    """The config -1 Dec 2026 / +1 Jan 2027, current on 2026-11-24 (NOW)."""
    front, second = vx.ContractMonth(2026, 12), vx.ContractMonth(2027, 1)
    dates = vx.contract_dates(front)
    return SpreadPosition.objects.create(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=vxm_instrument(front), long_leg=vxm_instrument(second),
        quantity=1, short_entry_price=D("17.45"), long_entry_price=D("18.10"),
        entry_date=NOW.date() - timedelta(days=7), entry_spread=D("0.65"), stop_loss_spread=D("0.32"), take_profit_spread=D("1.30"),
        settlement_date=dates.settlement_date, roll_by=dates.roll_by)


def fill(instrument, side, quantity, price, *, at=NOW - timedelta(days=2)):
    return Fill.objects.create(sleeve=Sleeve.objects.get(code="VRP_CS"), instrument=instrument, side=side,
                               quantity=D(quantity), price=D(price), executed_at=at, source="manual")


def run_offline(**kwargs):
    return run_vrp_cs_monitor(vix=D("16.12"), vvix=D("92.40"), vx1=D("17.44"), vx2=D("18.575"), now=NOW, **kwargs)


def open_naked_alerts():
    return {a.subject: a for a in Alert.objects.filter(code="naked_leg", resolved_at__isnull=True)}


def test_holdings_from_fills_are_the_vrp_cs_vxm_positions_only(config_z6_f7):
    short, long = config_z6_f7.short_leg, config_z6_f7.long_leg
    fill(short, "SELL", 1, "17.45")
    fill(long, "BUY", 1, "18.10")
    fill(long, "SELL", 1, "18.20")  # closed again: flat, left out
    Fill.objects.create(sleeve=Sleeve.objects.get(code="VRP_ERP"), instrument=Instrument.objects.get(symbol="SPY"),
                        side="BUY", quantity=D(13), price=D("664.19"), executed_at=NOW - timedelta(days=2),
                        source="manual")
    assert holdings_from_fills("VRP_CS") == {short: D(-1)}


def test_offline_a_lone_short_leg_in_the_fills_is_a_position_mismatch_with_its_own_exit_code(config_z6_f7):
    fill(config_z6_f7.short_leg, "SELL", 1, "17.45")

    outcome = run_offline()

    assert (outcome.status, outcome.exit_code, outcome.payload["data_status"], outcome.payload["status"]) == (
        RunStatus.POSITION_MISMATCH, 4, "mismatch", "POSITION MISMATCH")
    # The lone short's own P&L: (17.44 - 17.45) x 100 x -1; never the full spread's (1.135 - 0.65) x 100 = 48.50.
    assert (outcome.payload["pnl_usd"], outcome.payload["pnl_over"]) == ("1.00", "held")
    assert outcome.payload["stop_loss_hit"] is None and outcome.payload["take_profit_hit"] is None
    assert outcome.payload["positions"]["naked_legs"][0] == {
        "contract": "VXMZ6", "held": "-1", "expected": "-1", "order": "BUY 1 VXMZ6", "missing_pairs": ["VXMF7"]}
    run = MonitorRun.objects.get()
    assert run.sources["positions"]["source"] == "fills"
    assert run.status == "mismatch" and run.reason.startswith("POSITION MISMATCH: the VXM holding in the recorded "
                                                              "VRP-CS fills is not the configured spread")
    entry = VrpCsLogEntry.objects.get()
    assert (entry.data_status, entry.pnl_usd) == ("data_unavailable", D("1.00"))
    alert = open_naked_alerts()["VXMZ6 (fills)"]
    assert (alert.severity, alert.sleeve.code, alert.about_type.model, alert.about_id) == (
        "critical", "VRP_CS", "instrument", str(config_z6_f7.short_leg.pk))
    assert "BUY 1 VXMZ6" in alert.message and "held -1" in alert.message
    assert set(open_naked_alerts()) == {"VXMZ6 (fills)", "VXMF7 (fills)"}


def test_the_alert_is_raised_once_and_resolved_when_the_holding_is_whole_again(config_z6_f7):
    fill(config_z6_f7.short_leg, "SELL", 1, "17.45")
    run_offline()
    run_offline()
    alerts = Alert.objects.filter(code="naked_leg")
    assert alerts.count() == 2 and {a.occurrences for a in alerts} == {2}  # refreshed, not duplicated

    fill(config_z6_f7.long_leg, "BUY", 1, "18.10", at=NOW - timedelta(hours=1))
    outcome = run_offline()

    assert (outcome.status, outcome.exit_code, outcome.payload["pnl_over"]) == (RunStatus.OK, 0, "spread")
    assert open_naked_alerts() == {}
    assert Alert.objects.filter(code="naked_leg", resolved_at__isnull=False).count() == 2


def test_a_whole_spread_in_the_fills_is_ok_and_raises_nothing(config_z6_f7):
    fill(config_z6_f7.short_leg, "SELL", 1, "17.45")
    fill(config_z6_f7.long_leg, "BUY", 1, "18.10")
    outcome = run_offline()
    assert (outcome.status, outcome.payload["positions"]["check"], outcome.payload["pnl_usd"]) == (
        RunStatus.OK, "matches", "48.50")
    assert open_naked_alerts() == {}


def test_the_fills_never_resolve_what_the_broker_showed(config_z6_f7):
    [lone, _] = find_naked_legs({config_z6_f7.short_leg: D(-1)}, config_z6_f7)
    raise_naked_leg_alerts([lone], source="broker")
    fill(config_z6_f7.short_leg, "SELL", 1, "17.45")
    fill(config_z6_f7.long_leg, "BUY", 1, "18.10")

    assert run_offline().status == RunStatus.OK
    assert set(open_naked_alerts()) == {"VXMZ6 (broker)"}
    raise_naked_leg_alerts([], source="broker")
    assert open_naked_alerts() == {}


def test_the_command_exits_4_and_says_position_mismatch(config_z6_f7, time_machine):
    time_machine.move_to(NOW, tick=False)
    fill(config_z6_f7.short_leg, "SELL", 1, "17.45")
    out = io.StringIO()
    with pytest.raises(CommandError) as exited:
        call_command("vrp_cs_monitor", "--vix", "16.12", "--vvix", "92.40", "--vx1", "17.44", "--vx2", "18.575",
                     stdout=out)
    assert exited.value.returncode == 4
    assert str(exited.value).startswith("POSITION MISMATCH: ")
    text = out.getvalue()
    assert ": POSITION MISMATCH" in text.splitlines()[0]
    assert "NAKED LEG VXMZ6: held -1, config expects -1; its pair VXMF7 is not held: flatten with BUY 1 VXMZ6" in text
    assert "P&L over what is held" in text


def test_without_fills_the_config_is_not_held_and_nothing_is_called_ok(config_z6_f7):
    outcome = run_offline()
    assert (outcome.status, outcome.payload["pnl_usd"]) == (RunStatus.POSITION_MISMATCH, "0.00")
    assert set(open_naked_alerts()) == {"VXMZ6 (fills)", "VXMF7 (fills)"}


@pytest.mark.usefixtures("cfe_session_clock")
def test_a_fills_alert_raised_offline_is_resolved_by_a_live_run_once_the_fills_hold_the_spread(spread_config, broker,
                                                                                             today_book):
    """Offline, no fills: both legs 'missing' (fills). After the spread's fills are recorded, the live monitor
    (which compares the broker) resolves the fills alerts too: they do not wait for the next offline run."""
    from django.utils import timezone as tz

    from dspops.core.instruments import vxm_instrument
    from sleeves.models import Fill, FillSource, Side
    from sleeves.monitors import run_vrp_cs_monitor

    front, second, _ = today_book.months
    run_vrp_cs_monitor(live=False)
    fills_alerts = Alert.objects.filter(code="naked_leg", resolved_at__isnull=True, subject__endswith="(fills)")
    assert fills_alerts.count() == 2
    for month, side, price in ((front, Side.SELL, "17.45"), (second, Side.BUY, "18.10")):
        Fill.objects.create(sleeve=spread_config.sleeve, instrument=vxm_instrument(month), side=side, quantity=1,
                            price=D(price), executed_at=tz.now(), source=FillSource.MANUAL)
    broker("calm_contango")
    run_vrp_cs_monitor(live=True)
    assert fills_alerts.count() == 0
    assert not Alert.objects.filter(code="naked_leg", resolved_at__isnull=True).exists()


def test_during_a_roll_the_contracts_on_its_path_name_no_order_that_would_undo_it(spread_config, today_book):
    """Review finding: with the four legs of a roll recorded and the config still on the old legs, the check
    said 'BUY 1 VXMF7' and 'SELL 1 VXMG7': the roll backwards. On the roll's path there is no order, the
    alert is a warning pointing at the roll page; a contract off the path still gets its order."""
    from dspops.core.instruments import vxm_instrument

    config = spread_config
    front, second, third = (vxm_instrument(m) for m in today_book.months)
    after_roll = {second: D(-1), third: D(1)}
    plain = {leg.contract: leg.order for leg in find_naked_legs(after_roll, config)}
    assert plain == {front.local_symbol: "", second.local_symbol: f"BUY 1 {second.local_symbol}",
                     third.local_symbol: f"SELL 1 {third.local_symbol}"}  # what it said during a roll
    rolling = RollInProgress("Roll #7 (Legs filled)", frozenset(i.local_symbol for i in (front, second, third)))
    during = find_naked_legs(after_roll, config, rolling=rolling)
    assert [leg.order for leg in during] == ["", "", ""]
    assert all("Roll #7 (Legs filled) is in progress" in leg.message(source="broker") for leg in during)
    assert all("BUY" not in leg.message(source="broker") and "SELL" not in leg.message(source="broker")
               for leg in during)
    fourth = vxm_instrument(today_book.months[2].shift(1))
    off_path = find_naked_legs({**after_roll, fourth: D(1)}, config, rolling=rolling)
    assert [leg.order for leg in off_path if leg.contract == fourth.local_symbol] == [f"SELL 1 {fourth.local_symbol}"]


def test_the_rolls_app_names_a_real_roll_in_progress_and_not_a_rehearsal(spread_config, today_book):
    """The hook the rolls app registers names a real roll from GO until it is verified, with its three contracts;
    a planned roll, a rehearsal and a verified roll are not in progress."""
    from django.utils import timezone as tz

    from dspops.core.instruments import vxm_instrument
    from rolls.in_progress import roll_in_progress as provider
    from rolls.models import RollAttempt
    from sleeves.naked_legs import ROLL_IN_PROGRESS, roll_in_progress

    assert provider in ROLL_IN_PROGRESS
    front, middle, back = (vxm_instrument(m) for m in today_book.months)
    legs = dict(sleeve=spread_config.sleeve, position=spread_config, quantity=1, old_front=front, middle=middle,
                new_back=back, created_at=tz.now())
    RollAttempt.objects.create(rehearsal=True, state="executing", **legs)
    roll = RollAttempt.objects.create(rehearsal=False, state="planned", **legs)
    assert roll_in_progress() is None  # planned: nothing traded yet; the rehearsal trades nothing
    for state, title in (("checked_go", "Checked: GO"), ("executing", "Executing"), ("legs_filled", "Legs filled"),
                         ("escalated", "Escalated")):
        RollAttempt.objects.filter(pk=roll.pk).update(state=state)
        assert roll_in_progress() == RollInProgress(f"Roll #{roll.pk} ({title})", frozenset(
            i.local_symbol for i in (front, middle, back)))
    RollAttempt.objects.filter(pk=roll.pk).update(state="verified")
    assert roll_in_progress() is None
