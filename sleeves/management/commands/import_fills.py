from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from dspops.core.errors import OperatorError
from sleeves.fill_import import import_flex


class Command(BaseCommand):
    help = (
        "Import an IBKR Flex trade report (XML or CSV, execution level) as fills, in one transaction. "
        "A bad row refuses the whole file; executions already imported are skipped. Flex times are "
        "taken as New York time."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file, **options):
        try:
            report = import_flex(path=file)
        except OperatorError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{file}: {report.created} created, {report.skipped} skipped (already imported), "
            f"{len(report.unattributed)} unattributed"
            + (f", {report.ignored} non-execution row(s) ignored." if report.ignored else ".")
        )
        for code, count in report.by_sleeve.items():
            self.stdout.write(f"  {code}: {count}")
        if report.unattributed:
            self.stdout.write("Set the sleeve of these fills in the admin: " + ", ".join(report.unattributed))
        if report.corrected:
            self.stdout.write("IBKR corrected these executions; their earlier fills were reversed: "
                              + ", ".join(report.corrected))
