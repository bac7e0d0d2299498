"""Fill import: IBKR executions through the Gateway (real simulator over TCP) and Flex reports."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone as dj_timezone

from dspops.core.models import Alert
from dspops.core import clock
from dspops.simulator.scenario import future_con_id
from dspops.core.models import Instrument
from dspops.core import vx
from sleeves.fill_import import FillImportError, attribute_fill, import_flex, sync_fills
from sleeves.selectors import positions_by_sleeve
from sleeves.models import Fill, FillSource, MonitorRun, RunKind, RunStatus, Side, Sleeve, SleeveParameter

from .simulated_broker import SimulatedBroker, free_port, point_settings_at

UTC = timezone.utc


@pytest.fixture
def broker():
    started = SimulatedBroker()
    yield started
    started.close()


def since() -> datetime:
    return dj_timezone.now() - timedelta(days=3)


def executions(*rows: dict) -> dict:
    """A scenario with these executions (exec ids 0000t001..., two hours ago unless given)."""
    return {"executions": [
        {"exec_id": f"0000t{i:03d}.00000001.01.01", "side": "BUY", "quantity": 1, "price": 100.0, "time": "-2h",
         "commission": 1.0, **row}
        for i, row in enumerate(rows, start=1)
    ]}


def exec_id(i: int) -> str:
    return f"0000t{i:03d}.00000001.01.01"


# --- the API ------------------------------------------------------------------------------------


def test_syncing_twice_adds_no_duplicate_fills(booted, broker):
    gw = broker.gateway("calm_contango")
    first = sync_fills(since=since(), gateway=gw)
    count = Fill.objects.count()
    second = sync_fills(since=since(), gateway=gw)
    assert (first.created, first.skipped, count) == (4, 0, 4)
    assert (second.created, second.skipped, Fill.objects.count()) == (0, 4, 4)


def test_a_synced_fill_keeps_commission_order_ref_time_and_is_marked_simulated(booted, broker):
    gw = broker.gateway("calm_contango")
    report = sync_fills(since=since(), gateway=gw)
    fill = Fill.objects.get(exec_id="0001f4e8.6570a1c3.01.01")
    assert report.simulated is True
    assert (fill.side, fill.quantity, fill.price, fill.commission) == (Side.SELL, 1, Decimal("17.45"), Decimal("1.07"))
    assert (fill.order_ref, fill.source, fill.sleeve.code) == ("vrp-cs open", FillSource.SIMULATED, "VRP_CS")
    assert abs(fill.executed_at - (dj_timezone.now() - timedelta(hours=3))) < timedelta(minutes=5)


def test_a_matched_instrument_gets_the_broker_con_id_recorded(booted, broker):
    gw = broker.gateway("calm_contango")
    assert Instrument.objects.get(sec_type="STK", local_symbol="SPY").con_id is None
    sync_fills(since=since(), gateway=gw)
    assert Instrument.objects.get(sec_type="STK", local_symbol="SPY").con_id == broker.con_id(gw.server, "SPY")


@pytest.mark.parametrize(
    "order_ref, sleeve",
    [
        ("vrp-cs-roll-1", "VRP_CS"),  # the order ref wins over the instrument (SPY)
        ("VRP-ERP rebalance", "VRP_ERP"),  # case-insensitive
        ("dm", "DM"),  # the prefix alone
        ("dm2-rebalance", None),  # a prefix must end at a non-alphanumeric character
        ("vrp-csx", None),
        ("hedge", None),
    ],
)
def test_an_order_ref_starting_with_a_sleeve_prefix_names_the_sleeve(booted, broker, order_ref, sleeve):
    gw = broker.gateway(executions({"contract": "SPY", "price": 664.2, "order_ref": order_ref}))
    sync_fills(since=since(), gateway=gw)
    assert Fill.objects.values_list("sleeve__code", flat=True).get() == sleeve


def test_without_an_order_ref_an_instrument_only_one_sleeve_holds_decides(booted, broker):
    gw = broker.gateway(executions(
        {"contract": "front", "side": "SELL", "price": 17.45}, {"contract": "EEM", "price": 49.8},
        {"contract": "SHY", "price": 82.95},
    ))
    report = sync_fills(since=since(), gateway=gw)
    sleeves = dict(Fill.objects.values_list("exec_id", "sleeve__code"))
    assert sleeves == {exec_id(1): "VRP_CS", exec_id(2): "DM", exec_id(3): "DM"}
    assert (report.by_sleeve, report.unattributed) == ({"DM": 2, "VRP_CS": 1}, [])


def test_spy_without_an_order_ref_is_left_unattributed_with_a_warning_alert(booted, broker):
    gw = broker.gateway(executions({"contract": "SPY", "price": 664.2}))
    report = sync_fills(since=since(), gateway=gw)
    alert = Alert.objects.get(code="fill_unattributed", resolved_at__isnull=True)
    assert report.unattributed == [exec_id(1)]
    assert Fill.objects.get().sleeve is None
    assert (alert.subject, alert.severity) == (exec_id(1), "warning")
    assert "it has no order ref and SPY can belong to DM or VRP_ERP" in alert.message
    # The same wording as the digest's rule (Fill.unattributed_alert): price to the tick, time labelled ET.
    assert f"Fill {exec_id(1)} (BUY " in alert.message and " SPY @ 664.20, " in alert.message
    assert " ET) has no sleeve: it has no order ref" in alert.message
    assert "Set its sleeve on the fill in the admin" in alert.message


def test_attribution_reads_only_the_settings_it_needs(booted, broker):
    SleeveParameter.objects.filter(sleeve__code="VRP_CS", key="max_vix").delete()  # unrelated threshold
    sync_fills(since=since(), gateway=broker.gateway(executions({"contract": "front", "side": "SELL", "price": 17.4})))
    assert Fill.objects.get().sleeve.code == "VRP_CS"


def test_a_missing_attribution_setting_refuses_the_batch(booted, broker):
    SleeveParameter.objects.filter(sleeve__code="DM", key="cash_symbol").delete()
    with pytest.raises(FillImportError, match="DM is missing the setting 'cash_symbol'.*fix them in the admin"):
        sync_fills(since=since(), gateway=broker.gateway(executions({"contract": "EEM", "price": 49.8})))
    assert Fill.objects.count() == 0


def test_an_unknown_contract_refuses_the_whole_batch_and_writes_nothing(booted, broker):
    gw = broker.gateway({
        "instruments": {"XYZ": {"sec_type": "STK", "primary_exchange": "NYSE"}},
        **executions({"contract": "SPY", "price": 664.2, "order_ref": "vrp-erp-1"}, {"contract": "XYZ", "price": 12.5}),
    })
    xyz = broker.con_id(gw.server, "XYZ")
    with pytest.raises(FillImportError) as refused:
        sync_fills(since=since(), gateway=gw)
    assert str(refused.value) == (
        f"execution {exec_id(2)}: unknown contract STK XYZ (conId {xyz}): add the instrument first; "
        "nothing was imported."
    )
    assert Fill.objects.count() == 0
    assert Instrument.objects.get(sec_type="STK", local_symbol="SPY").con_id is None  # rolled back too
    run = MonitorRun.objects.get(kind=RunKind.FILL_SYNC)
    assert (run.status, run.reason) == (RunStatus.ERROR, str(refused.value))


def test_a_vxm_month_the_database_does_not_know_is_created_from_the_calendar(booted, broker):
    far = vx.ContractMonth.from_date(clock.trading_date()).shift(7)
    assert not Instrument.objects.filter(local_symbol=far.local_symbol("VXM"), contract_month=far.label).exists()
    gw = broker.gateway(executions({"contract": far.local_symbol("VXM"), "price": 20.1, "order_ref": "vrp-cs-1"}))
    sync_fills(since=since(), gateway=gw)
    instrument = Fill.objects.get().instrument
    assert (instrument.contract_month, instrument.con_id) == (far.label, future_con_id(far))
    assert (instrument.settlement_date, instrument.multiplier) == (vx.settlement_date(far), 100)


def test_an_unreachable_broker_raises_and_stores_a_data_unavailable_run(booted, settings):
    point_settings_at(settings, free_port())
    with pytest.raises(FillImportError, match="connection refused"):
        sync_fills(since=since(), role="test")
    run = MonitorRun.objects.get(kind=RunKind.FILL_SYNC)
    assert run.status == RunStatus.DATA_UNAVAILABLE
    assert "IBKR executions could not be read" in run.reason
    assert Fill.objects.count() == 0


def test_a_successful_sync_stores_its_run_with_what_it_did(booted, broker):
    gw = broker.gateway(executions({"contract": "SPY", "price": 664.2}, {"contract": "EEM", "price": 49.8}))
    start = since()
    sync_fills(since=start, gateway=gw, triggered_by="task")
    run = MonitorRun.objects.get(kind=RunKind.FILL_SYNC)
    assert (run.status, run.simulated, run.triggered_by, run.trading_date) == (
        RunStatus.OK, True, "task", clock.current_session())
    assert run.inputs == {"since": start.isoformat()}
    assert (run.outputs["created"], run.outputs["skipped"], run.outputs["unattributed"]) == (2, 0, [exec_id(1)])


def test_the_sync_command_prints_what_it_did(booted, broker, settings):
    server = broker.start("calm_contango")
    point_settings_at(settings, server.port)
    out = io.StringIO()
    call_command("sync_fills", "--since", (dj_timezone.now() - timedelta(days=3)).date().isoformat(), stdout=out)
    assert "(simulated broker): 4 created, 0 skipped (already imported), 0 unattributed." in out.getvalue()
    assert "VRP_CS: 2" in out.getvalue()


def test_the_sync_command_exits_1_with_the_message_when_the_broker_is_down(booted, settings):
    point_settings_at(settings, free_port())
    with pytest.raises(CommandError, match="Nothing was imported") as failed:
        call_command("sync_fills", stdout=io.StringIO())
    assert failed.value.returncode == 1


# --- attributing by hand ------------------------------------------------------------------------


def test_attributing_a_fill_sets_its_sleeve_records_who_and_resolves_its_alert(booted, broker, operator_user):
    sync_fills(since=since(), gateway=broker.gateway(executions({"contract": "SPY", "price": 664.2})))
    fill = Fill.objects.get()
    attribute_fill(fill=fill, sleeve=Sleeve.objects.get(code="VRP_ERP"), user=operator_user)
    latest = fill.history.latest()
    assert Fill.objects.get().sleeve.code == "VRP_ERP"
    assert (latest.history_type, latest.history_user, latest.history_change_reason) == (
        "~", operator_user, "attributed to VRP_ERP")
    assert not Alert.objects.filter(code="fill_unattributed", resolved_at__isnull=True).exists()


def test_a_fill_that_has_a_sleeve_cannot_be_attributed_again(booted, broker, operator_user):
    sync_fills(since=since(), gateway=broker.gateway(executions({"contract": "SPY", "price": 664.2,
                                                                 "order_ref": "dm-1"})))
    with pytest.raises(ValidationError, match="already belongs to DM"):
        attribute_fill(fill=Fill.objects.get(), sleeve=Sleeve.objects.get(code="VRP_ERP"), user=operator_user)
    assert Fill.objects.get().sleeve.code == "DM"


# --- Flex reports -------------------------------------------------------------------------------

XML_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<FlexQueryResponse queryName="trades" type="AF">\n'
    '<FlexStatements count="1">\n<FlexStatement accountId="U1234567">\n<Trades>\n'
)
XML_TAIL = "</Trades>\n</FlexStatement>\n</FlexStatements>\n</FlexQueryResponse>\n"
SPY_TRADE = (
    '<Trade accountId="U1234567" assetCategory="STK" symbol="SPY" conid="756733" buySell="BUY" quantity="3" '
    'tradePrice="690.12" ibCommission="-1.00" ibCommissionCurrency="USD" dateTime="20260114;105512" '
    'orderReference="vrp-erp rebalance" ibExecID="0000e0b2.696789aa.01.01" multiplier="1" currency="USD" '
    'listingExchange="ARCA" levelOfDetail="EXECUTION" />'
)
VXM_TRADE = (
    '<Trade accountId="U1234567" assetCategory="FUT" symbol="VXMG6" underlyingSymbol="VXM" localSymbol="VXMG6" '
    'expiry="20260218" conid="700202602" buySell="SELL" quantity="-1" tradePrice="18.45" ibCommission="-1.07" '
    'ibCommissionCurrency="USD" dateTime="20260114;110203" orderReference="" ibExecID="0000e0b2.696789ab.01.01" '
    'multiplier="100" currency="USD" listingExchange="CFE" levelOfDetail="EXECUTION" />'
)
ORDER_SUMMARY = (
    '<Trade accountId="U1234567" assetCategory="STK" symbol="SPY" conid="756733" buySell="BUY" quantity="3" '
    'tradePrice="690.12" dateTime="20260114;105512" ibExecID="" levelOfDetail="ORDER" />'
)


def write_xml(tmp_path, *trades: str, name: str = "trades.xml"):
    path = tmp_path / name
    path.write_text(XML_HEAD + "".join(t + "\n" for t in trades) + XML_TAIL)
    return path


CSV_HEADER = ("ClientAccountID,AssetClass,Symbol,UnderlyingSymbol,Conid,Expiry,Multiplier,Date/Time,Buy/Sell,"
              "Quantity,TradePrice,IBCommission,IBCommissionCurrency,IBExecID,OrderReference,LevelOfDetail")
CSV_SPY = ('U1234567,STK,SPY,,756733,,1,"2026-01-14, 10:55:12",BUY,3,690.12,-1,USD,0000e0b2.696789aa.01.01,'
           "vrp-erp-1,EXECUTION")
CSV_EEM = ('U1234567,STK,EEM,,53339234,,1,"2026-01-14, 11:10:00",SELL,-20,49.81,-1.00,USD,0000e0b2.696789ac.01.01,'
           ",EXECUTION")


def write_csv(tmp_path, *rows: str, name: str = "trades.csv"):
    path = tmp_path / name
    path.write_text("\n".join((CSV_HEADER, *rows)) + "\n")
    return path


def test_a_flex_xml_report_imports_each_execution_once(booted, tmp_path):
    path = write_xml(tmp_path, SPY_TRADE, VXM_TRADE, ORDER_SUMMARY)
    first = import_flex(path=path)
    second = import_flex(path=path)
    assert (first.created, first.skipped, first.ignored) == (2, 0, 1)
    assert (second.created, second.skipped, Fill.objects.count()) == (0, 2, 2)


def test_a_flex_sell_is_stored_positive_with_its_side_cost_and_new_york_time(booted, tmp_path, operator_user):
    import_flex(path=write_xml(tmp_path, VXM_TRADE), user=operator_user)
    fill = Fill.objects.get()
    assert (fill.side, fill.quantity, fill.commission) == (Side.SELL, Decimal("1"), Decimal("1.07"))
    assert fill.executed_at == datetime(2026, 1, 14, 16, 2, 3, tzinfo=UTC)  # 11:02:03 EST
    assert (fill.source, fill.entered_by, fill.sleeve.code) == (FillSource.FLEX, operator_user, "VRP_CS")
    assert (fill.instrument.local_symbol, fill.instrument.contract_month, fill.instrument.con_id) == (
        "VXMG6", "2026-02", 700202602)


def test_a_flex_csv_report_with_date_time_columns_imports_once(booted, tmp_path):
    path = write_csv(tmp_path, CSV_SPY, CSV_EEM)
    first = import_flex(path=path)
    second = import_flex(path=path)
    eem = Fill.objects.get(instrument__local_symbol="EEM")
    assert (first.created, second.created, second.skipped) == (2, 0, 2)
    assert (eem.side, eem.quantity, eem.sleeve.code) == (Side.SELL, Decimal("20"), "DM")
    assert eem.executed_at == datetime(2026, 1, 14, 16, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "row, message",
    [
        (CSV_EEM.replace(",49.81,", ",0,"), "trades.csv:3: tradePrice 0 must be above 0"),
        (CSV_EEM.replace(",SELL,-20,", ",BUY,-20,"), "trades.csv:3: BUY with quantity -20"),
        (CSV_EEM.replace(",SELL,-20,", ",SELL,20,"), "trades.csv:3: SELL with quantity 20"),
        (CSV_EEM.replace("2026-01-14, 11:10:00", "2026-13-45, 11:10:00"),
         "trades.csv:3: dateTime '2026-13-45, 11:10:00' is not a date and time"),
        (CSV_EEM.replace("STK,EEM,,53339234", "OPT,SPY   260213P00650000,SPY,123"),
         "trades.csv:3: unknown contract OPT SPY 260213P00650000 (conId 123): add the instrument first; "
         "nothing was imported."),
        (CSV_EEM.replace(",-1.00,", ",0.35,"), "trades.csv:3: ibCommission 0.35 is a credit"),
        ("U1234567,STK,EEM", "trades.csv:3: expected 16 fields, found 3"),
    ],
)
def test_a_bad_csv_row_refuses_the_whole_file(booted, tmp_path, row, message):
    with pytest.raises(FillImportError) as refused:
        import_flex(path=write_csv(tmp_path, CSV_SPY, row))
    assert message in str(refused.value)
    assert Fill.objects.count() == 0


def test_a_bad_xml_trade_is_named_by_its_line(booted, tmp_path):
    bad = VXM_TRADE.replace('tradePrice="18.45"', 'tradePrice="0"')
    path = write_xml(tmp_path, SPY_TRADE, bad)  # the header is 5 lines, so the second trade is on line 7
    with pytest.raises(FillImportError) as refused:
        import_flex(path=path)
    assert str(refused.value).endswith(
        "trades.xml:7: tradePrice 0 must be above 0: a fill at 0 is not a real execution; nothing was imported.")
    assert Fill.objects.count() == 0


def test_every_bad_row_is_listed_when_there_are_several(booted, tmp_path):
    path = write_csv(tmp_path, CSV_SPY.replace(",690.12,", ",0,"), CSV_EEM.replace(",SELL,-20,", ",BUY,-20,"))
    with pytest.raises(FillImportError, match=r"2 problems, so nothing was imported") as refused:
        import_flex(path=path)
    assert "trades.csv:2: tradePrice 0" in str(refused.value) and "trades.csv:3: BUY with quantity -20" in str(
        refused.value)


def test_a_flex_csv_with_control_rows_section_headers_and_other_date_formats_imports(booted, tmp_path):
    # A Flex CSV export with its BOF/BOS/EOS/EOF rows, the header repeated for the next section,
    # the compact dateTime form, US dates and a quoted number with a thousands separator.
    path = tmp_path / "trades.csv"
    path.write_text("\n".join((
        '"BOF","U1234567","trades","1","20260114","20260114"',
        '"BOS","TRNT","Trades; ID=trades"',
        CSV_HEADER,
        CSV_SPY.replace('"2026-01-14, 10:55:12"', "20260114;105512").replace(",3,690.12,", ',3,"1,690.12",'),
        '"EOS","TRNT","1"',
        CSV_HEADER,
        CSV_EEM.replace('"2026-01-14, 11:10:00"', '"01/14/2026 11:10:00"'),
        "",
        '"EOF","U1234567"',
    )) + "\n")
    report = import_flex(path=path)
    spy, eem = Fill.objects.get(instrument__local_symbol="SPY"), Fill.objects.get(instrument__local_symbol="EEM")
    assert (report.created, report.ignored) == (2, 0)
    assert (spy.price, spy.executed_at) == (Decimal("1690.12"), datetime(2026, 1, 14, 15, 55, 12, tzinfo=UTC))
    assert eem.executed_at == datetime(2026, 1, 14, 16, 10, tzinfo=UTC)


def test_every_row_of_the_wrong_shape_is_listed(booted, tmp_path):
    with pytest.raises(FillImportError, match=r"2 problems, so nothing was imported") as refused:
        import_flex(path=write_csv(tmp_path, CSV_SPY, "U1234567,STK", CSV_EEM + ",extra"))
    assert "trades.csv:3: expected 16 fields, found 2" in str(refused.value)
    assert "trades.csv:4: expected 16 fields, found 17" in str(refused.value)


def test_a_flex_header_without_a_needed_column_names_it(booted, tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text(CSV_HEADER.replace("IBExecID,", "") + "\n" + CSV_SPY.replace("0000e0b2.696789aa.01.01,", "") + "\n")
    with pytest.raises(FillImportError) as refused:
        import_flex(path=path)
    assert str(refused.value).startswith(f"{path}:1: unexpected header (missing column(s) ibexecid); expected ")
    assert "in a Flex trade report: IBExecID, Conid" in str(refused.value)


@pytest.mark.parametrize("row, message", [
    # The Fill.quantity column holds 4 decimals (its model field says so, not the importer).
    (CSV_SPY.replace(",BUY,3,", ",BUY,3.00001,"), "trades.csv:2: quantity 3.00001 has more than 4 decimals"),
    (CSV_SPY.replace(",756733,", ",,"), "trades.csv:2: conid '' is empty"),
    (CSV_SPY.replace(",756733,", ",0,"), "trades.csv:2: conid '0' is not an IBKR contract id"),
    (CSV_SPY.replace(",BUY,", ",BUY (Ca.),"), "trades.csv:2: buySell 'BUY (Ca.)' is a cancelled trade"),
    (CSV_SPY.replace(",BUY,", ",HOLD,"), "trades.csv:2: buySell 'HOLD' must be BUY or SELL"),
    (CSV_SPY.replace("0000e0b2.696789aa.01.01", ""), "trades.csv:2: ibExecID '' is empty; export the Trades section"),
    (CSV_SPY.replace(",-1,USD,", ",-1,EUR,"), "trades.csv:2: commission in EUR; dspops records commissions in USD"),
])
def test_a_cell_that_its_column_cannot_hold_is_named_with_its_text(booted, tmp_path, row, message):
    with pytest.raises(FillImportError) as refused:
        import_flex(path=write_csv(tmp_path, row))
    assert message in str(refused.value)
    assert Fill.objects.count() == 0


def test_a_file_that_is_not_a_flex_report_is_refused(booted, tmp_path):
    path = tmp_path / "other.xml"
    path.write_text("<Statement><Trade/></Statement>\n")
    with pytest.raises(FillImportError, match="other.xml:1: not an IBKR Flex report"):
        import_flex(path=path)


def test_an_execution_synced_from_the_api_is_skipped_in_its_flex_report(booted, broker, tmp_path):
    sync_fills(since=since(), gateway=broker.gateway(executions({"contract": "SPY", "price": 664.2,
                                                                 "order_ref": "vrp-erp-1"})))
    spy = Instrument.objects.get(sec_type="STK", local_symbol="SPY")
    report = import_flex(path=write_xml(tmp_path, SPY_TRADE.replace("0000e0b2.696789aa.01.01", exec_id(1))
                                        .replace('conid="756733"', f'conid="{spy.con_id}"')))
    assert (report.created, report.skipped, Fill.objects.count()) == (0, 1, 1)


def test_the_import_command_prints_what_it_did_and_exits_1_on_a_bad_file(booted, tmp_path):
    out = io.StringIO()
    call_command("import_fills", str(write_xml(tmp_path, SPY_TRADE, VXM_TRADE, ORDER_SUMMARY)), stdout=out)
    assert "2 created, 0 skipped (already imported), 0 unattributed, 1 non-execution row(s) ignored." in out.getvalue()
    with pytest.raises(CommandError, match="bad.csv:2: tradePrice 0") as failed:
        call_command("import_fills", str(write_csv(tmp_path, CSV_EEM.replace(",49.81,", ",0,"), name="bad.csv")))
    assert failed.value.returncode == 1


def test_an_ibkr_correction_reverses_the_fill_it_replaces(booted, broker):
    first = broker.gateway(executions({"contract": "SPY", "quantity": 10, "price": 660.0,
                                       "order_ref": "vrp-erp-1", "exec_id": "0000c001.00000001.01.01"}))
    sync_fills(since=since(), gateway=first)
    corrected = broker.gateway(executions({"contract": "SPY", "quantity": 12, "price": 660.0,
                                           "order_ref": "vrp-erp-1", "exec_id": "0000c001.00000001.01.02"}))
    report = sync_fills(since=since(), gateway=corrected)
    assert report.corrected == ["0000c001.00000001.01.01"] and report.created == 1
    old = Fill.objects.get(exec_id="0000c001.00000001.01.01")
    assert old.reversed_by.side == Side.SELL and old.reversed_by.quantity == 10
    spy = [p for p in positions_by_sleeve() if p.instrument.symbol == "SPY"]
    assert [(p.sleeve_code, p.quantity) for p in spy] == [("VRP_ERP", 12)]
    again = sync_fills(since=since(), gateway=corrected)
    assert (again.created, again.corrected) == (0, [])


def test_only_the_latest_correction_in_one_batch_is_recorded(booted, broker):
    gw = broker.gateway(executions(
        {"contract": "SPY", "quantity": 10, "price": 660.0, "order_ref": "vrp-erp-1", "exec_id": "0000c002.00000001.01.01"},
        {"contract": "SPY", "quantity": 11, "price": 660.0, "order_ref": "vrp-erp-1", "exec_id": "0000c002.00000001.01.02"},
    ))
    report = sync_fills(since=since(), gateway=gw)
    assert report.created == 1 and report.skipped == 1
    assert list(Fill.objects.values_list("exec_id", "quantity")) == [("0000c002.00000001.01.02", 11)]
