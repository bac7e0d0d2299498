"""The roll's pure modules: the pre-roll checks (rolls.checks), the roll tickets and net legs
(rolls.tickets) and the post-roll verification (rolls.verification), over rolls.roll_inputs.

The calm book: -1 VXMF7 / +1 VXMG7 rolling to -1 VXMG7 / +1 VXMH7 at 10:00 ET on
2026-12-08, with the DECISIONS.md §3 thresholds. Each case changes one input.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest

from rolls.checks import CHECK_NAMES, FAIL_CLOSED_RULES, TIMELINE, CheckResult, pre_roll_checks, verdict
from rolls.roll_inputs import LegQuote, RollContext, RollThresholds
from rolls.tickets import net_legs, roll_tickets, round_to_tick, trades_to_target
from rolls.verification import verify_after_roll

NOW = datetime(2026, 12, 8, 15, 0, tzinfo=timezone.utc)  # 10:00 ET
F7, G7, H7 = "VXMF7", "VXMG7", "VXMH7"


def quote(symbol, bid, ask, *, age=2, source="live", valid=True, invalid_reason="", as_of=...):
    return LegQuote(
        local_symbol=symbol,
        bid=None if bid is None else D(bid),
        ask=None if ask is None else D(ask),
        last=None,
        valid=valid,
        invalid_reason=invalid_reason,
        as_of=NOW - timedelta(seconds=age) if as_of is ... else as_of,
        source=source,
    )


CALM_QUOTES = {
    F7: quote(F7, "17.80", "17.82"),
    G7: quote(G7, "18.60", "18.62"),
    H7: quote(H7, "19.40", "19.43"),
}


def thresholds(**changes) -> RollThresholds:
    base = RollThresholds(
        max_vix=D("30"),
        min_spread=D("0.50"),
        max_leg_width=D("0.15"),
        max_new_back_width=D("0.20"),
        max_combo_width=D("0.30"),
        min_margin_headroom_usd=D("3000"),
        max_quote_age_seconds=60,
        limit_buffer=D("0.05"),
        tick=D("0.01"),
    )
    return dataclasses.replace(base, **changes)


def context(*, quotes=None, replace_quotes=None, **changes) -> RollContext:
    all_quotes = dict(CALM_QUOTES)
    all_quotes.update(quotes or {})
    for symbol in replace_quotes or ():
        del all_quotes[symbol]
    base = RollContext(
        now=NOW,
        gate_state="OPEN",
        gate_source="gate 2026-12-07",
        vix=D("16.50"),
        vix_source="live",
        vix_as_of=NOW - timedelta(seconds=5),
        quantity=1,
        old_front=F7,
        middle=G7,
        new_back=H7,
        quotes=all_quotes,
        positions={F7: D(-1), G7: D(1)},
        excess_liquidity=D("12000.00"),
        excess_liquidity_source="IBKR account summary",
        positions_source="IBKR positions",
        cfe_open=True,
        cfe_hours="XCBF open: session 2026-12-07, closes 16:15 ET",
    )
    return dataclasses.replace(base, **changes)


def failing(checks) -> dict[str, str]:
    return {c.name: c.reason for c in checks if not c.passed}


# --- pre-roll checks ---------------------------------------------------------------


def test_a_calm_book_is_go():
    checks = pre_roll_checks(context(), thresholds())
    assert failing(checks) == {}
    assert verdict(checks) == "GO"


def test_the_checks_come_in_the_documented_order():
    checks = pre_roll_checks(context(), thresholds())
    assert tuple(c.name for c in checks) == CHECK_NAMES
    assert CHECK_NAMES[0] == "gate" and CHECK_NAMES[-2:] == ("market_data", "cfe_open")


@pytest.mark.parametrize("cfe_open, hours, reason", [
    (False, "XCBF closed at Sun 2026-11-29 12:00 ET; opens Mon 2026-11-30 09:30 ET",
     "CFE closed (XCBF closed at Sun 2026-11-29 12:00 ET; opens Mon 2026-11-30 09:30 ET): roll only while CFE trades"),
    (None, "", "CFE trading hours unknown: the exchange calendar was not consulted"),
])
def test_a_check_outside_cfe_hours_is_no_go_however_calm_the_book(cfe_open, hours, reason):
    # Measured: "Run checks (live quotes)" on a Sunday returned GO. Outside CFE hours (or unknown) it fails.
    checks = pre_roll_checks(context(cfe_open=cfe_open, cfe_hours=hours), thresholds())
    assert failing(checks) == {"cfe_open": reason}
    assert verdict(checks) == "NO_GO"


def test_every_check_records_what_it_saw_and_its_threshold():
    by_name = {c.name: c for c in pre_roll_checks(context(), thresholds())}
    assert by_name["vix"].observed == "16.50" and by_name["vix"].threshold == "< 30.00"
    assert by_name["spread"].observed.startswith("0.80 ")
    assert by_name["spread"].threshold == "> 0.50"
    assert by_name["old_front_width"].observed.startswith("0.02")
    assert by_name["new_back_width"].threshold == "<= 0.20"
    assert by_name["combo_width"].observed == "new spread 0.05, close 0.04"
    assert by_name["positions"].observed == "VXMF7 -1, VXMG7 +1"
    assert by_name["margin"].observed == "$12,000.00"
    assert by_name["margin"].threshold == ">= $3,000.00"
    assert by_name["gate"].source == "gate 2026-12-07"
    assert by_name["positions"].source == "IBKR positions"


def test_money_is_shown_as_the_kernel_formats_it_with_the_sign_before_the_dollar():
    # Unified with dspops.core.formats.usd: an overdrawn account reads -$88.00 (it read $-88.00).
    margin = {c.name: c for c in pre_roll_checks(context(excess_liquidity=D("-88")), thresholds())}["margin"]
    assert margin.observed == "-$88.00"
    assert margin.reason == "excess liquidity -$88.00 is below $3,000.00: reduce or fund first"


def test_the_roll_modules_that_decide_are_pure_no_django_no_pandas():
    # Pure by design (docs/architecture.md): importing them must not load Django or pandas.
    code = ("import sys; import rolls.checks, rolls.tickets, rolls.verification, rolls.roll_inputs, "
            "rolls.roll_states; print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'pandas')))")
    root = Path(__file__).resolve().parents[2]
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert loaded.strip() == "[]"


BREACHES = [
    # (case, context changes, threshold changes, failing checks, words the reason must hold)
    ("gate REDUCE", {"gate_state": "REDUCE"}, {}, {"gate"}, "REDUCE"),
    ("gate UNKNOWN", {"gate_state": "UNKNOWN"}, {}, {"gate"}, "counts as CLOSED"),
    ("gate CLOSED", {"gate_state": "CLOSED"}, {}, {"gate"}, "CLOSED"),
    ("gate not recorded", {"gate_state": ""}, {}, {"gate"}, "unknown"),
    ("gate in a state it does not know", {"gate_state": "PAUSED"}, {}, {"gate"},
     "gate state 'PAUSED' is not OPEN"),
    ("VIX exactly 30", {"vix": D("30")}, {}, {"vix"}, "at or above the limit 30"),
    ("VIX unknown", {"vix": None}, {}, {"vix", "market_data"}, "VIX unknown"),
    ("VIX NaN", {"vix": D("NaN")}, {}, {"vix"}, "VIX is NaN"),
    ("spread exactly 0.50", {"quotes": {G7: quote(G7, "18.30", "18.32")}}, {}, {"spread"},
     "spread 0.50 is not above 0.50"),
    ("old front width 0.16", {"quotes": {F7: quote(F7, "17.74", "17.90")}}, {}, {"old_front_width"},
     "VXMF7 (VX1) bid/ask width 0.16 is above 0.15"),
    ("middle width 0.16", {"quotes": {G7: quote(G7, "18.53", "18.69")}}, {}, {"middle_width"},
     "VXMG7 (VX2) bid/ask width 0.16 is above 0.15"),
    ("new back width 0.21", {"quotes": {H7: quote(H7, "19.30", "19.51")}}, {}, {"new_back_width"},
     "VXMH7 (new back) bid/ask width 0.21 is above 0.20"),
    ("new spread combo width 0.31",
     {"quotes": {G7: quote(G7, "18.54", "18.69"), H7: quote(H7, "19.35", "19.51")}}, {},
     {"combo_width"}, "new spread combo VXMG7/VXMH7 market width 0.31 is above 0.30"),
    ("close combo width 0.11 over a 0.10 limit", {"quotes": {F7: quote(F7, "17.76", "17.85")}},
     {"max_combo_width": D("0.10")}, {"combo_width"}, "close combo VXMF7/VXMG7 market width 0.11"),
    ("positions -1/+2", {"positions": {F7: D(-1), G7: D(2)}}, {}, {"positions"},
     "VXMG7 holds +2, expected +1"),
    ("an extra VXM position", {"positions": {F7: D(-1), G7: D(1), "VXMJ7": D(1)}}, {},
     {"positions"},
     "VXMJ7 holds +1, expected 0"),
    ("the short leg missing", {"positions": {G7: D(1)}}, {}, {"positions"},
     "VXMF7 holds 0, expected -1"),
    ("positions unreadable", {"positions": None}, {}, {"positions"}, "positions could not be read"),
    ("a NaN position", {"positions": {F7: D("NaN"), G7: D(1)}}, {}, {"positions"},
     "position for VXMF7 could not be read"),
    ("margin 2999.99", {"excess_liquidity": D("2999.99")}, {}, {"margin"},
     "excess liquidity $2,999.99 is below $3,000.00"),
    ("margin unknown", {"excess_liquidity": None}, {}, {"margin"}, "excess liquidity unknown"),
    ("a 61 s old quote", {"quotes": {F7: quote(F7, "17.80", "17.82", age=61)}}, {}, {"market_data"},
     "quote for VXMF7 (VX1) is 61 s old (limit 60 s)"),
    ("a quote exactly 60 s old", {"quotes": {G7: quote(G7, "18.60", "18.62", age=60)}}, {},
     {"market_data"},
     "is 60 s old"),
    ("a delayed quote", {"quotes": {F7: quote(F7, "17.80", "17.82", source="delayed")}}, {},
     {"market_data"},
     "VXMF7 (VX1) quote is delayed"),
    ("a frozen quote", {"quotes": {H7: quote(H7, "19.40", "19.43", source="Frozen")}}, {},
     {"market_data"},
     "VXMH7 (new back) quote is frozen"),
    ("a quote of unknown source", {"quotes": {H7: quote(H7, "19.40", "19.43", source="")}}, {},
     {"market_data"}, "VXMH7 (new back) quote has no source"),
    ("a quote with no as-of time", {"quotes": {G7: quote(G7, "18.60", "18.62", as_of=None)}}, {},
     {"market_data"}, "VXMG7 (VX2) quote has no as-of time"),
    ("a quote stamped in the future", {"quotes": {G7: quote(G7, "18.60", "18.62", age=-5)}}, {},
     {"market_data"}, "in the future"),
    ("a stale VIX", {"vix_as_of": NOW - timedelta(seconds=300)}, {}, {"market_data"},
     "quote for VIX is 300 s old"),
    ("a delayed VIX", {"vix_source": "delayed"}, {}, {"market_data"}, "VIX quote is delayed"),
    ("a missing new back quote", {"replace_quotes": [H7]}, {},
     {"new_back_width", "combo_width", "market_data"}, "no quote for VXMH7 (new back)"),
    ("a missing old front quote", {"replace_quotes": [F7]}, {},
     {"spread", "old_front_width", "combo_width", "market_data"}, "no quote for VXMF7 (VX1)"),
    ("an invalid middle quote",
     {"quotes": {G7: quote(G7, "18.60", "18.62", valid=False,
                           invalid_reason="no market data permission")}},
     {}, {"spread", "middle_width", "combo_width", "market_data"},
     "VXMG7 (VX2) quote is invalid (no market data permission)"),
    ("a crossed old front quote", {"quotes": {F7: quote(F7, "17.85", "17.80")}}, {},
     {"spread", "old_front_width", "combo_width", "market_data"},
     "crossed (bid 17.85 above ask 17.80)"),
    ("a -1 bid", {"quotes": {H7: quote(H7, "-1", "19.43")}}, {},
     {"new_back_width", "combo_width", "market_data"}, "bid of -1"),
    ("a missing ask", {"quotes": {H7: quote(H7, "19.40", None)}}, {},
     {"new_back_width", "combo_width", "market_data"}, "VXMH7 (new back) quote has no ask"),
    ("a quote filed under the wrong symbol", {"quotes": {H7: quote("VXMJ7", "19.40", "19.43")}}, {},
     {"new_back_width", "combo_width", "market_data"}, "the quote filed under VXMH7 is for VXMJ7"),
    ("the VIX limit not set", {}, {"max_vix": None}, {"vix"}, "threshold max_vix is not set"),
    ("the quote age limit not set", {}, {"max_quote_age_seconds": None}, {"market_data"},
     "threshold max_quote_age_seconds is not set"),
]


@pytest.mark.parametrize(
    "ctx_changes, th_changes, names, words",
    [case[1:] for case in BREACHES],
    ids=[case[0] for case in BREACHES],
)
def test_each_breach_alone_is_no_go_and_names_the_failing_check(
    ctx_changes, th_changes, names, words
):
    checks = pre_roll_checks(context(**ctx_changes), thresholds(**th_changes))
    failed = failing(checks)
    assert set(failed) == names
    assert verdict(checks) == "NO_GO"
    assert any(words in reason for reason in failed.values()), failed


AT_THE_LIMIT = [
    ("VIX 29.99", {"vix": D("29.99")}, {}),
    ("spread 0.51", {"quotes": {G7: quote(G7, "18.31", "18.33")}}, {}),
    ("leg width exactly 0.15", {"quotes": {F7: quote(F7, "17.75", "17.90")}}, {}),
    ("new back width exactly 0.20", {"quotes": {H7: quote(H7, "19.30", "19.50")}}, {}),
    ("combo width exactly 0.30",
     {"quotes": {G7: quote(G7, "18.54", "18.69"), H7: quote(H7, "19.35", "19.50")}}, {}),
    ("margin exactly 3000", {"excess_liquidity": D("3000")}, {}),
    ("a quote 59 s old", {"quotes": {F7: quote(F7, "17.80", "17.82", age=59)}}, {}),
    ("a locked market", {"quotes": {H7: quote(H7, "19.40", "19.40")}}, {}),
    ("a manual quote", {"quotes": {H7: quote(H7, "19.40", "19.43", source="manual", age=30)}}, {}),
    ("a simulated quote", {"quotes": {H7: quote(H7, "19.40", "19.43", source="simulated")}}, {}),
    ("quantity 2", {"quantity": 2, "positions": {F7: D(-2), G7: D(2)}}, {}),
    ("a zero position in another month", {"positions": {F7: D(-1), G7: D(1), "VXMJ7": D(0)}}, {}),
    ("gate written in lower case", {"gate_state": "open"}, {}),
]


@pytest.mark.parametrize(
    "ctx_changes, th_changes", [c[1:] for c in AT_THE_LIMIT], ids=[c[0] for c in AT_THE_LIMIT]
)
def test_inputs_just_inside_the_limits_stay_go(ctx_changes, th_changes):
    checks = pre_roll_checks(context(**ctx_changes), thresholds(**th_changes))
    assert failing(checks) == {}
    assert verdict(checks) == "GO"


def test_a_manual_quote_is_shown_as_manual():
    ctx = context(quotes={H7: quote(H7, "19.40", "19.43", source="manual", age=30)})
    market = {c.name: c for c in pre_roll_checks(ctx, thresholds())}["market_data"]
    assert "VXMH7 (new back) manual 30 s" in market.observed
    assert "VXMH7 manual" in market.source


def test_quantity_two_needs_two_lots_on_each_leg():
    checks = pre_roll_checks(context(quantity=2), thresholds())
    assert failing(checks) == {"positions": failing(checks)["positions"]}
    assert "VXMF7 holds -1, expected -2" in failing(checks)["positions"]


def test_a_failing_row_without_a_reason_is_impossible():
    ctx = context(
        gate_state="CLOSED", vix=None, positions=None, excess_liquidity=None,
        replace_quotes=[F7, G7, H7], cfe_open=False,
    )
    for check in pre_roll_checks(ctx, thresholds()):
        assert not check.passed
        assert check.reason


@pytest.mark.parametrize(
    "checks, expected",
    [
        ((), "NO_GO"),
        ((CheckResult("gate", "Gate", "OPEN", "OPEN", True, "", ""),), "GO"),
        (
            (
                CheckResult("gate", "Gate", "OPEN", "OPEN", True, "", ""),
                CheckResult("vix", "VIX", "31", "< 30", False, "", "VIX 31"),
            ),
            "NO_GO",
        ),
    ],
    ids=["no checks", "all passed", "one failed"],
)
def test_verdict_is_go_only_when_there_are_checks_and_all_passed(checks, expected):
    assert verdict(checks) == expected


# --- inputs -------------------------------------------------------------------------


def test_a_quote_gives_mid_and_width_only_when_usable():
    good = quote(G7, "18.60", "18.62")
    assert (good.mid, good.width) == (D("18.61"), D("0.02"))
    for bad in (
        quote(G7, "18.60", None),
        quote(G7, None, "18.62"),
        quote(G7, "18.60", "18.62", valid=False),
        quote(G7, "18.65", "18.60"),
        quote(G7, "NaN", "18.62"),
    ):
        assert (bad.mid, bad.width) == (None, None)


@pytest.mark.parametrize(
    "changes, error",
    [
        ({"now": datetime(2026, 12, 8, 15, 0)}, ValueError),
        ({"quantity": 0}, ValueError),
        ({"quantity": True}, ValueError),
        ({"new_back": F7}, ValueError),
        ({"middle": ""}, ValueError),
        ({"vix": 16.5}, TypeError),
    ],
    ids=["naive now", "zero quantity", "bool quantity", "repeated leg", "empty leg", "float VIX"],
)
def test_a_malformed_context_is_refused(changes, error):
    with pytest.raises(error):
        context(**changes)


def test_float_prices_are_refused():
    with pytest.raises(TypeError, match="LegQuote.bid"):
        LegQuote(G7, 18.6, D("18.62"), None, True, "", NOW, "live")
    with pytest.raises(TypeError, match="RollThresholds.max_vix"):
        thresholds(max_vix=30.0)


# --- tickets ------------------------------------------------------------------------


def tickets_by_title(result):
    return {t.title: t for t in result.tickets}


def test_the_open_ticket_buys_the_middle_new_back_combo_above_mid():
    result = roll_tickets(context(), thresholds())
    assert result.problems == ()
    ticket = tickets_by_title(result)["Open the new spread"]
    assert ticket.combo_action == "BUY"
    assert ticket.quantity == 1
    legs = [(leg.local_symbol, leg.action, leg.ratio) for leg in ticket.legs]
    assert legs == [(G7, "SELL", 1), (H7, "BUY", 1)]
    assert (ticket.combo_bid, ticket.combo_ask) == (D("0.78"), D("0.83"))
    assert ticket.combo_mid == D("0.805")
    assert ticket.combo_width == D("0.05")
    assert ticket.limit_price == D("0.86")
    assert [(leg.bid, leg.ask, leg.width) for leg in ticket.legs] == [
        (D("18.60"), D("18.62"), D("0.02")),
        (D("19.40"), D("19.43"), D("0.03")),
    ]


def test_the_close_ticket_sells_the_old_front_middle_combo_below_mid():
    ticket = tickets_by_title(roll_tickets(context(), thresholds()))["Close the old spread"]
    assert ticket.combo_action == "SELL"
    assert [(leg.local_symbol, leg.action) for leg in ticket.legs] == [(F7, "BUY"), (G7, "SELL")]
    assert (ticket.combo_bid, ticket.combo_ask) == (D("0.78"), D("0.82"))
    assert ticket.combo_mid == D("0.80")
    assert ticket.limit_price == D("0.75")


def test_the_close_ticket_comes_first():
    titles = [t.title for t in roll_tickets(context(), thresholds()).tickets]
    assert titles == ["Close the old spread", "Open the new spread"]


def test_the_tws_fields_spell_out_the_combo_screen():
    ctx = context(quantity=2, positions={F7: D(-2), G7: D(2)})
    ticket = tickets_by_title(roll_tickets(ctx, thresholds()))["Close the old spread"]
    assert ticket.tws_fields == (
        ("Symbol", "VXM"),
        ("Exchange", "CFE"),
        ("Currency", "USD"),
        ("Leg 1 action", "SELL"),
        ("Leg 1 contract month", "202701"),
        ("Leg 1 local symbol", "VXMF7"),
        ("Leg 1 ratio", "1"),
        ("Leg 2 action", "BUY"),
        ("Leg 2 contract month", "202702"),
        ("Leg 2 local symbol", "VXMG7"),
        ("Leg 2 ratio", "1"),
        ("Combo action", "SELL"),
        ("Quantity", "2"),
        ("Order type", "LMT"),
        ("Limit price", "0.75"),
        ("Time in force", "DAY"),
        ("Outside RTH", "No"),
        ("Fills as", "BUY 2 VXMF7, SELL 2 VXMG7"),
    )


def test_the_open_ticket_fields_name_the_new_back_month():
    ticket = tickets_by_title(roll_tickets(context(), thresholds()))["Open the new spread"]
    fields = dict(ticket.tws_fields)
    assert fields["Leg 1 local symbol"] == G7 and fields["Leg 1 action"] == "SELL"
    assert fields["Leg 2 local symbol"] == H7 and fields["Leg 2 contract month"] == "202703"
    assert fields["Combo action"] == "BUY" and fields["Limit price"] == "0.86"
    assert fields["Fills as"] == "SELL 1 VXMG7, BUY 1 VXMH7"


@pytest.mark.parametrize(
    "changes, titles, leg",
    [
        ({"replace_quotes": [H7]}, ["Close the old spread"], "no quote for VXMH7"),
        ({"replace_quotes": [F7]}, ["Open the new spread"], "no quote for VXMF7"),
        ({"replace_quotes": [G7]}, [], "no quote for VXMG7"),
        ({"quotes": {H7: quote(H7, "19.40", "19.43", valid=False, invalid_reason="halted")}},
         ["Close the old spread"], "VXMH7 (new back) quote is invalid (halted)"),
        ({"quotes": {F7: quote(F7, "-1", "-1")}}, ["Open the new spread"],
         "VXMF7 (VX1) quote has a bid of -1"),
        ({"quotes": {H7: quote(H7, "19.40", None)}}, ["Close the old spread"],
         "VXMH7 (new back) quote has no ask"),
    ],
    ids=["new back missing", "old front missing", "middle missing", "new back invalid",
         "old front -1", "new back one-sided"],
)
def test_a_missing_or_unusable_leg_quote_means_no_ticket_for_that_combo(changes, titles, leg):
    result = roll_tickets(context(**changes), thresholds())
    assert [t.title for t in result.tickets] == titles
    assert result.problems
    assert all(leg in problem for problem in result.problems)
    assert len(result.problems) == 2 - len(titles)


@pytest.mark.parametrize("changes", [{"limit_buffer": None}, {"tick": None}, {"tick": D("0")}],
                         ids=["no buffer", "no tick", "zero tick"])
def test_no_ticket_is_priced_without_a_buffer_and_a_tick(changes):
    result = roll_tickets(context(), thresholds(**changes))
    assert result.tickets == ()
    assert result.problems and result.problems[0].startswith("No tickets: threshold")


def test_an_unreadable_local_symbol_blocks_its_tickets():
    ctx = context(new_back="VXH7", quotes={"VXH7": quote("VXH7", "19.40", "19.43")},
                  positions={F7: D(-1), G7: D(1)})
    result = roll_tickets(ctx, thresholds())
    assert [t.title for t in result.tickets] == ["Close the old spread"]
    assert "cannot read the contract month of VXH7" in result.problems[0]


@pytest.mark.parametrize(
    "price, tick, rounded",
    [
        ("0.855", "0.01", "0.86"),
        ("0.745", "0.01", "0.75"),
        ("-0.855", "0.01", "-0.86"),
        ("0.8549", "0.01", "0.85"),
        ("0.87", "0.05", "0.85"),
        ("0.875", "0.05", "0.90"),
        ("0.80", "0.01", "0.80"),
    ],
)
def test_limits_round_to_the_nearest_tick_with_ties_away_from_zero(price, tick, rounded):
    assert round_to_tick(D(price), D(tick)) == D(rounded)
    assert str(round_to_tick(D(price), D(tick))) == rounded


# --- net legs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "old_front, middle, new_back, quantity, expected",
    [
        ("VXMF6", "VXMG6", "VXMH6", 1, {"VXMF6": 1, "VXMG6": -2, "VXMH6": 1}),
        ("VXMZ6", "VXMF7", "VXMG7", 1, {"VXMZ6": 1, "VXMF7": -2, "VXMG7": 1}),
        ("VXMZ6", "VXMF7", "VXMG7", 2, {"VXMZ6": 2, "VXMF7": -4, "VXMG7": 2}),
    ],
    ids=["Jan/Feb 2026", "across the year end", "quantity 2"],
)
def test_net_legs_are_the_trades_from_the_current_book_to_the_target(
    old_front, middle, new_back, quantity, expected
):
    ctx = context(old_front=old_front, middle=middle, new_back=new_back, quantity=quantity)
    legs = net_legs(ctx)
    assert legs == expected
    assert list(legs) == [old_front, middle, new_back]


@pytest.mark.parametrize(
    "current, target, trades",
    [
        ({"A": -1, "B": 1}, {"B": -1, "C": 1}, {"A": 1, "B": -2, "C": 1}),
        ({"A": -1, "B": 1}, {"A": -1, "B": 1}, {}),
        ({}, {"B": -1, "C": 1}, {"B": -1, "C": 1}),
        ({"A": 2}, {}, {"A": -2}),
    ],
    ids=["a roll", "already at target", "from flat", "to flat"],
)
def test_trades_to_target_are_target_minus_current_without_zeros(current, target, trades):
    assert trades_to_target(current, target) == trades


def test_trades_to_target_refuses_fractional_lots():
    with pytest.raises(TypeError, match="current"):
        trades_to_target({"A": D("1.5")}, {})


# --- verification -------------------------------------------------------------------


def verify(positions, quantity=1):
    return verify_after_roll(
        quantity=quantity, old_front=F7, middle=G7, new_back=H7, positions=positions
    )


def test_the_roll_is_verified_when_only_the_new_spread_is_held():
    result = verify({F7: D(0), G7: D(-1), H7: D(1)})
    assert result.ok
    assert result.orphans == ()
    assert "match the target" in result.message


def test_a_doubled_roll_is_verified_at_quantity_two():
    assert verify({G7: D(-2), H7: D(2)}, quantity=2).ok
    assert not verify({G7: D(-1), H7: D(1)}, quantity=2).ok


ORPHANS = [
    ("new back unfilled", {G7: D(-1)},
     [(H7, 1, "BUY", "VXMH7: holding 0, expected +1: BUY 1 VXMH7 to complete the new spread")]),
    ("open combo unfilled", {},
     [(G7, 1, "SELL", "VXMG7: holding 0, expected -1: SELL 1 VXMG7 to complete the new spread"),
      (H7, 1, "BUY", "VXMH7: holding 0, expected +1: BUY 1 VXMH7 to complete the new spread")]),
    ("nothing filled", {F7: D(-1), G7: D(1)},
     [(F7, 1, "BUY", "VXMF7: holding -1, expected 0: BUY 1 VXMF7 to close the old front"),
      (G7, 2, "SELL",
       "VXMG7: holding +1, expected -1: SELL 2 VXMG7 to bring it to -1 for the new spread"),
      (H7, 1, "BUY", "VXMH7: holding 0, expected +1: BUY 1 VXMH7 to complete the new spread")]),
    ("an extra long contract", {G7: D(-1), H7: D(1), "VXMJ7": D(1)},
     [("VXMJ7", 1, "SELL",
       "VXMJ7: holding +1, expected 0: SELL 1 VXMJ7 to close it (not part of the spread)")]),
    ("an extra short pair", {G7: D(-1), H7: D(1), "VXMK7": D(-2)},
     [("VXMK7", 2, "BUY",
       "VXMK7: holding -2, expected 0: BUY 2 VXMK7 to close it (not part of the spread)")]),
    ("new back overfilled", {G7: D(-1), H7: D(2)},
     [(H7, 1, "SELL",
       "VXMH7: holding +2, expected +1: SELL 1 VXMH7 to bring it to +1 for the new spread")]),
]


@pytest.mark.parametrize(
    "positions, orphans", [c[1:] for c in ORPHANS], ids=[c[0] for c in ORPHANS]
)
def test_every_difference_from_the_target_is_an_orphan_with_the_order_that_fixes_it(
    positions, orphans
):
    result = verify(positions)
    assert not result.ok
    seen = [(o.local_symbol, o.quantity, o.action_to_close, o.message) for o in result.orphans]
    assert seen == orphans
    for o in result.orphans:
        assert o.message in result.message


def test_unreadable_positions_are_not_verified():
    result = verify(None)
    assert not result.ok
    assert result.orphans == ()
    assert "could not be read" in result.message


def test_a_nan_position_is_not_verified():
    result = verify({G7: D("NaN"), H7: D(1)})
    assert not result.ok
    assert "VXMG7 could not be read" in result.message


# --- runbook content ----------------------------------------------------------------


def test_the_timeline_runs_from_checks_to_the_config_update():
    assert TIMELINE == (
        ("09:45", "Pre-roll checks (CFE opens 09:30)"),
        ("10:00", "Execute the two combos"),
        ("10:15", "Verify positions"),
        ("10:30", "Update the position config (automatic on verification)"),
    )


@pytest.mark.parametrize(
    "rule",
    [
        "Combo market wider than the limit: wait; do not cross it.",
        "Gate CLOSED, REDUCE or UNKNOWN: do not open a new spread.",
        "VIX at or above the limit: no new positions.",
        "A leg unfilled after 15 minutes: cancel and re-evaluate.",
        "Orphan leg: close it immediately.",
    ],
)
def test_the_fail_closed_rules_include_the_runbook_rules(rule):
    assert rule in FAIL_CLOSED_RULES
