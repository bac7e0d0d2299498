from django.core.management.base import BaseCommand

from dspops.core import formats
from sleeves.management.commands._monitor_output import banner, decimal_arg, finish, number, session_label, value
from sleeves.monitors import run_vrp_cs_monitor


class Command(BaseCommand):
    help = (
        "VRP-CS monitor: spread, P&L, gate, stop/take-profit and the roll countdown for the active position "
        "config. Inputs come from the broker (--live), from explicit values, or from stored data. Exit 0: complete "
        "data; 3: data unavailable (recorded with the reason); 2: usage error."
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

    yield f"VRP-CS monitor, session {session_label(p['session'])}{banner(p)}"
    yield f"  position -{value(p['quantity'], '?')} {value(p['short_leg'])} / +{value(p['quantity'], '?')} {value(p['long_leg'])}"
    yield (f"  VIX {price('vix')}  VVIX {price('vvix')}  VX1 {price('vx1')}  VX2 {price('vx2')}  "
           f"contango {formats.percent(number(p['contango_pct']))}")
    yield f"  spread {points('spread')} vs entry {points('entry_spread')}: P&L {formats.usd(number(p['pnl_usd']))}"
    yield f"  gate {p['gate_state']} (score {value(p['gate_score'])})"
    if p["levels_invalid"]:
        yield "  stop/take-profit levels are on the wrong sides of the entry: NOT evaluated; fix the position config"
    else:
        yield (f"  stop {points('stop_loss_spread')} hit={value(p['stop_loss_hit'], 'unknown')}  "
               f"take-profit {points('take_profit_spread')} hit={value(p['take_profit_hit'], 'unknown')}")
    yield (f"  roll by {value(p['roll_by'])}: {formats.countdown(p['sessions_to_roll'], p['days_to_roll'])}; "
           f"settles {value(p['settlement_date'])}")
    for reason in p["reasons"]:
        yield f"  - {reason}"
