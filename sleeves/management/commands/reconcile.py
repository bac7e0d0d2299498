import json

from django.core.management.base import CommandError

from dspops.core import clock, formats
from dspops.core.commands import OperationalCommand
from dspops.core.errors import OperatorError
from sleeves.reconcile import reconcile

EXIT_BREAKS = 4
EXIT_BROKER_UNREADABLE = 3


class Command(OperationalCommand):
    help = (
        "Compare the broker's position in each contract with the sum of the sleeves' fills. Exit 0 when "
        "they match, 4 when there are breaks or the broker's VXM holding is not the configured spread (each one "
        "also a critical alert) or could not be compared with it, or when the positions the fills keep differ from "
        "a replay of the fills, 3 when the broker could not be read. Connects with the 'shell' client id."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the result as JSON.")

    def handle(self, *args, as_json: bool = False, **options):
        try:
            report = reconcile(role="shell", triggered_by="command")
        except OperatorError as exc:  # ReconcileError: the broker could not be read
            if as_json:
                self.stdout.write(json.dumps({"error": str(exc)}, indent=2))
            raise CommandError(str(exc), returncode=EXIT_BROKER_UNREADABLE) from None
        if as_json:
            self.stdout.write(json.dumps({
                "matched": report.matched, "simulated": report.simulated,
                "breaks": [b.as_dict() for b in report.breaks],
                "naked_legs": [leg.as_dict() for leg in report.naked_legs],
                "naked_legs_not_compared": report.naked_legs_not_compared,
                "positions_out_of_step": list(report.positions_out_of_step),
            }, indent=2))
        else:
            for b in report.breaks:
                row = b.as_dict()
                con_id = f" (conId {b.con_id})" if b.con_id else ""
                note = f" [{b.note}]" if b.note else ""
                self.stdout.write(
                    f"BREAK {b.subject}{con_id}: broker {row['broker_quantity']}, fills {row['fills_quantity']}, "
                    f"difference {row['difference']}{note}"
                )
                self.stdout.write(f"  {b.advice}.")
            for leg in report.naked_legs:
                self.stdout.write(f"NAKED LEG {leg.message(source='broker')}")
            for difference in report.positions_out_of_step:
                self.stdout.write(f"POSITIONS OUT OF STEP {difference}")
        # Fail closed: a holding that could not be compared with the config is not a pass.
        problems = [text for present, text in (
            (report.breaks, f"{formats.plural(len(report.breaks), 'reconciliation break')}: each is a critical "
                            "alert; what to do for each is printed under it"),
            (report.naked_legs, f"{formats.plural(len(report.naked_legs), 'naked leg')} at the broker: each is a "
                                "critical alert naming the order that flattens it"),
            (report.naked_legs_not_compared, f"naked legs {report.naked_legs_not_compared}"),
            (report.positions_out_of_step, "the positions table differs from the fills (a critical alert): run "
                                           "rebuild_positions, then reconcile again"),
        ) if present]
        if problems:
            raise CommandError("; ".join(problems) + ".", returncode=EXIT_BREAKS)
        if not as_json:
            simulated = " (simulated broker)" if report.simulated else ""
            self.stdout.write(f"positions match the broker: {report.matched} contracts{simulated}, "
                              f"session {clock.acting_session().label()}")
