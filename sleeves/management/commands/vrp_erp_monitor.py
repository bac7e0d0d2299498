import argparse

from dspops.core import formats
from dspops.core.commands import OperationalCommand
from sleeves.management.commands._monitor_output import (
    banner, decimal_arg, finish, number, reasons_once, session_label, value,
)
from sleeves.monitors import run_vrp_erp_monitor


def shares_arg(text):
    try:
        shares = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of shares") from None
    if shares < 0:
        raise argparse.ArgumentTypeError("shares cannot be negative")
    return shares


class Command(OperationalCommand):
    help = (
        "VRP-ERP monitor: VIX regime, SPY target shares and drift. Inputs come from the broker (--live), "
        "from explicit values (--vix/--spy/--shares), or from stored data. Exit 0: complete data; "
        "3: data unavailable (recorded with the reason); 2: usage error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--live", action="store_true", help="Read VIX, SPY and the position from the broker.")
        parser.add_argument("--base", type=decimal_arg, help="Base capital in USD (default: the sleeve setting).")
        parser.add_argument("--vix", type=decimal_arg)
        parser.add_argument("--spy", type=decimal_arg)
        parser.add_argument("--shares", type=shares_arg,
                            help="Actual SPY shares (default: broker when live, else recorded fills).")
        parser.add_argument("--no-vol-target", action="store_true", help="Use a vol multiplier of 1.")
        parser.add_argument("--no-log", action="store_true", help="Do not record the run or move the regime state.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        outcome = run_vrp_erp_monitor(
            live=o["live"], base=o["base"], vix=o["vix"], spy=o["spy"], shares=o["shares"],
            use_vol_target=not o["no_vol_target"], log_run=not o["no_log"], triggered_by="command",
        )
        finish(self, outcome, as_json=o["json"], lines=_lines)


def _lines(p):
    src = p["sources"]
    yield f"VRP-ERP monitor, session {session_label(p['session'])}{banner(p)}"
    yield (f"  VIX {formats.price(number(p['vix']))} ({src['vix']['source']})  regime {value(p['regime'])} "
           f"x{value(p['regime_multiplier'])}  vol multiplier {value(p['vol_multiplier'])} "
           f"({src['vol_multiplier']['source']})")
    yield (f"  SPY {formats.price(number(p['spy_price']))} ({src['spy_price']['source']})  "
           f"target {formats.quantity(p['target_shares'])}  "
           f"actual {formats.quantity(p['actual_shares'])} ({src['actual_shares']['source']})  "
           f"delta {formats.quantity(p['delta_shares'], with_sign=True)}  "
           f"drift {formats.percent(number(p['drift_pct']))}")
    signal = {True: "REBALANCE", False: "no rebalance", None: "rebalance cannot be decided"}[p["rebalance"]]
    yield f"  {signal}"
    for reason in reasons_once(p["reasons"]):
        yield f"  - {reason}"
    if p["rebalance"]:
        yield "  Trade at a limit at mid, 09:35-10:15 or 15:30-15:45 ET, then re-run to confirm drift."
