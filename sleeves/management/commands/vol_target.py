from dspops.core import formats
from dspops.core.commands import OperationalCommand
from sleeves.management.commands._monitor_output import finish, number, reasons_once, session_label, value
from sleeves.monitors import run_vol_target


class Command(OperationalCommand):
    help = (
        "Vol-target overlay: SPY realised vol from daily log returns and the multiplier (clamped), stored with "
        "its as-of session. --live first fetches SPY daily closes from the broker. Exit 0 / 3 (data unavailable)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--live", action="store_true")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        outcome = run_vol_target(live=o["live"], triggered_by="command")
        finish(self, outcome, as_json=o["json"], lines=_lines)


def _lines(p):
    yield f"Vol-target overlay, session {session_label(p['session'])}" + (" — SIMULATED BROKER" if p["simulated"] else "")
    yield (f"  realised vol {formats.percent(number(p['realized_vol']), fraction=True)}  "
           f"multiplier {value(p['multiplier'])}"
           + (f" (clamped to the {p['clamped']})" if p["clamped"] else "")
           + f"  as of {value(p['as_of_session'])}")
    for reason in reasons_once(p["reasons"]):
        yield f"  - {reason}"
