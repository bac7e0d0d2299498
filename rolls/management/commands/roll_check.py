import json

from django.core.management.base import CommandError

from dspops.core import formats
from dspops.core.commands import OperationalCommand
from dspops.core.errors import OperatorError
from rolls.roll_service import run_checks

EXIT_NO_GO = 5
EXIT_DATA_UNAVAILABLE = 3


class Command(OperationalCommand):
    help = (
        "Run the VRP-CS pre-roll checks for the active position (no roll is planned or moved) and store them. "
        "--live reads quotes, positions and margin from the broker with the 'shell' client id; without it only "
        "stored data is used, so the quotes are missing and the verdict is DATA UNAVAILABLE. Exit 0: GO; "
        "5: DO NOT ROLL; 3: data unavailable (or no position to check); 2: usage error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--live", action="store_true", help="Read quotes, positions and margin from the broker.")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the result as JSON.")

    def handle(self, *args, live: bool = False, as_json: bool = False, **options):
        try:
            check = run_checks(attempt=None, live=live, role="shell")
        except OperatorError as exc:
            if as_json:
                self.stdout.write(json.dumps({"error": str(exc)}, indent=2))
            raise CommandError(str(exc), returncode=EXIT_DATA_UNAVAILABLE) from None
        results = list(check.results.all())
        if as_json:
            self.stdout.write(json.dumps({
                "verdict": check.verdict,
                "data_complete": check.data_complete,
                "simulated": check.simulated,
                "checked_at": check.checked_at.isoformat(),
                "checks": [{"name": r.name, "label": r.label, "observed": r.observed, "threshold": r.threshold,
                            "passed": r.passed, "source": r.source, "reason": r.reason} for r in results],
                "tickets": check.tickets,
                "ticket_problems": check.ticket_problems,
                "net_legs": _ordered_net_legs(check),
                "problems": check.inputs.get("problems", []),
            }, indent=2))
        else:
            self._print(check, results)
        failing = [r for r in results if not r.passed]
        if not check.data_complete:
            problems = check.inputs.get("problems", []) or [
                "an input could not be read" + ("" if live else " from the stored data (run with --live to read "
                                                                 "the broker)")]
            raise CommandError(f"DATA UNAVAILABLE: {_sentence('; '.join(problems))} Failing: "
                               + ", ".join(r.label for r in failing) + ".", returncode=EXIT_DATA_UNAVAILABLE)
        if check.verdict != "GO":
            raise CommandError("DO NOT ROLL: " + "; ".join(f"{r.label}: {r.reason}" for r in failing),
                               returncode=EXIT_NO_GO)

    def _print(self, check, results):
        legs = " / ".join(check.inputs.get("legs", []))
        verdict = "GO" if check.verdict == "GO" else "DO NOT ROLL"
        banner = " — SIMULATED BROKER" if check.simulated else ""
        self.stdout.write(f"Pre-roll checks for {legs}: {verdict}{banner}")
        for r in results:
            mark = "PASS" if r.passed else "FAIL"
            line = f"  {mark} {r.label}: {r.observed} (threshold {r.threshold}; {r.source or 'no source'})"
            self.stdout.write(line + (f"\n       {r.reason}" if not r.passed else ""))
        for ticket in check.tickets:
            self.stdout.write(f"  ticket {ticket['title']}: {ticket['combo_action']} {ticket['quantity']} "
                              f"{ticket['legs'][0]['local_symbol']}/{ticket['legs'][1]['local_symbol']} combo, "
                              f"limit {ticket['limit_price']} (bid {ticket['combo_bid']} / ask {ticket['combo_ask']})")
        for problem in check.ticket_problems:
            self.stdout.write(f"  {problem}")
        net = ", ".join(f"{symbol} {formats.quantity(n, with_sign=True)}"
                        for symbol, n in _ordered_net_legs(check).items())
        self.stdout.write(f"  net per contract: {net}")


def _ordered_net_legs(check) -> dict:
    """Net legs in roll order (old front, middle, new back): stored JSON keeps no key order on PostgreSQL."""
    order = list(check.inputs.get("legs") or [])
    return {sym: check.net_legs[sym] for sym in sorted(check.net_legs, key=lambda s: order.index(s) if s in order
                                                          else len(order))}


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else f"{text}."
