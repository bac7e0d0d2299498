from django.core.management.base import CommandError

from dspops.core.commands import OperationalCommand
from sleeves.services import positions_table_differences, rebuild_positions

EXIT_DIFFERENCES = 4


class Command(OperationalCommand):
    help = (
        "Recompute every position (sleeve and instrument) from the fills and compare it with the positions table "
        "the fills keep. With --check it only reports: exit 0 when they agree, 4 when any figure differs (each one "
        "listed). Without --check it repairs the table in one transaction and lists what it changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Report the differences; change nothing.")

    def handle(self, *args, check: bool = False, **options):
        differences, replayed = positions_table_differences() if check else rebuild_positions()
        for difference in differences:
            self.stdout.write(f"  {difference}")
        if not differences:
            self.stdout.write(f"positions: no difference ({replayed} fills replayed)")
            return
        positions = len({difference.position for difference in differences})
        summary = (f"{positions} position{'s' if positions != 1 else ''} ({len(differences)} figures) differ from "
                   f"the fills ({replayed} fills replayed)")
        if check:
            raise CommandError(f"positions: {summary}; run rebuild_positions without --check to repair them",
                               returncode=EXIT_DIFFERENCES)
        self.stdout.write(f"positions: repaired; {summary} before")
