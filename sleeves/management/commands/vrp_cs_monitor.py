from dspops.core import formats
from dspops.core.commands import OperationalCommand
from sleeves.management.commands._monitor_output import (
    banner, decimal_arg, finish, number, reasons_once, session_label, value,
)
from sleeves.monitors import run_vrp_cs_monitor


class Command(OperationalCommand):
    help = (
        "VRP-CS monitor: spread, P&L, gate, stop/take-profit and the roll countdown for the active position "
        "config. Inputs come from the broker (--live), from explicit values, or from stored data. It also compares "
        "what is held in VXM (--live: the broker's positions; otherwise the VRP-CS fills) with the config. Exit 0: "
        "complete data and the holding is the configured spread; 4: POSITION MISMATCH (a naked leg: a critical "
        "naked_leg alert names each contract and the order that flattens it; the P&L shown is over what is held); "
        "3: data unavailable, positions that cannot be read included (recorded with the reason); 2: usage error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--live", action="store_true", help="Read VIX, VVIX and both legs from the broker.")
        parser.add_argument("--vix", type=decimal_arg)
        parser.add_argument("--vvix", type=decimal_arg)
        parser.add_argument("--vx1", type=decimal_arg, help="The short (front) leg's price.")
        parser.add_argument("--vx2", type=decimal_arg, help="The long (back) leg's price.")
        parser.add_argument("--no-log", action="store_true", help="Do not record the run or move the gate state.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        outcome = run_vrp_cs_monitor(live=o["live"], vix=o["vix"], vvix=o["vvix"], vx1=o["vx1"], vx2=o["vx2"],
                                     log_run=not o["no_log"], triggered_by="command")
        finish(self, outcome, as_json=o["json"], lines=_lines)


def _lines(p):
    def price(name):
        return formats.price(number(p[name]))

    def points(name):
        return formats.points(number(p[name]))

    positions = p.get("positions") or {}
    yield f"VRP-CS monitor, session {session_label(p['session'])}{banner(p)}: {p.get('status', p['data_status'])}"
    yield f"  position -{value(p['quantity'], '?')} {value(p['short_leg'])} / +{value(p['quantity'], '?')} {value(p['long_leg'])}"
    held = ", ".join(f"{quantity} {contract}" for contract, quantity in (positions.get("held") or {}).items())
    if positions.get("source"):
        yield f"  held in VXM ({positions['source']}): {held or 'nothing'}: {positions['check']}"
    for leg in positions.get("naked_legs") or []:
        missing = f"; its pair {' and '.join(leg['missing_pairs'])} is not held" if leg["missing_pairs"] else ""
        order = f": flatten with {leg['order']}" if leg["order"] else ""
        yield f"  NAKED LEG {leg['contract']}: held {leg['held']}, config expects {leg['expected']}{missing}{order}"
    yield (f"  VIX {price('vix')}  VVIX {price('vvix')}  VX1 {price('vx1')}  VX2 {price('vx2')}  "
           f"contango {formats.percent(number(p['contango_pct']))}")
    if p.get("pnl_over") == "held":
        legs = "; ".join(f"{r['quantity']} {r['contract']} entry {formats.price(number(r['entry_price']))} mark "
                         f"{formats.price(number(r['mark']))}: {formats.usd(number(r['pnl_usd']))}"
                         for r in positions.get("held_pnl") or [])
        yield (f"  spread {points('spread')} (not held): P&L over what is held {formats.usd(number(p['pnl_usd']))}"
               + (f" ({legs})" if legs else ""))
    else:
        yield f"  spread {points('spread')} vs entry {points('entry_spread')}: P&L {formats.usd(number(p['pnl_usd']))}"
    yield f"  gate {p['gate_state']} (score {value(p['gate_score'])})"
    if p["levels_invalid"]:
        yield "  stop/take-profit levels are on the wrong sides of the entry: NOT evaluated; fix the position config"
    else:
        yield (f"  stop {points('stop_loss_spread')} hit={value(p['stop_loss_hit'], 'unknown')}  "
               f"take-profit {points('take_profit_spread')} hit={value(p['take_profit_hit'], 'unknown')}")
    yield (f"  roll by {value(p['roll_by'])}: {formats.countdown(p['sessions_to_roll'], p['days_to_roll'])}; "
           f"settles {value(p['settlement_date'])}")
    for reason in reasons_once(p["reasons"]):
        yield f"  - {reason}"
